import Foundation
import LensMath

/// AdamW (decoupled weight decay, bias-corrected moments) with global-norm clipping.
public struct AdamW {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public var clip: Float

    public init(beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, clip: Float) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.clip = clip
    }

    /// One update at learning rate `lr` (step counts from 1). Returns the gradient norm before clipping.
    @discardableResult
    public func step(_ params: ParameterSet, lr: Float, step t: Int) -> Float {
        let norm = params.gradNorm()
        let scale: Float = (clip > 0 && norm > clip) ? clip / norm : 1
        let bc1 = 1 - pow(beta1, Float(t)), bc2 = 1 - pow(beta2, Float(t))
        for p in params.all {
            let w = p.value.pointer, g = p.grad.pointer, m = p.m.pointer, v = p.v.pointer
            let decay = p.decays ? lr * weightDecay : 0
            for i in 0..<p.count {
                let gi = g[i] * scale
                m[i] = beta1 * m[i] + (1 - beta1) * gi
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                let mh = m[i] / bc1, vh = v[i] / bc2
                w[i] -= lr * mh / (vh.squareRoot() + epsilon) + decay * w[i]
            }
        }
        return norm
    }
}

/// Linear warm-up, then cosine decay to 10% of the peak over the stage.
public func learningRate(peak: Double, step: Int, warmup: Int, total: Int) -> Float {
    if step < warmup { return Float(peak * Double(step + 1) / Double(max(warmup, 1))) }
    let progress = Double(step - warmup) / Double(max(total - warmup, 1))
    return Float(peak * (0.1 + 0.9 * 0.5 * (1 + cos(.pi * min(progress, 1)))))
}

/// The time left in a run, from the recent pace: an exponential moving average of seconds per
/// step (half-life ~35 steps), so the estimate follows a change of pace — a stage with more
/// negatives per query, a resume on a faster kernel family — where the run's overall average
/// (which also holds earlier invocations' steps) would lag behind it for hours.
/// The first step of an invocation pays one-time costs (empty token caches, threads starting:
/// measured 5× a normal step on a resumed run), so it gives the first estimate but the average
/// starts again from the second; seeded with it, the ETA read 2 h for a 50-minute cycle.
public struct StepTimeEstimate: Sendable {
    public private(set) var secondsPerStep: Double?
    let smoothing: Double
    private var steps = 0
    public init(smoothing: Double = 0.02) { self.smoothing = smoothing }
    public mutating func add(stepSeconds: Double) {
        guard stepSeconds.isFinite, stepSeconds >= 0 else { return }
        steps += 1
        if steps == 2 { secondsPerStep = stepSeconds; return }
        secondsPerStep = secondsPerStep.map { $0 + smoothing * (stepSeconds - $0) } ?? stepSeconds
    }
    /// Seconds for `remainingSteps` more steps at the recent pace (nil before the first step).
    public func eta(remainingSteps: Int) -> Double? { secondsPerStep.map { $0 * Double(max(remainingSteps, 0)) } }
}
