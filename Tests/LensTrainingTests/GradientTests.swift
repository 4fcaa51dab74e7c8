import Foundation
import Testing
import LensMath
import LensModel
import LensSupport
@testable import LensTraining

/// Finite-difference checks of every backward pass: each kernel alone, the contrastive
/// loss, and the whole network (decoder + latent block + three poolings) under both masks.

func randomArray(_ n: Int, _ rng: inout SplitMix64, scale: Double = 1) -> [Float] {
    (0..<n).map { _ in Float(rng.nextGaussian() * scale) }
}

/// Relative error that tolerates tiny gradients.
func close(_ a: Float, _ b: Float, rel: Float = 2e-2, abs: Float = 2e-3) -> Bool {
    Swift.abs(a - b) <= abs + rel * max(Swift.abs(a), Swift.abs(b))
}

/// Checks d(Σ r ⊙ f(x))/dx against central differences for a kernel f.
func checkKernel(_ name: String, inputCount: Int, outputCount: Int, h: Float = 1e-2,
                 forward: ([Float]) -> [Float], backward: ([Float], [Float]) -> [Float]) {
    var rng = SplitMix64(seed: 7)
    let x = randomArray(inputCount, &rng)
    let r = randomArray(outputCount, &rng)
    let analytic = backward(x, r)
    func loss(_ x: [Float]) -> Double { zip(forward(x), r).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
    var bad = 0
    for i in 0..<inputCount {
        var xp = x, xm = x
        xp[i] += h
        xm[i] -= h
        let fd = Float((loss(xp) - loss(xm)) / Double(2 * h))
        if !close(analytic[i], fd) { bad += 1; if bad < 4 { print("\(name)[\(i)]: analytic \(analytic[i]) fd \(fd)") } }
    }
    #expect(bad == 0, "\(name): \(bad) of \(inputCount) gradients differ from finite differences")
}

@Test func rmsNormBackwardMatchesFiniteDifferences() {
    let rows = 3, d = 8
    var rng = SplitMix64(seed: 1)
    let w = randomArray(d, &rng)
    checkKernel("rmsnorm", inputCount: rows * d, outputCount: rows * d, h: 1e-3, forward: { x in
        var out = [Float](repeating: 0, count: rows * d)
        Kernels.rmsNorm(x, weight: w, into: &out, rows: rows, width: d, eps: 1e-5)
        return out
    }, backward: { x, r in
        var dx = [Float](repeating: 0, count: rows * d), dw = [Float](repeating: 0, count: d)
        Kernels.rmsNormBackward(x, weight: w, dy: r, dx: &dx, dWeight: &dw, rows: rows, width: d, eps: 1e-5)
        return dx
    })
}

@Test func layerNormBackwardMatchesFiniteDifferences() {
    let rows = 3, d = 8
    var rng = SplitMix64(seed: 2)
    let w = randomArray(d, &rng), b = randomArray(d, &rng)
    checkKernel("layernorm", inputCount: rows * d, outputCount: rows * d, h: 1e-3, forward: { x in
        var out = [Float](repeating: 0, count: rows * d)
        Kernels.layerNorm(x, weight: w, bias: b, into: &out, rows: rows, width: d, eps: 1e-5)
        return out
    }, backward: { x, r in
        var dx = [Float](repeating: 0, count: rows * d), dw = [Float](repeating: 0, count: d), db = [Float](repeating: 0, count: d)
        Kernels.layerNormBackward(x, weight: w, dy: r, dx: &dx, dWeight: &dw, dBias: &db, rows: rows, width: d, eps: 1e-5)
        return dx
    })
}

@Test func softmaxBackwardMatchesFiniteDifferences() {
    let rows = 3, n = 7
    checkKernel("softmax", inputCount: rows * n, outputCount: rows * n, h: 1e-3, forward: { x in
        var y = x
        Kernels.softmaxRows(&y, rows: rows, width: n, stride: n, scale: 0.7)
        return y
    }, backward: { x, r in
        var y = x
        Kernels.softmaxRows(&y, rows: rows, width: n, stride: n, scale: 0.7)
        var g = r
        Kernels.softmaxBackward(y, dp: &g, rows: rows, width: n, stride: n, scale: 0.7)
        return g
    })
}

@Test func swigluBackwardMatchesFiniteDifferences() {
    let n = 12
    checkKernel("swiglu", inputCount: 2 * n, outputCount: n, h: 1e-3, forward: { x in
        var out = [Float](repeating: 0, count: n)
        Kernels.siluMul(gate: Array(x[0..<n]), up: Array(x[n...]), into: &out, count: n)
        return out
    }, backward: { x, r in
        var dg = [Float](repeating: 0, count: n), du = [Float](repeating: 0, count: n)
        Kernels.siluMulBackward(gate: Array(x[0..<n]), up: Array(x[n...]), dh: r, dGate: &dg, dUp: &du, count: n)
        return dg + du
    })
}

@Test func gegluBackwardMatchesFiniteDifferences() {
    let rows = 2, half = 6
    checkKernel("geglu", inputCount: rows * 2 * half, outputCount: rows * half, h: 1e-3, forward: { x in
        var out = [Float](repeating: 0, count: rows * half)
        Kernels.geglu(x, into: &out, rows: rows, half: half)
        return out
    }, backward: { x, r in
        var du = [Float](repeating: 0, count: rows * 2 * half)
        Kernels.gegluBackward(x, dOut: r, into: &du, rows: rows, half: half)
        return du
    })
}

@Test func contrastiveLossGradientMatchesFiniteDifferences() {
    var rng = SplitMix64(seed: 3)
    let B = 3, C = 5, d = 4
    let q = randomArray(B * d, &rng, scale: 0.5), c = randomArray(C * d, &rng, scale: 0.5)
    let positive = [0, 1, 2]
    let allowed = [[0, 1, 2, 3], [0, 1, 2, 4], [2, 3, 4]]
    let teacher: [[Float]?] = [[0.9, 0.1, 0.2, 0.5], nil, [0.8, 0.3, 0.1]]
    let loss = ContrastiveLoss(temperature: 0.5, teacherTemperature: 0.1, distillWeight: 0.3)
    let (_, _, dQ, dC) = loss.compute(queries: q, candidates: c, width: d, positive: positive, allowed: allowed, teacherScores: teacher)
    let h: Float = 1e-3
    var bad = 0
    for i in 0..<(B * d) {
        var qp = q, qm = q
        qp[i] += h; qm[i] -= h
        let fd = (loss.compute(queries: qp, candidates: c, width: d, positive: positive, allowed: allowed, teacherScores: teacher).loss
                  - loss.compute(queries: qm, candidates: c, width: d, positive: positive, allowed: allowed, teacherScores: teacher).loss) / (2 * h)
        if !close(dQ[i], fd) { bad += 1 }
    }
    for i in 0..<(C * d) {
        var cp = c, cm = c
        cp[i] += h; cm[i] -= h
        let fd = (loss.compute(queries: q, candidates: cp, width: d, positive: positive, allowed: allowed, teacherScores: teacher).loss
                  - loss.compute(queries: q, candidates: cm, width: d, positive: positive, allowed: allowed, teacherScores: teacher).loss) / (2 * h)
        if !close(dC[i], fd) { bad += 1 }
    }
    #expect(bad == 0)
}

/// A tiny config with every structural feature: GQA, latent per-head width ≠ d/H.
func tinyConfig() -> ModelConfig {
    ModelConfig(family: .nvembed,
                decoder: DecoderConfig(vocabSize: 50, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2,
                                       numAttentionHeads: 4, numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 100),
                latent: LatentAttentionConfig(numLatents: 6, numCrossHeads: 2, latentDim: 16, hiddenDim: 16, crossDimHead: 12),
                name: "tiny-train")
}

/// L(θ) = Σ_pooling Σ_s ⟨r_{p,s}, e_{p,s}⟩ over a mixed-length batch with an instruction prefix.
struct NetworkLoss {
    let net: TrainableNetwork
    let batch: PackedBatch
    let poolStart: [Int]
    let mask: AttentionMask
    let r: [Pooling: [Float]]
    let cache = ActivationCache()

    func value() -> Double {
        let out = net.forward(batch, mask: mask, cache: cache)
        var total = 0.0
        for p in Pooling.allCases {
            let states = p == .latent ? out.latent! : out.hidden
            let e = TrainingPooling.forward(states, batch: batch, poolStart: poolStart, pooling: p, width: net.config.decoder.hiddenSize)
            total += zip(e.embeddings, r[p]!).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        return total
    }

    func gradients() {
        net.params.zeroGrad()
        let out = net.forward(batch, mask: mask, cache: cache)
        let d = net.config.decoder.hiddenSize, T = batch.totalTokens
        let dHidden = UnsafeMutablePointer<Float>.allocate(capacity: T * d), dLatent = UnsafeMutablePointer<Float>.allocate(capacity: T * d)
        defer { dHidden.deallocate(); dLatent.deallocate() }
        dHidden.initialize(repeating: 0, count: T * d)
        dLatent.initialize(repeating: 0, count: T * d)
        for p in Pooling.allCases {
            let states = p == .latent ? out.latent! : out.hidden
            let e = TrainingPooling.forward(states, batch: batch, poolStart: poolStart, pooling: p, width: d)
            TrainingPooling.backward(e, dE: r[p]!, batch: batch, poolStart: poolStart, into: p == .latent ? dLatent : dHidden)
        }
        net.backward(cache: cache, dHidden: dHidden, dLatent: dLatent)
    }
}

@Test(arguments: AttentionMask.allCases)
func networkGradientsMatchFiniteDifferences(_ mask: AttentionMask) {
    let params = ParameterSet(config: tinyConfig())
    params.initialize(seed: 11)
    var rng = SplitMix64(seed: 5)
    // Perturb norms and biases so their gradients are exercised away from init values.
    for p in params.all where p.shape.count == 1 { for i in 0..<p.count { p.value[i] += Float(rng.nextGaussian() * 0.1) } }
    let net = TrainableNetwork(params: params)
    let batch = PackedBatch([[1, 5, 9, 13, 2], [1, 7, 2], [1, 3, 4, 40, 41, 42, 2]])
    var r: [Pooling: [Float]] = [:]
    for p in Pooling.allCases { r[p] = randomArray(3 * 16, &rng) }
    let L = NetworkLoss(net: net, batch: batch, poolStart: [2, 0, 3], mask: mask, r: r)
    L.gradients()
    let grads = Dictionary(uniqueKeysWithValues: params.all.map { ($0.name, $0.grad.array) })
    var checked = 0, bad = 0
    let h: Float = 1e-2
    for p in params.all {
        // Up to 6 coordinates per tensor (rows of the embedding table that the batch uses).
        let candidates: [Int] = p.name == "embed_tokens.weight" ? [5 * 16, 5 * 16 + 3, 40 * 16 + 7, 2 * 16 + 1] :
            (0..<6).map { _ in Int(rng.next() % UInt64(p.count)) }
        for i in candidates {
            let old = p.value[i]
            p.value[i] = old + h
            let lp = L.value()
            p.value[i] = old - h
            let lm = L.value()
            p.value[i] = old
            let fd = Float((lp - lm) / Double(2 * h))
            checked += 1
            if !close(grads[p.name]![i], fd, rel: 3e-2, abs: 3e-3) {
                bad += 1
                print("\(mask) \(p.name)[\(i)]: analytic \(grads[p.name]![i]) vs finite difference \(fd)")
            }
        }
    }
    #expect(checked > 100)
    #expect(bad == 0, "\(bad) of \(checked) parameter gradients differ from finite differences")
}

@Test func trainingForwardEqualsInferenceEngine() throws {
    let params = ParameterSet(config: tinyConfig())
    params.initialize(seed: 3)
    let net = TrainableNetwork(params: params)
    let seqs: [[Int32]] = [[1, 5, 9, 2], [1, 7, 8, 9, 10, 11, 2]]
    let batch = PackedBatch(seqs)
    let cache = ActivationCache()
    let out = net.forward(batch, mask: .causal, cache: cache)
    let inference = EmbeddingNetwork(weights: try params.modelWeights())
    let ws = Workspace()
    let ref = inference.forward(batch, mask: .causal, workspace: ws)
    let T = batch.totalTokens, d = 16
    var worst: Float = 0
    for i in 0..<(T * d) {
        worst = max(worst, abs(out.hidden[i] - ref.hidden[i]), abs(out.latent![i] - ref.latentHidden![i]))
    }
    #expect(worst < 1e-5)
}
