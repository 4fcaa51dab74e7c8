import Foundation

// MARK: - config.json mirrors

/// Architecture family of a model folder, from `model_type`.
public enum ModelFamily: String, Sendable, Codable {
    /// NV-Embed: bidirectional Mistral decoder + latent-attention pooling block.
    case nvembed
    /// Plain Mistral decoder (no latent block).
    case mistral
    /// Plain LLaMA decoder (no latent block).
    case llama
}

/// The decoder: Mistral-7B-v0.1 shapes by default (docs/nvembed.md §2). Mirrors
/// `text_config` of an NV-Embed config.json, or the top level of a Mistral/LLaMA one.
public struct DecoderConfig: Codable, Equatable, Sendable {
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    /// Per-head width; `hidden_size / num_attention_heads` unless `head_dim` is given.
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var maxPositionEmbeddings: Int
    public var bosTokenID: Int32
    public var eosTokenID: Int32

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case maxPositionEmbeddings = "max_position_embeddings"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
        case ropeScaling = "rope_scaling"
        case hiddenAct = "hidden_act"
    }

    public init(modelType: String = "bidir_mistral", vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
                numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int? = nil,
                rmsNormEps: Float = 1e-5, ropeTheta: Double = 10000, maxPositionEmbeddings: Int = 32768,
                bosTokenID: Int32 = 1, eosTokenID: Int32 = 2) {
        self.modelType = modelType
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? hiddenSize / max(numAttentionHeads, 1)
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "mistral"
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        // HF MistralConfig defaults KV heads to 8; LlamaConfig to num_attention_heads.
        let kvDefault = modelType == "llama" ? numAttentionHeads : 8
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? kvDefault
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        // Absent key: the HF default of 1e-6 (docs/nvembed.md §3).
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10000
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 32768
        bosTokenID = try c.decodeIfPresent(Int32.self, forKey: .bosTokenID) ?? 1
        eosTokenID = try c.decodeIfPresent(Int32.self, forKey: .eosTokenID) ?? 2
        if c.contains(.ropeScaling), try !c.decodeNil(forKey: .ropeScaling) {
            throw DecodingError.dataCorruptedError(forKey: .ropeScaling, in: c,
                debugDescription: "rope_scaling is not supported (plain RoPE only)")
        }
        if let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct), act != "silu" {
            throw DecodingError.dataCorruptedError(forKey: .hiddenAct, in: c,
                debugDescription: "hidden_act \(act) is not supported (SwiGLU with silu only)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(bosTokenID, forKey: .bosTokenID)
        try c.encode(eosTokenID, forKey: .eosTokenID)
        try c.encode("silu", forKey: .hiddenAct)
    }

    /// Number of parameters (embedding table included).
    public var parameterCount: Int {
        let attn = hiddenSize * numAttentionHeads * headDim * 2 + hiddenSize * numKeyValueHeads * headDim * 2
        let mlp = 3 * hiddenSize * intermediateSize
        return vocabSize * hiddenSize + numHiddenLayers * (attn + mlp + 2 * hiddenSize) + hiddenSize
    }
}

/// The latent-attention pooling block (docs/nvembed.md §3); mirrors
/// `latent_attention_config`, whose absent keys take NV-Embed-v2's defaults.
public struct LatentAttentionConfig: Codable, Equatable, Sendable {
    /// Rows of the learned latent array (keys/values).
    public var numLatents: Int
    /// Cross-attention heads.
    public var numCrossHeads: Int
    /// Query width: the decoder's hidden size.
    public var latentDim: Int
    /// Width of the latents (context); equals `latentDim` in every released model.
    public var hiddenDim: Int
    /// Per-head width (4096 in NV-Embed-v2: inner width = heads × 4096).
    public var crossDimHead: Int
    public var outputNormalize: Bool

