import ArgumentParser
import Foundation
import LensMath
import LensModel
import LensRetrieval
import LensSupport

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate retrieval (BEIR folder) or similarity pairs (TSV), per pooling.",
        discussion: """
        --corpus BEIR_DIR reads corpus.jsonl (_id, title, text), queries.jsonl (_id, text) and \
        qrels/test.tsv (or qrels/SPLIT.tsv with --split), embeds documents without instruction and \
        queries with --instruction, and reports nDCG@10 (graded: the qrels score is the gain, as in \
        BEIR), MRR@10, Recall@10 and Recall@100 per pooling; --baseline bm25 adds the \
        tool's own BM25 on the same data. --pairs FILE.tsv (text1, text2, score) reports Spearman and \
        Pearson correlations of cosine similarity per pooling (both texts get the instruction). \
        Without --instruction or --raw-instruction, queries get the general instruction \
        '\(defaultSearchTask)', as in search: NV-Embed-style models expect one on every query \
        (docs/EVAL.md, "Which instruction"); --instruction '' sends none. --json prints one object \
        (schema in docs/EVAL.md).
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var encoding: EncodingOptions

    @Option(name: .long, help: ArgumentHelp("BEIR folder.", valueName: "BEIR_DIR"))
    var corpus: String?

    @Option(name: .long, help: ArgumentHelp("Which qrels file of the BEIR folder: qrels/SPLIT.tsv.", valueName: "SPLIT"))
    var split = "test"

    @Option(name: .long, help: ArgumentHelp("Pairs file: text1<TAB>text2<TAB>score.", valueName: "FILE.tsv"))
    var pairs: String?

    @Option(name: .long, help: "Add a baseline: bm25.")
    var baseline: String?

    @Option(name: .long, help: "Evaluate at most N queries (seeded sample).")
    var maxQueries: Int?

    @Flag(name: .long, help: "One JSON object.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Also write one JSON line per query (each run's nDCG@10, rank of the first relevant document, top 3) to FILE.jsonl (--corpus only).", valueName: "FILE.jsonl"))
    var perQuery: String?

    func validate() throws {
        if (corpus == nil) == (pairs == nil) { throw ValidationError("give exactly one of --corpus BEIR_DIR or --pairs FILE.tsv") }
        if let b = baseline, b != "bm25" { throw ValidationError("--baseline supports bm25") }
        if perQuery != nil && corpus == nil { throw ValidationError("--per-query needs --corpus") }
        if split != "test" && corpus == nil { throw ValidationError("--split needs --corpus") }
        if split.isEmpty || split.contains("/") { throw ValidationError("--split takes a file name under qrels/ without .tsv, e.g. dev") }
    }

    func run() throws {
        try runReportingErrors {
            if let perQuery { try requireWritableFolder(for: perQuery) }
            let model = try modelOptions.load()
            let options = try encoding.embedOptions(for: model, defaultTask: defaultSearchTask)
            if let corpus { try retrieval(model, options, corpus) } else if let pairs { try similarity(model, options, pairs) }
        }
    }

    func retrieval(_ model: EmbeddingModel, _ options: EmbedOptions, _ folder: String) throws {
        var ds: BEIRDataset
        do { ds = try BEIRDataset.load(folder: folder, split: split) } catch { throw CLIError("\(error)") }
        for i in ds.issues.prefix(10) { warn("\(i); skipped") }
        if let m = maxQueries { ds = ds.subsample(maxQueries: m, maxDocuments: Int.max, seed: 1) }
        let t0 = monotonicSeconds()
        let tty = isatty(2) != 0 && !json
        let rankings = try RetrievalEvaluator.rank(model: model, dataset: ds, poolings: options.poolings, mask: options.mask,
                                                   instruction: options.instruction, maxLength: min(options.maxLength, 512)) { done, total in
            if tty { FileHandle.standardError.write(Data("\r\u{1B}[Kembedding \(done)/\(total)".utf8)) }
        }
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let metrics = rankings.mapValues { RankingMetrics.evaluate(rankings: $0, grades: ds.qrels) }
        let bm25Rankings = baseline == "bm25" ? RetrievalEvaluator.rankBM25(dataset: ds) : nil
        let bm25 = bm25Rankings.map { RankingMetrics.evaluate(rankings: $0, grades: ds.qrels) }
        let seconds = monotonicSeconds() - t0
        var runs = options.poolings.map { ($0.rawValue, rankings[$0]!) }
        if let bm25Rankings { runs.append(("bm25", bm25Rankings)) }
        if let perQuery { try writePerQuery(perQuery, ds, runs) }
        let versus = bm25Rankings.map { b in options.poolings.map { p in (p, RankingMetrics.compare(rankings[p]!, b, grades: ds.qrels)) } }
        // Each pair of poolings from the same pass (latent−mean, latent−eos, mean−eos): is the gap between them real?
        let pairs = options.poolings.indices.flatMap { i in options.poolings.indices.filter { $0 > i }.map { j in
            (options.poolings[i], options.poolings[j], RankingMetrics.compare(rankings[options.poolings[i]]!, rankings[options.poolings[j]]!, grades: ds.qrels))
        } }
        if json {
            var w = JSONWriter()
            w.beginObject()
            w.member("dataset", ds.name)
            w.member("split", split)
            w.member("model", model.name)
            w.member("documents", ds.documents.count)
            w.member("queries", ds.queries.count)
            w.member("mask", options.mask.rawValue)
            w.member("instruction", options.instruction)
            w.key("results")
            w.beginObject()
            for p in options.poolings { w.key(p.rawValue); writeMetrics(&w, metrics[p]!) }
            if let bm25 { w.key("bm25"); writeMetrics(&w, bm25) }
            w.endObject()
            if let versus {
                w.key("versus_bm25")
                w.beginObject()
                for (p, h) in versus {
                    w.key(p.rawValue); writeComparison(&w, h)
                }
                w.endObject()
            }
            if !pairs.isEmpty {
                w.key("pooling_pairs")
                w.beginObject()
                for (a, b, h) in pairs { w.key("\(a.rawValue)-\(b.rawValue)"); writeComparison(&w, h) }
                w.endObject()
            }
            w.member("seconds", seconds)
            w.endObject()
            emit(w.text)
        } else {
            print("\(ds.name)\(split == "test" ? "" : " (qrels/\(split).tsv)"): \(ds.queries.count) queries, \(ds.documents.count) documents, mask \(options.mask.rawValue), \(String(format: "%.1f", seconds)) s")
            print("  query instruction: " + describeInstruction(options.instruction))
            print("  run       nDCG@10  MRR@10  R@10    R@100")
            func row(_ name: String, _ m: RankingMetrics) {
                print("  " + name.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: " %.4f   %.4f  %.4f  %.4f", m.ndcg10, m.mrr10, m.recall10, m.recall100))
            }
            for p in options.poolings { row(p.rawValue, metrics[p]!) }
            if let bm25 { row("bm25", bm25) }
            if !pairs.isEmpty || versus != nil {
                print("  per query (nDCG@10)     better worse  tied  mean diff  95% CI (paired bootstrap)")
            }
            func line(_ name: String, _ h: PairedComparison) {
                print("  " + name.padding(toLength: 22, withPad: " ", startingAt: 0)
                      + String(format: " %6d %5d %5d  %+8.4f   %+.4f to %+.4f", h.better, h.worse, h.tied, h.delta, h.low, h.high))
            }
            for (p, h) in versus ?? [] { line("\(p.rawValue) vs bm25", h) }
            for (a, b, h) in pairs { line("\(a.rawValue) vs \(b.rawValue)", h) }
            if let perQuery { print("  per-query results: \(perQuery)") }
        }
    }

    /// One JSON line per query: its text, relevant ids, and per run the nDCG@10, the 1-based
    /// rank of the first relevant document within the top 100 (null: not found) and the top 3.
    func writePerQuery(_ path: String, _ ds: BEIRDataset, _ runs: [(String, [String: [String]])]) throws {
        var out = ""
        for q in ds.queries {
            let grades = ds.qrels[q.id] ?? [:]
            let rel = Set(grades.keys)
            var w = JSONWriter()
            w.beginObject()
            w.member("query_id", q.id)
            w.member("query", q.text)
            w.key("relevant"); w.beginArray(); for r in rel.sorted() { w.string(r) }; w.endArray()
            if grades.values.contains(where: { $0 != 1 }) {   // graded qrels: each relevant id's grade
                w.key("grades"); w.beginObject(); for r in rel.sorted() { w.member(r, grades[r]!) }; w.endObject()
            }
            w.key("runs")
            w.beginObject()
            for (name, ranking) in runs {
                let ranked = ranking[q.id] ?? []
                w.key(name)
                w.beginObject()
                w.member("ndcg@10", RankingMetrics.ndcg(ranked, grades: grades))
                w.key("rank")
                if let r = RankingMetrics.firstRelevantRank(ranked, relevant: rel) { w.int(r) } else { w.null() }
                w.key("top"); w.beginArray(); for d in ranked.prefix(3) { w.string(d) }; w.endArray()
                w.endObject()
            }
            w.endObject()
            w.endObject()
            out += w.text + "\n"
        }
        let data = Data(out.utf8)
        try writeFiles([(path, { try $0.write(contentsOf: data) })])
    }

    func writeComparison(_ w: inout JSONWriter, _ h: PairedComparison) {
        w.beginObject()
        w.member("better", h.better); w.member("worse", h.worse); w.member("tied", h.tied)
        w.member("ndcg@10_delta", h.delta)
        w.key("ndcg@10_delta_ci95"); w.beginArray(); w.number(h.low); w.number(h.high); w.endArray()
        w.endObject()
    }

    func writeMetrics(_ w: inout JSONWriter, _ m: RankingMetrics) {
        w.beginObject()
        w.member("ndcg@10", m.ndcg10)
        w.member("mrr@10", m.mrr10)
        w.member("recall@10", m.recall10)
        w.member("recall@100", m.recall100)
        w.member("queries", m.queries)
        w.endObject()
    }

    func similarity(_ model: EmbeddingModel, _ options: EmbedOptions, _ path: String) throws {
        let bytes: [UInt8]
        do { bytes = try readAllBytes(path: path) } catch { throw CLIError("cannot read \(path): \(error)") }
        var left: [String] = [], right: [String] = [], gold: [Double] = []
        for (line, r) in utf8Lines(bytes, file: path) {
            switch r {
            case .failure(let e): warn("\(e); skipped")
            case .success(let s):
                if s.isEmpty { continue }
                let f = s.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard f.count >= 3, let g = Double(f[2].trimmingCharacters(in: .whitespaces)) else {
                    if line == 1 { continue }   // a header line
                    warn("\(path):\(line): expected text1<TAB>text2<TAB>score; skipped")
                    continue
                }
                left.append(f[0]); right.append(f[1]); gold.append(g)
            }
        }
        guard left.count >= 2 else { throw CLIError("\(path): fewer than 2 valid pairs") }
        // Symmetric task: the same instruction on both sides (NV-Embed's STS convention).
        let a = try model.embed(left, options: options), b = try model.embed(right, options: options)
        var results: [(Pooling, Double, Double)] = []
        for p in options.poolings {
            let cos = zip(a, b).map { x, y in Double(zip(x.vectors[p]!, y.vectors[p]!).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }
            results.append((p, Correlation.spearman(cos, gold), Correlation.pearson(cos, gold)))
        }
        if json {
            var w = JSONWriter()
            w.beginObject()
            w.member("pairs", left.count)
            w.member("instruction", options.instruction)
            w.key("results")
            w.beginObject()
            for (p, s, pe) in results { w.key(p.rawValue); w.beginObject(); w.member("spearman", s); w.member("pearson", pe); w.endObject() }
            w.endObject()
            w.endObject()
            emit(w.text)
        } else {
            print("\(path): \(left.count) pairs")
            print("  instruction (both texts): " + describeInstruction(options.instruction))
            for (p, s, pe) in results { print("  " + p.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0) + String(format: " spearman %.4f  pearson %.4f", s, pe)) }
        }
    }
}
