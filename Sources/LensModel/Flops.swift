/// Floating-point operation counts of one forward pass (multiply-add = 2 FLOPs), for
/// benchmarks that report achieved GFLOP/s.
public enum FlopCount {
    /// Decoder FLOPs for one sequence of `n` tokens: projections, attention scores and
    /// weighted sums, SwiGLU MLP.
    public static func decoder(_ c: DecoderConfig, length n: Int) -> Double {
        let d = Double(c.hiddenSize), qd = Double(c.numAttentionHeads * c.headDim), kvd = Double(c.numKeyValueHeads * c.headDim)
        let f = Double(c.intermediateSize), nn = Double(n)
        let perTokenLinear = 2 * (d * qd + 2 * d * kvd + qd * d + 3 * d * f)
        let attention = 2 * 2 * Double(c.numAttentionHeads) * nn * nn * Double(c.headDim)
        return Double(c.numHiddenLayers) * (nn * perTokenLinear + attention)
    }

    /// Latent-block FLOPs for `n` tokens (the latents' K/V are computed once per model, not
    /// here). `folded`: the inference form whose products with the latents were taken once
    /// (`EmbeddingNetwork.latentFolded`), which does less work for the same result.
    public static func latent(_ l: LatentAttentionConfig, length n: Int, folded: Bool = false) -> Double {
        let d = Double(l.latentDim), inner = Double(l.innerDim), ff = Double(l.feedForwardDim)
        let hn = Double(l.numCrossHeads * l.numLatents)
        let attention = folded ? 2 * d * hn + 2 * hn * d
            : 2 * d * inner + 2 * 2 * Double(l.numCrossHeads * l.numLatents * l.crossDimHead) + 2 * inner * d
        return Double(n) * (attention + 2 * d * 2 * ff + 2 * ff * d)
    }

    /// Whole model, one sequence.
    public static func forward(_ c: ModelConfig, length n: Int, latent: Bool = true, folded: Bool = false) -> Double {
        decoder(c.decoder, length: n) + (latent && c.latent != nil ? self.latent(c.latent!, length: n, folded: folded) : 0)
    }
}