    /// GEGLU feed-forward inner width: 4 × latentDim (the released FeedForward's mult=4).
    public var feedForwardDim: Int { 4 * latentDim }
    /// Heads × per-head width.
    public var innerDim: Int { numCrossHeads * crossDimHead }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case numLatents = "num_latents_value"
        case numCrossHeads = "num_cross_heads"
        case latentDim = "latent_dim"
        case hiddenDim = "hidden_dim"
        case crossDimHead = "cross_dim_head"
        case outputNormalize = "output_normalize"
    }

    public init(numLatents: Int = 512, numCrossHeads: Int = 8, latentDim: Int = 4096, hiddenDim: Int = 4096,
                crossDimHead: Int = 4096, outputNormalize: Bool = true) {
        self.numLatents = numLatents
        self.numCrossHeads = numCrossHeads
        self.latentDim = latentDim
        self.hiddenDim = hiddenDim
        self.crossDimHead = crossDimHead
        self.outputNormalize = outputNormalize
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        numLatents = try c.decodeIfPresent(Int.self, forKey: .numLatents) ?? 512
        numCrossHeads = try c.decodeIfPresent(Int.self, forKey: .numCrossHeads) ?? 8
        latentDim = try c.decodeIfPresent(Int.self, forKey: .latentDim) ?? 4096
        hiddenDim = try c.decodeIfPresent(Int.self, forKey: .hiddenDim) ?? 4096
        crossDimHead = try c.decodeIfPresent(Int.self, forKey: .crossDimHead) ?? 4096
        outputNormalize = try c.decodeIfPresent(Bool.self, forKey: .outputNormalize) ?? true
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("latent_attention", forKey: .modelType)
        try c.encode(numLatents, forKey: .numLatents)
        try c.encode(numCrossHeads, forKey: .numCrossHeads)
        try c.encode(latentDim, forKey: .latentDim)
        try c.encode(hiddenDim, forKey: .hiddenDim)
        try c.encode(crossDimHead, forKey: .crossDimHead)
        try c.encode(outputNormalize, forKey: .outputNormalize)
    }

    /// Number of parameters.
    public var parameterCount: Int {
        let d = latentDim
        return numLatents * hiddenDim + 4 * d /* norms q, ctx */ + innerDim * d + 2 * innerDim * hiddenDim
            + innerDim * d + 2 * d /* ff norm */ + 2 * feedForwardDim * d + 2 * feedForwardDim + feedForwardDim * d + d
    }
}

/// A model folder's `config.json`, in either schema.
public struct ModelConfig: Equatable, Sendable {
    public var family: ModelFamily
    public var decoder: DecoderConfig
    /// The latent-attention block; nil for plain Mistral/LLaMA folders.
    public var latent: LatentAttentionConfig?
    /// NV-Embed's `is_mask_instruction` (true: instruction tokens leave the pool).
    public var maskInstruction: Bool
    /// Display name (`_name_or_path`, else the folder name).
    public var name: String?

    public init(family: ModelFamily, decoder: DecoderConfig, latent: LatentAttentionConfig?, maskInstruction: Bool = true, name: String? = nil) {
        self.family = family
        self.decoder = decoder
        self.latent = latent
        self.maskInstruction = maskInstruction
        self.name = name
    }

    /// Total parameters.
    public var parameterCount: Int { decoder.parameterCount + (latent?.parameterCount ?? 0) }

    // MARK: Reading

    /// Reads and validates `config.json`; errors name the file and the key.
    public static func load(path: String) throws -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CheckpointError.io(file: path, reason: "cannot read config: \(error.localizedDescription)")
        }
        return try parse(data, file: path)
    }

    /// Parses config.json bytes (`file` names it in errors).
    public static func parse(_ data: Data, file: String) throws -> ModelConfig {
        let top: TopLevel
        do {
            top = try JSONDecoder().decode(TopLevel.self, from: data)
        } catch let e as DecodingError {
            throw Self.describe(e, file: file)
        } catch {
            throw CheckpointError.badConfig(file: file, key: "(root)", reason: "not valid JSON: \(error)")
        }
        let config: ModelConfig
        switch top.modelType {
        case "nvembed":
            guard let text = top.textConfig else {
                throw CheckpointError.badConfig(file: file, key: "text_config", reason: "missing (required for model_type nvembed)")
            }
            config = ModelConfig(family: .nvembed, decoder: text,
                                 latent: top.latentConfig ?? LatentAttentionConfig(),
                                 maskInstruction: top.isMaskInstruction ?? true, name: top.name)
        case "mistral", "llama", "bidir_mistral":
            guard let dec = top.flatDecoder else {
                throw CheckpointError.badConfig(file: file, key: "(root)", reason: "no decoder fields")
            }
            config = ModelConfig(family: top.modelType == "llama" ? .llama : .mistral, decoder: dec, latent: nil,
                                 maskInstruction: true, name: top.name)
        case let other?:
            throw CheckpointError.badConfig(file: file, key: "model_type",
                reason: "\(other.debugDescription) is not supported (nvembed, mistral or llama)")
        case nil:
            throw CheckpointError.badConfig(file: file, key: "model_type", reason: "missing")
        }
        try config.validate(file: file)
        return config
    }

    /// Cross-field checks; each error names the offending key.
    public func validate(file: String) throws {
        let d = decoder
        let prefix = family == .nvembed ? "text_config." : ""
        func bad(_ key: String, _ reason: String) -> CheckpointError { .badConfig(file: file, key: prefix + key, reason: reason) }
        for (key, v) in [("vocab_size", d.vocabSize), ("hidden_size", d.hiddenSize), ("intermediate_size", d.intermediateSize),
                         ("num_hidden_layers", d.numHiddenLayers), ("num_attention_heads", d.numAttentionHeads),
                         ("num_key_value_heads", d.numKeyValueHeads), ("head_dim", d.headDim)] where v <= 0 {
            throw bad(key, "must be positive, found \(v)")
        }
        if d.numAttentionHeads % d.numKeyValueHeads != 0 {
            throw bad("num_key_value_heads", "\(d.numKeyValueHeads) does not divide num_attention_heads \(d.numAttentionHeads)")
        }
        if d.headDim % 2 != 0 { throw bad("head_dim", "must be even for RoPE, found \(d.headDim)") }
        if !(d.rmsNormEps > 0) { throw bad("rms_norm_eps", "must be positive") }
        if !(d.ropeTheta > 0) { throw bad("rope_theta", "must be positive") }
        if let l = latent {
            func badL(_ key: String, _ reason: String) -> CheckpointError {
                .badConfig(file: file, key: "latent_attention_config." + key, reason: reason)
            }
            for (key, v) in [("num_latents_value", l.numLatents), ("num_cross_heads", l.numCrossHeads),
                             ("latent_dim", l.latentDim), ("hidden_dim", l.hiddenDim), ("cross_dim_head", l.crossDimHead)] where v <= 0 {
                throw badL(key, "must be positive, found \(v)")
            }
            if l.latentDim != d.hiddenSize {
                throw badL("latent_dim", "\(l.latentDim) must equal text_config.hidden_size \(d.hiddenSize) (the block's queries are the decoder's states)")
            }
            if l.hiddenDim != l.latentDim {
                throw badL("hidden_dim", "\(l.hiddenDim) must equal latent_dim \(l.latentDim) (the latents are normalised at hidden_dim and stored at latent_dim)")
            }
        }
    }

    private static func describe(_ e: DecodingError, file: String) -> CheckpointError {
        func path(_ ctx: DecodingError.Context, _ extra: CodingKey? = nil) -> String {
            let keys = (ctx.codingPath + (extra.map { [$0] } ?? [])).map(\.stringValue)
            return keys.isEmpty ? "(root)" : keys.joined(separator: ".")
        }
        switch e {
        case let .keyNotFound(key, ctx): return .badConfig(file: file, key: path(ctx, key), reason: "missing")
        case let .typeMismatch(type, ctx): return .badConfig(file: file, key: path(ctx), reason: "expected \(type)")
        case let .valueNotFound(type, ctx): return .badConfig(file: file, key: path(ctx), reason: "null, expected \(type)")
        case let .dataCorrupted(ctx):
            let reason = ctx.underlyingError.map { "not valid JSON (\($0))" } ?? ctx.debugDescription
            return .badConfig(file: file, key: path(ctx), reason: reason)
        @unknown default: return .badConfig(file: file, key: "(root)", reason: "\(e)")
        }
    }

    // MARK: Writing

    /// The NV-Embed-schema config.json for this model (the layout the trainer writes).
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(TopLevelOut(config: self))
    }
}

