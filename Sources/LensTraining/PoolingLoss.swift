import Foundation
import LensMath
import LensModel

/// Pooled, L2-normalised embeddings of a packed batch under one pooling, with what the
/// backward pass needs.
public struct PooledBatch {
    public let pooling: Pooling
    /// [sequences, d], unit rows.
    public var embeddings: [Float]
    /// Norms of the pooled vectors before normalisation.
    var norms: [Float]
    public let width: Int
}

/// Pooling forward/backward over packed sequences with per-sequence pool masks
/// (`poolStart[s]`: positions before it are instruction and leave the pool).
public enum TrainingPooling {
    public static func forward(_ states: UnsafePointer<Float>, batch: PackedBatch, poolStart: [Int], pooling: Pooling, width d: Int) -> PooledBatch {
        var e = [Float](repeating: 0, count: batch.count * d)
        var norms = [Float](repeating: 0, count: batch.count)
        for s in 0..<batch.count {
            let o = batch.offsets[s], n = batch.lengths[s]
            e.withUnsafeMutableBufferPointer { eb in
                let out = eb.baseAddress! + s * d
                if pooling == .eos {
                    out.update(from: states + (o + n - 1) * d, count: d)
                } else {
                    let start = poolStart[s]
                    for t in start..<n { Kernels.add(out, states + (o + t) * d, count: d) }
                    let inv = 1 / Float(n - start)
                    for j in 0..<d { out[j] *= inv }
                }
                let nrm = max(Kernels.norm(out, count: d), 1e-12)
                norms[s] = nrm
                for j in 0..<d { out[j] /= nrm }
            }
        }
        return PooledBatch(pooling: pooling, embeddings: e, norms: norms, width: d)
    }

    /// Adds dL/d(states) into `dStates` given dL/d(embeddings) `dE` [sequences, d].
    public static func backward(_ pooled: PooledBatch, dE: [Float], batch: PackedBatch, poolStart: [Int], into dStates: UnsafeMutablePointer<Float>) {
        let d = pooled.width
        var dp = [Float](repeating: 0, count: d)
        for s in 0..<batch.count {
            let e = s * d
            // e = p/|p|  ⇒  dp = (de − e (e·de)) / |p|
            var dot: Float = 0
            for j in 0..<d { dot += pooled.embeddings[e + j] * dE[e + j] }
            for j in 0..<d { dp[j] = (dE[e + j] - pooled.embeddings[e + j] * dot) / pooled.norms[s] }
            let o = batch.offsets[s], n = batch.lengths[s]
            dp.withUnsafeBufferPointer { g in
                if pooled.pooling == .eos {
                    Kernels.add(dStates + (o + n - 1) * d, g.baseAddress!, count: d)
                } else {
                    let start = poolStart[s]
                    let w = 1 / Float(n - start)
                    for t in start..<n { Kernels.axpy(w, g.baseAddress!, dStates + (o + t) * d, count: d) }
                }
            }
        }
    }
}

/// Contrastive loss with soft targets: for query i, logits_ij = ⟨q_i, c_j⟩ / τ over the
/// candidates it may see (`allowed`), target = (1 − α)·onehot(positive_i) + α·teacher_i,
/// where teacher_i is the teacher's softmax over the same candidates (distillation).
/// Returns the mean loss and dL/dq, dL/dc.
public struct ContrastiveLoss {
    public var temperature: Float
    public var teacherTemperature: Float
    public var distillWeight: Float

    public init(temperature: Float = 0.05, teacherTemperature: Float = 0.05, distillWeight: Float = 0) {
        self.temperature = temperature
        self.teacherTemperature = teacherTemperature
        self.distillWeight = distillWeight
    }

    /// - Parameters:
    ///   - queries: [B, d] unit rows; candidates: [C, d] unit rows.
    ///   - positive: index of query i's positive among candidates.
    ///   - allowed: candidate indices query i is scored against (includes its positive).
    ///   - teacherScores: per query, the teacher's cosine for each allowed candidate (or nil).
    public func compute(queries: [Float], candidates: [Float], width d: Int, positive: [Int], allowed: [[Int]],
                        teacherScores: [[Float]?]) -> (loss: Float, accuracy: Float, dQ: [Float], dC: [Float]) {
        let B = positive.count, C = candidates.count / d
        var S = [Float](repeating: 0, count: B * C)
        queries.withUnsafeBufferPointer { q in
            candidates.withUnsafeBufferPointer { c in
                S.withUnsafeMutableBufferPointer { s in
                    gemm(transB: true, m: B, n: C, k: d, a: q.baseAddress!, lda: d, b: c.baseAddress!, ldb: d, c: s.baseAddress!, ldc: C)
                }
            }
        }
        var G = [Float](repeating: 0, count: B * C)   // dL/dS
        var loss: Double = 0
        var correct = 0
        for i in 0..<B {
            let idx = allowed[i]
            var logits = idx.map { S[i * C + $0] / temperature }
            let mx = logits.max()!
            var sum: Float = 0
            for k in logits.indices { logits[k] = exp(logits[k] - mx); sum += logits[k] }
            let probs = logits.map { $0 / sum }
            var target = idx.map { $0 == positive[i] ? Float(1) : 0 }
            if distillWeight > 0, let t = teacherScores[i] {
                let tl = t.map { $0 / teacherTemperature }
                let tm = tl.max()!
                let te = tl.map { exp($0 - tm) }
                let ts = te.reduce(0, +)
                for k in target.indices { target[k] = (1 - distillWeight) * target[k] + distillWeight * te[k] / ts }
            }
            var best = 0
            for k in idx.indices {
                loss -= Double(target[k]) * log(Double(max(probs[k], 1e-30)))
                if probs[k] > probs[best] { best = k }
                G[i * C + idx[k]] = (probs[k] - target[k]) / (temperature * Float(B))
            }
            if idx[best] == positive[i] { correct += 1 }
        }
        var dQ = [Float](repeating: 0, count: B * d), dC = [Float](repeating: 0, count: C * d)
        G.withUnsafeBufferPointer { g in
            queries.withUnsafeBufferPointer { q in
                candidates.withUnsafeBufferPointer { c in
                    dQ.withUnsafeMutableBufferPointer { dq in
                        gemm(m: B, n: d, k: C, a: g.baseAddress!, lda: C, b: c.baseAddress!, ldb: d, c: dq.baseAddress!, ldc: d)
                    }
                    dC.withUnsafeMutableBufferPointer { dc in
                        gemm(transA: true, m: C, n: d, k: B, a: g.baseAddress!, lda: C, b: q.baseAddress!, ldb: d, c: dc.baseAddress!, ldc: d)
                    }
                }
            }
        }
        return (Float(loss / Double(B)), Float(correct) / Float(B), dQ, dC)
    }
}
