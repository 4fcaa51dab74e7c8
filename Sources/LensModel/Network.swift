import Foundation
import LensMath

/// Attention mask of the decoder, chosen per call.
public enum AttentionMask: String, Sendable, CaseIterable, Codable {
    /// Padding only: every token attends every token (NV-Embed).
    case bidirectional
    /// Token i attends tokens 0…i (the pretrained LLM's mask).
    case causal
}

/// How token states become one vector.
public enum Pooling: String, Sendable, CaseIterable, Codable, Comparable {
    /// NV-Embed's latent-attention block, then the masked mean.
    case latent
    /// Masked mean of the decoder's last hidden states.
    case mean
    /// The decoder state at the last non-pad position.
    case eos

    public static func < (a: Pooling, b: Pooling) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Token sequences packed end to end: sequence `s` is `ids[offsets[s] ..< offsets[s] + lengths[s]]`.
/// Equivalent to a right-padded batch with positions 0…L−1 per row: pad positions never
/// influence real ones (they are masked as keys, and nothing pools them), so they are
/// simply not computed.
public struct PackedBatch: Sendable {
    public private(set) var ids: [Int32] = []
    public private(set) var offsets: [Int] = []
    public private(set) var lengths: [Int] = []

    public init() {}
    public init(_ sequences: [[Int32]]) { for s in sequences { append(s) } }

    public mutating func append(_ seq: [Int32]) {
        offsets.append(ids.count)
        lengths.append(seq.count)
        ids += seq
    }

    public var count: Int { lengths.count }
    public var totalTokens: Int { ids.count }
    public var maxLength: Int { lengths.max() ?? 0 }
}

/// Reusable activation buffers: sized on first use and grown only when a batch needs more.
public final class Workspace: @unchecked Sendable {
    let h = ScratchBuffer(), x = ScratchBuffer(), q = ScratchBuffer(), k = ScratchBuffer(), v = ScratchBuffer()
    let attn = ScratchBuffer(), gate = ScratchBuffer(), up = ScratchBuffer(), scores = ScratchBuffer()
    let last = ScratchBuffer(), lq = ScratchBuffer(), lo = ScratchBuffer(), lscores = ScratchBuffer()
    let ly = ScratchBuffer(), lx = ScratchBuffer(), u = ScratchBuffer(), g = ScratchBuffer()
    /// Conversion buffers for streamed (f16/bf16 on disk) tensors: one per argument a kernel
    /// takes at once, so conversions never overwrite each other.
    let weightScratch = ScratchBuffer(), biasScratch = ScratchBuffer()
    var ropeCos: [Float] = [], ropeSin: [Float] = []
    var ropeLength = 0
    var causalValid: [Int32] = []

    public init() {}

    /// cos/sin tables [positions, headDim/2] in float64 arithmetic, rounded to float32.
    func ensureRope(length: Int, headDim: Int, theta: Double) {
        if length <= ropeLength { return }
        let half = headDim / 2
        let n = max(length, 2 * ropeLength, 64)
        ropeCos = [Float](repeating: 0, count: n * half)
        ropeSin = [Float](repeating: 0, count: n * half)
        for i in 0..<half {
            let invFreq = 1.0 / pow(theta, Double(2 * i) / Double(headDim))
            for p in 0..<n {
                let a = Double(p) * invFreq
                ropeCos[p * half + i] = Float(cos(a))
                ropeSin[p * half + i] = Float(sin(a))
            }
        }
        ropeLength = n
        causalValid = (1...n).map { Int32($0) }
    }
}

/// What one forward pass leaves behind (pointers into the workspace, valid until the next pass).
public struct ForwardResult {
    /// Decoder output after the final RMSNorm [T, d].
    public let hidden: UnsafePointer<Float>
    /// Latent-attention block output [T, d] (nil without a latent block).
    public let latentHidden: UnsafePointer<Float>?
    /// Latent-attention probabilities [H, T, nLat] when requested.
    public let latentProbabilities: UnsafePointer<Float>?
    public let tokens: Int
}

/// The NV-Embed network: a Mistral decoder (no KV cache, no LM head) and the
/// latent-attention block. Implements docs/nvembed.md §2–3; every step is checked
/// against scripts/reference.py.
public final class EmbeddingNetwork: @unchecked Sendable {
    public let weights: ModelWeights
    public var config: ModelConfig { weights.config }
    /// The latents' keys and values, computed once per model: [nLat, H·dh] each.
    let latentK: FloatBuffer?
    let latentV: FloatBuffer?
    /// The latent block folded for inference (the latents are constants, so the products with
    /// them can be taken once): scores = LN_q(h) · Mᵀ with M = [K_h · Wq_h]_h ∈ [H·nLat, d], and
    /// the attention output projected back = P · Nᵀ with N = [Wo_h · V_hᵀ]_h ∈ [d, H·nLat].
    /// Used when it costs fewer multiply-adds per token (d·nLat < dh·(d + nLat), true for the
    /// bundled model and for NV-Embed-v2, where it cuts the block's work ≈ 9×); nil otherwise.
    let foldedQK: FloatBuffer?
    let foldedVO: FloatBuffer?
    /// Per layer, [Wq; Wk; Wv] and [Wgate; Wup] stacked, so each token row needs two products
    /// instead of five (fewer BLAS calls, each with its thread hand-off, for short inputs).
    /// Built when the weights are resident and the copies stay under 256 MB; nil otherwise.
    let fusedQKV: [FloatBuffer]?
    let fusedGateUp: [FloatBuffer]?

