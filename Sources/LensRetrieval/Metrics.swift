import Foundation

/// Ranking metrics over binary relevance (BEIR's definitions: nDCG@k with log2
/// discount and ideal DCG from the number of relevant documents; MRR@k; Recall@k).
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

    /// nDCG@k of one ranking.
    public static func ndcg(_ ranked: [String], relevant: Set<String>, k: Int = 10) -> Double {
        guard !relevant.isEmpty else { return 0 }
        var dcg = 0.0
        for (r, d) in ranked.prefix(k).enumerated() where relevant.contains(d) { dcg += 1 / log2(Double(r) + 2) }
        var ideal = 0.0
        for r in 0..<min(relevant.count, k) { ideal += 1 / log2(Double(r) + 2) }
        return dcg / ideal
    }

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

    /// Per query with a relevant document: does run `a` score a higher, lower or equal nDCG@10
    /// than run `b`? (How often one pooling beats BM25, not only by how much on average.)
    public static func headToHead(_ a: [String: [String]], _ b: [String: [String]],
                                  qrels: [String: Set<String>]) -> (better: Int, worse: Int, tied: Int) {
        var r = (better: 0, worse: 0, tied: 0)
        for (q, rel) in qrels where !rel.isEmpty {
            let x = ndcg(a[q] ?? [], relevant: rel), y = ndcg(b[q] ?? [], relevant: rel)
            if x > y { r.better += 1 } else if x < y { r.worse += 1 } else { r.tied += 1 }
        }
        return r
    }

    /// Mean metrics over queries (`rankings[q]` best first, at least 100 deep for Recall@100).
    public static func evaluate(rankings: [String: [String]], qrels: [String: Set<String>]) -> RankingMetrics {
        var m = RankingMetrics()
        for (q, rel) in qrels where !rel.isEmpty {
            let ranked = rankings[q] ?? []
            m.ndcg10 += ndcg(ranked, relevant: rel)
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
