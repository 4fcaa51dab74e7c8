import Foundation
import LensMath
import LensModel
import LensSupport

/// A corpus opened against a model: documents (ids/titles from the store), and one
/// memory-mapped matrix per pooling, ready to search.
public final class IndexedCorpus: @unchecked Sendable {
    public let name: String
    public let corpusHash: String
    public let store: EmbeddingStore
    public let heads: [(id: String, title: String)]
    public let matrices: [Pooling: StoredMatrix]
    public let spaces: [Pooling: EmbeddingSpace]
    /// Documents embedded by the call that opened this corpus (0 when all were stored).
    public var embeddedNow = 0
    public var count: Int { heads.count }

    init(name: String, corpusHash: String, store: EmbeddingStore, heads: [(id: String, title: String)],
         matrices: [Pooling: StoredMatrix], spaces: [Pooling: EmbeddingSpace]) {
        self.name = name
        self.corpusHash = corpusHash
        self.store = store
        self.heads = heads
        self.matrices = matrices
        self.spaces = spaces
    }

    /// Full document `i` (read from the store).
    public func document(_ i: Int) -> Document? { try? store.document(corpus: corpusHash, ord: i) }

    /// The 2-D PCA projection of this corpus under a pooling: computed once, then cached
    /// next to the matrix in the store (`….pca`), so later sessions read it back.
    public func projection(_ pooling: Pooling) throws -> (mean: [Float], axes: [[Float]], points: [SIMD2<Float>])? {
        guard let m = matrices[pooling], let space = spaces[pooling] else { return nil }
        let path = store.matrixPath(corpus: corpusHash, space: try store.spaceID(space)) + ".pca"
        let d = m.width, n = m.count
        if let data = FileManager.default.contents(atPath: path), data.count == (3 * d + 2 * n) * 4 {
            let f = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let pts = (0..<n).map { SIMD2(f[3 * d + 2 * $0], f[3 * d + 2 * $0 + 1]) }
            return (Array(f[0..<d]), [Array(f[d..<(2 * d)]), Array(f[(2 * d)..<(3 * d)])], pts)
        }
        let p = PCA2D.fit(m)
        var flat = p.mean + p.axes[0] + p.axes[1]
        for pt in p.points { flat.append(pt.x); flat.append(pt.y) }
        let tmp = path + ".tmp-\(getpid())"
        try flat.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: tmp)) }
        _ = rename(tmp, path)
        return p
    }

    /// Top-k per pooling for query vectors (one per pooling).
    public func search(_ queries: [Pooling: [Float]], k: Int) -> [Pooling: [(index: Int, score: Float)]] {
        var out: [Pooling: [(index: Int, score: Float)]] = [:]
        for (p, q) in queries { if let m = matrices[p] { out[p] = m.search(q, k: k) } }
        return out
    }
}

/// Progress of an indexing run.
public struct IndexProgress: Sendable {
    public var done = 0          // documents with vectors (stored before + embedded now)
    public var total = 0
    public var embeddedNow = 0
    public var tokensNow = 0
    public var seconds = 0.0
    /// "embedding", "stored" (every vector was already in the store), then "writing matrices".
    public var phase = "embedding"
}

/// Embeds what a store lacks for a corpus (all poolings from one pass), in batches that are
/// each committed in one transaction, then writes the search matrices.
public enum CorpusIndexer {
    public struct Options: Sendable {
        public var poolings: [Pooling]
        public var mask: AttentionMask = .bidirectional
        /// Documents get no instruction in NV-Embed; kept configurable for symmetric tasks.
        public var instruction = ""
        public var maxLength = 512
        public var dtype: DType = .f32
        /// Documents per committed batch.
        public var batchSize = 64
        public init(poolings: [Pooling]) { self.poolings = poolings }
    }

