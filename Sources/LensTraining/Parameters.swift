import Foundation
import LensMath
import LensModel
import LensSupport

/// One trainable tensor: value, gradient and AdamW moments, all f32.
public final class Parameter: @unchecked Sendable {
    /// Canonical NV-Embed name (see `WeightNames`), e.g. "layers.0.self_attn.q_proj.weight".
    public let name: String
    public let shape: [Int]
    public let value: FloatBuffer
    public let grad: FloatBuffer
    let m: FloatBuffer
    let v: FloatBuffer
    /// Whether AdamW's weight decay applies (matrices yes; norms, biases, latents no).
    public let decays: Bool

    public var count: Int { value.count }
    public var pointer: UnsafeMutablePointer<Float> { value.pointer }
    public var gradPointer: UnsafeMutablePointer<Float> { grad.pointer }

    init(name: String, shape: [Int], decays: Bool) {
        self.name = name
        self.shape = shape
        let n = shape.reduce(1, *)
        value = FloatBuffer(count: n)
        grad = FloatBuffer(count: n)
        m = FloatBuffer(count: n)
        v = FloatBuffer(count: n)
        self.decays = decays
    }
}

/// Every parameter of a model, in the weight table's order.
public final class ParameterSet: @unchecked Sendable {
    public let config: ModelConfig
    public let all: [Parameter]
    private let byName: [String: Parameter]

    /// Zero-initialised parameters with the shapes `WeightNames.expected(for:)` lists.
    public init(config: ModelConfig) {
        self.config = config
        all = WeightNames.expected(for: config).map { e in
            let decays = e.shape.count == 2 && !e.name.hasSuffix("latents") && e.name != "embed_tokens.weight"
            return Parameter(name: e.name, shape: e.shape, decays: decays)
        }
        byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }

    public subscript(name: String) -> Parameter {
        guard let p = byName[name] else { preconditionFailure("no parameter \(name)") }
        return p
    }

    public var count: Int { all.reduce(0) { $0 + $1.count } }

    public func zeroGrad() { for p in all { p.grad.zero() } }

    /// Zeroes the AdamW moments (a stage with `reset_optimizer`).
    public func zeroMoments() { for p in all { p.m.zero(); p.v.zero() } }

    /// Global L2 norm of all gradients.
    public func gradNorm() -> Float {
        var s = 0.0
        for p in all { let n = Double(Kernels.norm(p.gradPointer, count: p.count)); s += n * n }
        return Float(s.squareRoot())
    }

    /// Initialisation: N(0, σ²) for matrices (σ = 1/√fan_in, output projections scaled
    /// by 1/√(2·layers)), ones for norm weights, zeros for biases, N(0, 1) for latents.
    public func initialize(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let layers = Double(config.decoder.numHiddenLayers)
        for p in all {
            let n = p.count
            if p.shape.count == 1 {
                let fill: Float = p.name.hasSuffix("bias") ? 0 : 1
                for i in 0..<n { p.value[i] = fill }
                continue
            }
            var std = 1 / Double(p.shape[1]).squareRoot()
            if p.name == "embed_tokens.weight" { std = 1 }
            if p.name.hasSuffix("latents") { std = 1 }
            if p.name.hasSuffix("o_proj.weight") || p.name.hasSuffix("down_proj.weight") { std /= (2 * layers).squareRoot() }
            if p.name.hasSuffix("to_out.weight") || p.name.hasSuffix("net.2.weight") { std /= 2 }
            for i in 0..<n { p.value[i] = Float(rng.nextGaussian() * std) }
        }
    }

