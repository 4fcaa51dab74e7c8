import CKernels
#if canImport(Glibc)
import Dispatch
import Glibc
#endif

/// Monotonic seconds.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Measurements of this machine's limits, taken in the same run as the workload so that
/// ratios stay meaningful on a shared host.
public enum MachineLimits {
    /// Best GFLOP/s of `C = A·B` at m×n×k over several timed repetitions of at least
    /// `seconds` in total (best of the repetitions, since a shared VM only ever slows down).
    public static func sgemmGFLOPS(m: Int, n: Int, k: Int, seconds: Double = 1.0) -> Double {
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: k * n), c = FloatBuffer(count: m * n)
        for i in 0..<(m * k) { a[i] = Float(i % 17) * 0.01 }
        for i in 0..<(k * n) { b[i] = Float(i % 13) * 0.01 }
        gemm(transB: false, m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
        let flop = 2.0 * Double(m) * Double(n) * Double(k)
        var best = 0.0
        let start = monotonicSeconds()
        while monotonicSeconds() - start < seconds {
            let t0 = monotonicSeconds()
            var iters = 0
            repeat {
                a[iters & 1023] = Float(iters & 3)   // defeat hoisting
                gemm(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
                iters += 1
            } while monotonicSeconds() - t0 < 0.1
            best = max(best, flop * Double(iters) / (monotonicSeconds() - t0) / 1e9)
        }
        return best
    }

    /// The cores' arithmetic ceiling: register-only FMA chains on `threads` threads at once, with
    /// the CPU's widest vectors (AVX-512 or AVX2; 0 without FMA), summed over the threads.
    /// The vectors `fmaPeakGFLOPS` uses on this CPU: "AVX-512", "AVX2", or nil.
    public static var fmaVectors: String? { vectorName(level: ll_cpu_level()) }

    /// "AVX-512" / "AVX2" for an `ll_cpu_level()` of 3 / 2, nil below.
    public static func vectorName(level: Int32) -> String? { [3: "AVX-512", 2: "AVX2"][level] }

    public static func fmaPeakGFLOPS(threads: Int, seconds: Double = 0.5) -> Double {
        let n = max(threads, 1)
        let results = FloatBuffer(count: n)
        DispatchQueue.concurrentPerform(iterations: n) { i in results[i] = Float(ll_fma_peak_gflops(ll_cpu_level(), seconds)) }
        return (0..<n).reduce(0.0) { $0 + Double(results[$1]) }
    }

    /// Best memcpy bandwidth in GB/s (bytes read + bytes written) over `bytes`-sized buffers.
    public static func memcpyGBps(bytes: Int = 256 << 20, seconds: Double = 0.5) -> Double {
        let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, bytes)
        memset(dst, 0, bytes)
        var best = 0.0
        let start = monotonicSeconds()
        repeat {
            let t0 = monotonicSeconds()
            memcpy(dst, src, bytes)
            best = max(best, 2.0 * Double(bytes) / (monotonicSeconds() - t0) / 1e9)
        } while monotonicSeconds() - start < seconds
        return best
    }

    /// Best read-only bandwidth in GB/s: `threads` threads each summing their part of a large
    /// float array with independent accumulators (what a memory-bound scan can reach).
    public static func readGBps(bytes: Int = 512 << 20, seconds: Double = 0.5, threads: Int = 1) -> Double {
        let n = bytes / 4
        let a = FloatBuffer(count: n)
        for i in stride(from: 0, to: n, by: 1024) { a[i] = 1 }
        let parts = max(1, threads)
        let per = (n + parts - 1) / parts
        var best = 0.0
        var sink = 0.0
        let start = monotonicSeconds()
        repeat {
            let sums = FloatBuffer(count: parts)
            let t0 = monotonicSeconds()
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let lo = p * per, hi = min(n, lo + per)
                sums[p] = Kernels.sumFast(a.pointer + lo, count: hi - lo)
            }
            best = max(best, Double(bytes) / (monotonicSeconds() - t0) / 1e9)
            sink += Double(sums[0])
        } while monotonicSeconds() - start < seconds
        if sink < 0 { print(sink) }
        return best
    }

    /// Peak resident set size of this process in bytes.
    public static func peakRSSBytes() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss * 1024
    }
}

/// Percentiles of a sample (nearest-rank).
public func percentile(_ xs: [Double], _ p: Double) -> Double {
    guard !xs.isEmpty else { return .nan }
    let s = xs.sorted()
    let rank = max(0, min(s.count - 1, Int((p / 100 * Double(s.count)).rounded(.up)) - 1))
    return s[rank]
}
