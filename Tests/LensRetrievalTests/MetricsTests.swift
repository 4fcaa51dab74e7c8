import Foundation
import Testing
import LensRetrieval
import LensSupport

/// Metric code on hand-computed toy cases.
@Test func ndcgOnHandComputedCases() {
    // Relevant at ranks 1 and 3 of 2 relevant: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3).
    let v = RankingMetrics.ndcg(["a", "x", "b"], relevant: ["a", "b"])
    #expect(abs(v - 1.5 / (1 + 1 / log2(3.0))) < 1e-12)
    #expect(RankingMetrics.ndcg(["x", "y"], relevant: ["a"]) == 0)
    #expect(RankingMetrics.ndcg(["a"], relevant: ["a"]) == 1)
    // Relevant only at rank 11: outside @10.
    #expect(RankingMetrics.ndcg((0..<10).map { "n\($0)" } + ["a"], relevant: ["a"]) == 0)
}

@Test func mrrAndRecallOnHandComputedCases() {
    #expect(RankingMetrics.reciprocalRank(["x", "y", "a"], relevant: ["a"]) == 1.0 / 3)
    #expect(RankingMetrics.recall(["a", "x", "b"], relevant: ["a", "b", "c", "d"], k: 2) == 0.25)
    let m = RankingMetrics.evaluate(rankings: ["q1": ["a"], "q2": ["x", "b"]], qrels: ["q1": ["a"], "q2": ["b"]])
    #expect(m.queries == 2)
    #expect(abs(m.mrr10 - 0.75) < 1e-12)
    #expect(abs(m.ndcg10 - (1 + 1 / log2(3.0)) / 2) < 1e-12)
}

@Test func meanMetricsAreTheSameBitsWhateverTheDictionaryOrder() {
    // 2000 queries with 1–4 relevant documents from rank 1 to 12: the nDCG terms do not add
    // associatively, so a sum in a dictionary's hash order (seeded per process) differs in its
    // last bits from the sum in query-id order, and between two dictionaries of one content
    // (measured: 12 runs of 12 differed).
    var rankings: [String: [String]] = [:]
    var qrels: [String: Set<String>] = [:]
    for i in 0..<2000 {
        let q = "q\(i)", first = (i * 7) % 12, relevant = 1 + (i * 5) % 4
        var ranked = (0..<(first + 2 * relevant)).map { "x\($0)" }
        for j in 0..<relevant { ranked[first + 2 * j] = "d\(i).\(j)" }
        rankings[q] = ranked
        qrels[q] = Set((0..<relevant).map { "d\(i).\($0)" })
    }
    var roomy = [String: Set<String>](minimumCapacity: 50_000)
    for q in qrels.keys.sorted().reversed() { roomy[q] = qrels[q] }
    let m = RankingMetrics.evaluate(rankings: rankings, qrels: qrels)
    let n = RankingMetrics.evaluate(rankings: rankings, qrels: roomy)
    var want = 0.0
    for q in qrels.keys.sorted() { want += RankingMetrics.ndcg(rankings[q]!, relevant: qrels[q]!) }
    want /= 2000
    #expect(m.ndcg10 == want)
    #expect(m.ndcg10 == n.ndcg10 && m.mrr10 == n.mrr10 && m.recall10 == n.recall10 && m.recall100 == n.recall100)
}

