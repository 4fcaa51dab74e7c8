import CKernels

/// Row-wise and element-wise float kernels. Thin Swift names over the C kernels in
/// `CKernels` (vectorised, with AVX2/FMA clones); explicit sizes, output arguments,
/// no allocation.
public enum Kernels {
    /// `out[r] = x[r] / sqrt(mean(x[r]²) + eps) ⊙ w` (Mistral RMSNorm). `out` may alias `x`.
    @inline(__always)
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int, eps: Float) {
        ll_rmsnorm(x, weight, out, rows, width, eps)
    }

    /// `out[r] = (x[r] − μ) / sqrt(σ² + eps) ⊙ w + b` (biased variance, like torch.nn.LayerNorm).
    @inline(__always)
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int, eps: Float) {
        ll_layernorm(x, weight, bias, out, rows, width, eps)
    }

    /// In place, per row: `x[r, 0..<n] = softmax(scale · x[r, 0..<n])`, rows `ld` apart.
    /// With `valid`, row `r` uses only its first `valid[r]` columns; the rest become 0.
    @inline(__always)
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int, scale: Float, valid: UnsafePointer<Int32>? = nil) {
        ll_softmax_rows(x, rows, width, stride, scale, valid)
    }

    /// `out = silu(gate) ⊙ up` (SwiGLU).
    @inline(__always)
    public static func siluMul(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        ll_silu_mul(gate, up, out, count)
    }

    /// GEGLU over rows of width `2·half`: value = first half, gate = second half,
    /// `out[r, j] = u[r, j] · gelu_erf(u[r, half + j])`.
    @inline(__always)
    public static func geglu(_ u: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, half: Int) {
        ll_geglu(u, out, rows, half)
    }

    /// `a += b`.
    @inline(__always)
    public static func add(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        ll_add(a, b, count)
    }

    /// `a[r] += bias` for each of `rows` rows.
    @inline(__always)
    public static func addRowBias(_ a: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int) {
        ll_add_row_bias(a, bias, rows, width)
    }

    /// `y += alpha · x`.
    @inline(__always)
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        ll_axpy(alpha, x, y, count)
    }

    /// Euclidean norm (accumulated in Double).
    @inline(__always)
    /// Fast (reassociated) sum; used to probe read bandwidth.
    public static func sumFast(_ x: UnsafePointer<Float>, count: Int) -> Float { ll_sum_fast(x, count) }

    public static func norm(_ x: UnsafePointer<Float>, count: Int) -> Float {
        Float(ll_sumsq(x, count).squareRoot())
    }

    /// Scales `x` to unit L2 norm, like `torch.nn.functional.normalize` (eps 1e-12).
    @inline(__always)
    public static func l2Normalize(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let n = max(norm(x, count: count), 1e-12)
        let inv = 1 / n
        for i in 0..<count { x[i] *= inv }
    }

    /// Dot product.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var s: Float = 0
        for i in 0..<count { s += a[i] * b[i] }
        return s
    }

    // MARK: backward twins (training)

    /// RMSNorm backward: `dx` from `dy` (may alias `dy`); `dWeight += Σ_rows dy ⊙ x̂`.
    @inline(__always)
    public static func rmsNormBackward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, rows: Int, width: Int, eps: Float) {
        ll_rmsnorm_backward(x, weight, dy, dx, dWeight, rows, width, eps)
    }

    /// LayerNorm backward: `dx` from `dy` (may alias `dy`); `dWeight`, `dBias` accumulate.
    @inline(__always)
    public static func layerNormBackward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>, rows: Int, width: Int, eps: Float) {
        ll_layernorm_backward(x, weight, dy, dx, dWeight, dBias, rows, width, eps)
    }

    /// Softmax backward in place: `dp ← scale · p ⊙ (dp − Σ dp ⊙ p)` per row.
    @inline(__always)
    public static func softmaxBackward(_ p: UnsafePointer<Float>, dp: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int, scale: Float) {
        ll_softmax_backward_rows(p, dp, rows, width, stride, scale)
    }

    /// SwiGLU backward for `h = silu(gate) ⊙ up`.
    @inline(__always)
    public static func siluMulBackward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, dh: UnsafePointer<Float>, dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int) {
        ll_silu_mul_backward(gate, up, dh, dGate, dUp, count)
    }

    /// GEGLU backward: `du` [rows, 2·half] from `dOut` [rows, half].
    @inline(__always)
    public static func gegluBackward(_ u: UnsafePointer<Float>, dOut: UnsafePointer<Float>, into du: UnsafeMutablePointer<Float>, rows: Int, half: Int) {
        ll_geglu_backward(u, dOut, du, rows, half)
    }

    /// `db += Σ_rows dy`.
    @inline(__always)
    public static func columnSums(_ dy: UnsafePointer<Float>, into db: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        ll_column_sums(dy, db, rows, width)
    }

    /// The vectorised exp used by softmax/SiLU (≈1–2 ulp).
    public static func exp(_ x: Float) -> Float { ll_expf(x) }
    /// The vectorised erf used by GELU (|error| < 2e-7).
    public static func erf(_ x: Float) -> Float { ll_erff(x) }
}

/// Conversions between IEEE half, bfloat16 and Float.
public enum HalfPrecision {
    @inline(__always)
    public static func f16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        ll_f16_to_f32(src, dst, count)
    }
    @inline(__always)
    public static func bf16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        ll_bf16_to_f32(src, dst, count)
    }
    @inline(__always)
    public static func f32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        ll_f32_to_f16(src, dst, count)
    }
    @inline(__always)
    public static func f32ToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        ll_f32_to_bf16(src, dst, count)
    }
    /// `y[r] = Σ_i A[r, i] · x[i]` for an f16 matrix `A [rows, width]`.
    @inline(__always)
    public static func gemvF16(_ a: UnsafePointer<UInt16>, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        ll_gemv_f16(a, x, y, rows, width)
    }
}
