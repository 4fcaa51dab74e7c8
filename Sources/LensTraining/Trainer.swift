import Foundation
import LensMath
import LensModel
import LensRetrieval
import LensSupport
import LensTokenizer

/// Where a run stands; saved with every checkpoint so a run resumes exactly.
public struct TrainState: Codable, Sendable {
    public var stage = 0
    public var step = 0          // within the stage
    public var globalStep = 0
    public var tokensSeen = 0
    public var elapsedSeconds = 0.0
    public var recipeHash = ""
    /// "STAGE from DIR" when the run began at a later stage from an earlier export (`start(atStage:from:)`).
    public var startedFrom: String?
    /// Steps whose large products ran in bfloat16 (`train --matmul bf16`); nil when none.
    public var bf16Steps: Int?
}

/// One training step's numbers.
public struct StepReport: Sendable {
    public var loss: [Pooling: Float] = [:]
    public var accuracy: [Pooling: Float] = [:]
    public var gradNorm: Float = 0
    public var tokens = 0
    public var seconds = 0.0
    public var learningRate: Float = 0
}

/// Runs a recipe: the NV-Embed two-stage contrastive recipe at small scale
/// (docs/TRAINING.md). Deterministic for a seed: the batch of step k of stage s is drawn
/// from an RNG seeded by (seed, s, k), so a resumed run sees the same batches.
public final class Trainer: @unchecked Sendable {
    public let recipe: Recipe
    public let output: String
    public let config: ModelConfig
    public let params: ParameterSet
    let net: TrainableNetwork
    let cache = ActivationCache()
    let data: TrainingData
    let tokenizer: SentencePieceTokenizer
    let tokenizerPath: String
    let optimizer: AdamW
    public private(set) var state = TrainState()
    /// dtype of the exported model.safetensors.
    public var exportType: DType = .f32
    /// Precision of the large products in the network's forward and backward passes
    /// (`train --matmul`). The losses, evaluation and export stay float32.
    public var matmulPrecision: MatmulPrecision = .fp32
    private let log: (String) -> Void
    private var evalSets: [BEIRDataset] = []

