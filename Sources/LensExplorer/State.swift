import LensModel

/// Which part of the screen takes keys.
public enum Focus: Int, CaseIterable, Sendable {
    case query, instruction, latent, mean, eos

    public var pooling: Pooling? {
        switch self {
        case .latent: return .latent
        case .mean: return .mean
        case .eos: return .eos
        default: return nil
        }
    }
    public var isTextInput: Bool { self == .query || self == .instruction }
}

/// Full-screen views layered over the main screen.
public enum Overlay: Equatable, Sendable {
    case none, help, heatmap, document, map, definitions
}

/// One instruction preset.
public struct InstructionPreset: Equatable, Sendable {
    public var name: String
    /// The task ("" = no instruction); sent as `Instruct: TASK\nQuery: `.
    public var task: String
    public init(name: String, task: String) { self.name = name; self.task = task }
}

/// One neighbour in a pane.
public struct Hit: Equatable, Sendable {
    public var document: Int
    public var score: Float
    public var title: String
    public var snippet: String
    public init(document: Int, score: Float, title: String, snippet: String) {
        self.document = document
        self.score = score
        self.title = title
        self.snippet = snippet
    }
}

/// A token of a traced text, as the strip shows it.
public struct TraceToken: Equatable, Sendable {
    public var piece: String
    public var pooled: Bool
    /// Share of each pooled vector (docs/TRACES.md).
    public var share: [Pooling: Float]
    /// Part of the match with the last query (a document's trace): per pooling, these sum to the
    /// search score. Empty when there was no query.
    public var match: [Pooling: Float]
    public init(piece: String, pooled: Bool, share: [Pooling: Float], match: [Pooling: Float] = [:]) {
        self.piece = piece
        self.pooled = pooled
        self.share = share
        self.match = match
    }
}

/// A traced text: tokens with shares and latent-attention probabilities.
public struct TracedText: Equatable, Sendable {
    public var tokens: [TraceToken]
    /// [heads][tokens][latents] flattened; empty without a latent block.
    public var latentProbabilities: [Float]
    public var heads: Int
    public var latents: Int
    public var truncated: Bool
    public init(tokens: [TraceToken], latentProbabilities: [Float], heads: Int, latents: Int, truncated: Bool) {
        self.tokens = tokens
        self.latentProbabilities = latentProbabilities
        self.heads = heads
        self.latents = latents
        self.truncated = truncated
    }

    /// Probability of token t on latent j, for one head or averaged over heads (nil).
    public func probability(token t: Int, latent j: Int, head: Int?) -> Float {
        let n = tokens.count
        if let h = head { return latentProbabilities[(h * n + t) * latents + j] }
        var s: Float = 0
        for h in 0..<heads { s += latentProbabilities[(h * n + t) * latents + j] }
        return s / Float(max(heads, 1))
    }
}

/// What a search returned.
public struct SearchOutcome: Equatable, Sendable {
    public var requestID: Int
    public var query: String
    public var instruction: String
    public var mask: AttentionMask
    public var hits: [Pooling: [Hit]]
    /// Rank (0-based) of documents in each pooling's top-100, for the ▲/▼ markers.
    public var ranks: [Pooling: [Int: Int]]
    public var trace: TracedText
    public var milliseconds: Double
    public init(requestID: Int, query: String, instruction: String, mask: AttentionMask, hits: [Pooling: [Hit]],
                ranks: [Pooling: [Int: Int]], trace: TracedText, milliseconds: Double) {
        self.requestID = requestID
        self.query = query
        self.instruction = instruction
        self.mask = mask
        self.hits = hits
        self.ranks = ranks
        self.trace = trace
        self.milliseconds = milliseconds
    }
}

/// A document opened in the document view.
public struct OpenDocument: Equatable, Sendable {
    public var index: Int
    public var title: String
    public var text: String
    public var trace: TracedText?
    public init(index: Int, title: String, text: String, trace: TracedText?) {
        self.index = index
        self.title = title
        self.text = text
        self.trace = trace
    }
}

