import Foundation

/// Okapi BM25 over lower-cased alphanumeric words with English stop words removed
/// (k1 = 0.9, b = 0.4, Anserini's defaults). No stemming. Scores are computed with an
/// inverted index, so a query touches only documents that share a word with it.
public final class BM25: @unchecked Sendable {
    public let k1: Double
    public let b: Double
    private var postings: [String: [(doc: Int32, tf: Int32)]] = [:]
    private var docLength: [Int32] = []
    private var averageLength = 0.0

    public var documentCount: Int { docLength.count }

    public init(documents: [String], k1: Double = 0.9, b: Double = 0.4) {
        self.k1 = k1
        self.b = b
        var total = 0
        docLength.reserveCapacity(documents.count)
        for (i, text) in documents.enumerated() {
            let words = BM25.tokenize(text)
            docLength.append(Int32(words.count))
            total += words.count
            var tf: [String: Int32] = [:]
            for w in words { tf[w, default: 0] += 1 }
            for (w, c) in tf { postings[w, default: []].append((Int32(i), c)) }
        }
        averageLength = documents.isEmpty ? 0 : Double(total) / Double(documents.count)
    }

    static let stopWords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
        "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
        "will", "with",
    ]

    /// How many documents contain `word` (a word as `tokenize` yields it).
    public func documentFrequency(_ word: String) -> Int { postings[word]?.count ?? 0 }

    /// Lower-cased runs of letters and digits, minus stop words.
    public static func tokenize(_ text: String) -> [String] {
        var out: [String] = []
        var cur = ""
        for ch in text.lowercased().unicodeScalars {
            if CharacterSet.alphanumerics.contains(ch) {
                cur.unicodeScalars.append(ch)
            } else if !cur.isEmpty {
                if !stopWords.contains(cur) { out.append(cur) }
                cur = ""
            }
        }
        if !cur.isEmpty && !stopWords.contains(cur) { out.append(cur) }
        return out
    }

    /// A query's distinct words that occur in the collection, with their idf and postings
    /// (postings are in document order: `score(_:document:)` binary-searches them).
    public struct Query: Sendable {
        fileprivate let terms: [(idf: Double, postings: [(doc: Int32, tf: Int32)])]
        /// No query word occurs in the collection: every score is 0.
        public var isEmpty: Bool { terms.isEmpty }
    }

    public func prepare(_ query: String) -> Query {
        let N = Double(docLength.count)
        return Query(terms: Set(BM25.tokenize(query)).sorted().compactMap { w in
            guard let list = postings[w] else { return nil }
            let df = Double(list.count)
            return (log(1 + (N - df + 0.5) / (df + 0.5)), list)
        })
    }

    private func termScore(idf: Double, tf: Int32, doc: Int32) -> Double {
        let t = Double(tf)
        let norm = k1 * (1 - b + b * Double(docLength[Int(doc)]) / max(averageLength, 1e-9))
        return idf * t * (k1 + 1) / (t + norm)
    }

    /// The BM25 score of one document for a prepared query (the value `search` ranks by).
    public func score(_ query: Query, document: Int) -> Double {
        precondition(document >= 0 && document < docLength.count, "document \(document) out of range")
        let d = Int32(document)
        var total = 0.0
        for (idf, list) in query.terms {
            var lo = 0, hi = list.count
            while lo < hi { let mid = (lo + hi) / 2; if list[mid].doc < d { lo = mid + 1 } else { hi = mid } }
            if lo < list.count && list[lo].doc == d { total += termScore(idf: idf, tf: list[lo].tf, doc: d) }
        }
        return total
    }

    /// A reusable score accumulator for `search(_:k:scratch:)`: one per thread, sized to the
    /// collection, so a query costs its postings and nothing per document.
    public final class Scratch {
        fileprivate var acc: [Double]
        fileprivate var touched: [Int32] = []
        public init(documents: Int) { acc = [Double](repeating: 0, count: documents) }
    }

    /// Top-k documents (index, score), best first; ties broken by index. Documents that share
    /// no word with the query are not returned.
    public func search(_ query: String, k: Int) -> [(index: Int, score: Double)] {
        search(prepare(query), k: k, scratch: Scratch(documents: docLength.count))
    }

    /// `search(_:k:)` for a prepared query, accumulating in `scratch` (left zeroed).
    public func search(_ query: Query, k: Int, scratch: Scratch) -> [(index: Int, score: Double)] {
        precondition(scratch.acc.count == docLength.count, "scratch sized for another collection")
        guard k > 0 else { return [] }
        for (idf, list) in query.terms {
            for (doc, tf) in list {
                let d = Int(doc)
                if scratch.acc[d] == 0 { scratch.touched.append(doc) }
                scratch.acc[d] += termScore(idf: idf, tf: tf, doc: doc)   // > 0: idf > 0, tf ≥ 1
            }
        }
        // Bounded selection: a min-heap of the k best (worst at the root), then one sort.
        func better(_ a: (Int, Double), _ b: (Int, Double)) -> Bool { a.1 != b.1 ? a.1 > b.1 : a.0 < b.0 }
        var heap: [(Int, Double)] = []
        heap.reserveCapacity(min(k, scratch.touched.count))
        for doc in scratch.touched {
            let item = (Int(doc), scratch.acc[Int(doc)])
            scratch.acc[Int(doc)] = 0
            if heap.count < k {
                heap.append(item)
                var i = heap.count - 1
                while i > 0 { let p = (i - 1) / 2; if better(heap[p], heap[i]) { heap.swapAt(p, i); i = p } else { break } }
            } else if better(item, heap[0]) {
                heap[0] = item
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var w = i
                    if l < heap.count && better(heap[w], heap[l]) { w = l }
                    if r < heap.count && better(heap[w], heap[r]) { w = r }
                    if w == i { break }
                    heap.swapAt(i, w); i = w
                }
            }
        }
        scratch.touched.removeAll(keepingCapacity: true)
        return heap.sorted(by: better).map { (index: $0.0, score: $0.1) }
    }
}
