import LensMath

/// A 2-D principal-component projection of a stored matrix (for the explorer's map).
public enum PCA2D {
    /// Mean, the two leading axes (power iteration with deflation on the covariance) and
    /// every row's coordinates.
    public static func fit(_ m: StoredMatrix) -> (mean: [Float], axes: [[Float]], points: [SIMD2<Float>]) {
        let n = m.count, d = m.width
        var mean = [Double](repeating: 0, count: d)
        let X = FloatBuffer(count: n * d)
        for i in 0..<n {
            let r = m.row(i)
            for j in 0..<d { X[i * d + j] = r[j]; mean[j] += Double(r[j]) }
        }
        for j in 0..<d { mean[j] /= Double(max(n, 1)) }
        for i in 0..<n { for j in 0..<d { X[i * d + j] -= Float(mean[j]) } }
        let C = FloatBuffer(count: d * d)
        gemm(transA: true, m: d, n: d, k: n, alpha: 1 / Float(max(n, 1)), a: X.pointer, lda: d, b: X.pointer, ldb: d, c: C.pointer, ldc: d)
        var axes: [[Float]] = []
        for a in 0..<2 {
            var v = (0..<d).map { Float(($0 * 7 + a * 13) % 11) - 5 }
            for _ in 0..<200 {
                var w = [Float](repeating: 0, count: d)
                for i in 0..<d { var s: Float = 0; for j in 0..<d { s += C[i * d + j] * v[j] }; w[i] = s }
                for prev in axes { let dot = zip(w, prev).reduce(Float(0)) { $0 + $1.0 * $1.1 }; for i in 0..<d { w[i] -= dot * prev[i] } }
                let norm = max(w.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                v = w.map { $0 / norm }
            }
            axes.append(v)
        }
        let meanF = mean.map { Float($0) }
        var points: [SIMD2<Float>] = []
        points.reserveCapacity(n)
        for i in 0..<n {
            var x: Float = 0, y: Float = 0
            for j in 0..<d { x += X[i * d + j] * axes[0][j]; y += X[i * d + j] * axes[1][j] }
            points.append(SIMD2(x, y))
        }
        return (meanF, axes, points)
    }

    public static func project(_ v: [Float], mean: [Float], axes: [[Float]]) -> SIMD2<Float> {
        var x: Float = 0, y: Float = 0
        for j in v.indices { let c = v[j] - mean[j]; x += c * axes[0][j]; y += c * axes[1][j] }
        return SIMD2(x, y)
    }
}
