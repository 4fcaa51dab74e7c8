import Foundation
import LensMath
import LensModel

/// Retrieval evaluation of a model (and of BM25) on a BEIR folder.
public enum RetrievalEvaluator {
    /// Metrics per pooling. Documents are embedded without instruction, queries with
    /// `instruction` (a full prefix); all poolings come from one pass per side.
    public static func evaluate(model: EmbeddingModel, dataset: BEIRDataset, poolings: [Pooling], mask: AttentionMask,
                                instruction: String, maxLength: Int = 512,
                                progress: ((Int, Int) -> Void)? = nil) throws -> [Pooling: RankingMetrics] {
        try rank(model: model, dataset: dataset, poolings: poolings, mask: mask, instruction: instruction,
                 maxLength: maxLength, progress: progress)
            .mapValues { RankingMetrics.evaluate(rankings: $0, grades: dataset.qrels) }
    }

    /// Each query's top 100 document ids, best first, per pooling (what `evaluate` scores).
    public static func rank(model: EmbeddingModel, dataset: BEIRDataset, poolings: [Pooling], mask: AttentionMask,
                            instruction: String, maxLength: Int = 512,
                            progress: ((Int, Int) -> Void)? = nil) throws -> [Pooling: [String: [String]]] {
        let d = model.config.decoder.hiddenSize
        var docOptions = EmbedOptions(poolings: poolings, mask: mask, instruction: "", maxLength: maxLength)
        docOptions.maxBatchTokens = 8192
        var docVectors: [Pooling: FloatBuffer] = [:]
        for p in poolings { docVectors[p] = FloatBuffer(count: dataset.documents.count * d) }
        let chunk = 256
        var done = 0
        for start in stride(from: 0, to: dataset.documents.count, by: chunk) {
            let slice = dataset.documents[start..<min(start + chunk, dataset.documents.count)]
            let res = try model.embed(slice.map(BEIRDataset.documentText), options: docOptions)
            for (i, r) in res.enumerated() {
                for p in poolings { (docVectors[p]!.pointer + (start + i) * d).update(from: r.vectors[p]!, count: d) }
            }
            done += slice.count
            progress?(done, dataset.documents.count + dataset.queries.count)
        }
        var qOptions = docOptions
        qOptions.instruction = instruction
        var queryVectors: [Pooling: [Float]] = [:]
        for start in stride(from: 0, to: dataset.queries.count, by: chunk) {
            let slice = dataset.queries[start..<min(start + chunk, dataset.queries.count)]
            let res = try model.embed(slice.map(\.text), options: qOptions)
            for r in res { for p in poolings { queryVectors[p, default: []] += r.vectors[p]! } }
            done += slice.count
            progress?(done, dataset.documents.count + dataset.queries.count)
        }
        var out: [Pooling: [String: [String]]] = [:]
        for p in poolings {
            let index = VectorIndex(vectors: docVectors[p]!, count: dataset.documents.count, width: d)
            let hits = index.search(queryVectors[p] ?? [], k: 100)
            var rankings: [String: [String]] = [:]
            for (qi, q) in dataset.queries.enumerated() { rankings[q.id] = hits[qi].map { dataset.documents[$0.index].id } }
            out[p] = rankings
        }
        return out
    }

    /// BM25 over the same documents and queries: each query's top 100 document ids, best first.
    public static func rankBM25(dataset: BEIRDataset) -> [String: [String]] {
        let bm25 = BM25(documents: dataset.documents.map(BEIRDataset.documentText))
        var rankings: [String: [String]] = [:]
        let scratch = BM25.Scratch(documents: bm25.documentCount)   // one accumulator for every query
        for q in dataset.queries {
            rankings[q.id] = bm25.search(bm25.prepare(q.text), k: 100, scratch: scratch).map { dataset.documents[$0.index].id }
        }
        return rankings
    }
}