    /// The same products packed for short inputs (≤ `packedRowLimit` tokens in a batch), run by
    /// LensMath's `PackedWeight` kernel instead of OpenBLAS: for a 30-token query OpenBLAS packs
    /// every weight on every call and reaches ~40% of the machine's peak; the packed kernel ~95%.
    /// Built with the stacked projections on CPUs with AVX-512 or AVX2; nil otherwise.
    struct PackedLayer { let qkv: PackedWeight, o: PackedWeight, gateUp: PackedWeight, down: PackedWeight }
    struct PackedLatent { let qk: PackedWeight?, vo: PackedWeight?, ff1: PackedWeight, ff2: PackedWeight }
    let packedLayers: [PackedLayer]?
    let packedLatent: PackedLatent?
    /// Batches of at most this many tokens take the packed path: 128 with the AVX-512 kernel,
    /// 48 with the AVX2 one (measured against OpenBLAS on the same shapes, docs/PERFORMANCE.md).
    /// `LATENTLENS_PACKED_ROWS` overrides it; 0 keeps every product on OpenBLAS.
    public static let packedRowLimit: Int = {
        if let v = ProcessInfo.processInfo.environment["LATENTLENS_PACKED_ROWS"], let n = Int(v), n >= 0 { return n }
        return PackedWeight.level >= 3 ? 128 : 48
    }()

    /// Whether short inputs run on pre-packed weights (see `packedLayers`).
    public var weightsPacked: Bool { packedLayers != nil }
    /// Whether the latent block runs folded (see `foldedQK`).
    public var latentFolded: Bool { foldedQK != nil }
    /// Whether q/k/v and gate/up run as one product each (see `fusedQKV`).
    public var projectionsFused: Bool { fusedQKV != nil }

