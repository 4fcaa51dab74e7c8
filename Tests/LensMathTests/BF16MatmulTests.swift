import Foundation
import Testing
import LensMath

/// Rounds to the nearest bfloat16 (ties to even), independently of the C code under test.
private func bf16(_ x: Float) -> Float {
    let u = x.bitPattern
    let rounded = (u &+ 0x7FFF &+ ((u >> 16) & 1)) & 0xFFFF_0000
    return Float(bitPattern: rounded)
}

/// Row-major `op(A) · op(B)` in Double over the given element transform.
private func reference(_ a: [Float], _ b: [Float], transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                       lda: Int, ldb: Int, round: (Float) -> Float) -> [Double] {
    var out = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(round(av)) * Double(round(bv))
            }
            out[i * n + j] = s
        }
    }
    return out
}

/// The bfloat16 product (AMX tiles or AVX512_BF16, whichever oneDNN runs here) equals a
/// triple loop over bfloat16-rounded operands (to float32 summation error), for every transposition, beta 0 and 1, and row strides wider than the rows; C's
/// padding columns stay untouched. It is also measurably not a float32 product (the rounding
/// really happens). Without bfloat16 hardware the call must refuse and leave C alone.
@Test(arguments: [(33, 47, 65), (64, 128, 256), (200, 96, 130)])
func bf16ProductEqualsRoundedTripleLoop(_ shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    var rng = SystemRandomNumberGenerator()
    for transA in [false, true] {
        for transB in [false, true] {
            for beta: Float in [0, 1] {
                let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 7
                let a = (0..<((transA ? k : m) * lda)).map { _ in Float.random(in: -1...1, using: &rng) }
                let b = (0..<((transB ? n : k) * ldb)).map { _ in Float.random(in: -1...1, using: &rng) }
                let c0 = (0..<(m * ldc)).map { _ in Float.random(in: -1...1, using: &rng) }
                var c = c0
                let ran = c.withUnsafeMutableBufferPointer { cp in
                    BF16Matmul.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                    beta: beta, c: cp.baseAddress!, ldc: ldc)
                }
                #expect(ran == BF16Matmul.available)
                guard ran else { #expect(c == c0); continue }
                let want = reference(a, b, transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, round: bf16)
                let exact = reference(a, b, transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, round: { $0 })
                var worst = 0.0, offExact = 0.0, padding = 0
                for i in 0..<m {
                    for j in 0..<ldc {
                        guard j < n else { if c[i * ldc + j] != c0[i * ldc + j] { padding += 1 }; continue }
                        let prior = beta == 1 ? Double(c0[i * ldc + j]) : 0
                        worst = max(worst, abs(Double(c[i * ldc + j]) - want[i * n + j] - prior))
                        offExact = max(offExact, abs(Double(c[i * ldc + j]) - exact[i * n + j] - prior))
                    }
                }
                let label = "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta)"
                #expect(worst <= 2e-5 * Double(k).squareRoot(), "\(label): \(worst) from the bf16 triple loop")
                #expect(offExact > 1e-4, "\(label): only \(offExact) from the float32 product: operands not rounded?")
                #expect(padding == 0, "\(label): \(padding) elements past n written")
            }
        }
    }
}

/// Betas other than 0 and 1 are refused without touching C (the caller falls back to sgemm).
@Test func bf16ProductRefusesOtherBetas() {
    let a = [Float](repeating: 1, count: 64 * 64), b = a
    var c = [Float](repeating: 2, count: 64 * 64)
    let ran = c.withUnsafeMutableBufferPointer {
        BF16Matmul.gemm(m: 64, n: 64, k: 64, a: a, lda: 64, b: b, ldb: 64, beta: 0.5, c: $0.baseAddress!, ldc: 64)
    }
    #expect(!ran)
    #expect(c.allSatisfy { $0 == 2 })
}

/// `gemm` goes to bfloat16 only inside `BF16Matmul.with(.bf16)`, on that thread, for products
/// of at least `minimumWork` multiply-adds with alpha 1; everything else is OpenBLAS float32.
@Test func gemmUsesBF16OnlyWhereEnabled() {
    var rng = SystemRandomNumberGenerator()
    let m = 256, n = 128, k = 128   // 4.2 M multiply-adds ≥ minimumWork
    #expect(m * n * k >= BF16Matmul.minimumWork)
    let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
    let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
    @Sendable func product(alpha: Float = 1, rows: Int = m) -> [Float] {
        var c = [Float](repeating: 0, count: rows * n)
        c.withUnsafeMutableBufferPointer { gemm(m: rows, n: n, k: k, alpha: alpha, a: a, lda: k, b: b, ldb: n, c: $0.baseAddress!, ldc: n) }
        return c
    }
    let fp32 = product()
    let fp32Small = product(rows: 8)
    let inside = BF16Matmul.with(.bf16) { product() }
    let again = BF16Matmul.with(.bf16) { product() }   // runs resume exactly: same bits twice
    let small = BF16Matmul.with(.bf16) { product(rows: 8) }          // 131 k multiply-adds: float32
    let scaled = BF16Matmul.with(.bf16) { product(alpha: 0.5) }      // alpha ≠ 1: float32
    let fp32Inside = BF16Matmul.with(.fp32) { product() }
    let otherThread: [Float] = BF16Matmul.with(.bf16) {
        nonisolated(unsafe) var out: [Float] = []
        let done = DispatchSemaphore(value: 0)
        Thread { out = product(); done.signal() }.start()
        done.wait()
        return out
    }
    let after = product()
    // The results tell which products went to bf16: it moves them by ~1e-2, float32 paths
    // agree to rounding.
    #expect(small == fp32Small)
    #expect(zip(scaled, fp32).allSatisfy { abs($0 - $1 * 0.5) <= 1e-6 })
    #expect(again == inside)
    #expect(fp32Inside == fp32)
    #expect(otherThread == fp32)
    #expect(after == fp32)
    if BF16Matmul.available {
        let diff = zip(inside, fp32).map { abs($0 - $1) }.max()!
        #expect(diff > 1e-4 && diff < 0.05, "bf16 inside `with`: max difference \(diff) from float32")
    } else {
        #expect(inside == fp32)
    }
}
