import Dispatch
import Foundation
import LensMath
import LensModel

/// Activations a forward pass keeps for its backward pass, in buffers reused across steps.
public final class ActivationCache: @unchecked Sendable {
    private var buffers: [String: ScratchBuffer] = [:]
    var batch = PackedBatch()
    var mask: AttentionMask = .bidirectional
    /// Offset of each sequence's attention matrices in the per-layer probability buffer.
    var probOffsets: [Int] = []
    var probTotal = 0
    var tokens = 0
    var ropeCos: [Float] = [], ropeSin: [Float] = [], ropeLength = 0

    public init() {}

    func buf(_ name: String, _ count: Int) -> UnsafeMutablePointer<Float> {
        if let b = buffers[name] { return b.reserve(count) }
        let b = ScratchBuffer()
        buffers[name] = b
        return b.reserve(count)
    }

    /// Bytes currently held.
    public var bytes: Int { buffers.values.reduce(0) { $0 + $1.capacity * 4 } }
}

/// The NV-Embed network in trainable form: the same maths as `EmbeddingNetwork`
/// (inference), with every intermediate kept, and a hand-written backward pass per op.
/// Each backward is checked against finite differences in LensTrainingTests.
public final class TrainableNetwork: @unchecked Sendable {
    public let config: ModelConfig
    public let params: ParameterSet
    /// Worker threads for per-sequence attention loops (BLAS threads stay as set).
    public var workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    public init(params: ParameterSet) {
        self.params = params
        config = params.config
    }

    private func p(_ n: String) -> UnsafeMutablePointer<Float> { params[n].pointer }
    private func g(_ n: String) -> UnsafeMutablePointer<Float> { params[n].gradPointer }
    private func L(_ i: Int, _ s: String) -> String { "layers.\(i).\(s)" }
    private let lb = "latent_attention_model.cross_attend_blocks."

    // MARK: - forward