    /// Copies values from a loaded model's weights (fine-tuning, resuming from an export).
    public func load(from weights: ModelWeights) throws {
        let scratch = ScratchBuffer()
        var table: [String: WeightTensor] = ["embed_tokens.weight": weights.embedTokens, "norm.weight": weights.finalNorm]
        for (i, l) in weights.layers.enumerated() {
            for (suffix, t) in [("input_layernorm.weight", l.inputNorm), ("self_attn.q_proj.weight", l.wq), ("self_attn.k_proj.weight", l.wk),
                                ("self_attn.v_proj.weight", l.wv), ("self_attn.o_proj.weight", l.wo), ("post_attention_layernorm.weight", l.postNorm),
                                ("mlp.gate_proj.weight", l.wGate), ("mlp.up_proj.weight", l.wUp), ("mlp.down_proj.weight", l.wDown)] {
                table["layers.\(i).\(suffix)"] = t
            }
        }
        if let lw = weights.latent {
            let b = "latent_attention_model.cross_attend_blocks."
            table["latent_attention_model.latents"] = lw.latents
            table[b + "0.norm.weight"] = lw.normW; table[b + "0.norm.bias"] = lw.normB
            table[b + "0.norm_context.weight"] = lw.contextNormW; table[b + "0.norm_context.bias"] = lw.contextNormB
            table[b + "0.fn.to_q.weight"] = lw.toQ; table[b + "0.fn.to_kv.weight"] = lw.toKV; table[b + "0.fn.to_out.weight"] = lw.toOut
            table[b + "1.norm.weight"] = lw.ffNormW; table[b + "1.norm.bias"] = lw.ffNormB
            table[b + "1.fn.net.0.weight"] = lw.ff1W; table[b + "1.fn.net.0.bias"] = lw.ff1B
            table[b + "1.fn.net.2.weight"] = lw.ff2W; table[b + "1.fn.net.2.bias"] = lw.ff2B
        }
        for p in all {
            guard let t = table[p.name], t.count == p.count else { throw TrainingError.badCheckpoint("no tensor \(p.name) of \(p.count) values") }
            p.value.pointer.update(from: t.floats(scratch), count: p.count)
        }
    }

    /// Rounds every weight to the nearest f16 value (as an f16 export and reload would;
    /// idempotent). AdamW moments and gradients are left alone.
    public func roundToF16() {
        for p in all {
            var half = [UInt16](repeating: 0, count: p.count)
            half.withUnsafeMutableBufferPointer { h in
                HalfPrecision.f32ToF16(p.pointer, h.baseAddress!, count: p.count)
                HalfPrecision.f16ToF32(h.baseAddress!, p.pointer, count: p.count)
            }
        }
    }

    /// In-memory weights for the inference engine (shares no storage with training).
    public func modelWeights() throws -> ModelWeights {
        var tensors: [String: WeightTensor] = [:]
        for p in all { tensors[p.name] = WeightTensor(name: p.name, shape: p.shape, values: FloatBuffer(p.value.array)) }
        return try ModelWeights(config: config, tensors: tensors)
    }

    /// Writes an NV-Embed-v2-layout model folder: config.json, model.safetensors
    /// (decoder keys under `embedding_model.`), tokenizer.model.
    public func export(to folder: String, tokenizerPath: String, dtype: DType = .f32, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try config.jsonData().write(to: URL(fileURLWithPath: folder + "/config.json"))
        let tensors = all.map { p in
            SafetensorsWriter.Tensor(name: p.name.hasPrefix(WeightNames.latentPrefix) ? p.name : "embedding_model." + p.name,
                                     shape: p.shape, values: UnsafeBufferPointer(start: p.pointer, count: p.count))
        }
        try SafetensorsWriter.write(tensors, dtype: dtype, to: folder + "/model.safetensors", metadata: ["format": "pt"].merging(metadata) { $1 })
        let tokDst = folder + "/tokenizer.model"
        if URL(fileURLWithPath: tokenizerPath).standardized.path != URL(fileURLWithPath: tokDst).standardized.path {
            if FileManager.default.fileExists(atPath: tokDst) { try FileManager.default.removeItem(atPath: tokDst) }
            try FileManager.default.copyItem(atPath: tokenizerPath, toPath: tokDst)
        }
    }
}

/// Errors of the training pipeline.
public enum TrainingError: Error, CustomStringConvertible {
    case badRecipe(String)
    case badData(String)
    case badCheckpoint(String)
    case io(String)

    public var description: String {
        switch self {
        case let .badRecipe(s): return "recipe: \(s)"
        case let .badData(s): return "data: \(s)"
        case let .badCheckpoint(s): return "checkpoint: \(s)"
        case let .io(s): return s
        }
    }
}