@Test func firstRelevantRankAndPairedCountsOnHandComputedCases() {
    #expect(RankingMetrics.firstRelevantRank(["x", "b", "a"], relevant: ["a", "b"]) == 2)
    #expect(RankingMetrics.firstRelevantRank(["x"], relevant: ["a"]) == nil)
    // q1: a finds it at 1, b at 2 (a better); q2: a misses, b at 1 (a worse); q3: both at 1 (tied);
    // q4 has no relevant document and is not counted.
    let a = ["q1": ["d1"], "q2": ["x"], "q3": ["d3"], "q4": ["d4"]]
    let b = ["q1": ["x", "d1"], "q2": ["d2"], "q3": ["d3", "x"]]
    let qrels: [String: Set<String>] = ["q1": ["d1"], "q2": ["d2"], "q3": ["d3"], "q4": []]
    let h = RankingMetrics.compare(a, b, qrels: qrels)
    #expect(h.better == 1 && h.worse == 1 && h.tied == 1)
    // Differences: q1 1 − 1/log2(3), q2 −1, q3 0; the mean is nDCG@10(a) − nDCG@10(b).
    let want = ((1 - 1 / log2(3.0)) - 1 + 0) / 3
    #expect(abs(h.delta - want) < 1e-12)
    let ma = RankingMetrics.evaluate(rankings: a, qrels: qrels), mb = RankingMetrics.evaluate(rankings: b, qrels: qrels)
    #expect(abs(h.delta - (ma.ndcg10 - mb.ndcg10)) < 1e-12)
    // Resampled means of 3 values lie between the smallest and the largest difference.
    #expect(h.low >= -1 && h.high <= 1 - 1 / log2(3.0) && h.low <= h.delta && h.delta <= h.high && h.low < h.high)
}