    /// Forward over a packed batch. Returns the decoder output [T, d] and, with a latent
    /// block, the latent output [T, d] (pointers into the cache).
    @discardableResult
    public func forward(_ batch: PackedBatch, mask: AttentionMask, cache c: ActivationCache) -> (hidden: UnsafeMutablePointer<Float>, latent: UnsafeMutablePointer<Float>?) {
        let dc = config.decoder
        let T = batch.totalTokens, d = dc.hiddenSize, hd = dc.headDim, nH = dc.numAttentionHeads, nKV = dc.numKeyValueHeads
        let qd = nH * hd, kvd = nKV * hd, f = dc.intermediateSize, group = nH / nKV
        c.batch = batch
        c.mask = mask
        c.tokens = T
        c.probOffsets = []
        var off = 0
        for n in batch.lengths { c.probOffsets.append(off); off += nH * n * n }
        c.probTotal = off
        ensureRope(c, batch.maxLength)

        var h = c.buf("h0", T * d)
        let E = p("embed_tokens.weight")
        for t in 0..<T { (h + t * d).update(from: E + Int(batch.ids[t]) * d, count: d) }
        let scale = 1 / Float(hd).squareRoot()
        for i in 0..<dc.numHiddenLayers {
            let x1 = c.buf("L\(i).x1", T * d), q = c.buf("L\(i).q", T * qd), k = c.buf("L\(i).k", T * kvd), v = c.buf("L\(i).v", T * kvd)
            let P = c.buf("L\(i).P", c.probTotal), attn = c.buf("L\(i).attn", T * qd), hMid = c.buf("L\(i).hMid", T * d)
            let x2 = c.buf("L\(i).x2", T * d), gate = c.buf("L\(i).gate", T * f), up = c.buf("L\(i).up", T * f), act = c.buf("L\(i).act", T * f)
            let hOut = c.buf("h\(i + 1)", T * d)
            Kernels.rmsNorm(h, weight: p(L(i, "input_layernorm.weight")), into: x1, rows: T, width: d, eps: dc.rmsNormEps)
            linear(x1, rows: T, inFeatures: d, weight: p(L(i, "self_attn.q_proj.weight")), outFeatures: qd, into: q)
            linear(x1, rows: T, inFeatures: d, weight: p(L(i, "self_attn.k_proj.weight")), outFeatures: kvd, into: k)
            linear(x1, rows: T, inFeatures: d, weight: p(L(i, "self_attn.v_proj.weight")), outFeatures: kvd, into: v)
            rope(c, q, heads: nH, inverse: false)
            rope(c, k, heads: nKV, inverse: false)
            parallelSequences(batch) { s, scratch in
                let o = batch.offsets[s], n = batch.lengths[s]
                for head in 0..<nH {
                    let gk = head / group
                    let ps = P + c.probOffsets[s] + head * n * n
                    gemm(transB: true, m: n, n: n, k: hd, a: q + o * qd + head * hd, lda: qd, b: k + o * kvd + gk * hd, ldb: kvd, c: ps, ldc: n)
                    self.causal(c, n) { valid in Kernels.softmaxRows(ps, rows: n, width: n, stride: n, scale: scale, valid: valid) }
                    gemm(m: n, n: hd, k: n, a: ps, lda: n, b: v + o * kvd + gk * hd, ldb: kvd, c: attn + o * qd + head * hd, ldc: qd)
                }
            }
            hMid.update(from: h, count: T * d)
            linear(attn, rows: T, inFeatures: qd, weight: p(L(i, "self_attn.o_proj.weight")), outFeatures: d, into: hMid, beta: 1)
            Kernels.rmsNorm(hMid, weight: p(L(i, "post_attention_layernorm.weight")), into: x2, rows: T, width: d, eps: dc.rmsNormEps)
            linear(x2, rows: T, inFeatures: d, weight: p(L(i, "mlp.gate_proj.weight")), outFeatures: f, into: gate)
            linear(x2, rows: T, inFeatures: d, weight: p(L(i, "mlp.up_proj.weight")), outFeatures: f, into: up)
            Kernels.siluMul(gate: gate, up: up, into: act, count: T * f)
            hOut.update(from: hMid, count: T * d)
            linear(act, rows: T, inFeatures: f, weight: p(L(i, "mlp.down_proj.weight")), outFeatures: d, into: hOut, beta: 1)
            h = hOut
        }
        let last = c.buf("last", T * d)
        Kernels.rmsNorm(h, weight: p("norm.weight"), into: last, rows: T, width: d, eps: dc.rmsNormEps)
        guard let lc = config.latent else { return (last, nil) }

        // Latent block (docs/nvembed.md §3).
        let H = lc.numCrossHeads, dh = lc.crossDimHead, inner = lc.innerDim, nLat = lc.numLatents, ff = lc.feedForwardDim
        let ctx = c.buf("lat.ctx", nLat * d), kv = c.buf("lat.kv", nLat * 2 * inner)
        let K = c.buf("lat.K", nLat * inner), V = c.buf("lat.V", nLat * inner)
        Kernels.layerNorm(p("latent_attention_model.latents"), weight: p(lb + "0.norm_context.weight"), bias: p(lb + "0.norm_context.bias"),
                          into: ctx, rows: nLat, width: d, eps: 1e-5)
        linear(ctx, rows: nLat, inFeatures: d, weight: p(lb + "0.fn.to_kv.weight"), outFeatures: 2 * inner, into: kv)
        for r in 0..<nLat {
            (K + r * inner).update(from: kv + r * 2 * inner, count: inner)
            (V + r * inner).update(from: kv + r * 2 * inner + inner, count: inner)
        }
        let lx = c.buf("lat.x", T * d), lq = c.buf("lat.q", T * inner), A = c.buf("lat.A", H * T * nLat), lo = c.buf("lat.o", T * inner)
        let y1 = c.buf("lat.y1", T * d), lx2 = c.buf("lat.x2", T * d), u = c.buf("lat.u", T * 2 * ff), gg = c.buf("lat.g", T * ff), y = c.buf("lat.y", T * d)
        Kernels.layerNorm(last, weight: p(lb + "0.norm.weight"), bias: p(lb + "0.norm.bias"), into: lx, rows: T, width: d, eps: 1e-5)
        linear(lx, rows: T, inFeatures: d, weight: p(lb + "0.fn.to_q.weight"), outFeatures: inner, into: lq)
        let lscale = 1 / Float(dh).squareRoot()
        for head in 0..<H {
            let a = A + head * T * nLat
            gemm(transB: true, m: T, n: nLat, k: dh, a: lq + head * dh, lda: inner, b: K + head * dh, ldb: inner, c: a, ldc: nLat)
            Kernels.softmaxRows(a, rows: T, width: nLat, stride: nLat, scale: lscale)
            gemm(m: T, n: dh, k: nLat, a: a, lda: nLat, b: V + head * dh, ldb: inner, c: lo + head * dh, ldc: inner)
        }
        y1.update(from: last, count: T * d)
        linear(lo, rows: T, inFeatures: inner, weight: p(lb + "0.fn.to_out.weight"), outFeatures: d, into: y1, beta: 1)
        Kernels.layerNorm(y1, weight: p(lb + "1.norm.weight"), bias: p(lb + "1.norm.bias"), into: lx2, rows: T, width: d, eps: 1e-5)
        linear(lx2, rows: T, inFeatures: d, weight: p(lb + "1.fn.net.0.weight"), outFeatures: 2 * ff, into: u)
        Kernels.addRowBias(u, bias: p(lb + "1.fn.net.0.bias"), rows: T, width: 2 * ff)
        Kernels.geglu(u, into: gg, rows: T, half: ff)
        y.update(from: y1, count: T * d)
        linear(gg, rows: T, inFeatures: ff, weight: p(lb + "1.fn.net.2.weight"), outFeatures: d, into: y, beta: 1)
        Kernels.addRowBias(y, bias: p(lb + "1.fn.net.2.bias"), rows: T, width: d)
        return (last, y)
    }

