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

/// Merges per-part top-k lists (disjoint indices) into one top-k, best first, ties by lower index.
public func mergeTopK(_ lists: [[(index: Int, score: Float)]], k: Int) -> [(index: Int, score: Float)] {
    if lists.count == 1 { return Array(lists[0].prefix(k)) }
    let all = lists.joined().sorted { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
    return Array(all.prefix(k))
}

/// The k largest of `n` scores, best first (ties by lower index), with a bounded min-heap.
public func topK(_ s: UnsafePointer<Float>, _ n: Int, _ k: Int) -> [(index: Int, score: Float)] {
    var acc = TopKAccumulator(k: k)
    acc.add(s, n, offset: 0)
    return acc.sorted()
}

/// A bounded min-heap that keeps the k best (score, index) pairs seen so far, fed block by
/// block (so a scan never needs all scores at once). Ties rank the lower index first.
public struct TopKAccumulator {
    public let k: Int
    private var heap: [(index: Int, score: Float)] = []

    public init(k: Int) {
        self.k = max(0, k)
        heap.reserveCapacity(self.k)
    }

    // "a worse than b" in the heap order: lower score, or equal score and higher index.
    @inline(__always)
    private static func worse(_ a: (index: Int, score: Float), _ b: (index: Int, score: Float)) -> Bool {
        a.score < b.score || (a.score == b.score && a.index > b.index)
    }

    /// Offers scores `s[0..<n]` for indices `offset..<offset+n`.
    public mutating func add(_ s: UnsafePointer<Float>, _ n: Int, offset: Int) {
        guard k > 0 else { return }
        var i = 0
        while i < n && heap.count < k {
            heap.append((index: offset + i, score: s[i]))
            siftUp(heap.count - 1)
            i += 1
        }
        var floor = heap[0].score
        while i < n {
            let v = s[i]
            if v >= floor {   // cheap reject first; equal scores fall to the index tie-break
                let e = (index: offset + i, score: v)
                if Self.worse(heap[0], e) {
                    heap[0] = e
                    siftDown(0)
                    floor = heap[0].score
                }
            }
            i += 1
        }
    }

    /// The kept pairs, best first.
    public func sorted() -> [(index: Int, score: Float)] { heap.sorted { Self.worse($1, $0) } }

    private mutating func siftUp(_ i0: Int) {
        var i = i0
        while i > 0 { let p = (i - 1) / 2; if Self.worse(heap[i], heap[p]) { heap.swapAt(i, p); i = p } else { break } }
    }

    private mutating func siftDown(_ i0: Int) {
        var i = i0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && Self.worse(heap[l], heap[m]) { m = l }
            if r < heap.count && Self.worse(heap[r], heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m); i = m
        }
    }
}
