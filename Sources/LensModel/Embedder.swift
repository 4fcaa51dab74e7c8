import Foundation
import LensMath
import LensTokenizer

// MARK: - inputs

/// The NV-Embed query template: `"Instruct: " + task + "\nQuery: "` (trailing space included).
public func queryInstruction(task: String) -> String {
    task.isEmpty ? "" : "Instruct: \(task)\nQuery: "
}

/// One text made ready for the network (docs/nvembed.md §1 and §3).
public struct PreparedInput: Sendable {
    /// The text as given (without the instruction).
    public let text: String
    /// The instruction prefix ("" for none).
    public let instruction: String
    /// `<s>` + tokens(instruction + text) + `</s>`, truncated to the maximum length. Byte
    /// ranges refer to `instruction + text`; `<s>` and `</s>` cover no bytes.
    public let tokens: [Token]
    /// Positions that enter the pool: all, minus the first `len(tokenize(instruction))`
    /// when an instruction is given (the reference's arithmetic, reproduced exactly).
    public let poolMask: [Bool]
    /// Number of positions the instruction rule zeroes.
    public let maskedPrefix: Int
    /// True when the sequence was cut to the maximum length (it then ends without `</s>`).
    public let truncated: Bool
    /// Byte offset of `text` inside `instruction + text`.
    public var textByteOffset: Int { instruction.utf8.count }
    public var ids: [Int32] { tokens.map(\.id) }
    public var pooledCount: Int { poolMask.reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// Options for one embedding call.
public struct EmbedOptions: Sendable {
    /// Which pooled vectors to return.
    public var poolings: [Pooling] = Pooling.allCases
    public var mask: AttentionMask = .bidirectional
    /// Full instruction prefix (use `queryInstruction(task:)`), "" for passages.
    public var instruction: String = ""
    /// Maximum sequence length including `<s>` and `</s>` (the reference defaults to 4096).
    public var maxLength: Int = 4096
    /// Return per-token traces (latent-attention probabilities and pooling shares).
    public var trace: Bool = false
    /// With `trace`: unit query vectors per pooling; each token's contribution to the cosine
    /// between the text's pooled vector and the query's is added to the trace (`matches`).
    public var matchQueries: [Pooling: [Float]] = [:]
    /// Matrix-product implementation (`.naive` for cross-checks).
    public var backend: GemmBackend = .blas
    /// Token budget per forward pass; longer inputs go alone.
    public var maxBatchTokens: Int = 8192

    public init(poolings: [Pooling] = Pooling.allCases, mask: AttentionMask = .bidirectional, instruction: String = "",
                maxLength: Int = 4096, trace: Bool = false, backend: GemmBackend = .blas) {
        self.poolings = poolings
        self.mask = mask
        self.instruction = instruction
        self.maxLength = maxLength
        self.trace = trace
        self.backend = backend
    }
}

/// Token counts of instructions tokenized alone (the pool-mask rule), cached.
public final class InstructionLengths: @unchecked Sendable {
    private let tokenizer: SentencePieceTokenizer
    private var cache: [String: Int] = [:]
    private let lock = NSLock()
    public init(tokenizer: SentencePieceTokenizer) { self.tokenizer = tokenizer }

    /// `len(tokenize(instruction))` without special tokens; 0 for "".
    public func length(_ instruction: String) -> Int {
        if instruction.isEmpty { return 0 }
        lock.lock()
        defer { lock.unlock() }
        if let n = cache[instruction] { return n }
        let n = tokenizer.encode(instruction, specialTokens: .parse).count
        cache[instruction] = n
        return n
    }
}

// MARK: - outputs

/// Per-token detail for the explorer and `embed --trace`.
public struct TokenTrace: Sendable {
    /// Latent-attention probabilities [heads × tokens × latents], row-major (empty without a latent block).
    public let latentProbabilities: [Float]
    public let heads: Int
    public let latents: Int
    /// Each token's share of each pooled vector (docs/TRACES.md): for p = Σ mᵢ yᵢ / Σ mᵢ,
    /// shareᵢ = mᵢ ⟨yᵢ, p⟩ / (Σm · |p|²), so a pooling's shares sum to 1; EOS is one-hot.
    public let shares: [Pooling: [Float]]
    /// Each token's contribution to the match with a query q (unit vector, `matchQueries`):
    /// matchᵢ = mᵢ ⟨yᵢ, q⟩ / (Σm · |p|), which sums to cos(p, q), the search score. With q the
    /// text's own direction p/|p| it equals the share. EOS: the last token carries it all.
    /// Linear in q.
    public let matches: [Pooling: [Float]]

    /// Probability that token `t` (under head `h`) puts on latent `j`.
    public func probability(head h: Int, token t: Int, latent j: Int) -> Float {
        latentProbabilities[(h * (latentProbabilities.count / max(heads * latents, 1)) + t) * latents + j]
    }
}

/// One embedded text.
public struct EmbeddingResult: Sendable {
    public let input: PreparedInput
    /// L2-normalised vectors per requested pooling.
    public let vectors: [Pooling: [Float]]
    public let trace: TokenTrace?
}

// MARK: - the model

/// A loaded model folder: config, tokenizer and network, behind one thread-safe API.
public final class EmbeddingModel: @unchecked Sendable {
    public let folder: String
    public let config: ModelConfig
    public let tokenizer: SentencePieceTokenizer
    public let network: EmbeddingNetwork
    public var hasLatentBlock: Bool { config.latent != nil }
    /// Display name: config `_name_or_path`, else the folder's name.
    public var name: String { config.name ?? URL(fileURLWithPath: folder).lastPathComponent }

    private let lock = NSLock()
    private let workspace = Workspace()
    private lazy var instructionLengths = InstructionLengths(tokenizer: tokenizer)

    /// Loads `config.json`, `tokenizer.model` and the safetensors weights of a folder.
    public init(folder: String, residency: WeightResidency = .automatic) throws {
        self.folder = folder
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw CheckpointError.io(file: folder, reason: "no such model folder")
        }
        config = try ModelConfig.load(path: folder + "/config.json")
        let tokPath = folder + "/tokenizer.model"
        do { tokenizer = try SentencePieceTokenizer(path: tokPath) } catch {
            throw CheckpointError.badTokenizer(file: tokPath, reason: "\(error)")
        }
        if tokenizer.vocabularySize > config.decoder.vocabSize {
            throw CheckpointError.badConfig(file: folder + "/config.json", key: "vocab_size",
                reason: "\(config.decoder.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabularySize) pieces")
        }
        let weights = try ModelWeights(checkpoint: Checkpoint(folder: folder), config: config, residency: residency)
        network = EmbeddingNetwork(weights: weights)
    }

    /// A model from parts (tests, the trainer).
    public init(folder: String, config: ModelConfig, tokenizer: SentencePieceTokenizer, weights: ModelWeights, foldLatents: Bool? = nil, fuseProjections: Bool? = nil, packWeights: Bool? = nil) {
        self.folder = folder
        self.config = config
        self.tokenizer = tokenizer
        network = EmbeddingNetwork(weights: weights, foldLatents: foldLatents, fuseProjections: fuseProjections, packWeights: packWeights)
    }

    /// `len(tokenize(instruction))` without special tokens (cached).
    public func instructionLength(_ instruction: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return instructionLengths.length(instruction)
    }

    /// Tokenizes one text the way the reference does: `<s>` + tokens(instruction + text)
    /// + `</s>`, truncated to `maxLength` after `</s>` is appended, and its pool mask.
    public func prepare(_ text: String, instruction: String, maxLength: Int) -> PreparedInput {
        let full = instruction + text
        let bos = Token(id: config.decoder.bosTokenID, piece: tokenizer.piece(for: config.decoder.bosTokenID), byteRange: 0..<0)
        let end = full.utf8.count
        let eos = Token(id: config.decoder.eosTokenID, piece: tokenizer.piece(for: config.decoder.eosTokenID), byteRange: end..<end)
        var tokens = [bos]
        tokens += tokenizer.encodeLeading(full, limit: maxLength, specialTokens: .parse)   // a huge text: only its first tokens
        tokens.append(eos)
        let truncated = tokens.count > maxLength
        if truncated { tokens.removeLast(tokens.count - maxLength) }
        let masked = config.maskInstruction ? min(instructionLength(instruction), tokens.count) : 0
        let pool = (0..<tokens.count).map { $0 >= masked }
        return PreparedInput(text: text, instruction: instruction, tokens: tokens, poolMask: pool,
                             maskedPrefix: masked, truncated: truncated)
    }

    /// Embeds texts with one instruction. Inputs are sorted by length into batches of at
    /// most `maxBatchTokens` tokens; results come back in input order.
    public func embed(_ texts: [String], options: EmbedOptions = EmbedOptions()) throws -> [EmbeddingResult] {
        guard options.maxLength >= 1 else { throw EmbeddingError.invalidArgument("max length must be at least 1") }
        if options.poolings.contains(.latent) && !hasLatentBlock { throw EmbeddingError.noLatentBlock(model: name) }
        let inputs = texts.map { prepare($0, instruction: options.instruction, maxLength: options.maxLength) }
        return try embed(prepared: inputs, options: options)
    }

    /// Embeds already prepared inputs (all options but `instruction`/`maxLength` apply).
    public func embed(prepared inputs: [PreparedInput], options: EmbedOptions) throws -> [EmbeddingResult] {
        if options.poolings.contains(.latent) && !hasLatentBlock { throw EmbeddingError.noLatentBlock(model: name) }
        for (i, inp) in inputs.enumerated() where inp.pooledCount == 0 {
            throw EmbeddingError.emptyPool(index: i, tokens: inp.tokens.count, masked: inp.maskedPrefix)
        }
        let order = inputs.indices.sorted { inputs[$0].tokens.count > inputs[$1].tokens.count }
        var results = [EmbeddingResult?](repeating: nil, count: inputs.count)
        var start = 0
        while start < order.count {
            var batch = PackedBatch()
            var members: [Int] = []
            var i = start
            while i < order.count {
                let n = inputs[order[i]].tokens.count
                if !members.isEmpty && batch.totalTokens + n > options.maxBatchTokens { break }
                batch.append(inputs[order[i]].ids)
                members.append(order[i])
                i += 1
            }
            start = i
            let pooled = run(batch, inputs: members.map { inputs[$0] }, options: options)
            for (m, r) in zip(members, pooled) { results[m] = r }
        }
        return results.map { $0! }
    }

    /// One forward pass over a packed batch, then pooling (and traces).
    private func run(_ batch: PackedBatch, inputs: [PreparedInput], options: EmbedOptions) -> [EmbeddingResult] {
        lock.lock()
        defer { lock.unlock() }
        let wantLatent = options.poolings.contains(.latent) || (options.trace && hasLatentBlock)
        let out = network.forward(batch, mask: options.mask, latent: wantLatent,
                                  keepLatentProbabilities: options.trace, backend: options.backend, workspace: workspace)
        let d = config.decoder.hiddenSize
        let T = out.tokens
        var results: [EmbeddingResult] = []
        for (s, input) in inputs.enumerated() {
            let o = batch.offsets[s], n = batch.lengths[s]
            var vectors: [Pooling: [Float]] = [:]
            var shares: [Pooling: [Float]] = [:]
            var matches: [Pooling: [Float]] = [:]
            for p in Pooling.allCases where options.poolings.contains(p) || (options.trace && (p != .latent || hasLatentBlock)) {
                let states: UnsafePointer<Float>
                switch p {
                case .latent: states = out.latentHidden!
                case .mean, .eos: states = out.hidden
                }
                let rows = states + o * d
                var v: [Float]
                var share: [Float]
                if p == .eos {
                    v = Array(UnsafeBufferPointer(start: rows + (n - 1) * d, count: d))
                    share = [Float](repeating: 0, count: n)
                    share[n - 1] = 1
                } else {
                    (v, share) = maskedMean(rows, count: n, width: d, mask: input.poolMask, wantShares: options.trace)
                }
                if options.trace, let q = options.matchQueries[p], q.count == d {
                    matches[p] = p == .eos ? share.map { $0 * Float(projection(of: q, on: v)) }
                        : matchContributions(rows, count: n, width: d, mask: input.poolMask, pooled: v, query: q)
                }
                v.withUnsafeMutableBufferPointer { Kernels.l2Normalize($0.baseAddress!, count: d) }
                if options.poolings.contains(p) { vectors[p] = v }
                if options.trace { shares[p] = share }
            }
            var trace: TokenTrace?
            if options.trace {
                var probs: [Float] = []
                var heads = 0, latents = 0
                if let lp = out.latentProbabilities, let lc = config.latent {
                    heads = lc.numCrossHeads
                    latents = lc.numLatents
                    probs.reserveCapacity(heads * n * latents)
                    for h in 0..<heads {
                        probs += UnsafeBufferPointer(start: lp + (h * T + o) * latents, count: n * latents)
                    }
                }
                trace = TokenTrace(latentProbabilities: probs, heads: heads, latents: latents, shares: shares, matches: matches)
            }
            results.append(EmbeddingResult(input: input, vectors: vectors, trace: trace))
        }
        return results
    }
}

/// matchᵢ = mᵢ ⟨yᵢ, q⟩ / (Σm · |p|) for the masked mean p of `rows` (all in Double).
func matchContributions(_ rows: UnsafePointer<Float>, count n: Int, width d: Int, mask: [Bool], pooled p: [Float], query q: [Float]) -> [Float] {
    let m = Double(mask.prefix(n).filter { $0 }.count)
    let norm = p.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    guard m > 0, norm > 0 else { return [Float](repeating: 0, count: n) }
    return (0..<n).map { i in
        guard mask[i] else { return 0 }
        let r = rows + i * d
        var dot = 0.0
        for j in 0..<d { dot += Double(r[j]) * Double(q[j]) }
        return Float(dot / (m * norm))
    }
}

/// The pieces that weigh most in per-token values (shares or match parts) of pooled tokens,
/// summed over every occurrence of the piece: heaviest first, ties by first position.
public func heaviestPieces(pieces: [String], pooled: [Bool], values: [Float], limit: Int) -> [(piece: String, sum: Float, count: Int)] {
    var total: [String: (sum: Float, count: Int, first: Int)] = [:]
    for i in pieces.indices where i < pooled.count && i < values.count && pooled[i] {
        let e = total[pieces[i]] ?? (0, 0, i)
        total[pieces[i]] = (e.sum + values[i], e.count + 1, e.first)
    }
    return total.sorted { $0.value.sum != $1.value.sum ? $0.value.sum > $1.value.sum : $0.value.first < $1.value.first }
        .prefix(limit).map { ($0.key, $0.value.sum, $0.value.count) }
}

/// ⟨q, v/|v|⟩ in Double: the cosine when q is a unit vector, and linear in q like the others.
func projection(of q: [Float], on v: [Float]) -> Double {
    var qv = 0.0, vv = 0.0
    for (x, y) in zip(q, v) { qv += Double(x) * Double(y); vv += Double(y) * Double(y) }
    return vv > 0 ? qv / vv.squareRoot() : 0
}

/// p = Σ mᵢ yᵢ / Σ mᵢ over rows; shareᵢ = mᵢ ⟨yᵢ, p⟩ / (Σm · |p|²) (all in Double).
func maskedMean(_ rows: UnsafePointer<Float>, count n: Int, width d: Int, mask: [Bool], wantShares: Bool) -> ([Float], [Float]) {
    var acc = [Double](repeating: 0, count: d)
    var m = 0.0
    for i in 0..<n where mask[i] {
        let r = rows + i * d
        for j in 0..<d { acc[j] += Double(r[j]) }
        m += 1
    }
    let p = acc.map { $0 / m }
    var shares: [Float] = []
    if wantShares {
        let pp = p.reduce(0) { $0 + $1 * $1 }
        shares = (0..<n).map { i in
            guard mask[i], pp > 0 else { return 0 }
            let r = rows + i * d
            var dot = 0.0
            for j in 0..<d { dot += Double(r[j]) * p[j] }
            return Float(dot / (m * pp))
        }
    }
    return (p.map { Float($0) }, shares)
}