/// The corpus projected to 2-D under one pooling.
public struct CorpusMap: Equatable, Sendable {
    public var pooling: Pooling
    /// x, y per document.
    public var points: [SIMD2<Float>]
    /// The query's position (same projection).
    public var query: SIMD2<Float>?
    public init(pooling: Pooling, points: [SIMD2<Float>], query: SIMD2<Float>?) {
        self.pooling = pooling
        self.points = points
        self.query = query
    }
}

/// Facts about the loaded model and corpus, shown in the header.
public struct SessionInfo: Equatable, Sendable {
    public var modelName: String
    public var parameters: Int
    public var width: Int
    public var hasLatent: Bool
    public var threads: Int
    public var corpora: [String]
    public var documentCounts: [Int]
    public init(modelName: String, parameters: Int, width: Int, hasLatent: Bool, threads: Int, corpora: [String], documentCounts: [Int]) {
        self.modelName = modelName
        self.parameters = parameters
        self.width = width
        self.hasLatent = hasLatent
        self.threads = threads
        self.corpora = corpora
        self.documentCounts = documentCounts
    }
}

/// The whole explorer state: a value. Input becomes actions; `update` changes the state
/// and returns reactions (work for the run loop); rendering reads it.
public struct ExplorerState: Equatable, Sendable {
    public var info: SessionInfo
    public var corpus = 0
    public var mask: AttentionMask = .bidirectional
    public var k = 10
    public var presets: [InstructionPreset]
    public var preset = 0
    /// Custom instruction text (used when the preset is "custom").
    public var customInstruction = TextField()
    public var query = TextField()
    public var focus: Focus = .query
    public var overlay: Overlay = .none
    public var outcome: SearchOutcome?
    public var selected: [Pooling: Int] = [.latent: 0, .mean: 0, .eos: 0]
    public var document: OpenDocument?
    public var documentScroll = 0
    /// First line shown on the help screen or the token-weights explainer (clamped when drawn).
    public var helpScroll = 0
    /// The document view's token weights: each token's part of the match with the query (when
    /// there is one) or its share of the document's own vector (`w` switches).
    public var documentShowsMatch = true
    public var map: CorpusMap?
    public var mapPooling: Pooling = .latent
    /// Heatmap head: nil = average of all heads.
    public var heatmapHead: Int? = nil
    public var heatmapScroll = 0
    public var commandLine: TextField? = nil
    /// The `/` prompt while it is open.
    public var findLine: TextField? = nil
    /// Text the panes are searched for (`/`): matching hits stay bright, the rest dim, and
    /// n/N move the selection between matches. Empty: no find.
    public var filter: String = ""
    public var status = ""
    public var pendingRequests = 0
    public var spinner = 0
    public var nextRequestID = 1
    public var lastSentRequest = 0
    /// Live re-ranking while typing (debounced) when a query is cheap.
    public var liveSearch = true
    /// Ticks since the last edit of query/instruction (debounce); nil when nothing pending.
    public var editTicks: Int? = nil
    public var rows = 24
    public var columns = 80
    public var themeName = "dark"
    public var showHints = true
    /// The preview of the selected hit under the panes (`p`), shown where rows are spare.
    public var showPreview = true
    /// User key remaps (config `map X = Y`): outside text fields, X does what Y does.
    public var keyMap: [Key: Key] = [:]
    public var indexing: String? = nil
    public var quit = false

    public init(info: SessionInfo, presets: [InstructionPreset]) {
        self.info = info
        self.presets = presets
    }

    /// The instruction prefix the next search uses.
    public var instructionPrefix: String {
        let p = presets[preset]
        if p.name == "custom" { return queryInstruction(task: customInstruction.string) }
        return queryInstruction(task: p.task)
    }

    public var poolings: [Pooling] { info.hasLatent ? Pooling.allCases : [.mean, .eos] }

    /// Whether a hit matches the find text (title or text, ignoring case and accents).
    public func matchesFilter(_ hit: Hit) -> Bool {
        guard !filter.isEmpty else { return true }
        let o: String.CompareOptions = [.caseInsensitive, .diacriticInsensitive]
        return hit.title.range(of: filter, options: o) != nil || hit.snippet.range(of: filter, options: o) != nil
    }
}