/// The paired bootstrap: deterministic, independent of dictionary order, degenerate when every
/// query moves by the same amount, and on many queries close to the normal approximation
/// mean ± 1.96 · sd / √n (the check that the resampling and the percentiles are right).
@Test func pairedBootstrapInterval() {
    // 400 queries; run a finds the document at rank r_a, run b at rank r_b, drawn from a fixed generator.
    var rng = SplitMix64(seed: 5)
    var a: [String: [String]] = [:], b: [String: [String]] = [:], qrels: [String: Set<String>] = [:]
    var diffs: [Double] = []
    func ranking(_ rank: Int) -> [String] { (1..<rank).map { "x\($0)" } + ["rel"] }
    for q in 0..<400 {
        let ra = 1 + Int(rng.next() % 12), rb = 1 + Int(rng.next() % 8)
        a["q\(q)"] = ranking(ra); b["q\(q)"] = ranking(rb); qrels["q\(q)"] = ["rel"]
        func g(_ r: Int) -> Double { r <= 10 ? 1 / log2(Double(r) + 1) : 0 }
        diffs.append(g(ra) - g(rb))
    }
    let c = RankingMetrics.compare(a, b, qrels: qrels)
    let n = Double(diffs.count), mean = diffs.reduce(0, +) / n
    let sd = (diffs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
    let half = 1.96 * sd / n.squareRoot()
    #expect(abs(c.delta - mean) < 1e-12)
    #expect(abs(c.low - (mean - half)) < 0.08 * half, "low \(c.low) vs normal \(mean - half)")
    #expect(abs(c.high - (mean + half)) < 0.08 * half, "high \(c.high) vs normal \(mean + half)")
    #expect(c.better + c.worse + c.tied == 400)
    // Same input, same interval; a dictionary built in another order gives the same answer.
    #expect(RankingMetrics.compare(a, b, qrels: qrels) == c)
    var shuffled: [String: Set<String>] = [:]
    for k in qrels.keys.sorted().reversed() { shuffled[k] = qrels[k] }
    #expect(RankingMetrics.compare(a, b, qrels: shuffled) == c)
    #expect(RankingMetrics.compare(a, b, qrels: qrels, seed: 2) != c)
    // Every query one rank worse at the top (1 → 2): a constant difference, a zero-width interval.
    let worse = Dictionary(uniqueKeysWithValues: qrels.keys.map { ($0, ["x", "rel"]) })
    let best = Dictionary(uniqueKeysWithValues: qrels.keys.map { ($0, ["rel"]) })
    let k = RankingMetrics.compare(worse, best, qrels: qrels)
    #expect(k.worse == 400 && abs(k.delta - (1 / log2(3.0) - 1)) < 1e-12 && abs(k.low - k.delta) < 1e-12 && abs(k.high - k.delta) < 1e-12)
}

@Test func correlationsOnHandComputedCases() {
    #expect(abs(Correlation.pearson([1, 2, 3], [2, 4, 6]) - 1) < 1e-12)
    #expect(abs(Correlation.spearman([1, 2, 3, 4], [10, 20, 30, 1000]) - 1) < 1e-12)
    #expect(Correlation.ranks([3, 1, 3]) == [2.5, 1, 2.5])
    #expect(abs(Correlation.spearman([1, 2, 3], [3, 2, 1]) + 1) < 1e-12)
}

@Test func bm25RanksTheMatchingDocumentFirst() {
    let bm = BM25(documents: ["the cat sat on the mat", "dogs chase cats", "quantum chromodynamics of quarks", "a mat for yoga"])
    let hits = bm.search("quarks", k: 3)
    #expect(hits.first?.index == 2)
    #expect(hits.count == 1)
    #expect(bm.search("mat", k: 4).map(\.index).sorted() == [0, 3])
    #expect(BM25.tokenize("The Ünïcode-word, x2!") == ["ünïcode", "word", "x2"])
}

@Test func bm25ScoresOneDocumentAsTheFormulaSays() {
    let docs = ["the cat sat on the mat", "dogs chase cats and the cat", "quantum chromodynamics of quarks", "a mat for yoga mat mat", ""]
    let bm = BM25(documents: docs)
    // Okapi BM25 written out independently: k1 0.9, b 0.4, idf = ln(1 + (N − df + ½)/(df + ½)).
    let words = docs.map(BM25.tokenize)
    let avg = Double(words.map(\.count).reduce(0, +)) / Double(docs.count)
    func expected(_ query: String, _ d: Int) -> Double {
        Set(BM25.tokenize(query)).reduce(0.0) { sum, w in
            let df = Double(words.filter { $0.contains(w) }.count)
            let tf = Double(words[d].filter { $0 == w }.count)
            guard df > 0, tf > 0 else { return sum }
            let idf = log(1 + (Double(docs.count) - df + 0.5) / (df + 0.5))
            return sum + idf * tf * 1.9 / (tf + 0.9 * (0.6 + 0.4 * Double(words[d].count) / avg))
        }
    }
    for query in ["cat mat", "mat mat yoga", "quarks of cats", "nothing here", "cat"] {
        let q = bm.prepare(query)
        for d in docs.indices { #expect(abs(bm.score(q, document: d) - expected(query, d)) < 1e-12, "\(query) / \(d)") }
        for hit in bm.search(query, k: docs.count) { #expect(abs(hit.score - bm.score(q, document: hit.index)) < 1e-12) }
    }
    #expect(bm.prepare("nothing here").isEmpty)
    #expect(bm.score(bm.prepare("yoga"), document: 3) > 0)
}

/// The tool's BM25 against bm25s (Lucene variant), a library it shares no code with, on the
/// bundled sampler corpus: 300 title queries and five edge cases (stop words only, a repeated
/// word, non-ASCII capitals, digits in words, an unknown word). The fixture comes from
/// scripts/bm25_golden.py, whose word rule is the documented one written again in Python.
@Test func bm25AgreesWithBm25sOnTheSamplerCorpus() throws {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: here.appendingPathComponent("Fixtures/bm25-golden.json"))) as? [String: Any])
    let corpus = try String(contentsOf: here.appendingPathComponent("../../SampleCorpora/sampler.jsonl"), encoding: .utf8)
    let docs = try corpus.split(separator: "\n").map { line -> String in
        let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return try #require(o["text"] as? String)
    }
    #expect(docs.count == 3000)
    let bm = BM25(documents: docs)
    let queries = try #require(root["queries"] as? [[String: Any]])
    #expect(queries.count == 305)
    var compared = 0
    for q in queries {
        let text = try #require(q["query"] as? String)
        let want = try #require(q["top"] as? [[Double]]).map { (index: Int($0[0]), score: $0[1]) }
        let got = bm.search(text, k: 10)
        #expect(got.count == want.count, "\(text)")
        for (g, w) in zip(got, want) {
            #expect(abs(g.score - w.score) <= 1e-9 * max(1, w.score), "\(text): \(g) vs \(w)")
            // The same document, unless two scores are tied to rounding (then either order is right).
            if g.index != w.index { #expect(want.contains { $0.index == g.index && abs($0.score - g.score) <= 1e-9 * max(1, g.score) }, "\(text): \(g) vs \(w)") }
            compared += 1
        }
    }
    #expect(compared > 2000)   // 2,058 hits in all: some titles share few words with the corpus
}

@Test func bm25SearchEqualsRankingEveryDocumentByScore() {
    // Random documents over a small vocabulary: many shared words, many tied scores.
    var rng = SplitMix64(seed: 11)
    let vocab = (0..<40).map { "w\($0)" }
    let docs = (0..<300).map { _ in (0..<(1 + Int(rng.next() % 12))).map { _ in vocab[Int(rng.next() % 40)] }.joined(separator: " ") }
    let bm = BM25(documents: docs)
    let scratch = BM25.Scratch(documents: docs.count)
    for trial in 0..<60 {
        let query = (0..<(1 + trial % 4)).map { _ in "w\(rng.next() % 45)" }.joined(separator: " ")   // w40…w44 are unknown
        let q = bm.prepare(query)
        var want: [(Int, Double)] = []
        for d in docs.indices { let s = bm.score(q, document: d); if s > 0 { want.append((d, s)) } }
        want.sort { (a: (Int, Double), b: (Int, Double)) -> Bool in a.1 != b.1 ? a.1 > b.1 : a.0 < b.0 }
        let wantIndex: [Int] = want.map { $0.0 }
        for k in [1, 7, 50, 400] {
            let got = bm.search(q, k: k, scratch: scratch)
            #expect(got.map { $0.index } == Array(wantIndex.prefix(k)), "\(query) k=\(k)")
            #expect(zip(got, want).allSatisfy { abs($0.score - $1.1) < 1e-9 })
        }
        #expect(bm.search(query, k: 5).map { $0.index } == Array(wantIndex.prefix(5)))
    }
}

@Test func topKEqualsFullSort() {
    var rng = SystemRandomNumberGenerator()
    let scores = (0..<1000).map { _ in Float(Int.random(in: 0..<50, using: &rng)) }   // many ties
    let got = scores.withUnsafeBufferPointer { topK($0.baseAddress!, 1000, 25) }
    let want = scores.enumerated().sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }.prefix(25)
    #expect(got.map(\.index) == want.map(\.offset))
}