    // MARK: - backward

    /// Accumulates parameter gradients given dL/d(decoder output) `dHidden` [T, d] and,
    /// with a latent block, dL/d(latent output) `dLatent` [T, d]. Both are consumed
    /// (overwritten) as scratch.
    public func backward(cache c: ActivationCache, dHidden: UnsafeMutablePointer<Float>, dLatent: UnsafeMutablePointer<Float>?) {
        let dc = config.decoder
        let batch = c.batch
        let T = c.tokens, d = dc.hiddenSize, hd = dc.headDim, nH = dc.numAttentionHeads, nKV = dc.numKeyValueHeads
        let qd = nH * hd, kvd = nKV * hd, f = dc.intermediateSize, group = nH / nKV
        let dLast = dHidden

        if let lc = config.latent, let dY = dLatent {
            let H = lc.numCrossHeads, dh = lc.crossDimHead, inner = lc.innerDim, nLat = lc.numLatents, ff = lc.feedForwardDim
            let last = c.buf("last", T * d), ctx = c.buf("lat.ctx", nLat * d), K = c.buf("lat.K", nLat * inner), V = c.buf("lat.V", nLat * inner)
            let lx = c.buf("lat.x", T * d), lq = c.buf("lat.q", T * inner), A = c.buf("lat.A", H * T * nLat), lo = c.buf("lat.o", T * inner)
            let y1 = c.buf("lat.y1", T * d), lx2 = c.buf("lat.x2", T * d), u = c.buf("lat.u", T * 2 * ff), gg = c.buf("lat.g", T * ff)
            let dG = c.buf("d.lat.g", T * ff), dU = c.buf("d.lat.u", T * 2 * ff), dX = c.buf("d.lat.x", T * d)
            // y = y1 + GEGLU(LN_ff(y1) W1ᵀ + b1) W2ᵀ + b2
            gemm(m: T, n: ff, k: d, a: dY, lda: d, b: p(lb + "1.fn.net.2.weight"), ldb: ff, c: dG, ldc: ff)
            gemm(transA: true, m: d, n: ff, k: T, a: dY, lda: d, b: gg, ldb: ff, beta: 1, c: g(lb + "1.fn.net.2.weight"), ldc: ff)
            ll_columnSums(dY, g(lb + "1.fn.net.2.bias"), rows: T, width: d)
            Kernels.gegluBackward(u, dOut: dG, into: dU, rows: T, half: ff)
            gemm(transA: true, m: 2 * ff, n: d, k: T, a: dU, lda: 2 * ff, b: lx2, ldb: d, beta: 1, c: g(lb + "1.fn.net.0.weight"), ldc: d)
            ll_columnSums(dU, g(lb + "1.fn.net.0.bias"), rows: T, width: 2 * ff)
            gemm(m: T, n: d, k: 2 * ff, a: dU, lda: 2 * ff, b: p(lb + "1.fn.net.0.weight"), ldb: d, c: dX, ldc: d)
            let dY1 = dY   // reuse: dY1 = dY + LN_ffᵀ(dX)
            Kernels.layerNormBackward(y1, weight: p(lb + "1.norm.weight"), dy: dX, dx: dX, dWeight: g(lb + "1.norm.weight"), dBias: g(lb + "1.norm.bias"), rows: T, width: d, eps: 1e-5)
            Kernels.add(dY1, dX, count: T * d)
            // y1 = last + lo W_outᵀ
            let dLo = c.buf("d.lat.o", T * inner)
            gemm(m: T, n: inner, k: d, a: dY1, lda: d, b: p(lb + "0.fn.to_out.weight"), ldb: inner, c: dLo, ldc: inner)
            gemm(transA: true, m: d, n: inner, k: T, a: dY1, lda: d, b: lo, ldb: inner, beta: 1, c: g(lb + "0.fn.to_out.weight"), ldc: inner)
            Kernels.add(dLast, dY1, count: T * d)
            // lo_h = softmax(lq_h K_hᵀ / √dh) V_h
            let dK = c.buf("d.lat.K", nLat * inner), dV = c.buf("d.lat.V", nLat * inner), dLq = c.buf("d.lat.q", T * inner)
            let dA = c.buf("d.lat.A", T * nLat)
            memset(dK, 0, nLat * inner * 4)
            memset(dV, 0, nLat * inner * 4)
            let lscale = 1 / Float(dh).squareRoot()
            for head in 0..<H {
                let a = A + head * T * nLat
                gemm(transB: true, m: T, n: nLat, k: dh, a: dLo + head * dh, lda: inner, b: V + head * dh, ldb: inner, c: dA, ldc: nLat)
                gemm(transA: true, m: nLat, n: dh, k: T, a: a, lda: nLat, b: dLo + head * dh, ldb: inner, c: dV + head * dh, ldc: inner)
                Kernels.softmaxBackward(a, dp: dA, rows: T, width: nLat, stride: nLat, scale: lscale)
                gemm(m: T, n: dh, k: nLat, a: dA, lda: nLat, b: K + head * dh, ldb: inner, c: dLq + head * dh, ldc: inner)
                gemm(transA: true, m: nLat, n: dh, k: T, a: dA, lda: nLat, b: lq + head * dh, ldb: inner, c: dK + head * dh, ldc: inner)
            }
            gemm(transA: true, m: inner, n: d, k: T, a: dLq, lda: inner, b: lx, ldb: d, beta: 1, c: g(lb + "0.fn.to_q.weight"), ldc: d)
            gemm(m: T, n: d, k: inner, a: dLq, lda: inner, b: p(lb + "0.fn.to_q.weight"), ldb: d, c: dX, ldc: d)
            Kernels.layerNormBackward(last, weight: p(lb + "0.norm.weight"), dy: dX, dx: dX, dWeight: g(lb + "0.norm.weight"), dBias: g(lb + "0.norm.bias"), rows: T, width: d, eps: 1e-5)
            Kernels.add(dLast, dX, count: T * d)
            // [K | V] = LN_ctx(latents) W_kvᵀ
            let dKV = c.buf("d.lat.kv", nLat * 2 * inner), dCtx = c.buf("d.lat.ctx", nLat * d)
            for r in 0..<nLat {
                (dKV + r * 2 * inner).update(from: dK + r * inner, count: inner)
                (dKV + r * 2 * inner + inner).update(from: dV + r * inner, count: inner)
            }
            gemm(transA: true, m: 2 * inner, n: d, k: nLat, a: dKV, lda: 2 * inner, b: ctx, ldb: d, beta: 1, c: g(lb + "0.fn.to_kv.weight"), ldc: d)
            gemm(m: nLat, n: d, k: 2 * inner, a: dKV, lda: 2 * inner, b: p(lb + "0.fn.to_kv.weight"), ldb: d, c: dCtx, ldc: d)
            let dLatents = c.buf("d.lat.latents", nLat * d)
            Kernels.layerNormBackward(p("latent_attention_model.latents"), weight: p(lb + "0.norm_context.weight"), dy: dCtx, dx: dLatents,
                                      dWeight: g(lb + "0.norm_context.weight"), dBias: g(lb + "0.norm_context.bias"), rows: nLat, width: d, eps: 1e-5)
            Kernels.add(g("latent_attention_model.latents"), dLatents, count: nLat * d)
        }

        // Final RMSNorm.
        var dh = c.buf("d.h", T * d)
        let hFinal = c.buf("h\(dc.numHiddenLayers)", T * d)
        Kernels.rmsNormBackward(hFinal, weight: p("norm.weight"), dy: dLast, dx: dh, dWeight: g("norm.weight"), rows: T, width: d, eps: dc.rmsNormEps)
        let scale = 1 / Float(hd).squareRoot()
        let dX = c.buf("d.x", T * d), dAct = c.buf("d.act", T * f), dGate = c.buf("d.gate", T * f), dUp = c.buf("d.up", T * f)
        let dAttn = c.buf("d.attn", T * qd), dQ = c.buf("d.q", T * qd), dK = c.buf("d.k", T * kvd), dV = c.buf("d.v", T * kvd)
        var dh2 = c.buf("d.h2", T * d)
        for i in stride(from: dc.numHiddenLayers - 1, through: 0, by: -1) {
            let hIn = c.buf("h\(i)", T * d), x1 = c.buf("L\(i).x1", T * d), q = c.buf("L\(i).q", T * qd), k = c.buf("L\(i).k", T * kvd)
            let v = c.buf("L\(i).v", T * kvd), P = c.buf("L\(i).P", c.probTotal), attn = c.buf("L\(i).attn", T * qd)
            let hMid = c.buf("L\(i).hMid", T * d), x2 = c.buf("L\(i).x2", T * d), gate = c.buf("L\(i).gate", T * f)
            let up = c.buf("L\(i).up", T * f), act = c.buf("L\(i).act", T * f)
            // MLP: out = hMid + act W_downᵀ
            gemm(m: T, n: f, k: d, a: dh, lda: d, b: p(L(i, "mlp.down_proj.weight")), ldb: f, c: dAct, ldc: f)
            gemm(transA: true, m: d, n: f, k: T, a: dh, lda: d, b: act, ldb: f, beta: 1, c: g(L(i, "mlp.down_proj.weight")), ldc: f)
            Kernels.siluMulBackward(gate: gate, up: up, dh: dAct, dGate: dGate, dUp: dUp, count: T * f)
            gemm(transA: true, m: f, n: d, k: T, a: dGate, lda: f, b: x2, ldb: d, beta: 1, c: g(L(i, "mlp.gate_proj.weight")), ldc: d)
            gemm(transA: true, m: f, n: d, k: T, a: dUp, lda: f, b: x2, ldb: d, beta: 1, c: g(L(i, "mlp.up_proj.weight")), ldc: d)
            gemm(m: T, n: d, k: f, a: dGate, lda: f, b: p(L(i, "mlp.gate_proj.weight")), ldb: d, c: dX, ldc: d)
            gemm(m: T, n: d, k: f, a: dUp, lda: f, b: p(L(i, "mlp.up_proj.weight")), ldb: d, beta: 1, c: dX, ldc: d)
            Kernels.rmsNormBackward(hMid, weight: p(L(i, "post_attention_layernorm.weight")), dy: dX, dx: dX, dWeight: g(L(i, "post_attention_layernorm.weight")), rows: T, width: d, eps: dc.rmsNormEps)
            Kernels.add(dh, dX, count: T * d)          // dh is now dL/dhMid
            // Attention: hMid = hIn + attn W_oᵀ
            gemm(m: T, n: qd, k: d, a: dh, lda: d, b: p(L(i, "self_attn.o_proj.weight")), ldb: qd, c: dAttn, ldc: qd)
            gemm(transA: true, m: d, n: qd, k: T, a: dh, lda: d, b: attn, ldb: qd, beta: 1, c: g(L(i, "self_attn.o_proj.weight")), ldc: qd)
            memset(dK, 0, T * kvd * 4)
            memset(dV, 0, T * kvd * 4)
            parallelSequences(batch) { s, scratch in
                let o = batch.offsets[s], n = batch.lengths[s]
                let dP = scratch.reserve(n * n)
                for head in 0..<nH {
                    let gk = head / group
                    let ps = P + c.probOffsets[s] + head * n * n
                    gemm(transB: true, m: n, n: n, k: hd, a: dAttn + o * qd + head * hd, lda: qd, b: v + o * kvd + gk * hd, ldb: kvd, c: dP, ldc: n)
                    gemm(transA: true, m: n, n: hd, k: n, a: ps, lda: n, b: dAttn + o * qd + head * hd, ldb: qd, beta: 1, c: dV + o * kvd + gk * hd, ldc: kvd)
                    Kernels.softmaxBackward(ps, dp: dP, rows: n, width: n, stride: n, scale: scale)
                    gemm(m: n, n: hd, k: n, a: dP, lda: n, b: k + o * kvd + gk * hd, ldb: kvd, c: dQ + o * qd + head * hd, ldc: qd)
                    gemm(transA: true, m: n, n: hd, k: n, a: dP, lda: n, b: q + o * qd + head * hd, ldb: qd, beta: 1, c: dK + o * kvd + gk * hd, ldc: kvd)
                }
            }
            rope(c, dQ, heads: nH, inverse: true)
            rope(c, dK, heads: nKV, inverse: true)
            gemm(transA: true, m: qd, n: d, k: T, a: dQ, lda: qd, b: x1, ldb: d, beta: 1, c: g(L(i, "self_attn.q_proj.weight")), ldc: d)
            gemm(transA: true, m: kvd, n: d, k: T, a: dK, lda: kvd, b: x1, ldb: d, beta: 1, c: g(L(i, "self_attn.k_proj.weight")), ldc: d)
            gemm(transA: true, m: kvd, n: d, k: T, a: dV, lda: kvd, b: x1, ldb: d, beta: 1, c: g(L(i, "self_attn.v_proj.weight")), ldc: d)
            gemm(m: T, n: d, k: qd, a: dQ, lda: qd, b: p(L(i, "self_attn.q_proj.weight")), ldb: d, c: dX, ldc: d)
            gemm(m: T, n: d, k: kvd, a: dK, lda: kvd, b: p(L(i, "self_attn.k_proj.weight")), ldb: d, beta: 1, c: dX, ldc: d)
            gemm(m: T, n: d, k: kvd, a: dV, lda: kvd, b: p(L(i, "self_attn.v_proj.weight")), ldb: d, beta: 1, c: dX, ldc: d)
            Kernels.rmsNormBackward(hIn, weight: p(L(i, "input_layernorm.weight")), dy: dX, dx: dh2, dWeight: g(L(i, "input_layernorm.weight")), rows: T, width: d, eps: dc.rmsNormEps)
            Kernels.add(dh2, dh, count: T * d)          // dL/dhIn
            swap(&dh, &dh2)
        }
        // Embedding rows.
        let dE = g("embed_tokens.weight")
        for t in 0..<T { Kernels.add(dE + Int(batch.ids[t]) * d, dh + t * d, count: d) }
    }

