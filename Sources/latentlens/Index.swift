import ArgumentParser
import Foundation
import LensMath
import LensModel
import LensRetrieval
import LensSupport
import LensTerminal

/// Options naming a corpus and how to read it.
struct CorpusArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Corpus: JSONL, BEIR folder, TSV/CSV with a header, text (one document per line), a folder of .txt/.md, or - for stdin.", valueName: "PATH"))
    var corpus: String

    @Option(name: .long, help: "Corpus format: auto, jsonl, beir, tsv, csv, text, folder.")
    var corpusFormat: CorpusFormat = .auto

    @Option(name: .long, help: "JSONL/TSV/CSV field names as ID,TITLE,TEXT.")
    var fields: String = "id,title,text"

    @Option(name: .long, help: ArgumentHelp("Store folder (default $XDG_CACHE_HOME/latentlens).", valueName: "DIR"))
    var store: String?

    @Option(name: .long, help: "Store vectors as f32 or f16.")
    var vectorType: String = "f32"

    func corpusOptions(model: EmbeddingModel?) throws -> CorpusOptions {
        var o = CorpusOptions()
        o.format = corpusFormat
        let f = fields.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard f.count == 3, !f[2].isEmpty else { throw ValidationError("--fields needs ID,TITLE,TEXT") }
        (o.idField, o.titleField, o.textField) = (f[0], f[1], f[2])
        if let tok = model?.tokenizer { o.countTokens = { tok.encode($0, specialTokens: .plain).count } }
        return o
    }

    var dtype: DType { vectorType == "f16" ? .f16 : .f32 }
}

extension CorpusFormat: ExpressibleByArgument {}

/// Opens (and if needed indexes) a corpus with a progress bar on stderr; Ctrl-C stops
/// between committed batches.
func openIndexed(_ args: CorpusArguments, model: EmbeddingModel, mask: AttentionMask, maxLength: Int, quiet: Bool = false) throws -> IndexedCorpus {
    let store = try EmbeddingStore(directory: args.store ?? EmbeddingStore.defaultDirectory)
    let fingerprint = try ModelFingerprint.of(folder: model.folder)
    var options = CorpusIndexer.Options(poolings: model.hasLatentBlock ? Pooling.allCases : [.mean, .eos])
    options.mask = mask
    options.maxLength = maxLength
    guard ["f32", "f16"].contains(args.vectorType) else { throw ValidationError("--vector-type is f32 or f16") }
    options.dtype = args.dtype
    signal(SIGINT) { _ in stopRequested = 1 }
    let tty = isatty(2) != 0
    // Keys typed while the progress line redraws stay queued (the explorer reads them as its
    // first input) but are not echoed into the line; the terminal's own mode comes back after.
    if tty && !quiet { TypeAhead.hideEcho() }
    defer { TypeAhead.restore() }
    var last = 0.0
    let corpus = try CorpusIndexer.open(source: args.corpus, corpusOptions: args.corpusOptions(model: model), model: model,
                                        modelFingerprint: fingerprint, store: store, options: options,
                                        shouldStop: { stopRequested != 0 },
                                        progress: { p in
        guard !quiet, p.total > 0 else { return }
        let now = monotonicSeconds()
        guard tty ? now - last > 0.1 || p.done == p.total : now - last > 10 || p.done == p.total else { return }
        last = now
        let frac = Double(p.done) / Double(p.total)
        let rate = p.seconds > 0 ? Double(p.embeddedNow) / p.seconds : 0
        let eta = rate > 0 ? Double(p.total - p.done) / rate : 0
        let bar = String(repeating: "█", count: Int(frac * 30)) + String(repeating: "·", count: 30 - Int(frac * 30))
        let tokenRate = p.seconds > 0 ? Double(p.tokensNow) / p.seconds : 0
        // Rates only once something was embedded in this run (a store that already holds every
        // vector would otherwise read "0 docs/s").
        let speed = p.embeddedNow > 0 ? "\(Int(rate)) docs/s  \(Int(tokenRate)) tokens/s  ETA \(formatDuration(eta))"
            : p.done == p.total ? "every vector already stored" : "starting"
        let line = "indexing \(bar) \(p.done)/\(p.total)  \(speed)  (\(p.phase))"
        FileHandle.standardError.write(Data(((tty ? "\r\u{1B}[K" : "") + line + (tty ? "" : "\n")).utf8))
    }, issues: { list in
        for i in list.prefix(20) { warn("\(i); skipped") }
        if list.count > 20 { warn("… \(list.count - 20) more") }
        warn("\(list.count) item(s) skipped")
    })
    if tty && !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
    guard let corpus else {
        warn("interrupted: what was embedded is stored; run the command again to resume")
        throw ExitCode(130)
    }
    return corpus
}

