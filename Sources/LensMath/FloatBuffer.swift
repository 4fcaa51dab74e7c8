import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owned, 64-byte aligned, zero-initialised `Float` storage.
///
/// Activation and scratch buffers are allocated once and reused: the forward pass
/// itself never allocates (see `Workspace` in LensModel).
public final class FloatBuffer: @unchecked Sendable {
    /// Number of floats.
    public let count: Int
    /// Start of the storage; valid for the lifetime of the buffer.
    public let pointer: UnsafeMutablePointer<Float>

    /// Buffers of at least this many bytes start on a 2 MiB boundary and ask Linux for
    /// transparent huge pages (`MADV_HUGEPAGE`; honoured where THP is `always` or `madvise`).
    /// A training step's activations are gigabytes, and the first touch of fresh 4 KiB pages
    /// cost a step that grew them 2-3× its time (docs/PERFORMANCE.md,
    /// "bfloat16 products on AVX512_BF16", the paragraph on growing buffers).
    public static let hugePageMinimumBytes = 4 << 20
    /// The huge-page size those buffers align to (x86-64's 2 MiB).
    public static let hugePageBytes = 2 << 20

    /// Allocates `count` floats, all zero.
    public init(count: Int) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let huge = bytes >= FloatBuffer.hugePageMinimumBytes
        guard posix_memalign(&raw, huge ? FloatBuffer.hugePageBytes : 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        #if os(Linux)
        // Advice only: where THP is off the call fails or is ignored, and the buffer is the same.
        if huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        #endif
        memset(raw, 0, bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Copies an array.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { free(pointer) }

    /// A copy of the contents.
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Sets every element to zero.
    public func zero() { memset(pointer, 0, count * MemoryLayout<Float>.stride) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}

/// A growable scratch buffer: `reserve(n)` returns a pointer to at least `n` floats,
/// reallocating only when the request exceeds what it already holds.
///
/// Small buffers are ordinary allocations. From `FloatBuffer.hugePageMinimumBytes` up the
/// buffer is an anonymous mapping (huge pages advised, 2 MiB granules) that grows in place with
/// mremap: training batches vary in size, and a batch larger than any before used to re-fault
/// every activation buffer from scratch, which made such a step 2-3× slower (docs/PERFORMANCE.md,
/// "bfloat16 products on AVX512_BF16", the paragraph on growing buffers).
public final class ScratchBuffer: @unchecked Sendable {
    private var small: FloatBuffer
    /// The mapping once the buffer outgrew `small` (`ll_map_grow`), and its length.
    private var mapped: UnsafeMutablePointer<Float>?
    private var mappedBytes = 0

    public init(count: Int = 0) {
        small = FloatBuffer(count: 0)
        if count > 0 { _ = reserve(count) }
    }

    deinit { ll_map_free(mapped, mappedBytes) }

    /// Capacity in floats.
    public var capacity: Int { mapped != nil ? mappedBytes / MemoryLayout<Float>.stride : small.count }

    /// A pointer to at least `count` floats (contents unspecified after growth).
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            let bytes = count * MemoryLayout<Float>.stride
            if bytes < FloatBuffer.hugePageMinimumBytes {
                small = FloatBuffer(count: count)
            } else {
                let granule = FloatBuffer.hugePageBytes
                let rounded = (bytes + granule - 1) / granule * granule
                guard let grown = ll_map_grow(mapped, mappedBytes, rounded) else {
                    fatalError("out of memory growing a scratch buffer to \(rounded) bytes")
                }
                mapped = grown.bindMemory(to: Float.self, capacity: rounded / MemoryLayout<Float>.stride)
                mappedBytes = rounded
                small = FloatBuffer(count: 0)
            }
        }
        return mapped ?? small.pointer
    }
}
