import LensMath

// MARK: - one weight tensor

/// How f16/bf16 weights are held in memory.
public enum WeightResidency: String, Sendable, CaseIterable {
    /// Convert to f32 once at load (fastest; resident memory = 4 bytes/parameter).
    case materialize
    /// Keep the mapped half-precision bytes and convert one matrix at a time into a
    /// scratch buffer when it is used (resident ≈ 2 bytes/parameter + one f32 matrix).
    case stream
    /// `stream` when materialising would exceed half of physical memory, else `materialize`.
    case automatic
}

/// A tensor of the checkpoint as the forward pass sees it: f32 data either straight from
/// the map (f32 files, when aligned), converted once (`materialize`), or converted on
/// use (`stream`).
public final class WeightTensor: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let sourceType: DType
    private let raw: UnsafeRawPointer
    private let owned: FloatBuffer?
    private let direct: UnsafePointer<Float>?

    public var count: Int { shape.reduce(1, *) }
    /// Rows and columns of a 2-D tensor (a 1-D tensor is one row).
    public var rows: Int { shape.count == 2 ? shape[0] : 1 }
    public var columns: Int { shape.last ?? 1 }
    /// True when reading the tensor needs a conversion buffer.
    public var isStreamed: Bool { direct == nil }

    init(name: String, info: TensorInfo, raw: UnsafeRawPointer, residency: WeightResidency) {
        self.name = name
        shape = info.shape
        sourceType = info.dtype
        self.raw = raw
        let aligned = Int(bitPattern: raw) % MemoryLayout<Float>.alignment == 0
        if info.dtype == .f32 && aligned {
            owned = nil
            direct = raw.assumingMemoryBound(to: Float.self)
        } else if info.dtype == .f32 || residency != .stream {
            let buf = FloatBuffer(count: info.elementCount)
            WeightTensor.convert(raw: raw, dtype: info.dtype, offset: 0, count: info.elementCount, into: buf.pointer)
            owned = buf
            direct = UnsafePointer(buf.pointer)
        } else {
            owned = nil
            direct = nil
        }
    }

    /// A tensor built from values (tests, the trainer's exports).
    public init(name: String, shape: [Int], values: FloatBuffer) {
        self.name = name
        self.shape = shape
        sourceType = .f32
        owned = values
        direct = UnsafePointer(values.pointer)
        raw = UnsafeRawPointer(values.pointer)
    }

    static func convert(raw: UnsafeRawPointer, dtype: DType, offset: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            memcpyFloats(dst, raw + offset * 4, count)
        case .f16:
            HalfPrecision.f16ToF32((raw + offset * 2).assumingMemoryBound(to: UInt16.self), dst, count: count)
        case .bf16:
            HalfPrecision.bf16ToF32((raw + offset * 2).assumingMemoryBound(to: UInt16.self), dst, count: count)
        }
    }

    /// The f32 data, converting into `scratch` first when the tensor is streamed.
    @inline(__always)
    public func floats(_ scratch: ScratchBuffer) -> UnsafePointer<Float> {
        if let direct { return direct }
        let p = scratch.reserve(count)
        WeightTensor.convert(raw: raw, dtype: sourceType, offset: 0, count: count, into: p)
        return UnsafePointer(p)
    }

    /// The f32 data when resident (nil when streamed).
    public var resident: UnsafePointer<Float>? { direct }

    /// Copies row `r` of a 2-D tensor into `dst` as f32 (embedding lookup).
    @inline(__always)
    public func copyRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        let w = columns
        if let direct { dst.update(from: direct + r * w, count: w); return }
        WeightTensor.convert(raw: raw, dtype: sourceType, offset: r * w, count: w, into: dst)
    }

    /// All values as an array (tests and exports).
    public func toArray() -> [Float] {
        let s = ScratchBuffer()
        return Array(UnsafeBufferPointer(start: floats(s), count: count))
    }
}

@inline(__always)
private func memcpyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ count: Int) {
    UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
}

// MARK: - the weight-name table

/// Every tensor a config needs, under its canonical name, with its expected shape
/// ([out, in] for linear weights, as in PyTorch). The canonical names are the
/// NV-Embed-v2 keys without the decoder prefix (`embedding_model.` / `model.`).
public enum WeightNames {
    public static let latentPrefix = "latent_attention_model."
    static let embed = "embed_tokens.weight"
    static let finalNorm = "norm.weight"
    static func layer(_ i: Int, _ suffix: String) -> String { "layers.\(i).\(suffix)" }