@Test func vectorIndexEqualsBruteForce() {
    var rng = SystemRandomNumberGenerator()
    let d = 8, n = 300
    let rows = (0..<n).map { _ in (0..<d).map { _ in Float.random(in: -1...1, using: &rng) } }
    let index = VectorIndex(rows: rows, width: d)
    let queries = (0..<5).map { _ in (0..<d).map { _ in Float.random(in: -1...1, using: &rng) } }
    let hits = index.search(queries.flatMap { $0 }, k: 10)
    for (qi, q) in queries.enumerated() {
        let brute = rows.enumerated().map { ($0.offset, zip($0.element, q).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }
            .sorted { $0.1 > $1.1 }.prefix(10)
        #expect(hits[qi].map(\.index) == brute.map(\.0))
    }
}

/// Graded judgements (TREC-COVID's 0/1/2, NFCorpus's 1/2): the gain is the grade, as in
/// trec_eval's ndcg_cut, which BEIR calls through pytrec_eval.
@Test func gradedNDCGOnAHandComputedCase() {
    // Grades a 3, b 1, c 2; ranked b, x, a: DCG = 1/log2(2) + 3/log2(4) = 2.5;
    // ideal a, c, b = 3 + 2/log2(3) + 1/log2(4).
    let g: Grades = ["a": 3, "b": 1, "c": 2]
    let v = RankingMetrics.ndcg(["b", "x", "a"], grades: g)
    #expect(abs(v - 2.5 / (3 + 2 / log2(3.0) + 0.5)) < 1e-12)
    // The same ranking judged binary reads differently: grades are not flattened to 1.
    #expect(abs(RankingMetrics.ndcg(["b", "x", "a"], relevant: ["a", "b", "c"]) - 1.5 / (1 + 1 / log2(3.0) + 0.5)) < 1e-12)
    // MRR and recall count every graded document as relevant.
    let m = RankingMetrics.evaluate(rankings: ["q": ["b", "x", "a"]], grades: ["q": g])
    #expect(m.mrr10 == 1 && abs(m.recall10 - 2.0 / 3) < 1e-12 && m.queries == 1)
    // A query with nothing relevant is left out of the mean; grade 0 is not relevant.
    let n = RankingMetrics.evaluate(rankings: ["q": ["b", "x", "a"], "z": ["a"]], grades: ["q": g, "z": ["a": 0]])
    #expect(n == m)
}

/// Every metric against pytrec_eval (BEIR's evaluator) on 80 seeded graded queries, and the
/// correlations against scipy: the fixture is written by scripts/metrics_golden.py, which runs
/// both libraries; this code never does.
@Test func metricsAgreeWithPytrecEvalAndScipy() throws {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/graded-metrics.json")
    let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    let rows = try #require(root["queries"] as? [[String: Any]])
    #expect(rows.count == 80)
    var rankings: [String: [String]] = [:], qrels: [String: Grades] = [:]
    var checked = 0
    for r in rows {
        let id = try #require(r["id"] as? String)
        let ranking = try #require(r["ranking"] as? [String])
        let grades = try #require(r["grades"] as? [String: Int])
        rankings[id] = ranking; qrels[id] = grades
        let positive = grades.filter { $0.value > 0 }
        let relevant = Set(positive.keys)
        func want(_ k: String) throws -> Double { try #require(r[k] as? Double) }
        #expect(abs(RankingMetrics.ndcg(ranking, grades: grades) - (try want("ndcg@10"))) < 1e-12, "\(id)")
        if !relevant.isEmpty {   // pytrec_eval scores a query with nothing relevant 0 on every metric
            #expect(abs(RankingMetrics.recall(ranking, relevant: relevant, k: 10) - (try want("recall@10"))) < 1e-12, "\(id)")
            #expect(abs(RankingMetrics.recall(ranking, relevant: relevant, k: 100) - (try want("recall@100"))) < 1e-12, "\(id)")
            #expect(abs(RankingMetrics.reciprocalRank(ranking, relevant: relevant) - (try want("mrr@10"))) < 1e-12, "\(id)")
            checked += 1
        }
    }
    #expect(checked == (root["queries_with_a_relevant_document"] as? Int))
    let mean = try #require(root["mean_over_queries_with_a_relevant_document"] as? [String: Double])
    let m = RankingMetrics.evaluate(rankings: rankings, grades: qrels)
    #expect(m.queries == checked)
    #expect(abs(m.ndcg10 - mean["ndcg@10"]!) < 1e-12 && abs(m.mrr10 - mean["mrr@10"]!) < 1e-12)
    #expect(abs(m.recall10 - mean["recall@10"]!) < 1e-12 && abs(m.recall100 - mean["recall@100"]!) < 1e-12)
    // Spearman (average ranks for ties) and Pearson against scipy.stats on 200 pairs with many ties.
    let corr = try #require(root["correlations"] as? [String: Any])
    let gold = try #require(corr["gold"] as? [Double]), predicted = try #require(corr["predicted"] as? [Double])
    #expect(abs(Correlation.spearman(predicted, gold) - (try #require(corr["spearman"] as? Double))) < 1e-12)
    #expect(abs(Correlation.pearson(predicted, gold) - (try #require(corr["pearson"] as? Double))) < 1e-12)
    // Graded and binary really differ on this fixture (the test would not notice a flattening otherwise).
    #expect(abs(RankingMetrics.evaluate(rankings: rankings, qrels: qrels.mapValues { Set($0.filter { $0.value > 0 }.keys) }).ndcg10 - m.ndcg10) > 1e-3)
}