    /// `foldLatents`, `fuseProjections`: nil picks automatically; true/false force a form
    /// (tests compare them).
    /// `packWeights`: nil packs when the projections are stacked and the CPU has AVX-512 or AVX2.
    public init(weights: ModelWeights, foldLatents: Bool? = nil, fuseProjections: Bool? = nil, packWeights: Bool? = nil) {
        self.weights = weights
        let dc = weights.config.decoder
        let perLayer = (dc.numAttentionHeads + 2 * dc.numKeyValueHeads) * dc.headDim * dc.hiddenSize + 2 * dc.intermediateSize * dc.hiddenSize
        let resident = weights.layers.allSatisfy { l in [l.wq, l.wk, l.wv, l.wGate, l.wUp].allSatisfy { $0.resident != nil } }
        if fuseProjections ?? (resident && perLayer * weights.layers.count * 4 <= 256 << 20) {
            let scratch = ScratchBuffer()
            func stack(_ ts: [WeightTensor]) -> FloatBuffer {
                let b = FloatBuffer(count: ts.reduce(0) { $0 + $1.count })
                var o = 0
                for t in ts { (b.pointer + o).update(from: t.floats(scratch), count: t.count); o += t.count }
                return b
            }
            fusedQKV = weights.layers.map { stack([$0.wq, $0.wk, $0.wv]) }
            fusedGateUp = weights.layers.map { stack([$0.wGate, $0.wUp]) }
        } else {
            fusedQKV = nil
            fusedGateUp = nil
        }
        if let lw = weights.latent, let lc = weights.config.latent {
            // c = LN_ctx(latents); [K | V] = c · to_kvᵀ; K is the first half of the outputs.
            let n = lc.numLatents, dc = lc.hiddenDim, inner = lc.innerDim
            // One scratch per argument: a streamed tensor is converted into its scratch, so two
            // arguments sharing one would overwrite each other.
            let scratch = ScratchBuffer(), s2 = ScratchBuffer(), s3 = ScratchBuffer()
            let c = FloatBuffer(count: n * dc)
            Kernels.layerNorm(lw.latents.floats(scratch), weight: lw.contextNormW.floats(s2), bias: lw.contextNormB.floats(s3),
                              into: c.pointer, rows: n, width: dc, eps: 1e-5)
            let kv = FloatBuffer(count: n * 2 * inner)
            linear(c.pointer, rows: n, inFeatures: dc, weight: lw.toKV.floats(scratch), outFeatures: 2 * inner, into: kv.pointer)
            let kb = FloatBuffer(count: n * inner), vb = FloatBuffer(count: n * inner)
            for r in 0..<n {
                kb.pointer.advanced(by: r * inner).update(from: kv.pointer + r * 2 * inner, count: inner)
                vb.pointer.advanced(by: r * inner).update(from: kv.pointer + r * 2 * inner + inner, count: inner)
            }
            latentK = kb
            latentV = vb
            let H = lc.numCrossHeads, dh = lc.crossDimHead, d = weights.config.decoder.hiddenSize
            if foldLatents ?? (d * n < dh * (d + n)) {
                let m = FloatBuffer(count: H * n * d), nt = FloatBuffer(count: d * H * n)
                let wq = lw.toQ.floats(scratch), wo = lw.toOut.floats(s2)
                for h in 0..<H {
                    // M_h = K_h · Wq_h: [n, dh] · [dh, d] (Wq_h: rows h·dh… of to_q [inner, d]).
                    gemm(m: n, n: d, k: dh, a: kb.pointer + h * dh, lda: inner, b: wq + h * dh * d, ldb: d,
                         c: m.pointer + h * n * d, ldc: d)
                    // N_h = Wo_h · V_hᵀ: [d, dh] · [dh, n] (Wo_h: columns h·dh… of to_out [d, inner]).
                    gemm(transB: true, m: d, n: n, k: dh, a: wo + h * dh, lda: inner, b: vb.pointer + h * dh, ldb: inner,
                         c: nt.pointer + h * n, ldc: H * n)
                }
                foldedQK = m
                foldedVO = nt
            } else {
                foldedQK = nil
                foldedVO = nil
            }
        } else {
            latentK = nil
            latentV = nil
            foldedQK = nil
            foldedVO = nil
        }
        if let fq = fusedQKV, let fg = fusedGateUp, packWeights ?? PackedWeight.available {
            let scratch = ScratchBuffer()
            let (d, f) = (dc.hiddenSize, dc.intermediateSize)
            let qs = (dc.numAttentionHeads + 2 * dc.numKeyValueHeads) * dc.headDim
            packedLayers = weights.layers.enumerated().map { li, l in
                PackedLayer(qkv: PackedWeight(fq[li].pointer, outFeatures: qs, inFeatures: d),
                            o: PackedWeight(l.wo.floats(scratch), outFeatures: d, inFeatures: dc.numAttentionHeads * dc.headDim),
                            gateUp: PackedWeight(fg[li].pointer, outFeatures: 2 * f, inFeatures: d),
                            down: PackedWeight(l.wDown.floats(scratch), outFeatures: d, inFeatures: f))
            }
            if let lw = weights.latent, let lc = weights.config.latent {
                let hn = lc.numCrossHeads * lc.numLatents
                packedLatent = PackedLatent(
                    qk: foldedQK.map { PackedWeight($0.pointer, outFeatures: hn, inFeatures: d) },
                    vo: foldedVO.map { PackedWeight($0.pointer, outFeatures: d, inFeatures: hn) },
                    ff1: PackedWeight(lw.ff1W.floats(scratch), outFeatures: 2 * lc.feedForwardDim, inFeatures: d),
                    ff2: PackedWeight(lw.ff2W.floats(scratch), outFeatures: d, inFeatures: lc.feedForwardDim))
            } else {
                packedLatent = nil
            }
        } else {
            packedLayers = nil
            packedLatent = nil
        }
    }