    // Latent block keys (after `latent_attention_model.`).
    static let latents = "latent_attention_model.latents"
    static let attnNormW = "latent_attention_model.cross_attend_blocks.0.norm.weight"
    static let attnNormB = "latent_attention_model.cross_attend_blocks.0.norm.bias"
    static let ctxNormW = "latent_attention_model.cross_attend_blocks.0.norm_context.weight"
    static let ctxNormB = "latent_attention_model.cross_attend_blocks.0.norm_context.bias"
    static let toQ = "latent_attention_model.cross_attend_blocks.0.fn.to_q.weight"
    static let toKV = "latent_attention_model.cross_attend_blocks.0.fn.to_kv.weight"
    static let toOut = "latent_attention_model.cross_attend_blocks.0.fn.to_out.weight"
    static let ffNormW = "latent_attention_model.cross_attend_blocks.1.norm.weight"
    static let ffNormB = "latent_attention_model.cross_attend_blocks.1.norm.bias"
    static let ff1W = "latent_attention_model.cross_attend_blocks.1.fn.net.0.weight"
    static let ff1B = "latent_attention_model.cross_attend_blocks.1.fn.net.0.bias"
    static let ff2W = "latent_attention_model.cross_attend_blocks.1.fn.net.2.weight"
    static let ff2B = "latent_attention_model.cross_attend_blocks.1.fn.net.2.bias"

    /// Canonical name → expected shape, for a config.
    public static func expected(for config: ModelConfig) -> [(name: String, shape: [Int])] {
        let d = config.decoder
        let h = d.hiddenSize, qd = d.numAttentionHeads * d.headDim, kvd = d.numKeyValueHeads * d.headDim
        var out: [(String, [Int])] = [(embed, [d.vocabSize, h])]
        for i in 0..<d.numHiddenLayers {
            out += [
                (layer(i, "input_layernorm.weight"), [h]),
                (layer(i, "self_attn.q_proj.weight"), [qd, h]),
                (layer(i, "self_attn.k_proj.weight"), [kvd, h]),
                (layer(i, "self_attn.v_proj.weight"), [kvd, h]),
                (layer(i, "self_attn.o_proj.weight"), [h, qd]),
                (layer(i, "post_attention_layernorm.weight"), [h]),
                (layer(i, "mlp.gate_proj.weight"), [d.intermediateSize, h]),
                (layer(i, "mlp.up_proj.weight"), [d.intermediateSize, h]),
                (layer(i, "mlp.down_proj.weight"), [h, d.intermediateSize]),
            ]
        }
        out.append((finalNorm, [h]))
        if let l = config.latent {
            let q = l.latentDim, c = l.hiddenDim, inner = l.innerDim, ff = l.feedForwardDim
            out += [
                (latents, [l.numLatents, l.latentDim]),
                (attnNormW, [q]), (attnNormB, [q]), (ctxNormW, [c]), (ctxNormB, [c]),
                (toQ, [inner, q]), (toKV, [2 * inner, c]), (toOut, [q, inner]),
                (ffNormW, [q]), (ffNormB, [q]),
                (ff1W, [2 * ff, q]), (ff1B, [2 * ff]), (ff2W, [q, ff]), (ff2B, [q]),
            ]
        }
        return out
    }

    /// Checkpoint keys that exist in real folders but that an embedder never reads.
    static func isIgnored(_ key: String) -> Bool {
        key == "lm_head.weight" || key.hasSuffix("rotary_emb.inv_freq")
    }

    /// Maps checkpoint keys to canonical names: detects the decoder prefix
    /// (`embedding_model.`, `model.` or none) and keeps latent keys as they are.
    /// Returns canonical → checkpoint key, plus the keys nothing maps.
    static func sanitize(_ keys: [String]) -> (map: [String: String], unexpected: [String]) {
        let prefix: String
        if keys.contains(where: { $0.hasPrefix("embedding_model.") }) {
            prefix = "embedding_model."
        } else if keys.contains(where: { $0.hasPrefix("model.") }) {
            prefix = "model."
        } else {
            prefix = ""
        }
        var map: [String: String] = [:]
        var unexpected: [String] = []
        for k in keys {
            if isIgnored(k) { continue }
            if k.hasPrefix(latentPrefix) {
                map[k] = k
            } else if k.hasPrefix(prefix) {
                map[String(k.dropFirst(prefix.count))] = k
            } else {
                unexpected.append(k)
            }
        }
        return (map, unexpected)
    }
}

