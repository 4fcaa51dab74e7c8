import CBLAS
import CKernels
import CMatmulBF16
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which implementation multiplies matrices. `.naive` is a plain triple loop kept as an
/// independent check of the BLAS path (tests require both to agree).
public enum GemmBackend: String, Sendable, CaseIterable {
    case blas
    case naive
}

/// Row-major general matrix multiply: `C[m×n] = alpha · op(A) · op(B) + beta · C`,
/// where `op(A)` is `m×k` and `op(B)` is `k×n`. Leading dimensions are row strides.
@inline(__always)
public func gemm(
    transA: Bool = false, transB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    backend: GemmBackend = .blas
) {
    if m == 0 || n == 0 { return }
    switch backend {
    case .blas:
        if ll_bf16_gemm_if_enabled(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) != 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    case .naive:
        naiveGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}

/// Reference triple loop, accumulating in Double. Slow; for tests only.
public func naiveGemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            let prior = beta == 0 ? 0 : beta * c[i * ldc + j]
            c[i * ldc + j] = alpha * Float(s) + prior
        }
    }
}

/// `y = x · Wᵀ` for row-major `x [rows, inFeatures]` and a PyTorch-layout weight
/// `W [outFeatures, inFeatures]`; `beta = 1` accumulates into `y`.
@inline(__always)
public func linear(
    _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
    weight: UnsafePointer<Float>, outFeatures: Int,
    into y: UnsafeMutablePointer<Float>, beta: Float = 0,
    backend: GemmBackend = .blas
) {
    gemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
         a: x, lda: inFeatures, b: weight, ldb: inFeatures, beta: beta, c: y, ldc: outFeatures,
         backend: backend)
}

/// Precision of the large matrix products in training steps.
public enum MatmulPrecision: String, Sendable, CaseIterable {
    /// float32 operands and sums (OpenBLAS sgemm): every product, on every CPU.
    case fp32
    /// Operands rounded to bfloat16, sums in float32, through oneDNN on AMX tiles or AVX512_BF16
    /// instructions; products under `LL_BF16_MIN_WORK` multiply-adds stay float32. Needs a CPU
    /// with one of the two.
    case bf16
}

/// bfloat16 products on AMX or AVX512_BF16 (Sources/CMatmulBF16). Off unless a thread turns it on.
public enum BF16Matmul {
    /// Whether oneDNN runs bfloat16 products in hardware on this CPU (AMX or AVX512_BF16).
    public static var available: Bool { ll_bf16_available() != 0 }
    /// The instruction set oneDNN uses on this CPU (e.g. "avx512_core_amx", "avx512_core_bf16", "avx2").
    public static var isaName: String { String(cString: ll_bf16_isa_name()) }
    /// The bfloat16 hardware in words ("AMX tiles", "AVX512_BF16"), nil where there is none.
    public static var hardwareName: String? {
        guard available else { return nil }
        return isaName == "avx512_core_amx" ? "AMX tiles" : "AVX512_BF16"
    }
    /// Smallest product (m·n·k multiply-adds) that goes to bfloat16.
    public static var minimumWork: Int { Int(LL_BF16_MIN_WORK) }

    /// Runs `body` with large products on this thread in `precision` (threads `body` starts
    /// stay float32), then restores the previous setting.
    public static func with<T>(_ precision: MatmulPrecision, _ body: () throws -> T) rethrows -> T {
        let saved = ll_bf16_thread_enabled()
        ll_bf16_set_thread_enabled(precision == .bf16 ? 1 : 0)
        defer { ll_bf16_set_thread_enabled(saved) }
        return try body()
    }

    /// `C = op(A) · op(B) + beta · C` in bfloat16 now, regardless of size (beta 0 or 1);
    /// false when it cannot (no bfloat16 hardware, other beta). For tests and benchmarks.
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        ll_bf16_gemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, a, lda, b, ldb, beta, c, ldc) != 0
    }
}

