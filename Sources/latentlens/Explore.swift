import ArgumentParser
import Dispatch
import Foundation
import LensExplorer
import LensMath
import LensModel
import LensRetrieval
import LensSupport
import LensTerminal
import LensTraining

struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The explorer: compare nearest neighbours under latent, mean and EOS pooling, and see per-token weights.",
        discussion: """
        Opens on the bundled model (Models/nvembed-mini) and corpus (SampleCorpora/sampler.jsonl). \
        A corpus is embedded the first time it is opened (progress on the terminal; Ctrl-C stops \
        cleanly and keeps what is done); after that it opens from the store at once. Press ? inside \
        for keys. Every view has a non-interactive twin: `latentlens search --json`, `embed --trace`. \
        Settings and key remaps: $XDG_CONFIG_HOME/latentlens/config (README.md); options here win.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: ArgumentHelp("Corpus to load (repeatable; default: SampleCorpora/sampler.jsonl).", valueName: "PATH"))
    var corpus: [String] = []

    @Option(name: .long, help: ArgumentHelp("Theme name (Themes/NAME.theme, or themes/ in the config folder) or file (default: the config's, else dark).", valueName: "NAME|PATH"))
    var theme: String?

    @Flag(name: .long, help: "No colours (NO_COLOR is honoured too).")
    var noColor = false

    @Flag(name: .long, help: "Do not capture the mouse.")
    var noMouse = false

    @Option(name: .long, help: "Neighbours per pooling (default: the config's, else 10).")
    var k: Int?

    @Option(name: .long, help: ArgumentHelp("Store folder (default $XDG_CACHE_HOME/latentlens).", valueName: "DIR"))
    var store: String?

    @Option(name: .long, help: "Initial query.")
    var query: String?

    func run() throws {
        try runReportingErrors {
            if let k, !(1...100).contains(k) { throw ValidationError("--k must be between 1 and 100") }
            // User settings ($XDG_CONFIG_HOME/latentlens/config); options given here win.
            let config = try ExplorerConfig.load()
            let k = self.k ?? config.k ?? 10
            // Themes first: a misspelt --theme is refused before any corpus is embedded. Without
            // --theme, a missing Themes/ folder (a binary copied elsewhere) falls back quietly.
            let themeFolders = (ExplorerConfig.folder().map { [$0 + "/themes"] } ?? []) + [ModelLocator.findInRepo("Themes") ?? "Themes"]
            let noColorEnv = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
            let useColor = !noColor && !noColorEnv
            func loadTheme(_ name: String) throws -> Theme {
                let t = try Theme.load(name, searchFolders: themeFolders)
                return useColor ? t : t.monochrome
            }
            let initialTheme = try (theme ?? config.theme).map(loadTheme) ?? (try? loadTheme("dark")) ?? (useColor ? Theme.fallback : Theme.fallback.monochrome)
            // A terminal on both ends, checked after the settings (their mistakes first) and before minutes of indexing: without one, curses
            // would write escape codes into a file or wait on input that never comes.
            guard isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1 else {
                throw CLIError("the explorer needs a terminal (stdin and stdout); from a script use `latentlens search --json`, `embed --trace` or `export --format map`")
            }
            let model = try modelOptions.load()
            let sources = corpus.isEmpty ? [ModelLocator.findInRepo("SampleCorpora/sampler.jsonl") ?? "SampleCorpora/sampler.jsonl"] : corpus
            var opened: [IndexedCorpus] = []
            for src in sources {
                var args = try CorpusArguments.parse(["--corpus", src])
                args.store = store
                opened.append(try openIndexed(args, model: model, mask: .bidirectional, maxLength: 512))
            }
            let info = SessionInfo(modelName: model.name, parameters: model.config.parameterCount, width: model.config.decoder.hiddenSize,
                                   hasLatent: model.hasLatentBlock, threads: BLAS.threads,
                                   corpora: opened.map(\.name), documentCounts: opened.map(\.count))
            var state = ExplorerState(info: info, presets: explorerPresets())
            config.apply(to: &state)
            state.k = k
            state.themeName = initialTheme.name
            if !model.hasLatentBlock { state.focus = .query }
            // Query history from earlier sessions (Up / Ctrl-P), unless `history = off`.
            let historyPath = config.history == false ? nil : QueryHistory.path()
            if let historyPath { state.query.history = QueryHistory.load(historyPath) }
            if let q = query { state.query.set(q) }
            let backend = try ExplorerEngine(model: model, corpora: opened)
            let terminal = CursesTerminal(theme: initialTheme, color: useColor, mouse: !noMouse && config.mouse ?? true)
            let loop = ExplorerLoop(state: state, terminal: terminal, backend: backend, themeLoader: loadTheme)
            var initial: [Reaction] = []
            if let q = query, !q.isEmpty {
                initial.append(.search(SearchRequest(id: 0, query: q, instruction: state.instructionPrefix, mask: .bidirectional, k: k, corpus: 0)))
            }
            loop.run(initial: initial)
            if let historyPath {
                do { try QueryHistory.save(loop.state.query.history, to: historyPath) }
                catch { warn("query history not saved to \(historyPath): \(systemReason(error))") }
            }
            // Let an export or search in flight finish (bounded) before the process leaves.
            _ = backend.finish(within: .seconds(5))
        }
    }
}

/// Instruction presets: first the general instruction `search` and `eval` default to (so the
/// explorer starts ranking as they do), then the bundled model's training instructions (it
/// answers best to a query's own task), a few of NV-Embed's task instructions, no instruction
/// (shows how much the instruction carries), and custom text.
func explorerPresets() -> [InstructionPreset] {
    let order = ["debian", "foldoc", "pydocs-api", "pydocs-section", "wordnet-def", "wordnet-example", "vera", "synonyms",
                 "debian-section", "wordnet-lexname"]
    var p = [InstructionPreset(name: "general (trained)", task: defaultSearchTask)]
    p += order.compactMap { name in trainingInstructions[name].map { InstructionPreset(name: "\(name) (trained)", task: $0) } }
    p += [
        InstructionPreset(name: "question → passage (NV-Embed)", task: "Given a question, retrieve passages that answer the question"),
        InstructionPreset(name: "web search (NV-Embed)", task: "Given a web search query, retrieve relevant passages that answer the query"),
        InstructionPreset(name: "claim → evidence (NV-Embed)", task: "Given a claim, retrieve documents that support or refute the claim"),
    ]
    p.append(InstructionPreset(name: "none", task: ""))
    p.append(InstructionPreset(name: "custom", task: ""))
    return p
}

/// Runs the explorer's reactions on a background queue and posts results as actions.
final class ExplorerEngine: ExplorerBackend, @unchecked Sendable {
    let model: EmbeddingModel
    let corpora: [IndexedCorpus]
    let queue = DispatchQueue(label: "latentlens.engine")
    private let lock = NSLock()
    private var latestSearch = 0
    private var lastQueryVectors: [Pooling: [Float]] = [:]
    private var lastOutcome: SearchOutcome?
    private var projections: [String: (mean: [Float], axes: [[Float]], points: [SIMD2<Float>])] = [:]

    init(model: EmbeddingModel, corpora: [IndexedCorpus]) throws {
        self.model = model
        self.corpora = corpora
    }

    /// Waits until the work queued so far is done, or the deadline passes; true if it finished.
    func finish(within timeout: DispatchTimeInterval) -> Bool {
        let done = DispatchSemaphore(value: 0)
        queue.async { done.signal() }
        return done.wait(timeout: .now() + timeout) == .success
    }

    func perform(_ reaction: Reaction, state: ExplorerState, post: @escaping @Sendable (Action) -> Void) {
        switch reaction {
        case .search(let req):
            lock.lock(); latestSearch = max(latestSearch, req.id); lock.unlock()
            queue.async { self.search(req, post: post) }
        case let .loadDocument(c, index, mask):
            queue.async { self.loadDocument(corpus: c, index: index, mask: mask, post: post) }
        case let .loadMap(c, pooling, _):
            queue.async { self.loadMap(corpus: c, pooling: pooling, post: post) }
        case .switchCorpus(let c):
            post(.message("corpus: \(corpora[c].name) (\(corpora[c].count) documents)"))
        case .export(let path):
            queue.async { self.export(path: path, post: post) }
        default:
            break
        }
    }

    func traced(_ r: EmbeddingResult) -> TracedText {
        let t = r.trace!
        let tokens = r.input.tokens.enumerated().map { i, tok in
            TraceToken(piece: tok.piece, pooled: r.input.poolMask[i], share: t.shares.mapValues { $0[i] }, match: t.matches.mapValues { $0[i] })
        }
        return TracedText(tokens: tokens, latentProbabilities: t.latentProbabilities, heads: t.heads, latents: t.latents, truncated: r.input.truncated)
    }

    /// Title and the start of the text (an untitled document shows its text on both lines).
    func snippet(_ d: Document?, fallback: String) -> (String, String) {
        guard let d else { return (fallback, "") }
        return (d.title, String(d.text.replacingOccurrences(of: "\n", with: " ").prefix(400)))
    }

    func search(_ req: SearchRequest, post: @Sendable (Action) -> Void) {
        lock.lock(); let latest = latestSearch; lock.unlock()
        if req.id < latest { return }   // superseded while queued
        let t0 = monotonicSeconds()
        do {
            let poolings = model.hasLatentBlock ? Pooling.allCases : [.mean, .eos]
            let r = try model.embed([req.query], options: EmbedOptions(poolings: poolings, mask: req.mask, instruction: req.instruction,
                                                                        maxLength: 512, trace: true))[0]
            let c = corpora[req.corpus]
            let wide = c.search(r.vectors, k: max(req.k, 100))
            var hits: [Pooling: [Hit]] = [:]
            var ranks: [Pooling: [Int: Int]] = [:]
            for p in poolings {
                let list = wide[p] ?? []
                ranks[p] = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($1.index, $0) })
                hits[p] = list.prefix(req.k).map { h in
                    let (title, snip) = snippet(c.document(h.index), fallback: c.heads[h.index].id)
                    return Hit(document: h.index, score: h.score, title: title, snippet: snip)
                }
            }
            let outcome = SearchOutcome(requestID: req.id, query: req.query, instruction: req.instruction, mask: req.mask, hits: hits, ranks: ranks,
                                        trace: traced(r), milliseconds: (monotonicSeconds() - t0) * 1000)
            lock.lock(); lastQueryVectors = r.vectors; lastOutcome = outcome; lock.unlock()
            post(.searchFinished(outcome))
        } catch {
            post(.searchFailed(requestID: req.id, message: "\(error)"))
        }
    }

    func loadDocument(corpus: Int, index: Int, mask: AttentionMask, post: @Sendable (Action) -> Void) {
        let c = corpora[corpus]
        guard let d = c.document(index) else { post(.message("document \(index) not found")); return }
        do {
            var options = EmbedOptions(poolings: model.hasLatentBlock ? Pooling.allCases : [.mean, .eos], mask: mask, instruction: "", maxLength: 512, trace: true)
            lock.lock(); options.matchQueries = lastQueryVectors; lock.unlock()   // which tokens made the match
            let r = try model.embed([d.embeddingText], options: options)[0]
            post(.documentLoaded(OpenDocument(index: index, title: d.title.isEmpty ? d.id : d.title, text: d.text, trace: traced(r))))
        } catch {
            post(.message("document: \(error)"))
        }
    }

    /// 2-D PCA of a corpus's vectors under a pooling (computed once, cached in the store).
    func loadMap(corpus: Int, pooling: Pooling, post: @Sendable (Action) -> Void) {
        let c = corpora[corpus]
        let key = "\(corpus)/\(pooling.rawValue)"
        lock.lock(); var proj = projections[key]; lock.unlock()
        if proj == nil {
            guard let p = try? c.projection(pooling) else { post(.message("no \(pooling.rawValue) vectors")); return }
            proj = p
            lock.lock(); projections[key] = p; lock.unlock()
        }
        lock.lock(); let q = lastQueryVectors[pooling]; lock.unlock()
        let qp = q.map { PCA2D.project($0, mean: proj!.mean, axes: proj!.axes) }
        post(.mapLoaded(CorpusMap(pooling: pooling, points: proj!.points, query: qp)))
    }

    func export(path: String, post: @Sendable (Action) -> Void) {
        lock.lock(); let o = lastOutcome; lock.unlock()
        guard let o else { post(.message("nothing to export")); return }
        var w = JSONWriter()
        w.beginObject()
        w.member("query", o.query)
        w.member("instruction", o.instruction)
        w.member("mask", o.mask.rawValue)
        w.key("results")
        w.beginObject()
        for (p, hits) in o.hits.sorted(by: { $0.key < $1.key }) {
            w.key(p.rawValue)
            w.beginArray()
            for (i, h) in hits.enumerated() {
                w.beginObject(); w.member("rank", i + 1); w.member("score", Double(h.score)); w.member("title", h.title); w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        w.key("tokens")
        w.beginArray()
        for t in o.trace.tokens {
            w.beginObject()
            w.member("piece", t.piece)
            w.member("pooled", t.pooled)
            for (p, v) in t.share.sorted(by: { $0.key < $1.key }) { w.member(p.rawValue + "_share", Double(v)) }
            w.endObject()
        }
        w.endArray()
        if o.trace.heads > 0 {   // the heatmap, as embed --trace writes it
            writeLatentProbabilities(&w, o.trace.latentProbabilities, heads: o.trace.heads, tokens: o.trace.tokens.count, latents: o.trace.latents)
        }
        w.endObject()
        do {
            let text = Data((w.text + "\n").utf8)
            try writeFiles([(path, { try $0.write(contentsOf: text) })])
            post(.message("exported to \(path)"))
        } catch {
            post(.message("export failed: \(error)"))   // "cannot write PATH: the system's reason"
        }
    }
}