// MARK: - all weights of a model

/// One decoder layer's weights ([out, in] layout).
public struct DecoderLayerWeights: Sendable {
    public let inputNorm: WeightTensor     // [h];        "layers.{i}.input_layernorm.weight"
    public let wq: WeightTensor            // [nH·hd, h]; "layers.{i}.self_attn.q_proj.weight"
    public let wk: WeightTensor            // [nKV·hd, h]; "layers.{i}.self_attn.k_proj.weight"
    public let wv: WeightTensor            // [nKV·hd, h]; "layers.{i}.self_attn.v_proj.weight"
    public let wo: WeightTensor            // [h, nH·hd]; "layers.{i}.self_attn.o_proj.weight"
    public let postNorm: WeightTensor      // [h];        "layers.{i}.post_attention_layernorm.weight"
    public let wGate: WeightTensor         // [f, h];     "layers.{i}.mlp.gate_proj.weight"
    public let wUp: WeightTensor           // [f, h];     "layers.{i}.mlp.up_proj.weight"
    public let wDown: WeightTensor         // [h, f];     "layers.{i}.mlp.down_proj.weight"
}

/// The latent-attention block's weights.
public struct LatentBlockWeights: Sendable {
    public let latents: WeightTensor       // [nLat, d];       "latent_attention_model.latents"
    public let normW: WeightTensor         // [d]; LN on token states: "...blocks.0.norm.weight"
    public let normB: WeightTensor         // [d];             "...blocks.0.norm.bias"
    public let contextNormW: WeightTensor  // [d]; LN on latents: "...blocks.0.norm_context.weight"
    public let contextNormB: WeightTensor  // [d];             "...blocks.0.norm_context.bias"
    public let toQ: WeightTensor           // [H·dh, d];       "...blocks.0.fn.to_q.weight"
    public let toKV: WeightTensor          // [2·H·dh, d];     "...blocks.0.fn.to_kv.weight" (K rows first)
    public let toOut: WeightTensor         // [d, H·dh];       "...blocks.0.fn.to_out.weight"
    public let ffNormW: WeightTensor       // [d];             "...blocks.1.norm.weight"
    public let ffNormB: WeightTensor       // [d];             "...blocks.1.norm.bias"
    public let ff1W: WeightTensor          // [2·ff, d];       "...blocks.1.fn.net.0.weight" (value rows first, then gate)
    public let ff1B: WeightTensor          // [2·ff];          "...blocks.1.fn.net.0.bias"
    public let ff2W: WeightTensor          // [d, ff];         "...blocks.1.fn.net.2.weight"
    public let ff2B: WeightTensor          // [d];             "...blocks.1.fn.net.2.bias"
}

/// All weights, checked strictly against the config.
public final class ModelWeights: @unchecked Sendable {
    public let config: ModelConfig
    public let embedTokens: WeightTensor   // [vocab, h]; "embed_tokens.weight"
    public let layers: [DecoderLayerWeights]
    public let finalNorm: WeightTensor     // [h]; "norm.weight"
    public let latent: LatentBlockWeights?
    /// What residency was actually used.
    public let residency: WeightResidency
    /// Keeps the mapped files alive.
    let checkpoint: Checkpoint?

