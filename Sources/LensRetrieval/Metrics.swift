import Foundation
import LensSupport

/// Relevance judgements of one query: document id → grade, only grades above 0 (a 0 or negative
/// grade in a qrels file means judged not relevant, and is dropped on loading).
public typealias Grades = [String: Int]

/// Ranking metrics as BEIR computes them (pytrec_eval, i.e. trec_eval, for nDCG@k and Recall@k;
/// BEIR's own MRR@k): nDCG@k's gain is the document's grade (linear, trec_eval's `ndcg_cut`),
/// discounted by log2(rank + 1), over the ideal DCG of the query's grades sorted best first; MRR@k
/// and Recall@k count every document with a grade above 0 as relevant. With binary judgements
/// (every grade 1) nDCG@k is the familiar one. Checked against pytrec_eval on a graded fixture
/// (`scripts/metrics_golden.py`, Tests/LensRetrievalTests/Fixtures/graded-metrics.json).
public struct RankingMetrics: Codable, Equatable, Sendable {
    public var ndcg10: Double
    public var mrr10: Double
    public var recall10: Double
    public var recall100: Double
    public var queries: Int

    public init(ndcg10: Double = 0, mrr10: Double = 0, recall10: Double = 0, recall100: Double = 0, queries: Int = 0) {
        self.ndcg10 = ndcg10
        self.mrr10 = mrr10
        self.recall10 = recall10
        self.recall100 = recall100
        self.queries = queries
    }

    enum CodingKeys: String, CodingKey {
        case ndcg10 = "ndcg@10", mrr10 = "mrr@10", recall10 = "recall@10", recall100 = "recall@100", queries
    }

    /// nDCG@k of one ranking under graded judgements (grades above 0; see the type's comment).
    public static func ndcg(_ ranked: [String], grades: Grades, k: Int = 10) -> Double {
        var dcg = 0.0
        for (r, d) in ranked.prefix(k).enumerated() { if let g = grades[d], g > 0 { dcg += Double(g) / log2(Double(r) + 2) } }
        var ideal = 0.0
        for (r, g) in grades.values.filter({ $0 > 0 }).sorted(by: >).prefix(k).enumerated() { ideal += Double(g) / log2(Double(r) + 2) }
        return ideal > 0 ? dcg / ideal : 0
    }

    /// nDCG@k of one ranking under binary judgements (every relevant document grade 1).
    public static func ndcg(_ ranked: [String], relevant: Set<String>, k: Int = 10) -> Double {
        ndcg(ranked, grades: binary(relevant), k: k)
    }

    /// Binary judgements as grades: every relevant document grade 1.
    public static func binary(_ relevant: Set<String>) -> Grades {
        Dictionary(uniqueKeysWithValues: relevant.map { ($0, 1) })
    }

    /// Binary qrels (query → relevant ids) as graded ones.
    public static func binary(_ qrels: [String: Set<String>]) -> [String: Grades] { qrels.mapValues(binary) }

    /// Reciprocal rank of the first relevant document within the top k (0 if none).
    public static func reciprocalRank(_ ranked: [String], relevant: Set<String>, k: Int = 10) -> Double {
        for (r, d) in ranked.prefix(k).enumerated() where relevant.contains(d) { return 1 / Double(r + 1) }
        return 0
    }

    /// 1-based rank of the first relevant document in `ranked` (nil if none).
    public static func firstRelevantRank(_ ranked: [String], relevant: Set<String>) -> Int? {
        ranked.firstIndex { relevant.contains($0) }.map { $0 + 1 }
    }

    /// Fraction of the relevant documents found in the top k.
    public static func recall(_ ranked: [String], relevant: Set<String>, k: Int) -> Double {
        guard !relevant.isEmpty else { return 0 }
        return Double(ranked.prefix(k).filter { relevant.contains($0) }.count) / Double(relevant.count)
    }

    /// Paired comparison of two runs on the same queries (those with a relevant document):
    /// the per-query win/loss/tie counts, the mean nDCG@10 difference a − b (exactly
    /// nDCG@10(a) − nDCG@10(b)), and a 95% paired-bootstrap interval for it: `resamples` times,
    /// draw as many queries as there are, with replacement (query ids sorted, indices
    /// `SplitMix64(seed).next() % n`), and take the 2.5th and 97.5th nearest-rank percentiles of
    /// the resampled mean differences. Seeded, so the same rankings always give the same interval.
    /// An interval that excludes 0 means the gap is larger than query sampling explains.
    public static func compare(_ a: [String: [String]], _ b: [String: [String]], qrels: [String: Set<String>],
                               resamples: Int = 2000, seed: UInt64 = 1) -> PairedComparison {
        compare(a, b, grades: binary(qrels), resamples: resamples, seed: seed)
    }