    /// - Parameters:
    ///   - root: folder that relative recipe paths resolve against (the repository).
    public init(recipe: Recipe, root: String, output: String, tokenizerPath: String, log: @escaping (String) -> Void) throws {
        try recipe.validate()
        self.recipe = recipe
        self.output = output
        self.log = log
        self.tokenizerPath = tokenizerPath
        config = recipe.config
        try config.validate(file: "recipe")
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : root + "/" + p }
        do { tokenizer = try SentencePieceTokenizer(path: tokenizerPath) } catch { throw TrainingError.io("\(error)") }
        guard tokenizer.vocabularySize <= config.decoder.vocabSize else {
            throw TrainingError.badRecipe("vocab_size \(config.decoder.vocabSize) < tokenizer's \(tokenizer.vocabularySize)")
        }
        data = try TrainingData(folder: resolve(recipe.data), teacher: recipe.teacher.map(resolve),
                                lexicalTeacher: recipe.stages.contains { (recipe.teacher != nil && recipe.lexicalTeacherWeight(in: $0) > 0) || $0.lexicalNegatives > 0 || $0.cropQueries > 0 },
                                tokenizer: tokenizer, log: log)
        let taskNames = data.pairsByTask.keys.sorted()
        for s in recipe.stages {
            if let unknown = s.wordDropoutTasks?.first(where: { !taskNames.contains($0) }) {
                throw TrainingError.badRecipe("stage \(s.name): word_dropout_tasks names \(unknown), not a retrieval task of the data (tasks: \(taskNames.joined(separator: ", ")))")
            }
        }
        params = ParameterSet(config: config)
        net = TrainableNetwork(params: params)
        optimizer = AdamW(beta1: recipe.beta1, beta2: recipe.beta2, epsilon: recipe.epsilon, weightDecay: recipe.weightDecay, clip: recipe.gradClip)
        for name in recipe.evalSets {
            let folder = resolve(recipe.data) + "/eval/" + name
            if var ds = try? BEIRDataset.load(folder: folder) {
                ds = ds.subsample(maxQueries: recipe.evalMaxQueries, maxDocuments: recipe.evalMaxDocuments, seed: recipe.seed)
                ds.name = name
                evalSets.append(ds)
            } else {
                log("eval: skipping \(name) (not found under \(resolve(recipe.data))/eval)")
            }
        }
        state.recipeHash = recipeHash()
        if try !resume() {
            params.initialize(seed: recipe.seed)
            if recipe.initEmbeddingsFromTeacher, let t = recipe.teacher {
                let path = resolve(t) + "/pieces.npy"
                if FileManager.default.fileExists(atPath: path) {
                    try initializeEmbeddings(fromTeacherPieces: path)
                    log("init: token embeddings from a PCA of \(path)")
                } else {
                    log("init: \(path) not found; random token embeddings")
                }
            }
        }
    }

    private func recipeHash() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        let d = (try? enc.encode(recipe)) ?? Data()
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in d { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    // MARK: - embedding initialisation

    /// Token embeddings = the teacher's piece vectors projected on their top principal
    /// components (block power iteration on the covariance), scaled to unit RMS per
    /// coordinate. Pieces the teacher could not embed keep their random init.
    func initializeEmbeddings(fromTeacherPieces path: String) throws {
        let (values, shape) = try NPY.read(path: path)
        guard shape.count == 2 else { throw TrainingError.badData("\(path): expected a 2-D array") }
        let n = min(shape[0], config.decoder.vocabSize), t = shape[1], d = config.decoder.hiddenSize
        guard d <= t else { log("init: hidden size \(d) > teacher width \(t); random token embeddings"); return }
        let X = values.pointer
        var mean = [Float](repeating: 0, count: t)
        var rows = 0
        for i in 0..<n where Kernels.norm(X + i * t, count: t) > 0 { Kernels.add(&mean, X + i * t, count: t); rows += 1 }
        for j in 0..<t { mean[j] /= Float(max(rows, 1)) }
        let centered = FloatBuffer(count: n * t)
        for i in 0..<n {
            let src = X + i * t, dst = centered.pointer + i * t
            if Kernels.norm(src, count: t) == 0 { continue }
            for j in 0..<t { dst[j] = src[j] - mean[j] }
        }
        let cov = FloatBuffer(count: t * t)
        gemm(transA: true, m: t, n: t, k: n, alpha: 1 / Float(max(rows, 1)), a: centered.pointer, lda: t, b: centered.pointer, ldb: t, c: cov.pointer, ldc: t)
        // Block power iteration for the top-d eigenvectors (columns of V [t, d]).
        var rng = SplitMix64(seed: 99)
        let V = FloatBuffer(count: t * d), W = FloatBuffer(count: t * d)
        for i in 0..<(t * d) { V[i] = Float(rng.nextGaussian()) }
        for _ in 0..<60 {
            gemm(m: t, n: d, k: t, a: cov.pointer, lda: t, b: V.pointer, ldb: d, c: W.pointer, ldc: d)
            orthonormalizeColumns(W.pointer, rows: t, cols: d)
            V.pointer.update(from: W.pointer, count: t * d)
        }
        let E = params["embed_tokens.weight"].pointer
        let proj = FloatBuffer(count: n * d)
        gemm(m: n, n: d, k: t, a: centered.pointer, lda: t, b: V.pointer, ldb: d, c: proj.pointer, ldc: d)
        var ss = 0.0
        for i in 0..<(n * d) { ss += Double(proj[i] * proj[i]) }
        let rms = Float((ss / Double(rows * d)).squareRoot())
        for i in 0..<n where Kernels.norm(X + i * t, count: t) > 0 {
            for j in 0..<d { E[i * d + j] = proj[i * d + j] / max(rms, 1e-6) }
        }
    }

    // MARK: - the run

    /// Trains every remaining step, checkpointing and evaluating on the way, then exports
    /// the model to `output`. `progress` gets each step's report.
    /// `shouldStop` is polled after every step: when it returns true the run checkpoints and
    /// returns early (Ctrl-C), to be resumed by running the same command again.
    /// Returns true when every stage finished (and the model was exported).
    @discardableResult
    public func run(shouldStop: () -> Bool = { false }, progress: (TrainState, StepReport, Recipe.Stage) -> Void) throws -> Bool {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let csvPath = output + "/train.csv"
        if !FileManager.default.fileExists(atPath: csvPath) {
            try "global_step,stage,step,lr,loss_latent,loss_mean,loss_eos,acc_latent,acc_mean,acc_eos,grad_norm,tokens,tokens_per_s,elapsed_s\n"
                .write(toFile: csvPath, atomically: true, encoding: .utf8)
        }
        let csv = FileHandle(forWritingAtPath: csvPath)!
        csv.seekToEndOfFile()
        defer { csv.closeFile() }
        while state.stage < recipe.stages.count {
            let stage = recipe.stages[state.stage]
            if stage.resetOptimizer && state.step == 0 { params.zeroMoments() }
            if stage.roundWeightsToF16 && state.step == 0 { params.roundToF16() }
            if state.step == 0 && recipe.stages[state.stage...].contains(where: { $0.averageWithStartOf == stage.name }) {
                try saveWeights(to: startFolder(stage.name))
            }
            if stage.lexicalNegatives > 0 && data.lexicalCandidates == nil { data.mineLexicalCandidates(top: recipe.mineTop, log: log) }
            if stage.selfNegatives > 0 { try mineSelfCandidates(stage: stage) }
            while state.step < stage.steps {
                let report = trainStep(stage: stage, stageIndex: state.stage, step: state.step)
                state.step += 1
                state.globalStep += 1
                state.tokensSeen += report.tokens
                state.elapsedSeconds += report.seconds
                if matmulPrecision == .bf16 { state.bf16Steps = (state.bf16Steps ?? 0) + 1 }
                func f(_ p: Pooling, _ m: [Pooling: Float]) -> String { m[p].map { String(format: "%.5f", $0) } ?? "" }
                let line = "\(state.globalStep),\(stage.name),\(state.step),\(report.learningRate),\(f(.latent, report.loss)),\(f(.mean, report.loss)),\(f(.eos, report.loss)),\(f(.latent, report.accuracy)),\(f(.mean, report.accuracy)),\(f(.eos, report.accuracy)),\(report.gradNorm),\(report.tokens),\(Int(Double(report.tokens) / report.seconds)),\(String(format: "%.1f", state.elapsedSeconds))\n"
                csv.write(Data(line.utf8))
                progress(state, report, stage)
                if state.globalStep % recipe.checkpointEvery == 0 { try saveCheckpoint() }
                // (The last step of a stage is evaluated below, once.)
                if recipe.evalEvery > 0 && state.globalStep % recipe.evalEvery == 0 && state.step < stage.steps { try evaluateDev() }
                if shouldStop() {
                    try saveCheckpoint()
                    log("stopped at step \(state.globalStep); checkpoint saved, run the same command to resume")
                    return false
                }
            }
            // Before the checkpoint that ends the stage: a run stopped or killed here resumes
            // with the stage's own last weights and averages them once.
            if let a = stage.averageWithStartOf { try averageWeights(withStartOf: a) }
            state.stage += 1
            state.step = 0
            try saveCheckpoint()
            try evaluateDev()
            // Every stage but the last also leaves its own model folder, so each stage's model
            // can be evaluated and compared (e.g. what stage 2 costs retrieval).
            if state.stage < recipe.stages.count { try export(to: output + "/after-" + stage.name) }
        }
        try export()
        return true
    }

    /// Builds the batch of (stage, step), runs forward, losses and backward, and updates.
    public func trainStep(stage: Recipe.Stage, stageIndex: Int, step: Int) -> StepReport {
        let t0 = monotonicSeconds()
        var rng = SplitMix64(seed: recipe.seed &* 0x9E37_79B9 &+ UInt64(stageIndex) &* 1_000_003 &+ UInt64(step))
        let b = buildBatch(stage: stage, rng: &rng)
        var report = StepReport()
        report.learningRate = learningRate(peak: stage.learningRate, step: step, warmup: stage.warmupSteps, total: stage.steps)
        params.zeroGrad()
        let out = BF16Matmul.with(matmulPrecision) { net.forward(b.packed, mask: recipe.mask, cache: cache) }
        let d = config.decoder.hiddenSize, T = b.packed.totalTokens, B = b.queryCount
        let dHidden = FloatBuffer(count: T * d), dLatent = FloatBuffer(count: T * d)
        let loss = ContrastiveLoss(temperature: recipe.temperature(in: stage), teacherTemperature: recipe.teacherTemperature, distillWeight: recipe.distillWeight(in: stage))
        for p in recipe.poolings {
            let states = p == .latent ? out.latent! : out.hidden
            let pooled = TrainingPooling.forward(states, batch: b.packed, poolStart: b.poolStart, pooling: p, width: d)
            let q = Array(pooled.embeddings[0..<(B * d)]), c = Array(pooled.embeddings[(B * d)...])
            let r = loss.compute(queries: q, candidates: c, width: d, positive: b.positive, allowed: b.allowed, teacherScores: b.teacher)
            report.loss[p] = r.loss
            report.accuracy[p] = r.accuracy
            var dE = r.dQ + r.dC
            let w = recipe.weight(of: p)
            if w != 1 { for i in dE.indices { dE[i] *= w } }
            TrainingPooling.backward(pooled, dE: dE, batch: b.packed, poolStart: b.poolStart,
                                     into: p == .latent ? dLatent.pointer : dHidden.pointer)
        }
        BF16Matmul.with(matmulPrecision) {
            net.backward(cache: cache, dHidden: dHidden.pointer, dLatent: config.latent != nil ? dLatent.pointer : nil)
        }
        report.gradNorm = optimizer.step(params, lr: report.learningRate, step: adamStep(stageIndex: stageIndex, step: step))
        report.tokens = T
        report.seconds = monotonicSeconds() - t0
        return report
    }

    /// AdamW's step count (from 1) for bias correction: steps since the run began, or since
    /// the start of the latest stage at or before this one that resets the optimizer.
    func adamStep(stageIndex: Int, step: Int) -> Int {
        let since = recipe.stages[...stageIndex].lastIndex { $0.resetOptimizer } ?? 0
        return recipe.stages[since..<stageIndex].reduce(0) { $0 + $1.steps } + step + 1
    }

    /// Starts a fresh run at stage `name` from the model the stages before it exported
    /// (`DIR/after-<previous stage>/`, f32), instead of training those stages again. Only a
    /// stage with `reset_optimizer` can be started this way: it needs nothing from the
    /// earlier stages but their weights, so the run continues exactly as an uninterrupted one
    /// would (tested). Steps, tokens and seconds carry over from the export's
    /// training_summary.json. When `output` already holds this run's checkpoint, that is resumed instead.
    public func start(atStage name: String, from folder: String) throws {
        if state.globalStep > 0 {   // resumed from this run's own checkpoint: it already holds all of this
            log("\(output) has a checkpoint of this run (step \(state.globalStep)); resuming it, --start-stage not needed")
            return
        }
        let k = try recipe.startableStage(name)
        let model: EmbeddingModel
        do { model = try EmbeddingModel(folder: folder) } catch { throw TrainingError.io("\(folder): \(error)") }
        guard model.config.decoder == config.decoder, model.config.latent == config.latent else {
            throw TrainingError.badCheckpoint("\(folder): its config is not this recipe's model")
        }
        let source = model.network.weights.embedTokens.sourceType
        if source != .f32 && !(source == .f16 && recipe.stages[k].roundWeightsToF16) {
            log("warning: \(folder) holds \(source) weights; the run will not match an uninterrupted one bit for bit")
        }
        try params.load(from: model.network.weights)
        params.zeroMoments()
        struct Summary: Decodable { var steps: Int; var tokens_seen: Int; var train_seconds: Double }
        guard let d = FileManager.default.contents(atPath: folder + "/training_summary.json"),
              let summary = try? JSONDecoder().decode(Summary.self, from: d) else {
            throw TrainingError.badCheckpoint("\(folder)/training_summary.json is missing or unreadable")
        }
        let before = recipe.stages[..<k].reduce(0) { $0 + $1.steps }
        guard summary.steps == before else {
            throw TrainingError.badCheckpoint("\(folder) was exported after \(summary.steps) steps; the stages before \(name) take \(before)")
        }
        state.stage = k
        state.step = 0
        state.globalStep = before
        state.tokensSeen = summary.tokens_seen
        state.elapsedSeconds = summary.train_seconds
        state.startedFrom = "\(name) from \(folder)"
        log("starting at stage \(name) (step \(before)) from \(folder)")
    }

    // MARK: - batches

    struct Batch {
        var packed = PackedBatch()
        var poolStart: [Int] = []
        var queryCount = 0
        var positive: [Int] = []
        var allowed: [[Int]] = []
        var teacher: [[Float]?] = []
    }

    private func taskWeights(_ stage: Recipe.Stage) -> [(String, Double)] {
        let tasks = data.pairsByTask.keys.sorted()
        return tasks.compactMap { t in
            let w = stage.tasks?[t] ?? Double(data.pairsByTask[t]!.count).squareRoot()
            return w > 0 ? (t, w) : nil
        }
    }

    private func pick<T>(_ items: [(T, Double)], _ rng: inout SplitMix64) -> T {
        let total = items.reduce(0) { $0 + $1.1 }
        var r = rng.nextUnit() * total
        for (x, w) in items { r -= w; if r <= 0 { return x } }
        return items.last!.0
    }

    /// `text` with each whitespace-separated word deleted with probability `rate` (at least one
    /// word kept: a random one when every draw deletes), joined by single spaces.
    func dropWords(_ text: String, rate: Double, rng: inout SplitMix64) -> String {
        let words = text.split(whereSeparator: \.isWhitespace)
        guard !words.isEmpty else { return text }
        var kept = words.filter { _ in rng.nextUnit() >= rate }
        if kept.isEmpty { kept = [words[Int(rng.next() % UInt64(words.count))]] }
        return kept.joined(separator: " ")
    }

    func buildBatch(stage: Recipe.Stage, rng: inout SplitMix64) -> Batch {
        let B = stage.batchSize
        let nRetrieval = Int((Double(B) * stage.retrievalFraction).rounded())
        let weights = taskWeights(stage)
        // Stage 1 (in-batch negatives on): one task per batch, so in-batch passages are
        // comparable. Mixed stages: each item picks its own task.
        let batchTask = pick(weights, &rng)
        struct Item {
            var query: [Int32]; var poolStart: Int; var pos: String; var negs: [String]; var pair: Int?
            /// A cropped query's false negatives (nil otherwise); such a query has no teacher target.
            var excluded: ((Int) -> Bool)? = nil
        }
        var items: [Item] = []
        var candTokens: [String: (ids: [Int32], poolStart: Int, doc: Int?)] = [:]
        var candOrder: [String] = []
        func addCandidate(_ key: String, _ make: () -> (ids: [Int32], poolStart: Int, doc: Int?)) {
            if candTokens[key] == nil { candTokens[key] = make(); candOrder.append(key) }
        }
        for _ in 0..<nRetrieval {
            let task = stage.inBatchNegatives ? batchTask : pick(weights, &rng)
            let list = data.pairsByTask[task]!
            let pi = list[Int(rng.next() % UInt64(list.count))]
            let pair = data.pairs[pi]
            // A cropped query: 4–12 consecutive words of the positive, under the crop instruction
            // (the RNG is drawn from only when the stage crops, so other stages' batches are unchanged).
            var crop: String? = nil
            if stage.cropQueries > 0, rng.nextUnit() < stage.cropQueries {
                let words = data.docs[pair.doc].split(whereSeparator: \.isWhitespace)
                let length = min(4 + Int(rng.next() % 9), words.count)
                var first = 0, last = words.count - length   // the window's possible starts
                if stage.cropRare, let anchor = data.rarestWord(words) {
                    first = max(0, anchor - length + 1)
                    last = min(anchor, last)
                }
                let start = first + Int(rng.next() % UInt64(last - first + 1))
                if length > 0 { crop = words[start..<(start + length)].joined(separator: " ") }
            }
            // A question-form rewrite and a varied instruction (drawn only when the stage asks for
            // them, so other stages' batches are unchanged); a cropped query keeps its own form.
            var queryText = crop ?? pair.query
            var taskInstruction = crop == nil ? trainingInstructions[pair.task] ?? "" : cropInstruction
            if crop == nil {
                if stage.questionQueries > 0, rng.nextUnit() < stage.questionQueries,
                   let forms = questionTemplates[pair.task], !forms.isEmpty {
                    queryText = forms[Int(rng.next() % UInt64(forms.count))].replacingOccurrences(of: "{}", with: pair.query)
                }
                if stage.variedInstructions > 0, rng.nextUnit() < stage.variedInstructions {
                    taskInstruction = variedInstructions[Int(rng.next() % UInt64(variedInstructions.count))]
                }
                if stage.bareQueries > 0, rng.nextUnit() < stage.bareQueries { taskInstruction = "" }
            }
            let instruction = queryInstruction(task: taskInstruction)
            let q = data.tokens(instruction + queryText, maxLength: recipe.maxQueryLength)
            let pool = min(data.instructionLength(instruction), q.count - 1)
            // A cropped query's false negatives: passages holding the excerpt, or that BM25 scores
            // within the positive-aware margin of the positive for it.
            var cropExcluded: (Int) -> Bool = { _ in false }
            if let crop {
                let positive = data.docs[pair.doc], margin = Double(recipe.positiveAwareMargin)
                let docs = data.docs, lexical = data.lexical, prepared = data.lexical?.prepare(crop)
                let posBM25 = prepared.flatMap { q in q.isEmpty ? nil : lexical?.score(q, document: pair.doc) } ?? 0
                cropExcluded = { c in
                    if c == pair.doc || docs[c] == positive || docs[c].contains(crop) { return true }
                    guard posBM25 > 0, let lexical, let prepared else { return false }
                    return lexical.score(prepared, document: c) >= margin * posBM25
                }
            }
            var negDocs: [Int] = []
            if stage.hardNegatives > 0 {
                // With `blended_positive_aware`, the rule compares the blended teacher's scores
                // (cosine + w · BM25 / the best BM25 among the positive and these candidates),
                // the scores the soft targets use; otherwise the embedding teacher's cosines.
                let lexList = stage.lexicalNegatives > 0 ? data.lexicalCandidates?[pi].map(Int.init) : nil
                let selfList = stage.selfNegatives > 0 ? data.selfCandidates?[pi].map(Int.init) : nil
                let blended = stage.blendedPositiveAware ? blendedFilterScores(pair: pi, lexical: (lexList ?? []) + (selfList ?? []), stage: stage) : nil
                var pool2: [Int] = []
                if let cand = data.candidates?[pi] {
                    let posScore = blended?[pair.doc] ?? cand.posScore
                    for (c, s) in zip(cand.docs, cand.scores) where (blended?[Int(c)] ?? s) < recipe.positiveAwareMargin * posScore && !cropExcluded(Int(c)) {
                        pool2.append(Int(c))
                        if pool2.count >= recipe.mineTop { break }
                    }
                }
                // Family negatives first: other passages of the query's own entity family.
                if stage.familyNegatives > 0, pair.family >= 0 {
                    let positive = data.docs[pair.doc]
                    var family = data.familyDocs[pair.family].filter { $0 != pair.doc && data.docs[$0] != positive && !cropExcluded($0) }
                    while negDocs.count < stage.familyNegatives && !family.isEmpty {
                        let c = family.remove(at: Int(rng.next() % UInt64(family.count)))
                        negDocs.append(c)
                        pool2.removeAll { $0 == c }
                    }
                }
                // Lexical negatives next: BM25's top passages the teacher does not rate near the
                // positive (the same positive-aware rule; without a teacher, no filter).
                if let lex = lexList {
                    let posScore = blended?[pair.doc] ?? data.candidates?[pi].posScore
                    var lexPool = lex.filter { c in
                        guard let p = posScore, let s = blended?[c] ?? data.teacherScore(pair: pi, doc: c) else { return true }
                        return s < recipe.positiveAwareMargin * p
                    }
                    lexPool.removeAll { negDocs.contains($0) || cropExcluded($0) }
                    let lexicalTarget = negDocs.count + stage.lexicalNegatives
                    while negDocs.count < lexicalTarget && !lexPool.isEmpty {
                        let c = lexPool.remove(at: Int(rng.next() % UInt64(lexPool.count)))
                        negDocs.append(c)
                        pool2.removeAll { $0 == c }
                    }
                }
                // The model's own confusions next (self_negatives), under the same rule; a
                // passage with the positive's very text is never a negative.
                if let own = selfList {
                    let posScore = blended?[pair.doc] ?? data.candidates?[pi].posScore
                    let positive = data.docs[pair.doc]
                    var ownPool = own.filter { c in
                        if data.docs[c] == positive || negDocs.contains(c) || cropExcluded(c) { return false }
                        guard let p = posScore, let s = blended?[c] ?? data.teacherScore(pair: pi, doc: c) else { return true }
                        return s < recipe.positiveAwareMargin * p
                    }
                    let selfTarget = negDocs.count + stage.selfNegatives
                    while negDocs.count < selfTarget && !ownPool.isEmpty {
                        let c = ownPool.remove(at: Int(rng.next() % UInt64(ownPool.count)))
                        negDocs.append(c)
                        pool2.removeAll { $0 == c }
                    }
                }
                var misses = 0
                while negDocs.count < stage.hardNegatives {
                    if !pool2.isEmpty {
                        negDocs.append(pool2.remove(at: Int(rng.next() % UInt64(pool2.count))))
                    } else {
                        let other = data.pairs[list[Int(rng.next() % UInt64(list.count))]].doc
                        if other != pair.doc && !cropExcluded(other) { negDocs.append(other) } else if crop != nil {
                            misses += 1
                            if misses > 64 { break }   // every passage of the task holds the excerpt
                        }
                    }
                }
            }
            for doc in [pair.doc] + negDocs {
                addCandidate("d\(doc)") {
                    let text = data.docs[doc], maxLength = recipe.maxPassageLength(in: stage)
                    // Word dropout draws from the RNG only when the stage asks for it for this
                    // pair's task, so other stages' and tasks' batches are unchanged.
                    guard stage.wordDropout > 0, stage.wordDropoutTasks?.contains(pair.task) ?? true else {
                        return (data.tokens(text, maxLength: maxLength), 0, doc)
                    }
                    let kept = dropWords(text, rate: stage.wordDropout, rng: &rng)
                    return (data.uncachedTokens(kept, maxLength: maxLength), 0, doc)
                }
            }
            items.append(Item(query: q, poolStart: pool, pos: "d\(pair.doc)", negs: negDocs.map { "d\($0)" }, pair: pi,
                              excluded: crop == nil ? nil : cropExcluded))
        }
        let exampleTasks = data.labelsOf.keys.sorted().map { ($0, Double(data.byLabel[$0]!.values.reduce(0) { $0 + $1.count }).squareRoot()) }
        for _ in nRetrieval..<B where !exampleTasks.isEmpty {
            let task = pick(exampleTasks, &rng)
            let labels = data.labelsOf[task]!
            guard labels.count >= 2 else { continue }
            let label = labels[Int(rng.next() % UInt64(labels.count))]
            let members = data.byLabel[task]![label]!
            let a = members[Int(rng.next() % UInt64(members.count))]
            var p = members[Int(rng.next() % UInt64(members.count))]
            if p == a { p = members[(members.firstIndex(of: a)! + 1) % members.count] }
            let instruction = queryInstruction(task: trainingInstructions[task] ?? "")
            let iLen = data.instructionLength(instruction)
            func tok(_ e: Int) -> [Int32] { data.tokens(instruction + data.examples[e].text, maxLength: recipe.maxPassageLength(in: stage)) }
            var negs: [Int] = []
            while negs.count < max(stage.hardNegatives, 1) {
                let other = labels[Int(rng.next() % UInt64(labels.count))]
                if other == label { continue }
                let m = data.byLabel[task]![other]!
                negs.append(m[Int(rng.next() % UInt64(m.count))])
            }
            for e in [p] + negs { addCandidate("e\(e)") { (tok(e), min(iLen, tok(e).count - 1), nil) } }
            let q = tok(a)
            items.append(Item(query: q, poolStart: min(iLen, q.count - 1), pos: "e\(p)", negs: negs.map { "e\($0)" }, pair: nil))
        }
        var b = Batch()
        for it in items { b.packed.append(it.query); b.poolStart.append(it.poolStart) }
        b.queryCount = items.count
        let candIndex = Dictionary(uniqueKeysWithValues: candOrder.enumerated().map { ($1, $0) })
        for key in candOrder { let c = candTokens[key]!; b.packed.append(c.ids); b.poolStart.append(c.poolStart) }
        for it in items {
            let pos = candIndex[it.pos]!
            b.positive.append(pos)
            var allowed = stage.inBatchNegatives ? Array(0..<candOrder.count) : [pos] + it.negs.map { candIndex[$0]! }
            if let excluded = it.excluded {   // in-batch passages that hold a cropped query's excerpt
                allowed.removeAll { c in c != pos && candTokens[candOrder[c]]!.doc.map(excluded) == true }
            }
            b.allowed.append(allowed)
            if let pi = it.pair, it.excluded == nil, data.teacherQueries != nil {
                var scores: [Float] = []
                var docs: [Int] = []
                for c in allowed {
                    guard let doc = candTokens[candOrder[c]]!.doc, let s = data.teacherScore(pair: pi, doc: doc) else { break }
                    scores.append(s)
                    docs.append(doc)
                }
                // The blended teacher: cosine + w · BM25 / max BM25 over this query's candidates.
                let w = recipe.lexicalTeacherWeight(in: stage)
                if w > 0, docs.count == allowed.count, let lex = data.lexicalScores(pair: pi, docs: docs) {
                    for i in scores.indices { scores[i] += w * lex[i] }
                }
                b.teacher.append(docs.count == allowed.count ? scores : nil)
            } else {
                b.teacher.append(nil)
            }
        }
        return b
    }

    /// The blended teacher's score of pair `pi`'s positive and of every candidate the stage may
    /// mine from (the embedding teacher's and `lexical`), BM25 normalised by the best among them;
    /// nil without a teacher, a BM25 index or a lexical weight.
    func blendedFilterScores(pair pi: Int, lexical: [Int], stage: Recipe.Stage) -> [Int: Float]? {
        let w = recipe.lexicalTeacherWeight(in: stage)
        guard w > 0, let cand = data.candidates?[pi] else { return nil }
        var docs = [data.pairs[pi].doc]
        for c in cand.docs.map(Int.init) + lexical where !docs.contains(c) { docs.append(c) }
        guard let lex = data.lexicalScores(pair: pi, docs: docs) else { return nil }
        var out: [Int: Float] = [:]
        for (k, d) in docs.enumerated() {
            guard let cosine = data.teacherScore(pair: pi, doc: d) else { return nil }
            out[d] = cosine + w * lex[k]
        }
        return out
    }

    // MARK: - evaluation, checkpoints, export

    /// Mines every retrieval pair's `mine_top` nearest passages under the current weights (the
    /// recipe's latent pooling, else its first; queries with their task's instruction, passages
    /// bare, each cut as training cuts them; exact search), the pair's own passage left out. Kept in
    /// `OUT/self-negatives-<stage>.bin`, so a resumed stage reads the lists its start mined.
    func mineSelfCandidates(stage: Recipe.Stage) throws {
        let path = output + "/self-negatives-\(stage.name).bin"
        let n = data.pairs.count, top = recipe.mineTop
        if let saved = try? readCandidateLists(path), saved.count == n {
            data.selfCandidates = saved
            log("self negatives: \(n) lists read from \(path)")
            return
        }
        let t0 = Date()
        let model = try currentModel()
        let pooling: Pooling = recipe.poolings.contains(.latent) ? .latent : recipe.poolings[0]
        let d = config.decoder.hiddenSize
        var options = EmbedOptions(poolings: [pooling], mask: recipe.mask, instruction: "", maxLength: recipe.maxPassageLength(in: stage))
        options.maxBatchTokens = 8192
        func embed(_ texts: [String], into out: FloatBuffer, at start: Int) throws {
            for (i, r) in try model.embed(texts, options: options).enumerated() {
                (out.pointer + (start + i) * d).update(from: r.vectors[pooling]!, count: d)
            }
        }
        let docVectors = FloatBuffer(count: data.docs.count * d)
        let chunk = 2048
        var next = 0.1
        for start in stride(from: 0, to: data.docs.count, by: chunk) {
            try embed(Array(data.docs[start..<min(start + chunk, data.docs.count)]), into: docVectors, at: start)
            let done = Double(min(start + chunk, data.docs.count)) / Double(data.docs.count)
            if done >= next { log(String(format: "self negatives: passages %.0f%% (%.0f s)", done * 100, Date().timeIntervalSince(t0))); next += 0.1 }
        }
        let queryVectors = FloatBuffer(count: n * d)
        options.maxLength = recipe.maxQueryLength
        let byTask = Dictionary(grouping: 0..<n) { data.pairs[$0].task }
        for task in byTask.keys.sorted() {
            options.instruction = queryInstruction(task: trainingInstructions[task] ?? "")
            let ids = byTask[task]!
            for start in stride(from: 0, to: ids.count, by: chunk) {
                let slice = Array(ids[start..<min(start + chunk, ids.count)])
                let tmp = FloatBuffer(count: slice.count * d)
                try embed(slice.map { data.pairs[$0].query }, into: tmp, at: 0)
                for (k, i) in slice.enumerated() { (queryVectors.pointer + i * d).update(from: tmp.pointer + k * d, count: d) }
            }
        }
        log(String(format: "self negatives: %d passages and %d queries embedded (%.0f s)", data.docs.count, n, Date().timeIntervalSince(t0)))
        let index = VectorIndex(vectors: docVectors, count: data.docs.count, width: d)
        var lists: [[Int32]] = []
        lists.reserveCapacity(n)
        for start in stride(from: 0, to: n, by: 8192) {
            let end = min(start + 8192, n)
            let q = Array(UnsafeBufferPointer(start: queryVectors.pointer + start * d, count: (end - start) * d))
            for (k, hits) in index.search(q, k: top + 1).enumerated() {
                lists.append(hits.map(\.index).filter { $0 != data.pairs[start + k].doc }.prefix(top).map(Int32.init))
            }
        }
        try writeCandidateLists(lists, width: top, to: path)
        data.selfCandidates = lists
        log(String(format: "self negatives: %d nearest passages for %d queries mined with the stage's starting weights (%.0f s)", top, n, Date().timeIntervalSince(t0)))
    }

    /// Candidate lists as little-endian Int32: count, width, then count × width ids (−1 pads).
    func writeCandidateLists(_ lists: [[Int32]], width: Int, to path: String) throws {
        var flat: [Int32] = [Int32(lists.count), Int32(width)]
        flat.reserveCapacity(2 + lists.count * width)
        for l in lists { flat += l.prefix(width); flat += [Int32](repeating: -1, count: width - min(l.count, width)) }
        let bytes = flat.withUnsafeBufferPointer { Data(buffer: $0) }
        try bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    func readCandidateLists(_ path: String) throws -> [[Int32]] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let flat = bytes.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        guard flat.count >= 2, flat[0] >= 0, flat[1] >= 0, flat.count == 2 + Int(flat[0]) * Int(flat[1]) else {
            throw TrainingError.badData("\(path): not a candidate-list file")
        }
        let w = Int(flat[1])
        return (0..<Int(flat[0])).map { i in Array(flat[(2 + i * w)..<(2 + (i + 1) * w)].prefix { $0 >= 0 }) }
    }

    /// The current weights as an inference model.
    public func currentModel() throws -> EmbeddingModel {
        EmbeddingModel(folder: output, config: config, tokenizer: tokenizer, weights: try params.modelWeights())
    }

    /// nDCG@10 per pooling on the (subsampled) dev sets; appended to eval.csv.
    @discardableResult
    public func evaluateDev() throws -> [String: [Pooling: RankingMetrics]] {
        guard !evalSets.isEmpty else { return [:] }
        let model = try currentModel()
        var all: [String: [Pooling: RankingMetrics]] = [:]
        let path = output + "/eval.csv"
        // `--eval-only --start-stage S --from DIR` reads a model before any step has made the folder.
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            try "global_step,tokens_seen,set,pooling,ndcg@10,mrr@10,recall@10,recall@100\n".write(toFile: path, atomically: true, encoding: .utf8)
        }
        let fh = FileHandle(forWritingAtPath: path)!
        fh.seekToEndOfFile()
        defer { fh.closeFile() }
        var summary: [String] = []
        for ds in evalSets {
            let task = evalTask(ds.name)
            let m = try RetrievalEvaluator.evaluate(model: model, dataset: ds, poolings: Pooling.allCases, mask: recipe.mask,
                                                    instruction: queryInstruction(task: trainingInstructions[task] ?? ""), maxLength: recipe.maxPassageLength)
            all[ds.name] = m
            for p in Pooling.allCases {
                let r = m[p]!
                fh.write(Data("\(state.globalStep),\(state.tokensSeen),\(ds.name),\(p.rawValue),\(r.ndcg10),\(r.mrr10),\(r.recall10),\(r.recall100)\n".utf8))
            }
            summary.append("\(ds.name) " + Pooling.allCases.map { "\($0.rawValue) " + String(format: "%.3f", m[$0]!.ndcg10) }.joined(separator: " "))
        }
        log("eval @\(state.globalStep) (\(state.tokensSeen) tokens): " + summary.joined(separator: " | "))
        return all
    }

    /// The training task whose instruction fits an eval set name.
    func evalTask(_ set: String) -> String {
        if set.contains("debian") { return "debian" }
        if set.contains("wordnet") { return "wordnet-def" }
        if set.contains("foldoc") { return "foldoc" }
        if set.contains("pydocs-api") { return "pydocs-api" }
        if set.contains("pydocs") { return "pydocs-section" }
        if set.contains("vera") { return "vera" }
        return ""
    }

    var checkpointFolder: String { output + "/checkpoint" }

    /// The parameters' values ("value") or AdamW moments ("m", "v") as f32 tensors to write.
    func tensors(_ kind: String) -> [SafetensorsWriter.Tensor] {
        params.all.map { p in
            let buf = kind == "value" ? p.value : kind == "m" ? p.m : p.v
            return SafetensorsWriter.Tensor(name: p.name, shape: p.shape, values: UnsafeBufferPointer(start: buf.pointer, count: p.count))
        }
    }

    /// Parameters, AdamW moments and state, written to a temporary folder then renamed,
    /// so a kill at any moment leaves the previous checkpoint intact.
    public func saveCheckpoint() throws {
        let tmp = checkpointFolder + ".tmp"
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try SafetensorsWriter.write(tensors("value"), dtype: .f32, to: tmp + "/params.safetensors")
        try SafetensorsWriter.write(tensors("m"), dtype: .f32, to: tmp + "/adam_m.safetensors")
        try SafetensorsWriter.write(tensors("v"), dtype: .f32, to: tmp + "/adam_v.safetensors")
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(state).write(to: URL(fileURLWithPath: tmp + "/state.json"))
        let old = checkpointFolder + ".old"
        try? FileManager.default.removeItem(atPath: old)
        if FileManager.default.fileExists(atPath: checkpointFolder) { try FileManager.default.moveItem(atPath: checkpointFolder, toPath: old) }
        try FileManager.default.moveItem(atPath: tmp, toPath: checkpointFolder)
        try? FileManager.default.removeItem(atPath: old)
    }

    /// Where the weights at the start of a stage named by `average_with_start_of` are kept.
    func startFolder(_ stage: String) -> String { output + "/start-" + stage }

    /// Every weight, f32, written to a temporary folder then renamed (a kill leaves no half file).
    func saveWeights(to folder: String) throws {
        let tmp = folder + ".tmp"
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try SafetensorsWriter.write(tensors("value"), dtype: .f32, to: tmp + "/params.safetensors")
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.moveItem(atPath: tmp, toPath: folder)
    }

    /// Every weight ← (its value now + its value at the start of `stage`) / 2.
    func averageWeights(withStartOf stage: String) throws {
        let path = startFolder(stage) + "/params.safetensors"
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: path) } catch {
            throw TrainingError.badCheckpoint("\(path): the weights at the start of \(stage) are missing (\(error)); rerun from \(stage) or earlier")
        }
        for p in params.all {
            guard let info = f.tensors[p.name], info.dtype == .f32, info.elementCount == p.count else {
                throw TrainingError.badCheckpoint("\(path) lacks \(p.name)")
            }
            var start = [Float](repeating: 0, count: p.count)
            start.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: f.rawPointer(info), count: p.count * 4)) }
            let v = p.value.pointer
            for i in 0..<p.count { v[i] = (v[i] + start[i]) * 0.5 }
        }
        log("averaged every weight with its value at the start of \(stage)")
    }

    /// Loads the checkpoint in `output` when there is one for this recipe.
    func resume() throws -> Bool {
        var folder = checkpointFolder
        if !FileManager.default.fileExists(atPath: folder + "/state.json") {
            folder = checkpointFolder + ".old"   // killed between the two renames
            if !FileManager.default.fileExists(atPath: folder + "/state.json") { return false }
        }
        let saved = try JSONDecoder().decode(TrainState.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/state.json")))
        guard saved.recipeHash == state.recipeHash else {
            throw TrainingError.badCheckpoint("\(folder) was made by a different recipe; use another --out or delete it")
        }
        for (file, kind) in [("params", "value"), ("adam_m", "m"), ("adam_v", "v")] {
            let f = try SafetensorsFile(path: folder + "/\(file).safetensors")
            for p in params.all {
                guard let info = f.tensors[p.name], info.dtype == .f32, info.elementCount == p.count else {
                    throw TrainingError.badCheckpoint("\(folder)/\(file).safetensors lacks \(p.name)")
                }
                let dst = kind == "value" ? p.value : kind == "m" ? p.m : p.v
                UnsafeMutableRawPointer(dst.pointer).copyMemory(from: f.rawPointer(info), byteCount: p.count * 4)
            }
        }
        state = saved
        log("resumed from \(folder): stage \(saved.stage + 1), step \(saved.step), \(saved.tokensSeen) tokens seen")
        return true
    }

    /// Writes the final model folder and a training summary.
    public func export(to folder: String? = nil) throws {
        let output = folder ?? self.output
        try params.export(to: output, tokenizerPath: tokenizerPath, dtype: exportType, metadata: ["latentlens_recipe": recipe.name])
        var w = JSONWriter()
        w.beginObject()
        w.member("recipe", recipe.name)
        w.member("steps", state.globalStep)
        w.member("tokens_seen", state.tokensSeen)
        w.member("train_seconds", state.elapsedSeconds)
        w.member("parameters", params.count)
        if let from = state.startedFrom { w.member("started_from", from) }
        if let n = state.bf16Steps { w.member("bf16_matmul_steps", n) }
        w.endObject()
        try w.text.write(toFile: output + "/training_summary.json", atomically: true, encoding: .utf8)
        log("exported \(output): \(params.count) parameters, \(state.tokensSeen) tokens in \(Int(state.elapsedSeconds)) s")
    }
}

/// Gram–Schmidt on the columns of a row-major [rows, cols] matrix.
func orthonormalizeColumns(_ a: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    for j in 0..<cols {
        for k in 0..<j {
            var dot = 0.0
            for i in 0..<rows { dot += Double(a[i * cols + j]) * Double(a[i * cols + k]) }
            for i in 0..<rows { a[i * cols + j] -= Float(dot) * a[i * cols + k] }
        }
        var n = 0.0
        for i in 0..<rows { n += Double(a[i * cols + j] * a[i * cols + j]) }
        let inv = Float(1 / max(n.squareRoot(), 1e-12))
        for i in 0..<rows { a[i * cols + j] *= inv }
    }
}