    // MARK: - helpers

    private func ensureRope(_ c: ActivationCache, _ length: Int) {
        let hd = config.decoder.headDim
        if length <= c.ropeLength { return }
        let half = hd / 2, n = max(length, 64)
        c.ropeCos = [Float](repeating: 0, count: n * half)
        c.ropeSin = [Float](repeating: 0, count: n * half)
        for i in 0..<half {
            let inv = 1.0 / pow(config.decoder.ropeTheta, Double(2 * i) / Double(hd))
            for pos in 0..<n {
                c.ropeCos[pos * half + i] = Float(cos(Double(pos) * inv))
                c.ropeSin[pos * half + i] = Float(sin(Double(pos) * inv))
            }
        }
        c.ropeLength = n
    }

    /// Rotate-half RoPE on every row of `x` ([T, heads·hd]); `inverse` rotates back
    /// (the backward of a rotation is its transpose).
    private func rope(_ c: ActivationCache, _ x: UnsafeMutablePointer<Float>, heads: Int, inverse: Bool) {
        let hd = config.decoder.headDim, half = hd / 2, width = heads * hd
        let batch = c.batch
        c.ropeCos.withUnsafeBufferPointer { cosT in
            c.ropeSin.withUnsafeBufferPointer { sinT in
                for s in 0..<batch.count {
                    let o = batch.offsets[s]
                    for pos in 0..<batch.lengths[s] {
                        let cs = cosT.baseAddress! + pos * half, sn = sinT.baseAddress! + pos * half
                        let row = x + (o + pos) * width
                        for hh in 0..<heads {
                            let r = row + hh * hd
                            for i in 0..<half {
                                let a = r[i], b = r[i + half]
                                let sv = inverse ? -sn[i] : sn[i]
                                r[i] = a * cs[i] - b * sv
                                r[i + half] = b * cs[i] + a * sv
                            }
                        }
                    }
                }
            }
        }
    }