/// Decoding view of config.json's top level.
private struct TopLevel: Decodable {
    var modelType: String?
    var name: String?
    var textConfig: DecoderConfig?
    var latentConfig: LatentAttentionConfig?
    var isMaskInstruction: Bool?
    var flatDecoder: DecoderConfig?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case name = "_name_or_path"
        case textConfig = "text_config"
        case latentConfig = "latent_attention_config"
        case isMaskInstruction = "is_mask_instruction"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        if modelType == "nvembed" {
            textConfig = try c.decodeIfPresent(DecoderConfig.self, forKey: .textConfig)
            latentConfig = try c.decodeIfPresent(LatentAttentionConfig.self, forKey: .latentConfig)
            isMaskInstruction = try c.decodeIfPresent(Bool.self, forKey: .isMaskInstruction)
        } else if let t = modelType, ["mistral", "llama", "bidir_mistral"].contains(t) {
            flatDecoder = try DecoderConfig(from: decoder)
        }
    }
}

/// Encoding view: the NV-Embed schema (`model_type "nvembed"` with text and latent sub-configs).
private struct TopLevelOut: Encodable {
    let config: ModelConfig
    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", name = "_name_or_path", textConfig = "text_config"
        case latentConfig = "latent_attention_config", isMaskInstruction = "is_mask_instruction"
        case paddingSide = "padding_side", addEOS = "add_eos", hiddenSize = "hidden_size"
        case architectures, torchDtype = "torch_dtype", maskType = "mask_type"
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch config.family {
        case .nvembed:
            try c.encode("nvembed", forKey: .modelType)
            try c.encode(["NVEmbedModel"], forKey: .architectures)
            try c.encode(config.decoder, forKey: .textConfig)
            try c.encode(config.latent ?? LatentAttentionConfig(), forKey: .latentConfig)
            try c.encode(config.maskInstruction, forKey: .isMaskInstruction)
            try c.encode("right", forKey: .paddingSide)
            try c.encode(true, forKey: .addEOS)
            try c.encode("b", forKey: .maskType)
            try c.encode(config.decoder.hiddenSize, forKey: .hiddenSize)
        case .mistral, .llama:
            try config.decoder.encode(to: encoder)
        }
        if let n = config.name { try c.encode(n, forKey: .name) }
        try c.encode("float32", forKey: .torchDtype)
    }
}