    /// Runs the decoder (and the latent block when the model has one and `latent` is true).
    public func forward(_ batch: PackedBatch, mask: AttentionMask, latent: Bool = true,
                        keepLatentProbabilities: Bool = false, backend: GemmBackend = .blas,
                        workspace ws: Workspace) -> ForwardResult {
        let dc = config.decoder
        let T = batch.totalTokens
        let d = dc.hiddenSize, hd = dc.headDim, nH = dc.numAttentionHeads, nKV = dc.numKeyValueHeads
        let qd = nH * hd, kvd = nKV * hd, f = dc.intermediateSize
        let group = nH / nKV
        let maxLen = batch.maxLength
        ws.ensureRope(length: maxLen, headDim: hd, theta: dc.ropeTheta)
        let wsc = ws.weightScratch, bsc = ws.biasScratch

        let h = ws.h.reserve(T * d), x = ws.x.reserve(T * d)
        // q, k, v: three buffers, or (projections fused) one whose rows hold q | k | v, so the
        // row strides are the stacked width. up: [T, f], or [T, 2f] rows of gate | up when fused.
        let fused = fusedQKV != nil
        let qs = fused ? qd + 2 * kvd : qd, ks = fused ? qs : kvd
        let qp = ws.q.reserve(T * qs)
        let (kp, vp) = fused ? (qp + qd, qp + qd + kvd) : (ws.k.reserve(T * kvd), ws.v.reserve(T * kvd))
        let attn = ws.attn.reserve(T * qd)
        let gate = ws.gate.reserve(T * f), up = ws.up.reserve(T * (fused ? 2 * f : f))
        let scores = ws.scores.reserve(maxLen * maxLen)
        let last = ws.last.reserve(T * d)
        // Short inputs: products against the pre-packed weights (the naive backend stays naive).
        let packed = backend == .blas && T <= Self.packedRowLimit ? packedLayers : nil
        let packedL = packed != nil ? packedLatent : nil
        /// y = x · Wᵀ (`accumulate`: +=) on the packed copy when there is one, else through
        /// `linear` (the weight is only read then: a streamed tensor is not converted for nothing).
        func project(_ x: UnsafePointer<Float>, _ p: PackedWeight?, _ w: @autoclosure () -> UnsafePointer<Float>,
                     inFeatures: Int, outFeatures: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
            if let p {
                p.apply(x, rows: T, into: y, accumulate: accumulate)
            } else {
                linear(x, rows: T, inFeatures: inFeatures, weight: w(), outFeatures: outFeatures, into: y, beta: accumulate ? 1 : 0, backend: backend)
            }
        }

        // 1. Embedding lookup.
        for t in 0..<T { weights.embedTokens.copyRow(Int(batch.ids[t]), into: h + t * d) }

        let scale = 1 / Float(hd).squareRoot()
        for (li, layer) in weights.layers.enumerated() {
            // 2. x = RMSNorm(h); q, k, v projections.
            Kernels.rmsNorm(h, weight: layer.inputNorm.floats(wsc), into: x, rows: T, width: d, eps: dc.rmsNormEps)
            if let fq = fusedQKV {
                project(x, packed?[li].qkv, fq[li].pointer, inFeatures: d, outFeatures: qs, into: qp)
            } else {
                linear(x, rows: T, inFeatures: d, weight: layer.wq.floats(wsc), outFeatures: qd, into: qp, backend: backend)
                linear(x, rows: T, inFeatures: d, weight: layer.wk.floats(wsc), outFeatures: kvd, into: kp, backend: backend)
                linear(x, rows: T, inFeatures: d, weight: layer.wv.floats(wsc), outFeatures: kvd, into: vp, backend: backend)
            }
            // 3. RoPE (rotate-half) on q and k, positions 0…n−1 per sequence.
            ws.ropeCos.withUnsafeBufferPointer { cosT in
                ws.ropeSin.withUnsafeBufferPointer { sinT in
                    for s in 0..<batch.count {
                        let o = batch.offsets[s]
                        for p in 0..<batch.lengths[s] {
                            let c = cosT.baseAddress! + p * (hd / 2), sn = sinT.baseAddress! + p * (hd / 2)
                            applyRope(qp + (o + p) * qs, heads: nH, headDim: hd, cos: c, sin: sn)
                            applyRope(kp + (o + p) * ks, heads: nKV, headDim: hd, cos: c, sin: sn)
                        }
                    }
                }
            }
            // 4. Attention per sequence and head: softmax(q kᵀ / √hd + mask) v (GQA: head h reads KV head h / group).
            ws.causalValid.withUnsafeBufferPointer { causal in
                for s in 0..<batch.count {
                    let o = batch.offsets[s], n = batch.lengths[s]
                    for head in 0..<nH {
                        let g = head / group
                        gemm(transB: true, m: n, n: n, k: hd, a: qp + o * qs + head * hd, lda: qs,
                             b: kp + o * ks + g * hd, ldb: ks, c: scores, ldc: n, backend: backend)
                        Kernels.softmaxRows(scores, rows: n, width: n, stride: n, scale: scale,
                                            valid: mask == .causal ? causal.baseAddress : nil)
                        gemm(m: n, n: hd, k: n, a: scores, lda: n, b: vp + o * ks + g * hd, ldb: ks,
                             c: attn + o * qd + head * hd, ldc: qd, backend: backend)
                    }
                }
            }
            // 5. h += attn · W_oᵀ (residual).
            project(attn, packed?[li].o, layer.wo.floats(wsc), inFeatures: qd, outFeatures: d, into: h, accumulate: true)
            // 6. h += W_down · (silu(W_gate x) ⊙ W_up x), x = RMSNorm(h).
            Kernels.rmsNorm(h, weight: layer.postNorm.floats(wsc), into: x, rows: T, width: d, eps: dc.rmsNormEps)
            if let fg = fusedGateUp {
                project(x, packed?[li].gateUp, fg[li].pointer, inFeatures: d, outFeatures: 2 * f, into: up)
                for t in 0..<T { Kernels.siluMul(gate: up + t * 2 * f, up: up + t * 2 * f + f, into: gate + t * f, count: f) }
            } else {
                linear(x, rows: T, inFeatures: d, weight: layer.wGate.floats(wsc), outFeatures: f, into: gate, backend: backend)
                linear(x, rows: T, inFeatures: d, weight: layer.wUp.floats(wsc), outFeatures: f, into: up, backend: backend)
                Kernels.siluMul(gate: gate, up: up, into: gate, count: T * f)
            }
            project(gate, packed?[li].down, layer.wDown.floats(wsc), inFeatures: f, outFeatures: d, into: h, accumulate: true)
        }
        // 7. Final RMSNorm.
        Kernels.rmsNorm(h, weight: weights.finalNorm.floats(wsc), into: last, rows: T, width: d, eps: dc.rmsNormEps)

        guard latent, let lw = weights.latent, let lc = config.latent, let K = latentK, let V = latentV else {
            return ForwardResult(hidden: last, latentHidden: nil, latentProbabilities: nil, tokens: T)
        }
        // 8. Latent attention (docs/nvembed.md §3): token states query the latents.
        let H = lc.numCrossHeads, dh = lc.crossDimHead, inner = lc.innerDim, nLat = lc.numLatents, ff = lc.feedForwardDim
        let lx = ws.lx.reserve(T * d)
        let ly = ws.ly.reserve(T * d), u = ws.u.reserve(T * 2 * ff), gg = ws.g.reserve(T * ff)
        let probs = ws.lscores.reserve((keepLatentProbabilities || foldedQK != nil ? H : 1) * T * nLat)
        Kernels.layerNorm(last, weight: lw.normW.floats(wsc), bias: lw.normB.floats(bsc), into: lx, rows: T, width: d, eps: 1e-5)
        let lscale = 1 / Float(dh).squareRoot()
        ly.update(from: last, count: T * d)
        if let M = foldedQK, let N = foldedVO {
            // Folded: all heads' scores in one product [T, H·nLat], softmax per head, and the
            // output projection in one product whose contraction also sums over heads.
            let hn = H * nLat
            let s = probs
            project(lx, packedL?.qk, M.pointer, inFeatures: d, outFeatures: hn, into: s)
            for head in 0..<H {
                Kernels.softmaxRows(s + head * nLat, rows: T, width: nLat, stride: hn, scale: lscale)
            }
            project(s, packedL?.vo, N.pointer, inFeatures: hn, outFeatures: d, into: ly, accumulate: true)
            if keepLatentProbabilities {
                // Reorder [T, H, nLat] → [H, T, nLat], the layout traces use.
                let tmp = ws.lo.reserve(T * hn)
                tmp.update(from: s, count: T * hn)
                for head in 0..<H {
                    for t in 0..<T {
                        (s + (head * T + t) * nLat).update(from: tmp + t * hn + head * nLat, count: nLat)
                    }
                }
            }
        } else {
            let lq = ws.lq.reserve(T * inner), lo = ws.lo.reserve(T * inner)
            linear(lx, rows: T, inFeatures: d, weight: lw.toQ.floats(wsc), outFeatures: inner, into: lq, backend: backend)
            for head in 0..<H {
                let s = probs + (keepLatentProbabilities ? head * T * nLat : 0)
                gemm(transB: true, m: T, n: nLat, k: dh, a: lq + head * dh, lda: inner, b: K.pointer + head * dh, ldb: inner,
                     c: s, ldc: nLat, backend: backend)
                Kernels.softmaxRows(s, rows: T, width: nLat, stride: nLat, scale: lscale)
                gemm(m: T, n: dh, k: nLat, a: s, lda: nLat, b: V.pointer + head * dh, ldb: inner,
                     c: lo + head * dh, ldc: inner, backend: backend)
            }
            // y = h + concat_h(A V_h) · W_outᵀ
            linear(lo, rows: T, inFeatures: inner, weight: lw.toOut.floats(wsc), outFeatures: d, into: ly, beta: 1, backend: backend)
        }
        // y = y + W2 · GEGLU(W1 · LN_ff(y) + b1) + b2
        Kernels.layerNorm(ly, weight: lw.ffNormW.floats(wsc), bias: lw.ffNormB.floats(bsc), into: lx, rows: T, width: d, eps: 1e-5)
        project(lx, packedL?.ff1, lw.ff1W.floats(wsc), inFeatures: d, outFeatures: 2 * ff, into: u)
        Kernels.addRowBias(u, bias: lw.ff1B.floats(wsc), rows: T, width: 2 * ff)
        Kernels.geglu(u, into: gg, rows: T, half: ff)
        project(gg, packedL?.ff2, lw.ff2W.floats(wsc), inFeatures: ff, outFeatures: d, into: ly, accumulate: true)
        Kernels.addRowBias(ly, bias: lw.ff2B.floats(wsc), rows: T, width: d)
        return ForwardResult(hidden: last, latentHidden: ly, latentProbabilities: keepLatentProbabilities ? probs : nil, tokens: T)
    }
}

/// Rotate-half RoPE in place on `heads` consecutive head vectors of width `headDim`:
/// x'[i] = x[i]·cos − x[i+½]·sin, x'[i+½] = x[i+½]·cos + x[i]·sin.
@inline(__always)
func applyRope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let half = headDim / 2
    for hh in 0..<heads {
        let p = x + hh * headDim
        for i in 0..<half {
            let a = p[i], b = p[i + half]
            p[i] = a * cos[i] - b * sin[i]
            p[i + half] = b * cos[i] + a * sin[i]
        }
    }
}
