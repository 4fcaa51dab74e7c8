import Testing
import LensMath

/// The packed small-input kernel against the plain triple loop (accumulating in Double):
/// every row remainder of the 8-row micro-kernel, output widths that are not a multiple of
/// the 32-wide panels, row strides wider than the rows, `+=`, and both the pooled and the
/// calling-thread-only paths (products big enough to be split over the pool's threads), and
/// each CPU level's kernel separately (AVX-512, AVX2, portable) where the CPU has it.
@Test(arguments: [(1, 5, 3), (7, 33, 17), (8, 32, 64), (13, 100, 48), (30, 512, 256), (64, 257, 300), (129, 96, 40)])
func packedWeightEqualsTripleLoop(_ shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    var rng = SystemRandomNumberGenerator()
    let ldx = k + 3, ldy = n + 5
    let x = (0..<m * ldx).map { _ in Float.random(in: -1...1, using: &rng) }
    let w = (0..<n * k).map { _ in Float.random(in: -1...1, using: &rng) }
    let y0 = (0..<m * ldy).map { _ in Float.random(in: -1...1, using: &rng) }
    let packed = PackedWeight(w, outFeatures: n, inFeatures: k)
    // Modes: the pool, the calling thread, and each CPU level's kernel this machine can run.
    enum Mode { case pool, serial, level(Int) }
    var levelsRun = 0
    for accumulate in [false, true] {
        for mode in [Mode.pool, .serial, .level(3), .level(2), .level(0)] {
            var got = y0
            let ran = got.withUnsafeMutableBufferPointer { out -> Bool in
                switch mode {
                case .pool: packed.apply(x, rows: m, ldx: ldx, into: out.baseAddress!, ldy: ldy, accumulate: accumulate, parallel: true)
                case .serial: packed.apply(x, rows: m, ldx: ldx, into: out.baseAddress!, ldy: ldy, accumulate: accumulate, parallel: false)
                case .level(let l): return packed.apply(level: l, x, rows: m, ldx: ldx, into: out.baseAddress!, ldy: ldy, accumulate: accumulate)
                }
                return true
            }
            guard ran else { continue }
            if case .level = mode { levelsRun += 1 }
            var worst: Float = 0
            for i in 0..<m {
                for j in 0..<ldy {
                    let want: Float
                    if j < n {
                        var s = 0.0
                        for p in 0..<k { s += Double(x[i * ldx + p]) * Double(w[j * k + p]) }
                        want = Float(s) + (accumulate ? y0[i * ldy + j] : 0)
                    } else {
                        want = y0[i * ldy + j]   // past the outputs: untouched
                    }
                    worst = max(worst, abs(got[i * ldy + j] - want))
                }
            }
            #expect(worst <= 1e-4 * Float(k).squareRoot(), "m \(m) n \(n) k \(k) accumulate \(accumulate) \(mode): \(worst)")
        }
    }
    #expect(levelsRun >= 2)   // the portable loop always, plus what the CPU has
}

@Test func packedWeightReportsItsShape() {
    let w = [Float](repeating: 1, count: 40 * 3)
    let p = PackedWeight(w, outFeatures: 40, inFeatures: 3)
    #expect(p.byteCount == 64 * 3 * 4)   // two 32-wide panels, zero-padded
    #expect(PackedWeight.threads >= 1)
}

/// The OpenBLAS kernel family LatentLens asks for, and the notice for a user-set one that holds
/// the CPU back (named only when the user set it: LatentLens's own re-exec sets
/// LATENTLENS_BLAS_DETECTED, and a fitting or absent value says nothing).
@Test func coreTypeChoiceAndTheNoticeForAUserSetOne() {
    #expect(BLAS.betterCoreType(level: 3, coreName: "Prescott") == "SkylakeX")
    #expect(BLAS.betterCoreType(level: 3, coreName: "Haswell") == "SkylakeX")
    #expect(BLAS.betterCoreType(level: 3, coreName: "SkylakeX") == nil)
    #expect(BLAS.betterCoreType(level: 2, coreName: "Prescott") == "Haswell")
    #expect(BLAS.betterCoreType(level: 2, coreName: "Zen") == nil)
    #expect(BLAS.betterCoreType(level: 1, coreName: "Prescott") == nil)
    let notice = BLAS.userCoreTypeNotice(environment: ["OPENBLAS_CORETYPE": "Haswell"], level: 3, coreName: "Haswell")
    #expect(notice?.contains("OPENBLAS_CORETYPE=Haswell is set") == true && notice?.contains("AVX-512") == true
            && notice?.contains("SkylakeX kernels") == true, "\(notice ?? "nil")")
    #expect(BLAS.userCoreTypeNotice(environment: ["OPENBLAS_CORETYPE": "Prescott"], level: 2, coreName: "Prescott")?.contains("Haswell kernels") == true)
    #expect(BLAS.userCoreTypeNotice(environment: ["OPENBLAS_CORETYPE": "SkylakeX"], level: 3, coreName: "SkylakeX") == nil)
    #expect(BLAS.userCoreTypeNotice(environment: [:], level: 3, coreName: "Prescott") == nil)
    #expect(BLAS.userCoreTypeNotice(environment: ["OPENBLAS_CORETYPE": "SkylakeX", "LATENTLENS_BLAS_DETECTED": "Prescott"],
                                    level: 3, coreName: "Haswell") == nil)
}

/// The FMA probe runs (a positive rate) wherever the CPU has FMA vectors, and says 0 where it has none.
@Test func fmaProbeMeasuresWhereThereAreFMAVectors() {
    let gflops = MachineLimits.fmaPeakGFLOPS(threads: 1, seconds: 0.02)
    if MachineLimits.fmaVectors == nil { #expect(gflops == 0) } else { #expect(gflops > 0) }
}