    private func causal(_ c: ActivationCache, _ n: Int, _ body: (UnsafePointer<Int32>?) -> Void) {
        if c.mask == .bidirectional { body(nil); return }
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: n) { v in
            for r in 0..<n { v[r] = Int32(r + 1) }
            body(UnsafePointer(v.baseAddress!))
        }
    }

    /// Runs `body(sequence, scratch)` over all sequences, split across `workers` threads
    /// in contiguous ranges of about equal token counts.
    private func parallelSequences(_ batch: PackedBatch, _ body: @escaping (Int, ScratchBuffer) -> Void) {
        let w = min(workers, batch.count)
        if w <= 1 {
            let scratch = ScratchBuffer()
            for s in 0..<batch.count { body(s, scratch) }
            return
        }
        // Cost ∝ n², balance on it.
        let costs = batch.lengths.map { $0 * $0 }
        let total = costs.reduce(0, +)
        var bounds = [0]
        var acc = 0
        for (s, cst) in costs.enumerated() {
            acc += cst
            if bounds.count < w && acc * w >= total * bounds.count { bounds.append(s + 1) }
        }
        while bounds.count <= w { bounds.append(batch.count) }
        bounds[w] = batch.count
        let ranges = (0..<w).map { bounds[$0]..<bounds[$0 + 1] }
        let work = UncheckedSendable(body)
        // The workers' small matrix products run single-threaded each: letting OpenBLAS
        // thread them too would oversubscribe the cores (measured: ~30% of a step lost
        // to spin-waiting in exec_blas_async).
        BLAS.singleThreadedRegion {
            DispatchQueue.concurrentPerform(iterations: w) { k in
                let scratch = ScratchBuffer()
                for s in ranges[k] { work.value(s, scratch) }
            }
        }
    }
}

/// Hands a value to worker threads that only touch disjoint memory through it.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

@inline(__always)
func ll_columnSums(_ dy: UnsafePointer<Float>, _ db: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    Kernels.columnSums(dy, into: db, rows: rows, width: width)
}
