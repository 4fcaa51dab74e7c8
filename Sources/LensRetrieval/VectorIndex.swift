import LensMath

/// Exact inner-product search over a contiguous row-major matrix of unit vectors
/// (cosine = dot product), with BLAS doing the scoring.
public struct VectorIndex: Sendable {
    public let width: Int
    public let count: Int
    /// [count, width] f32, shared (not copied) with whoever built it.
    public let vectors: FloatBuffer

    public init(vectors: FloatBuffer, count: Int, width: Int) {
        precondition(vectors.count >= count * width)
        self.vectors = vectors
        self.count = count
        self.width = width
    }

    /// Builds an index by copying rows.
    public init(rows: [[Float]], width: Int) {
        let buf = FloatBuffer(count: rows.count * width)
        for (i, r) in rows.enumerated() { (buf.pointer + i * width).update(from: r, count: width) }
        self.init(vectors: buf, count: rows.count, width: width)
    }

    /// Top-k (index, score) for each query row, best first (ties by lower index).
    public func search(_ queries: [Float], k: Int) -> [[(index: Int, score: Float)]] {
        let q = queries.count / width
        guard q > 0, count > 0 else { return Array(repeating: [], count: q) }
        let block = max(1, min(q, (64 << 20) / max(count * 4, 1)))
        var out: [[(index: Int, score: Float)]] = []
        out.reserveCapacity(q)
        let scores = FloatBuffer(count: block * count)
        queries.withUnsafeBufferPointer { qb in
            var start = 0
            while start < q {
                let m = min(block, q - start)
                gemm(transB: true, m: m, n: count, k: width, a: qb.baseAddress! + start * width, lda: width,
                     b: vectors.pointer, ldb: width, c: scores.pointer, ldc: count)
                for r in 0..<m { out.append(topK(scores.pointer + r * count, count, k)) }
                start += m
            }
        }
        return out
    }
}

/// The k largest of `n` scores, best first (ties by lower index), with a bounded min-heap.
public func topK(_ s: UnsafePointer<Float>, _ n: Int, _ k: Int) -> [(index: Int, score: Float)] {
    let k = min(k, n)
    guard k > 0 else { return [] }
    var heap: [(index: Int, score: Float)] = []
    heap.reserveCapacity(k)
    // "a worse than b" in the heap order: lower score, or equal score and higher index.
    func worse(_ a: (index: Int, score: Float), _ b: (index: Int, score: Float)) -> Bool {
        a.score < b.score || (a.score == b.score && a.index > b.index)
    }
    func siftUp(_ i0: Int) {
        var i = i0
        while i > 0 { let p = (i - 1) / 2; if worse(heap[i], heap[p]) { heap.swapAt(i, p); i = p } else { break } }
    }
    func siftDown(_ i0: Int) {
        var i = i0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && worse(heap[l], heap[m]) { m = l }
            if r < heap.count && worse(heap[r], heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m); i = m
        }
    }
    for i in 0..<n {
        let e = (index: i, score: s[i])
        if heap.count < k { heap.append(e); siftUp(heap.count - 1) }
        else if worse(heap[0], e) { heap[0] = e; siftDown(0) }
    }
    return heap.sorted { worse($1, $0) }
}