/// OpenBLAS threading and identity.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses for one call (and caps the packed
    /// small-input kernel's and oneDNN's bf16 products', so all follow one setting).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
        ll_small_gemm_limit_threads(Int32(max(1, n)))
        ll_bf16_set_threads(Int32(max(1, n)))
    }
    /// Threads OpenBLAS uses now.
    public static var threads: Int { Int(openblas_get_num_threads()) }
    /// Kernel family OpenBLAS picked for this CPU (e.g. "Zen", "Haswell").
    public static var coreName: String { String(cString: openblas_get_corename()) }
    /// Build configuration string of the linked OpenBLAS.
    public static var config: String { String(cString: openblas_get_config()) }

    private static let regionLock = NSLock()

    /// Runs `body` with OpenBLAS single-threaded, for code that calls BLAS from several
    /// threads of its own at once (one multi-threaded BLAS call per worker would
    /// oversubscribe the cores). Regions are serialised process-wide, so two of them never
    /// fight over the global thread setting.
    public static func singleThreadedRegion<T>(_ body: () throws -> T) rethrows -> T {
        regionLock.lock()
        let saved = threads
        setThreads(1)
        defer { setThreads(saved); regionLock.unlock() }
        return try body()
    }

    /// OpenBLAS kernel families that use the CPU's widest vectors, per `ll_cpu_level()`.
    static let goodCores: [Int32: Set<String>] = [
        3: ["SkylakeX", "Cooperlake", "SapphireRapids"],
        2: ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"],
    ]

    /// The kernel family to ask for when OpenBLAS 0.3.21 does not know this CPU (newer
    /// Xeons come up as "Prescott", an SSE3 fallback ~4× slower), or nil when its own
    /// choice is fine.
    public static func betterCoreType() -> String? { betterCoreType(level: ll_cpu_level(), coreName: coreName) }

    /// `betterCoreType()` for a CPU of `level` (`ll_cpu_level()`) whose OpenBLAS runs `coreName`.
    public static func betterCoreType(level: Int32, coreName: String) -> String? {
        guard let good = goodCores[level] else { return nil }
        return good.contains(coreName) ? nil : (level == 3 ? "SkylakeX" : "Haswell")
    }

    /// A line for long-running commands when `OPENBLAS_CORETYPE` was set before LatentLens
    /// started (so it is left alone) and holds OpenBLAS to narrower kernels than this CPU runs:
    /// some hosts set it for older OpenBLAS builds, and on an AVX-512 CPU forcing the AVX2
    /// (Haswell) kernels measured 1.7× slower training (docs/PERFORMANCE.md). nil otherwise.
    public static func userCoreTypeNotice(environment: [String: String] = ProcessInfo.processInfo.environment,
                                          level: Int32 = ll_cpu_level(), coreName: String = coreName) -> String? {
        guard let set = environment["OPENBLAS_CORETYPE"], environment["LATENTLENS_BLAS_DETECTED"] == nil,
              let better = betterCoreType(level: level, coreName: coreName) else { return nil }
        return "OPENBLAS_CORETYPE=\(set) is set, so OpenBLAS runs its \(coreName) kernels; this CPU has \(MachineLimits.vectorName(level: level) ?? "wider vectors"), "
            + "whose \(better) kernels LatentLens picks when the variable is unset (docs/PERFORMANCE.md)"
    }

    /// OpenBLAS reads `OPENBLAS_CORETYPE` once, when it is loaded. If it picked a weak
    /// kernel family for this CPU and the user set none, re-execute this program with the
    /// right one (`LATENTLENS_BLAS_AUTOTUNE=0` disables this). Call first thing in `main`.
    public static func reexecWithBetterCoreTypeIfNeeded() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["LATENTLENS_BLAS_AUTOTUNE"] != "0",
              let core = betterCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("LATENTLENS_BLAS_DETECTED", coreName, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: keep going with the slower kernels.
    }
}

/// `y = A · x` for a row-major `A [rows, width]` (BLAS sgemv).
public func sgemv(_ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(width), 1, a, Int32(width), x, 1, 0, y, 1)
}

/// A weight `W [outFeatures, inFeatures]` packed once for short inputs (see
/// Sources/CKernels/small_gemm.c): `apply` computes `y = x · Wᵀ` with an AVX-512 kernel on a
/// small worker pool, without OpenBLAS's per-call packing and thread hand-off.
public final class PackedWeight: @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    private let storage: UnsafeMutableRawPointer
    private var packed: UnsafeMutablePointer<Float> { storage.assumingMemoryBound(to: Float.self) }

    /// Whether a vectorised kernel (AVX-512 or AVX2) runs on this CPU (else callers keep using BLAS).
    public static var available: Bool { ll_small_gemm_vectorized() != 0 }
    /// The kernel in use: 3 AVX-512, 2 AVX2, 0 a portable loop.
    public static var level: Int { Int(ll_small_gemm_level()) }
    /// Threads `apply` uses (the caller included).
    public static var threads: Int { Int(ll_small_gemm_threads()) }

    public init(_ weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int) {
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        let count = ll_packed_size(outFeatures, inFeatures)
        storage = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
        ll_pack_weight(weight, outFeatures, inFeatures, packed)
    }

    deinit { storage.deallocate() }

    /// Bytes the packed copy takes.
    public var byteCount: Int { ll_packed_size(outFeatures, inFeatures) * 4 }

    /// `y[rows, outFeatures] = x[rows, inFeatures] · Wᵀ` (`accumulate`: `+=`). Row strides
    /// default to the widths.
    /// `apply` on the calling thread with the kernel of one CPU level (3 AVX-512, 2 AVX2,
    /// 0 portable); false when this CPU lacks it. Tests check every level the CPU has.
    public func apply(level: Int, _ x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil, into y: UnsafeMutablePointer<Float>,
                      ldy: Int? = nil, accumulate: Bool = false) -> Bool {
        ll_linear_packed_at_level(Int32(level), x, ldx ?? inFeatures, rows, inFeatures, packed, outFeatures, y, ldy ?? outFeatures,
                                  accumulate ? 1 : 0) != 0
    }

    @inline(__always)
    public func apply(_ x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
                      accumulate: Bool = false, parallel: Bool = true) {
        if parallel {
            ll_linear_packed(x, ldx ?? inFeatures, rows, inFeatures, packed, outFeatures, y, ldy ?? outFeatures, accumulate ? 1 : 0)
        } else {
            ll_linear_packed_serial(x, ldx ?? inFeatures, rows, inFeatures, packed, outFeatures, y, ldy ?? outFeatures, accumulate ? 1 : 0)
        }
    }
}
