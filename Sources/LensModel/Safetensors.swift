import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - safetensors reading (memory-mapped)

/// Element types this engine reads.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    public var byteSize: Int { self == .f32 ? 4 : 2 }
}

/// One tensor's place in a safetensors file.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Absolute byte offset of the tensor's data in its file.
    public var byteOffset: Int
    public var byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A read-only memory map of a whole file; unmapped on deinit.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.io(file: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.io(file: path, reason: "not a regular file") }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw CheckpointError.io(file: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }
}

/// A parsed safetensors file: an 8-byte little-endian header length N, N bytes of JSON
/// header, then the tensor bytes. Every offset and size is checked against the file
/// before anything is read; no input can make this crash.
public final class SafetensorsFile: @unchecked Sendable {
    public let file: MappedFile
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    public var path: String { file.path }

    public convenience init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    public init(mapped: MappedFile) throws {
        file = mapped
        let path = mapped.path
        let size = mapped.size
        guard size >= 8, let base = mapped.base else { throw CheckpointError.fileTooShort(file: path, size: size) }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(i)) }
        guard n >= 2, n <= UInt64(size - 8) else {
            throw CheckpointError.badHeaderLength(file: path, headerLength: n, fileSize: size)
        }
        let headerLength = Int(n)
        let dataStart = 8 + headerLength
        let headerBytes = Data(bytes: base + 8, count: headerLength)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: headerBytes, options: [])
        } catch {
            throw CheckpointError.badHeader(file: path, reason: "not valid JSON (\(headerLength) bytes)")
        }
        guard let object = parsed as? [String: Any] else {
            throw CheckpointError.badHeader(file: path, reason: "JSON root is not an object")
        }
        let dataSize = size - dataStart
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw CheckpointError.badHeader(file: path, reason: "__metadata__ is not an object")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw CheckpointError.badHeader(file: path, reason: "__metadata__.\(k) is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            tensors[name] = try Self.parseEntry(name: name, value: value, path: path, dataStart: dataStart, dataSize: dataSize, fileSize: size)
        }
        // No two tensors may share bytes.
        let sorted = tensors.values.filter { $0.byteCount > 0 }.sorted { $0.byteOffset < $1.byteOffset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.byteOffset + a.byteCount > b.byteOffset {
            throw CheckpointError.overlappingTensors(file: path, first: a.name, second: b.name, byteOffset: b.byteOffset)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    private static func integer(_ v: Any) -> Int? {
        guard let num = v as? NSNumber else { return nil }
        // Reject booleans and non-integral numbers.
        if CFGetTypeIDIfAvailable(num) { return nil }
        let d = num.doubleValue
        guard d.isFinite, d == d.rounded(), d >= 0, d < 9.0e15 else { return nil }
        return Int(d)
    }

    private static func parseEntry(name: String, value: Any, path: String, dataStart: Int, dataSize: Int, fileSize: Int) throws -> TensorInfo {
        guard let entry = value as? [String: Any] else {
            throw CheckpointError.badTensorEntry(file: path, tensor: name, reason: "entry is not an object")
        }
        guard let dtypeName = entry["dtype"] as? String else {
            throw CheckpointError.badTensorEntry(file: path, tensor: name, reason: "missing or non-string dtype")
        }
        guard let shapeAny = entry["shape"] as? [Any] else {
            throw CheckpointError.badTensorEntry(file: path, tensor: name, reason: "missing or non-array shape")
        }
        var shape: [Int] = []
        var count = 1
        for s in shapeAny {
            guard let v = integer(s) else {
                throw CheckpointError.badTensorEntry(file: path, tensor: name, reason: "shape \(shapeAny) has a non-integer or negative dimension")
            }
            let (p, overflow) = count.multipliedReportingOverflow(by: v)
            guard !overflow, p <= (1 << 48) else {
                throw CheckpointError.badTensorEntry(file: path, tensor: name, reason: "shape \(shapeAny) is too large")
            }
            count = p
            shape.append(v)
        }
        guard let offs = entry["data_offsets"] as? [Any], offs.count == 2,
              let begin = integer(offs[0]), let end = integer(offs[1]) else {
            throw CheckpointError.badTensorEntry(file: path, tensor: name, reason: "data_offsets must be two non-negative integers")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw CheckpointError.unknownDType(file: path, tensor: name, dtype: dtypeName)
        }
        guard begin <= end else {
            throw CheckpointError.badTensorEntry(file: path, tensor: name, reason: "data_offsets [\(begin), \(end)] run backwards")
        }
        guard end <= dataSize else {
            throw CheckpointError.tensorOutOfRange(file: path, tensor: name, byteOffset: dataStart + begin,
                                                   byteEnd: dataStart + end, fileSize: fileSize)
        }
        let expected = count * dtype.byteSize
        guard end - begin == expected else {
            throw CheckpointError.tensorSizeMismatch(file: path, tensor: name, byteOffset: dataStart + begin,
                                                     expectedBytes: expected, actualBytes: end - begin)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, byteOffset: dataStart + begin, byteCount: expected)
    }

    /// The raw bytes of a tensor (inside the map).
    public func rawPointer(_ info: TensorInfo) -> UnsafeRawPointer {
        file.base! + info.byteOffset
    }
}

/// Swift on Linux bridges JSON `true`/`false` to NSNumber; detect them so a boolean
/// never passes as a dimension.
@inline(__always)
private func CFGetTypeIDIfAvailable(_ n: NSNumber) -> Bool {
    let t = String(cString: n.objCType)
    return t == "c" || t == "B"
}

// MARK: - a whole checkpoint (single file or shards)

/// All tensors of a model folder: `model.safetensors`, or the shards listed by
/// `model.safetensors.index.json`, each memory-mapped.
public final class Checkpoint: @unchecked Sendable {
    public let folder: String
    public let files: [SafetensorsFile]
    /// Tensor name → (file index, info).
    public let tensors: [String: (file: Int, info: TensorInfo)]

    public init(folder: String) throws {
        self.folder = folder
        let fm = FileManager.default
        let single = folder + "/model.safetensors"
        let index = folder + "/model.safetensors.index.json"
        if fm.fileExists(atPath: index) {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: index)) } catch {
                throw CheckpointError.io(file: index, reason: "cannot read: \(error.localizedDescription)")
            }
            guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CheckpointError.badIndex(file: index, reason: "not a JSON object")
            }
            guard let map = obj["weight_map"] as? [String: Any] else {
                throw CheckpointError.badIndex(file: index, reason: "missing weight_map object")
            }
            var shardNames: [String] = []
            var shardOf: [String: String] = [:]
            for (tensor, v) in map {
                guard let shard = v as? String, !shard.isEmpty, !shard.contains("/"), shard != ".." else {
                    throw CheckpointError.badIndex(file: index, reason: "weight_map.\(tensor) is not a file name in this folder")
                }
                shardOf[tensor] = shard
                if !shardNames.contains(shard) { shardNames.append(shard) }
            }
            shardNames.sort()
            var files: [SafetensorsFile] = []
            for s in shardNames {
                let p = folder + "/" + s
                guard fm.fileExists(atPath: p) else {
                    throw CheckpointError.badIndex(file: index, reason: "shard \(s) is listed but missing from \(folder)")
                }
                files.append(try SafetensorsFile(path: p))
            }
            var all: [String: (file: Int, info: TensorInfo)] = [:]
            for (i, f) in files.enumerated() {
                for (name, info) in f.tensors {
                    guard let listed = shardOf[name] else {
                        throw CheckpointError.badIndex(file: index, reason: "tensor \(name) is in \(shardNames[i]) but not in weight_map")
                    }
                    guard listed == shardNames[i] else {
                        throw CheckpointError.badIndex(file: index, reason: "tensor \(name) is in \(shardNames[i]) but weight_map says \(listed)")
                    }
                    all[name] = (i, info)
                }
            }
            for (tensor, shard) in shardOf where all[tensor] == nil {
                throw CheckpointError.badIndex(file: index, reason: "weight_map lists \(tensor) in \(shard), which does not contain it")
            }
            self.files = files
            self.tensors = all
        } else if fm.fileExists(atPath: single) {
            let f = try SafetensorsFile(path: single)
            files = [f]
            tensors = f.tensors.mapValues { (0, $0) }
        } else {
            throw CheckpointError.noWeights(folder: folder)
        }
    }

    /// Total bytes of tensor data.
    public var totalBytes: Int { tensors.values.reduce(0) { $0 + $1.info.byteCount } }

    /// The dtypes present, most common first.
    public var dtypes: [DType] {
        var c: [DType: Int] = [:]
        for t in tensors.values { c[t.info.dtype, default: 0] += t.info.byteCount }
        return c.sorted { $0.value > $1.value }.map(\.key)
    }

    public func raw(_ name: String) -> (UnsafeRawPointer, TensorInfo)? {
        guard let t = tensors[name] else { return nil }
        return (files[t.file].rawPointer(t.info), t.info)
    }
}