struct Index: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed a corpus into the store (incremental, resumable).",
        discussion: """
        Only texts the store lacks for this model, pooling, mask and max length are embedded; \
        each batch is committed in one SQLite transaction, so an interrupted run (Ctrl-C, or \
        even SIGKILL) loses nothing already stored and the next run resumes. Prints documents/s \
        and tokens/s.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var corpusArgs: CorpusArguments

    @Option(name: .long, help: "Attention mask.")
    var mask: AttentionMask = .bidirectional

    @Option(name: .long, help: "Maximum tokens per document.")
    var maxLength: Int = 512

    func run() throws {
        try runReportingErrors {
            let model = try modelOptions.load()
            let t0 = monotonicSeconds()
            let c = try openIndexed(corpusArgs, model: model, mask: mask, maxLength: maxLength)
            print("\(c.name): \(c.count) documents indexed (\(c.matrices.count) poolings; \(c.embeddedNow) embedded now, \(c.count - c.embeddedNow) already stored) in \(String(format: "%.1f", monotonicSeconds() - t0)) s; store \(c.store.directory)")
        }
    }
}

/// The instruction `search` and `eval` give a query when none is asked for: a general retrieval task the
/// bundled model was trained with (one of its stages' varied instructions). Measured on the mixed
/// dev corpus (scripts/evaluate-instructions.sh): within .02 macro nDCG@10 of each query's own
/// task instruction, where no instruction at all loses more than half of it.
let defaultSearchTask = "Retrieve the passage most relevant to the query"

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Nearest neighbours of a query under each pooling, side by side.",
        discussion: "Exact top-k cosine search over the stored vectors of every pooling from one query pass; shows rank, score, title [id] and the start of each passage per pooling, and the overlap between the lists. --json prints one object (the explorer's panes, non-interactively). Without --instruction or --raw-instruction the query gets a general instruction, '\(defaultSearchTask)': NV-Embed-style models are trained with an instruction on every query, and the bundled model retrieves far worse with none (docs/EVAL.md, \"Which instruction\"). --instruction '' sends none.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var corpusArgs: CorpusArguments
    @OptionGroup var encoding: EncodingOptions

    @Option(name: .long, help: "Neighbours per pooling.")
    var k: Int = 10

    @Flag(name: .long, help: "One JSON object.")
    var json = false

    @Flag(name: .long, help: "With --json: the query and each hit on the corpus's 2-D map per pooling (the explorer's map view; the whole corpus: export --format map).")
    var map = false

    @Flag(name: .long, help: "Which tokens made each match: the pieces that carry most of each hit's score (its tokens' parts of the cosine, summed per piece; docs/TRACES.md).")
    var explain = false

    @Argument(help: "The query.")
    var query: String

    func run() throws {
        try runReportingErrors {
            guard k >= 1 else { throw ValidationError("--k must be at least 1") }
            if map && !json { throw ValidationError("--map needs --json") }
            // Checked before the corpus is opened (indexing it may take minutes): an empty query
            // would rank the corpus by the instruction alone.
            guard !query.allSatisfy(\.isWhitespace) else { throw ValidationError("the query is empty") }
            let model = try modelOptions.load()
            let corpus = try openIndexed(corpusArgs, model: model, mask: encoding.mask, maxLength: 512, quiet: json)
            let options = try encoding.embedOptions(for: model, defaultTask: defaultSearchTask)
            let r = try model.embed([query], options: options)[0]
            let hits = corpus.search(r.vectors, k: k)
            let poolings = options.poolings.filter { hits[$0] != nil }
            // --explain: each listed document traced once against the query's vectors (as the
            // store embedded it: no instruction, 512 tokens), its heaviest pieces per pooling.
            var explained: [Int: EmbeddingResult] = [:]
            if explain {
                var traceOptions = EmbedOptions(poolings: poolings, mask: options.mask, instruction: "", maxLength: 512, trace: true)
                traceOptions.matchQueries = r.vectors
                let listed = Array(Set(poolings.flatMap { hits[$0]!.map(\.index) })).sorted()
                let texts = listed.map { corpus.document($0)?.embeddingText ?? "" }
                for (i, e) in zip(listed, try model.embed(texts, options: traceOptions)) { explained[i] = e }
            }
            func madeOf(_ index: Int, _ p: Pooling) -> [(piece: String, sum: Float, count: Int)] {
                guard let e = explained[index], let values = e.trace?.matches[p] else { return [] }
                return heaviestPieces(pieces: e.input.tokens.map(\.piece), pooled: e.input.poolMask, values: values, limit: 6)
            }
            if json {
                var w = JSONWriter()
                w.beginObject()
                w.member("query", query)
                w.member("instruction", options.instruction)
                w.member("corpus", corpus.name)
                w.member("documents", corpus.count)
                w.member("mask", options.mask.rawValue)
                w.key("results")
                w.beginObject()
                var projections: [Pooling: (mean: [Float], axes: [[Float]], points: [SIMD2<Float>])] = [:]
                if map { for p in poolings { projections[p] = try corpus.projection(p) } }
                for p in poolings {
                    w.key(p.rawValue)
                    w.beginArray()
                    for (rank, h) in hits[p]!.enumerated() {
                        w.beginObject()
                        w.member("rank", rank + 1)
                        w.member("score", Double(h.score))
                        w.member("id", corpus.heads[h.index].id)
                        w.member("title", corpus.heads[h.index].title)
                        if let pr = projections[p] { w.key("xy"); w.floats([pr.points[h.index].x, pr.points[h.index].y]) }
                        if explain {
                            w.key("made_of")
                            w.beginArray()
                            for m in madeOf(h.index, p) {
                                w.beginObject(); w.member("piece", m.piece); w.member("part", Double(m.sum)); w.member("count", m.count); w.endObject()
                            }
                            w.endArray()
                        }
                        w.endObject()
                    }
                    w.endArray()
                }
                w.endObject()
                if map {
                    // Where the query lands on each pooling's map (2-D PCA of the corpus's vectors).
                    w.key("query_xy")
                    w.beginObject()
                    for p in poolings {
                        guard let pr = projections[p], let v = r.vectors[p] else { continue }
                        let q = PCA2D.project(v, mean: pr.mean, axes: pr.axes)
                        w.key(p.rawValue); w.floats([q.x, q.y])
                    }
                    w.endObject()
                }
                w.key("overlap")
                w.beginObject()
                for (a, b) in pairs(poolings) {
                    w.member("\(a.rawValue)-\(b.rawValue)", overlap(hits[a]!, hits[b]!))
                }
                w.endObject()
                w.endObject()
                emit(w.text)
            } else {
                print("query: \(query)")
                print("query instruction: " + describeInstruction(options.instruction))
                print("corpus: \(corpus.name) (\(corpus.count) documents), mask \(options.mask.rawValue)\n")
                // Each document's text read from the store once, though several poolings may list it.
                var texts: [Int: String] = [:]
                for p in poolings { for h in hits[p]! where texts[h.index] == nil { texts[h.index] = corpus.document(h.index)?.text ?? "" } }
                for p in poolings {
                    print("── \(p.rawValue) ──")
                    for (rank, h) in hits[p]!.enumerated() {
                        let head = corpus.heads[h.index]
                        for line in hitLines(rank: rank + 1, score: h.score, id: head.id, title: head.title, text: texts[h.index]!) { print(line) }
                        if explain {
                            let parts = madeOf(h.index, p).map { m in m.piece + String(format: " %.3f", m.sum) + (m.count > 1 ? " ×\(m.count)" : "") }
                            if !parts.isEmpty { print(String(repeating: " ", count: 13) + "made of: " + parts.joined(separator: " · ")) }
                        }
                    }
                    print("")
                }
                if poolings.count > 1 { print("overlap@\(k): " + pairs(poolings).map { "\($0.rawValue)/\($1.rawValue) \(overlap(hits[$0]!, hits[$1]!))" }.joined(separator: "  ")) }
            }
        }
    }

    /// One hit in the text output: rank, score and a label (the title with the id in brackets,
    /// or the id alone when the title adds nothing to it: untitled documents, a folder's
    /// "FILE.md:LINE" passages), then the start of the passage on an indented line.
    func hitLines(rank: Int, score: Float, id: String, title: String, text: String) -> [String] {
        func oneLine(_ s: String, _ columns: Int) -> String {
            DisplayWidth.truncate(s.split(whereSeparator: { $0.isWhitespace }).joined(separator: " "), to: columns)
        }
        let label = title.isEmpty || id.hasPrefix(title) ? id : oneLine(title, 70) + "  [" + id + "]"
        var out = [String(format: "%3d  %.4f  ", rank, score) + label]
        let snippet = oneLine(text, 90)
        if !snippet.isEmpty { out.append(String(repeating: " ", count: 13) + snippet) }
        return out
    }

    func pairs(_ p: [Pooling]) -> [(Pooling, Pooling)] {
        var out: [(Pooling, Pooling)] = []
        for i in p.indices { for j in (i + 1)..<p.count { out.append((p[i], p[j])) } }
        return out
    }

    func overlap(_ a: [(index: Int, score: Float)], _ b: [(index: Int, score: Float)]) -> Int {
        Set(a.map(\.index)).intersection(b.map(\.index)).count
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a corpus's vectors as .npy (one file per pooling) or JSON Lines, for numpy / FAISS.",
        discussion: """
        The output folder is checked before anything is embedded; the files are written all or \
        none (a full disk leaves no partial file, and earlier files of the same name stay as they were).
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var corpusArgs: CorpusArguments

    @Option(name: .long, help: "npy, jsonl, or map (JSON Lines of each document's 2-D map position per pooling: the explorer's map view).")
    var format: String = "npy"

    @Option(name: .long, help: "Output file. For npy, one file per pooling: OUT with -latent/-mean/-eos before the extension.")
    var out: String

    @Option(name: .long, help: "Attention mask.")
    var mask: AttentionMask = .bidirectional

    func run() throws {
        try runReportingErrors {
            guard ["npy", "jsonl", "map"].contains(format) else { throw ValidationError("--format is npy, jsonl or map") }
            try requireWritableFolder(for: out)
            let model = try modelOptions.load()
            let c = try openIndexed(corpusArgs, model: model, mask: mask, maxLength: 512)
            let poolings = Pooling.allCases.filter { c.matrices[$0] != nil }
            // One JSON object a document, streamed (a large corpus's vectors as text need not fit in memory).
            func writeLines(_ fields: @escaping (inout JSONWriter, Int) -> Void) throws {
                try writeFiles([(out, { fh in
                    for i in 0..<c.count {
                        var w = JSONWriter()
                        w.beginObject()
                        w.member("id", c.heads[i].id)
                        fields(&w, i)
                        w.endObject()
                        try fh.write(contentsOf: Data((w.text + "\n").utf8))
                    }
                })])
            }
            if format == "map" {
                // The explorer's map: each pooling's 2-D PCA of the corpus (cached in the store).
                var points: [(Pooling, [SIMD2<Float>])] = []
                for p in poolings { if let pr = try c.projection(p) { points.append((p, pr.points)) } }
                try writeLines { w, i in
                    w.member("title", c.heads[i].title)
                    for (p, pts) in points { w.key(p.rawValue); w.floats([pts[i].x, pts[i].y]) }
                }
                print("wrote \(out): \(c.count) lines (2-D positions under \(points.map(\.0.rawValue).joined(separator: ", ")))")
            } else if format == "npy" {
                // One file per pooling and the ids, written all or none.
                let base = (out as NSString).deletingPathExtension
                var files: [(path: String, body: (FileHandle) throws -> Void)] = []
                for p in poolings {
                    let m = c.matrices[p]!
                    files.append(("\(base)-\(p.rawValue).npy", { fh in
                        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(m.count), \(m.width)), }"
                        var h = Array(header.utf8)
                        while (10 + h.count + 1) % 64 != 0 { h.append(0x20) }
                        h.append(0x0A)
                        try fh.write(contentsOf: [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.count & 0xFF), UInt8(h.count >> 8)] + h)
                        var chunk = Data()
                        for i in 0..<m.count {
                            m.row(i).withUnsafeBytes { chunk.append(contentsOf: $0) }
                            if chunk.count >= 1 << 22 || i == m.count - 1 { try fh.write(contentsOf: chunk); chunk.removeAll(keepingCapacity: true) }
                        }
                    }))
                }
                files.append(("\(base)-ids.jsonl", { fh in
                    var ids = ""
                    for h in c.heads { ids += JSONWriter.quote(h.id) + "\n" }
                    try fh.write(contentsOf: Data(ids.utf8))
                }))
                try writeFiles(files)
                for p in poolings { print("wrote \(base)-\(p.rawValue).npy: \(c.matrices[p]!.count) × \(c.matrices[p]!.width) float32") }
                print("wrote \(base)-ids.jsonl (row order)")
            } else {
                try writeLines { w, i in for p in poolings { w.key(p.rawValue); w.floats(c.matrices[p]!.row(i)) } }
                print("wrote \(out): \(c.count) lines")
            }
        }
    }
}