    /// `compare` under graded judgements (query → document → grade).
    public static func compare(_ a: [String: [String]], _ b: [String: [String]], grades qrels: [String: Grades],
                               resamples: Int = 2000, seed: UInt64 = 1) -> PairedComparison {
        var c = PairedComparison()
        var diffs: [Double] = []
        for q in qrels.keys.sorted() {
            let rel = qrels[q]!
            if !rel.values.contains(where: { $0 > 0 }) { continue }
            let x = ndcg(a[q] ?? [], grades: rel), y = ndcg(b[q] ?? [], grades: rel)
            if x > y { c.better += 1 } else if x < y { c.worse += 1 } else { c.tied += 1 }
            diffs.append(x - y)
        }
        guard !diffs.isEmpty else { return c }
        let n = diffs.count
        c.delta = diffs.reduce(0, +) / Double(n)
        c.low = c.delta; c.high = c.delta
        guard resamples > 0 else { return c }
        var rng = SplitMix64(seed: seed)
        var means = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            var s = 0.0
            for _ in 0..<n { s += diffs[Int(rng.next() % UInt64(n))] }
            means[r] = s / Double(n)
        }
        means.sort()
        // Nearest rank: the ⌈p·B⌉-th smallest.
        func percentile(_ p: Double) -> Double { means[min(max(Int((p * Double(resamples)).rounded(.up)) - 1, 0), resamples - 1)] }
        c.low = percentile(0.025); c.high = percentile(0.975)
        return c
    }

    /// Mean metrics over queries (`rankings[q]` best first, at least 100 deep for Recall@100).
    /// Sums in query-id order, not the dictionary's (which Swift seeds per process), so the same
    /// rankings give the same bits in every run.
    /// Queries without a relevant document are left out (BEIR would count each as 0 on every metric).
    public static func evaluate(rankings: [String: [String]], qrels: [String: Set<String>]) -> RankingMetrics {
        evaluate(rankings: rankings, grades: binary(qrels))
    }

    /// `evaluate` under graded judgements (query → document → grade).
    public static func evaluate(rankings: [String: [String]], grades qrels: [String: Grades]) -> RankingMetrics {
        var m = RankingMetrics()
        for (q, grades) in qrels.sorted(by: { $0.key < $1.key }) {
            let rel = Set(grades.filter { $0.value > 0 }.keys)
            if rel.isEmpty { continue }
            let ranked = rankings[q] ?? []
            m.ndcg10 += ndcg(ranked, grades: grades)
            m.mrr10 += reciprocalRank(ranked, relevant: rel)
            m.recall10 += recall(ranked, relevant: rel, k: 10)
            m.recall100 += recall(ranked, relevant: rel, k: 100)
            m.queries += 1
        }
        let n = Double(max(m.queries, 1))
        m.ndcg10 /= n; m.mrr10 /= n; m.recall10 /= n; m.recall100 /= n
        return m
    }
}

/// Two runs compared query by query (`RankingMetrics.compare`).
public struct PairedComparison: Equatable, Sendable {
    public var better = 0, worse = 0, tied = 0
    /// Mean per-query nDCG@10 difference, a − b.
    public var delta = 0.0
    /// 95% paired-bootstrap interval for `delta`.
    public var low = 0.0, high = 0.0
    public init() {}
}

/// Spearman and Pearson correlations (for `--pairs` STS-style evaluation).
public enum Correlation {
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        guard x.count == y.count, x.count > 1 else { return .nan }
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in x.indices {
            sxy += (x[i] - mx) * (y[i] - my)
            sxx += (x[i] - mx) * (x[i] - mx)
            syy += (y[i] - my) * (y[i] - my)
        }
        return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : .nan
    }

    /// Ranks with ties sharing their average rank.
    public static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var r = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            let avg = Double(i + j) / 2 + 1
            for k in i...j { r[order[k]] = avg }
            i = j + 1
        }
        return r
    }

    public static func spearman(_ x: [Double], _ y: [Double]) -> Double { pearson(ranks(x), ranks(y)) }
}