    /// Opens `source` (a path or "-"), reusing the store's manifest when the file is
    /// unchanged, embedding only missing documents. `shouldStop` is polled between batches:
    /// when it returns true the function returns nil after committing what it has.
    public static func open(source: String, corpusOptions: CorpusOptions = CorpusOptions(), model: EmbeddingModel, modelFingerprint: String,
                            store: EmbeddingStore, options: Options, shouldStop: () -> Bool = { false },
                            progress: (IndexProgress) -> Void = { _ in }, issues: ([LineIssue]) -> Void = { _ in }) throws -> IndexedCorpus? {
        // One file, one manifest: "SampleCorpora/x.jsonl", "./SampleCorpora/x.jsonl" and its
        // absolute path (what the explorer opens by default) are the same source.
        let given = source
        let source = source == "-" ? source : URL(fileURLWithPath: source).standardizedFileURL.resolvingSymlinksInPath().path
        let d = model.config.decoder.hiddenSize
        var spaces: [Pooling: EmbeddingSpace] = [:]
        var ids: [Pooling: Int] = [:]
        for p in options.poolings {
            let s = EmbeddingSpace(model: modelFingerprint, pooling: p, mask: options.mask, instruction: options.instruction,
                                   maxLength: options.maxLength, dtype: options.dtype)
            spaces[p] = s
            ids[p] = try store.spaceID(s)
        }
        // Fast path: unchanged file with every matrix built.
        if let m = try store.manifest(source: source) {
            var mats: [Pooling: StoredMatrix] = [:]
            for p in options.poolings { if let mx = try store.openMatrix(corpus: m.hash, space: ids[p]!), mx.count == m.count { mats[p] = mx } }
            if mats.count == options.poolings.count {
                return IndexedCorpus(name: m.name, corpusHash: m.hash, store: store, heads: try store.documentHeads(corpus: m.hash),
                                     matrices: mats, spaces: spaces)
            }
        }
        var corpus = try Corpus.load(given, options: corpusOptions)   // problems named by the path as given
        corpus.source = source
        if !corpus.issues.isEmpty { issues(corpus.issues) }
        let hash = try store.record(corpus)
        let docs = corpus.documents
        let hashes = docs.map { ContentHash.of($0.embeddingText) }
        // Missing = lacking a vector in any requested space (all are written together).
        var missing: [Int] = []
        var have: Set<ContentHash>? = nil
        for p in options.poolings {
            let e = try store.existing(space: ids[p]!, hashes: hashes)
            have = have.map { $0.intersection(e) } ?? e
        }
        var seen = Set<ContentHash>()
        for (i, h) in hashes.enumerated() where !(have ?? []).contains(h) && seen.insert(h).inserted { missing.append(i) }
        var prog = IndexProgress(done: docs.count - missing.count, total: docs.count)
        if missing.isEmpty { prog.phase = "stored" }
        progress(prog)
        let t0 = monotonicSeconds()
        var embedOptions = EmbedOptions(poolings: options.poolings, mask: options.mask, instruction: options.instruction, maxLength: options.maxLength)
        embedOptions.maxBatchTokens = 8192
        for start in stride(from: 0, to: missing.count, by: options.batchSize) {
            if shouldStop() { return nil }
            let batch = Array(missing[start..<min(start + options.batchSize, missing.count)])
            let prepared = batch.map { model.prepare(docs[$0].embeddingText, instruction: options.instruction, maxLength: options.maxLength) }
            // A document whose pool would be empty cannot be embedded: keep a zero vector so
            // search still lines up, and report it.
            let valid = prepared.indices.filter { prepared[$0].pooledCount > 0 }
            let results = try model.embed(prepared: valid.map { prepared[$0] }, options: embedOptions)
            var rows: [(space: Int, dtype: DType, hash: ContentHash, vector: [Float], tokens: Int, truncated: Bool)] = []
            var r = 0
            for (k, di) in batch.enumerated() {
                let res: EmbeddingResult? = valid.contains(k) ? results[r] : nil
                if res != nil { r += 1 }
                for p in options.poolings {
                    rows.append((ids[p]!, options.dtype, hashes[di], res?.vectors[p] ?? [Float](repeating: 0, count: d),
                                 prepared[k].tokens.count, prepared[k].truncated))
                }
                prog.tokensNow += prepared[k].tokens.count
            }
            try store.insert(rows)
            prog.embeddedNow += batch.count
            prog.done += batch.count
            prog.seconds = monotonicSeconds() - t0
            progress(prog)
        }
        // Duplicates of texts embedded in this run count as done too.
        prog.done = docs.count
        prog.phase = "writing matrices"
        progress(prog)
        var mats: [Pooling: StoredMatrix] = [:]
        for p in options.poolings {
            try store.writeMatrix(corpus: hash, space: ids[p]!, dtype: options.dtype, width: d)
            mats[p] = try store.openMatrix(corpus: hash, space: ids[p]!)
        }
        let opened = IndexedCorpus(name: corpus.name, corpusHash: hash, store: store, heads: docs.map { ($0.id, $0.title) }, matrices: mats, spaces: spaces)
        opened.embeddedNow = prog.embeddedNow
        return opened
    }
}