    /// Loads and checks every tensor. One error lists every missing, unexpected and
    /// wrong-shape tensor.
    public convenience init(checkpoint: Checkpoint, config: ModelConfig, residency: WeightResidency = .automatic) throws {
        let (map, unexpectedPrefix) = WeightNames.sanitize(Array(checkpoint.tensors.keys))
        let expected = WeightNames.expected(for: config)
        let expectedNames = Set(expected.map(\.name))
        var missing: [String] = []
        var wrong: [ShapeMismatch] = []
        for (name, shape) in expected {
            guard let key = map[name], let t = checkpoint.tensors[key] else { missing.append(name); continue }
            if t.info.shape != shape { wrong.append(ShapeMismatch(tensor: key, expected: shape, found: t.info.shape)) }
        }
        let unexpected = (unexpectedPrefix + map.filter { !expectedNames.contains($0.key) }.map(\.value)).sorted()
        if !missing.isEmpty || !unexpected.isEmpty || !wrong.isEmpty {
            throw CheckpointError.tensorMismatch(missing: missing, unexpected: unexpected, wrongShape: wrong.sorted { $0.tensor < $1.tensor })
        }
        var res = residency
        if res == .automatic {
            let f32Bytes = expected.reduce(0) { $0 + $1.shape.reduce(4, *) }
            res = f32Bytes > physicalMemoryBytes() / 2 ? .stream : .materialize
        }
        self.init(config: config, residency: res, checkpoint: checkpoint) { name in
            let key = map[name]!
            let (raw, info) = checkpoint.raw(key)!
            // The embedding table is only read row by row: never materialise it.
            return WeightTensor(name: key, info: info, raw: raw, residency: name == WeightNames.embed ? .stream : res)
        }
    }

    /// Weights from in-memory tensors keyed by canonical name (tests and the trainer).
    public convenience init(config: ModelConfig, tensors: [String: WeightTensor]) throws {
        let expected = WeightNames.expected(for: config)
        let missing = expected.filter { tensors[$0.name] == nil }.map(\.name)
        let wrong = expected.compactMap { e -> ShapeMismatch? in
            guard let t = tensors[e.name], t.shape != e.shape else { return nil }
            return ShapeMismatch(tensor: e.name, expected: e.shape, found: t.shape)
        }
        let names = Set(expected.map(\.name))
        let unexpected = tensors.keys.filter { !names.contains($0) }.sorted()
        if !missing.isEmpty || !wrong.isEmpty || !unexpected.isEmpty {
            throw CheckpointError.tensorMismatch(missing: missing, unexpected: unexpected, wrongShape: wrong)
        }
        self.init(config: config, residency: .materialize, checkpoint: nil) { tensors[$0]! }
    }

    /// Assembles the structs from a lookup of canonical names (already checked).
    private init(config: ModelConfig, residency: WeightResidency, checkpoint: Checkpoint?, _ t: (String) -> WeightTensor) {
        self.config = config
        self.residency = residency
        self.checkpoint = checkpoint
        embedTokens = t(WeightNames.embed)
        layers = (0..<config.decoder.numHiddenLayers).map { i in
            DecoderLayerWeights(
                inputNorm: t(WeightNames.layer(i, "input_layernorm.weight")),
                wq: t(WeightNames.layer(i, "self_attn.q_proj.weight")),
                wk: t(WeightNames.layer(i, "self_attn.k_proj.weight")),
                wv: t(WeightNames.layer(i, "self_attn.v_proj.weight")),
                wo: t(WeightNames.layer(i, "self_attn.o_proj.weight")),
                postNorm: t(WeightNames.layer(i, "post_attention_layernorm.weight")),
                wGate: t(WeightNames.layer(i, "mlp.gate_proj.weight")),
                wUp: t(WeightNames.layer(i, "mlp.up_proj.weight")),
                wDown: t(WeightNames.layer(i, "mlp.down_proj.weight")))
        }
        finalNorm = t(WeightNames.finalNorm)
        latent = config.latent == nil ? nil : LatentBlockWeights(
            latents: t(WeightNames.latents), normW: t(WeightNames.attnNormW), normB: t(WeightNames.attnNormB),
            contextNormW: t(WeightNames.ctxNormW), contextNormB: t(WeightNames.ctxNormB),
            toQ: t(WeightNames.toQ), toKV: t(WeightNames.toKV), toOut: t(WeightNames.toOut),
            ffNormW: t(WeightNames.ffNormW), ffNormB: t(WeightNames.ffNormB),
            ff1W: t(WeightNames.ff1W), ff1B: t(WeightNames.ff1B), ff2W: t(WeightNames.ff2W), ff2B: t(WeightNames.ff2B))
    }
}

/// Physical memory in bytes (sysconf), or 8 GiB when unknown.
func physicalMemoryBytes() -> Int {
    #if canImport(Glibc)
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
    if pages > 0 && size > 0 { return pages * size }
    #endif
    return 8 << 30
}

#if canImport(Glibc)
import Glibc
#endif