/// Turns the terminal's echo off on standard input while a corpus indexes, keeping what is
/// typed queued (TCSANOW, not TCSAFLUSH); SIGTERM and SIGHUP restore it before the process ends,
/// and `restore()` puts back the mode and whatever handlers those signals had before.
enum TypeAhead {
    nonisolated(unsafe) private static var saved = termios()
    nonisolated(unsafe) private static var hidden: sig_atomic_t = 0
    nonisolated(unsafe) private static var previousTerm: sighandler_t?
    nonisolated(unsafe) private static var previousHup: sighandler_t?

    static func hideEcho() {
        guard hidden == 0, isatty(0) != 0, tcgetattr(0, &saved) == 0 else { return }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        guard tcsetattr(0, TCSANOW, &quiet) == 0 else { return }
        hidden = 1
        let dying: @convention(c) (Int32) -> Void = { s in
            TypeAhead.showEcho()
            signal(s, SIG_DFL)
            raise(s)
        }
        previousTerm = signal(SIGTERM, dying)
        previousHup = signal(SIGHUP, dying)
    }

    static func restore() {
        guard hidden != 0 else { return }
        showEcho()
        signal(SIGTERM, previousTerm ?? SIG_DFL)
        signal(SIGHUP, previousHup ?? SIG_DFL)
    }

    /// The terminal's saved mode back (async-signal-safe: tcsetattr only).
    private static func showEcho() {
        guard hidden != 0 else { return }
        hidden = 0
        tcsetattr(0, TCSANOW, &saved)
    }
}
