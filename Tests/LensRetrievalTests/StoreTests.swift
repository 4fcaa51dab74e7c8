import Foundation
import Testing
import LensMath
import LensModel
import LensSupport
@testable import LensRetrieval

/// A store with `n` synthetic documents whose vectors lie on a known 2-D plane.
func syntheticStore(n: Int, d: Int, dtype: DType = .f32) throws -> (EmbeddingStore, IndexedCorpus, [[Float]]) {
    let store = try EmbeddingStore(directory: tempDir("store"))
    let docs = (0..<n).map { Document(id: "d\($0)", title: "", text: "document number \($0)") }
    let corpus = Corpus(name: "synthetic", source: "-", documents: docs, issues: [])
    let hash = try store.record(corpus)
    let space = EmbeddingSpace(model: "m", pooling: .mean, mask: .bidirectional, instruction: "", maxLength: 64, dtype: dtype)
    let sid = try store.spaceID(space)
    var vectors: [[Float]] = []
    var rows: [(space: Int, dtype: DType, hash: ContentHash, vector: [Float], tokens: Int, truncated: Bool)] = []
    for (i, doc) in docs.enumerated() {
        var v = [Float](repeating: 0, count: d)
        v[0] = Float(i % 20) - 10          // large variance along axis 0
        v[1] = Float(i / 20) * 0.5 - 2     // smaller along axis 1
        v[2] = 0.01 * Float(i % 3)
        vectors.append(v)
        rows.append((sid, dtype, ContentHash.of(doc.embeddingText), v, 4, false))
    }
    try store.insert(rows)
    try store.writeMatrix(corpus: hash, space: sid, dtype: dtype, width: d)
    let m = try store.openMatrix(corpus: hash, space: sid)!
    let ic = IndexedCorpus(name: "synthetic", corpusHash: hash, store: store, heads: docs.map { ($0.id, $0.title) },
                           matrices: [.mean: m], spaces: [.mean: space])
    return (store, ic, vectors)
}

@Test func matrixRoundTripsAndSearchMatchesBruteForce() throws {
    for dtype in [DType.f32, .f16] {
        let (_, c, vectors) = try syntheticStore(n: 200, d: 8, dtype: dtype)
        let m = c.matrices[.mean]!
        #expect(m.count == 200 && m.width == 8 && m.dtype == dtype)
        #expect(zip(m.row(37), vectors[37]).allSatisfy { abs($0 - $1) < 1e-2 })
        let q: [Float] = [0.3, -0.2, 0.9, 0, 0, 0, 0, 0]
        let got = m.search(q, k: 5).map(\.index)
        var scored: [(Int, Float)] = []
        for (i, v) in vectors.enumerated() {
            var dot: Float = 0
            for j in 0..<8 { dot += v[j] * q[j] }
            scored.append((i, dot))
        }
        scored.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        let want = scored.prefix(5).map(\.0)
        #expect(got == want, "\(dtype)")
    }
}

@Test func pcaFindsThePlaneAndIsCached() throws {
    let (_, c, _) = try syntheticStore(n: 200, d: 8)
    let p = try #require(try c.projection(.mean))
    #expect(abs(abs(p.axes[0][0]) - 1) < 1e-3)     // first axis: the large-variance coordinate
    #expect(abs(abs(p.axes[1][1]) - 1) < 1e-3)
    let again = try #require(try c.projection(.mean))   // read back from the cache file
    #expect(again.points == p.points && again.axes == p.axes)
}

@Test func storeKeysSpacesApart() throws {
    let store = try EmbeddingStore(directory: tempDir("spaces"))
    let a = try store.spaceID(EmbeddingSpace(model: "m", pooling: .mean, mask: .bidirectional, instruction: "", maxLength: 64))
    let b = try store.spaceID(EmbeddingSpace(model: "m", pooling: .mean, mask: .causal, instruction: "", maxLength: 64))
    let c = try store.spaceID(EmbeddingSpace(model: "m", pooling: .mean, mask: .bidirectional, instruction: "", maxLength: 64))
    #expect(a != b && a == c)
    let h = ContentHash.of("text")
    try store.insert([(a, .f32, h, [1, 2, 3], 3, false)])
    #expect(try store.existing(space: a, hashes: [h]) == [h])
    #expect(try store.existing(space: b, hashes: [h]).isEmpty)
    #expect(try store.vector(space: a, dtype: .f32, hash: h) == [1, 2, 3])
}

/// Writes a LatentLens matrix file (64-byte header, then rows) the way the store does.
func writeMatrixFile(_ path: String, rows: [[Float]], dtype: DType) throws {
    let width = rows.first?.count ?? 0
    var data = Data(StoredMatrix.header(rows: rows.count, width: width, dtype: dtype))
    let flat = Array(rows.joined())
    if dtype == .f32 {
        flat.withUnsafeBytes { data.append(contentsOf: $0) }
    } else {
        var h = [UInt16](repeating: 0, count: flat.count)
        h.withUnsafeMutableBufferPointer { HalfPrecision.f32ToF16(flat, $0.baseAddress!, count: flat.count) }
        h.withUnsafeBytes { data.append(contentsOf: $0) }
    }
    try data.write(to: URL(fileURLWithPath: path))
}

/// Big matrices take the parallel path (one part per thread, block-wise scoring, per-part top-k
/// merged); widths that are not a multiple of 8 and row counts not a multiple of 4 exercise the
/// vector kernel's tails. Scores must equal a double-precision brute force over the stored rows.
@Test func parallelSearchOverABigMatrixMatchesBruteForce() throws {
    var rng = SystemRandomNumberGenerator()
    for (n, d) in [(70_003, 13), (66_001, 40)] {
        let rows = (0..<n).map { _ in (0..<d).map { _ in Float.random(in: -1...1, using: &rng) } }
        let q = (0..<d).map { _ in Float.random(in: -1...1, using: &rng) }
        for dtype in [DType.f32, .f16] {
            let path = tempDir("big") + "/m.vec"
            try writeMatrixFile(path, rows: rows, dtype: dtype)
            let m = try StoredMatrix.open(path: path)
            let got = m.search(q, k: 9)
            var exact: [(Int, Double)] = []
            for i in 0..<n {
                let r = m.row(i)   // the stored (possibly f16-rounded) values
                var s = 0.0
                for j in 0..<d { s += Double(r[j]) * Double(q[j]) }
                exact.append((i, s))
            }
            exact.sort { $0.1 > $1.1 }
            #expect(got.count == 9)
            for (rank, g) in got.enumerated() {
                // Same score at each rank, and each returned row really has the score reported.
                #expect(abs(Double(g.score) - exact[rank].1) < 1e-4, "\(dtype) d=\(d) rank \(rank)")
                #expect(abs(Double(g.score) - exact.first { $0.0 == g.index }!.1) < 1e-4)
            }
            #expect(Set(got.map(\.index)).count == 9)
        }
    }
}
