import Foundation
import LensModel

/// A training recipe (JSON). Every field has a default; see Models/recipes/*.json and
/// docs/TRAINING.md for what each one does.
public struct Recipe: Codable, Sendable {
    public struct ModelShape: Codable, Sendable {
        public var hiddenSize = 256
        public var layers = 4
        public var heads = 4
        public var kvHeads = 2
        public var intermediateSize = 768
        public var latents = 512
        public var crossHeads = 4
        public var crossDimHead = 256
        public var vocabSize = 32000
        public var ropeTheta = 10000.0
        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size", layers, heads, kvHeads = "kv_heads", intermediateSize = "intermediate_size"
            case latents, crossHeads = "cross_heads", crossDimHead = "cross_dim_head", vocabSize = "vocab_size", ropeTheta = "rope_theta"
        }
        public init() {}
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = ModelShape()
            hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
            layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? d.layers
            heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
            kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads) ?? d.kvHeads
            intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
            latents = try c.decodeIfPresent(Int.self, forKey: .latents) ?? d.latents
            crossHeads = try c.decodeIfPresent(Int.self, forKey: .crossHeads) ?? d.crossHeads
            crossDimHead = try c.decodeIfPresent(Int.self, forKey: .crossDimHead) ?? d.crossDimHead
            vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
            ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? d.ropeTheta
        }
    }

    public struct Stage: Codable, Sendable {
        public var name = "stage1"
        public var steps = 1000
        public var batchSize = 128
        /// Mined hard negatives per query.
        public var hardNegatives = 1
        /// Score each query against every candidate in the batch (stage 1) or only its own (stage 2).
        public var inBatchNegatives = true
        public var learningRate = 1e-3
        public var warmupSteps = 100
        /// Fraction of each batch drawn from retrieval pairs; the rest from the stage-2 tasks.
        public var retrievalFraction = 1.0
        /// Retrieval task → sampling weight (absent: weight ∝ √pairs).
        public var tasks: [String: Double]? = nil
        /// Start this stage with zeroed AdamW moments and bias correction restarted (a warm
        /// restart). Such a stage depends on the stages before it only through the weights,
        /// so a run can also start here from their exported f32 model (`--start-stage`).
        public var resetOptimizer = false
        /// How many of `hard_negatives` come from BM25-mined candidates (the rest from the
        /// teacher's), positive-aware filtered by the teacher like the others.
        public var lexicalNegatives = 0
        /// How many of `hard_negatives` come from the model's own nearest passages (mined with
        /// the weights at the stage's start, an ANCE-style "earlier checkpoint" teacher: its
        /// confusions), positive-aware filtered by the teacher like the others.
        public var selfNegatives = 0
        /// This stage's `distill_weight` and `lexical_teacher_weight` (absent: the recipe's).
        public var distillWeight: Float? = nil
        public var lexicalTeacherWeight: Float? = nil
        /// This stage's InfoNCE `temperature` τ and `max_passage_length` (absent: the recipe's).
        public var temperature: Float? = nil
        public var maxPassageLength: Int? = nil
        /// Apply the positive-aware rule to the blended teacher's scores (cosine + w · BM25 /
        /// the best BM25 among the positive and the candidates) instead of the cosine alone.
        public var blendedPositiveAware = false
        /// How many of `hard_negatives` are other passages of the query's own entity family
        /// (retrieval.jsonl's `entity`: a Debian source package's other binaries, …), drawn
        /// before the mined ones; passages with the positive's exact text are skipped.
        public var familyNegatives = 0
        /// Fraction of the stage's retrieval queries replaced by an excerpt of their own
        /// positive (4–12 consecutive words, Contriever-style cropping) under their own
        /// instruction (`cropInstruction`): the model must find a passage from words it contains,
        /// the exact matching BM25 does well. Such a query has no teacher soft target, and a
        /// candidate that contains the excerpt, or that BM25 scores within the positive-aware
        /// margin of the positive for it, is never its negative.
        public var cropQueries = 0.0
        /// Anchor each excerpt on its passage's rarest word (the lowest BM25 document frequency
        /// over the training passages; the first such word): the window is drawn among those that
        /// contain it, so the excerpt carries what tells the passage from its siblings.
        public var cropRare = false
        /// Fraction of the stage's retrieval queries rewritten in a question form of their task
        /// (`questionTemplates`: "What does {} stand for?"); the teacher's soft target stays
        /// that of the plain query, whose meaning the rewrite keeps.
        public var questionQueries = 0.0
        /// Fraction of the stage's retrieval queries whose task instruction is replaced by one
        /// of `variedInstructions` (general retrieval instructions).
        public var variedInstructions = 0.0
        /// Fraction of the stage's retrieval queries sent with no instruction at all (embedded
        /// like a passage, as `--instruction ''` or the explorer's "none" does); the teacher's
        /// soft target stays the plain query's.
        public var bareQueries = 0.0
        /// Fraction of a retrieval passage's words deleted each time the passage enters a batch
        /// (whole whitespace-separated words, each independently; at least one is kept), as data
        /// augmentation against memorising the training passages (docs/TRAINING.md). The teacher's
        /// soft target stays that of the whole passage.
        public var wordDropout = 0.0
        /// The retrieval tasks whose passages `word_dropout` applies to (absent: every task), so
        /// a recipe can regularise the sets it memorises without shortening the short glosses of
        /// another task (docs/TRAINING.md). Each name must be a task of the training data.
        public var wordDropoutTasks: [String]? = nil
        /// Round every weight to f16 at the stage's start: what the stage sees when it is
        /// started (`--start-stage`) from an f16 export such as the shipped model. A recipe
        /// can then grow a cycle from its shipped f16 weights and still be regenerated from
        /// scratch bit for bit.
        public var roundWeightsToF16 = false
        /// At this stage's end, replace every weight by the mean of its value then and at the
        /// start of the stage named here (this one or an earlier one; after that stage's
        /// `reset_optimizer` and `round_weights_to_f16`): a two-point weight average ("model
        /// soup") of a cycle's two ends. The start weights are kept in `OUT/start-<stage>/`, so
        /// a resumed run averages exactly as an uninterrupted one; AdamW moments are left alone.
        public var averageWithStartOf: String? = nil
        enum CodingKeys: String, CodingKey {
            case name, steps, batchSize = "batch_size", hardNegatives = "hard_negatives", inBatchNegatives = "in_batch_negatives"
            case learningRate = "learning_rate", warmupSteps = "warmup_steps", retrievalFraction = "retrieval_fraction", tasks
            case resetOptimizer = "reset_optimizer", lexicalNegatives = "lexical_negatives", selfNegatives = "self_negatives"
            case distillWeight = "distill_weight", lexicalTeacherWeight = "lexical_teacher_weight"
            case roundWeightsToF16 = "round_weights_to_f16"
            case temperature, maxPassageLength = "max_passage_length", blendedPositiveAware = "blended_positive_aware"
            case familyNegatives = "family_negatives", cropQueries = "crop_queries", cropRare = "crop_rare"
            case averageWithStartOf = "average_with_start_of"
            case questionQueries = "question_queries", variedInstructions = "varied_instructions"
            case bareQueries = "bare_queries", wordDropout = "word_dropout", wordDropoutTasks = "word_dropout_tasks"
        }
        public init() {}
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Stage()
            name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
            steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
            batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
            hardNegatives = try c.decodeIfPresent(Int.self, forKey: .hardNegatives) ?? d.hardNegatives
            inBatchNegatives = try c.decodeIfPresent(Bool.self, forKey: .inBatchNegatives) ?? d.inBatchNegatives
            learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
            warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
            retrievalFraction = try c.decodeIfPresent(Double.self, forKey: .retrievalFraction) ?? d.retrievalFraction
            tasks = try c.decodeIfPresent([String: Double].self, forKey: .tasks)
            resetOptimizer = try c.decodeIfPresent(Bool.self, forKey: .resetOptimizer) ?? d.resetOptimizer
            lexicalNegatives = try c.decodeIfPresent(Int.self, forKey: .lexicalNegatives) ?? d.lexicalNegatives
            selfNegatives = try c.decodeIfPresent(Int.self, forKey: .selfNegatives) ?? d.selfNegatives
            distillWeight = try c.decodeIfPresent(Float.self, forKey: .distillWeight)
            lexicalTeacherWeight = try c.decodeIfPresent(Float.self, forKey: .lexicalTeacherWeight)
            roundWeightsToF16 = try c.decodeIfPresent(Bool.self, forKey: .roundWeightsToF16) ?? d.roundWeightsToF16
            temperature = try c.decodeIfPresent(Float.self, forKey: .temperature)
            maxPassageLength = try c.decodeIfPresent(Int.self, forKey: .maxPassageLength)
            blendedPositiveAware = try c.decodeIfPresent(Bool.self, forKey: .blendedPositiveAware) ?? d.blendedPositiveAware
            familyNegatives = try c.decodeIfPresent(Int.self, forKey: .familyNegatives) ?? d.familyNegatives
            cropQueries = try c.decodeIfPresent(Double.self, forKey: .cropQueries) ?? d.cropQueries
            cropRare = try c.decodeIfPresent(Bool.self, forKey: .cropRare) ?? d.cropRare
            averageWithStartOf = try c.decodeIfPresent(String.self, forKey: .averageWithStartOf)
            questionQueries = try c.decodeIfPresent(Double.self, forKey: .questionQueries) ?? d.questionQueries
            variedInstructions = try c.decodeIfPresent(Double.self, forKey: .variedInstructions) ?? d.variedInstructions
            bareQueries = try c.decodeIfPresent(Double.self, forKey: .bareQueries) ?? d.bareQueries
            wordDropout = try c.decodeIfPresent(Double.self, forKey: .wordDropout) ?? d.wordDropout
            wordDropoutTasks = try c.decodeIfPresent([String].self, forKey: .wordDropoutTasks)
        }
        /// The encoding is the recipe's identity (checkpoints store its hash): a key added
        /// later is written only when it differs from its default, so runs started before it
        /// existed still resume.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(steps, forKey: .steps)
            try c.encode(batchSize, forKey: .batchSize)
            try c.encode(hardNegatives, forKey: .hardNegatives)
            try c.encode(inBatchNegatives, forKey: .inBatchNegatives)
            try c.encode(learningRate, forKey: .learningRate)
            try c.encode(warmupSteps, forKey: .warmupSteps)
            try c.encode(retrievalFraction, forKey: .retrievalFraction)
            try c.encodeIfPresent(tasks, forKey: .tasks)
            try c.encode(resetOptimizer, forKey: .resetOptimizer)
            if lexicalNegatives != 0 { try c.encode(lexicalNegatives, forKey: .lexicalNegatives) }
            if selfNegatives != 0 { try c.encode(selfNegatives, forKey: .selfNegatives) }
            try c.encodeIfPresent(distillWeight, forKey: .distillWeight)
            try c.encodeIfPresent(lexicalTeacherWeight, forKey: .lexicalTeacherWeight)
            if roundWeightsToF16 { try c.encode(roundWeightsToF16, forKey: .roundWeightsToF16) }
            try c.encodeIfPresent(temperature, forKey: .temperature)
            try c.encodeIfPresent(maxPassageLength, forKey: .maxPassageLength)
            if blendedPositiveAware { try c.encode(blendedPositiveAware, forKey: .blendedPositiveAware) }
            if familyNegatives != 0 { try c.encode(familyNegatives, forKey: .familyNegatives) }
            if cropQueries != 0 { try c.encode(cropQueries, forKey: .cropQueries) }
            if cropRare { try c.encode(cropRare, forKey: .cropRare) }
            try c.encodeIfPresent(averageWithStartOf, forKey: .averageWithStartOf)
            if questionQueries != 0 { try c.encode(questionQueries, forKey: .questionQueries) }
            if variedInstructions != 0 { try c.encode(variedInstructions, forKey: .variedInstructions) }
            if bareQueries != 0 { try c.encode(bareQueries, forKey: .bareQueries) }
            if wordDropout != 0 { try c.encode(wordDropout, forKey: .wordDropout) }
            try c.encodeIfPresent(wordDropoutTasks, forKey: .wordDropoutTasks)
        }
    }

    public var name = "nvembed-mini"
    public var seed: UInt64 = 1
    public var model = ModelShape()
    /// Data folder written by scripts/build_data.py (relative paths resolve against the repo).
    public var data = "data"
    /// Teacher outputs (scripts/teacher.py); `nil` trains without a teacher.
    public var teacher: String? = "data/teacher"
    /// Initialise token embeddings from a PCA of the teacher's piece embeddings.
    public var initEmbeddingsFromTeacher = true
    public var maxQueryLength = 48
    public var maxPassageLength = 128
    /// Poolings whose InfoNCE losses are summed (all three: the shipped model compares them fairly).
    public var poolings: [Pooling] = Pooling.allCases
    /// Weight of each pooling's InfoNCE loss in that sum, by name ("latent", "mean", "eos");
    /// a pooling not named weighs 1, and `nil` (the key absent) is every weight 1. Losses are
    /// logged unweighted.
    public var poolingWeights: [String: Float]?
    public var mask: AttentionMask = .bidirectional
    public var temperature: Float = 0.05
    public var teacherTemperature: Float = 0.05
    /// Weight w of BM25 in the teacher's scores: cosine + w · BM25 / (max BM25 over the query's
    /// candidates). 0 = the embedding teacher alone.
    public var lexicalTeacherWeight: Float = 0
    /// Weight of the teacher's similarity distribution in the soft targets (0 = plain InfoNCE).
    public var distillWeight: Float = 0.5
    /// Positive-aware mining: drop a negative whose teacher score exceeds this × the positive's.
    public var positiveAwareMargin: Float = 0.95
    /// Negatives are sampled from the teacher's top `mineTop` survivors.
    public var mineTop = 10
    public var weightDecay: Float = 0.01
    public var gradClip: Float = 1.0
    public var beta1: Float = 0.9
    public var beta2: Float = 0.98
    public var epsilon: Float = 1e-6
    public var checkpointEvery = 100
    public var evalEvery = 500
    /// Dev sets (under data/eval/) evaluated during training, and their size caps.
    public var evalSets = ["dev/wordnet-definitions", "dev/debian-packages", "dev/foldoc-terms", "dev/pydocs-api"]
    public var evalMaxQueries = 300
    public var evalMaxDocuments = 1500
    public var stages: [Stage] = [Stage()]

    enum CodingKeys: String, CodingKey {
        case name, seed, model, data, teacher, initEmbeddingsFromTeacher = "init_embeddings_from_teacher"
        case maxQueryLength = "max_query_length", maxPassageLength = "max_passage_length", poolings, mask
        case poolingWeights = "pooling_weights"
        case temperature, teacherTemperature = "teacher_temperature", distillWeight = "distill_weight"
        case lexicalTeacherWeight = "lexical_teacher_weight"
        case positiveAwareMargin = "positive_aware_margin", mineTop = "mine_top", weightDecay = "weight_decay"
        case gradClip = "grad_clip", beta1, beta2, epsilon, checkpointEvery = "checkpoint_every", evalEvery = "eval_every"
        case evalSets = "eval_sets", evalMaxQueries = "eval_max_queries", evalMaxDocuments = "eval_max_documents", stages
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Recipe()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        model = try c.decodeIfPresent(ModelShape.self, forKey: .model) ?? d.model
        data = try c.decodeIfPresent(String.self, forKey: .data) ?? d.data
        teacher = c.contains(.teacher) ? try c.decodeIfPresent(String.self, forKey: .teacher) : d.teacher
        initEmbeddingsFromTeacher = try c.decodeIfPresent(Bool.self, forKey: .initEmbeddingsFromTeacher) ?? d.initEmbeddingsFromTeacher
        maxQueryLength = try c.decodeIfPresent(Int.self, forKey: .maxQueryLength) ?? d.maxQueryLength
        maxPassageLength = try c.decodeIfPresent(Int.self, forKey: .maxPassageLength) ?? d.maxPassageLength
        poolings = try c.decodeIfPresent([Pooling].self, forKey: .poolings) ?? d.poolings
        poolingWeights = try c.decodeIfPresent([String: Float].self, forKey: .poolingWeights)
        mask = try c.decodeIfPresent(AttentionMask.self, forKey: .mask) ?? d.mask
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? d.temperature
        teacherTemperature = try c.decodeIfPresent(Float.self, forKey: .teacherTemperature) ?? d.teacherTemperature
        distillWeight = try c.decodeIfPresent(Float.self, forKey: .distillWeight) ?? d.distillWeight
        lexicalTeacherWeight = try c.decodeIfPresent(Float.self, forKey: .lexicalTeacherWeight) ?? d.lexicalTeacherWeight
        positiveAwareMargin = try c.decodeIfPresent(Float.self, forKey: .positiveAwareMargin) ?? d.positiveAwareMargin
        mineTop = try c.decodeIfPresent(Int.self, forKey: .mineTop) ?? d.mineTop
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? d.weightDecay
        gradClip = try c.decodeIfPresent(Float.self, forKey: .gradClip) ?? d.gradClip
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? d.beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? d.beta2
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? d.epsilon
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? d.checkpointEvery
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? d.evalEvery
        evalSets = try c.decodeIfPresent([String].self, forKey: .evalSets) ?? d.evalSets
        evalMaxQueries = try c.decodeIfPresent(Int.self, forKey: .evalMaxQueries) ?? d.evalMaxQueries
        evalMaxDocuments = try c.decodeIfPresent(Int.self, forKey: .evalMaxDocuments) ?? d.evalMaxDocuments
        stages = try c.decodeIfPresent([Stage].self, forKey: .stages) ?? d.stages
    }

    /// The distillation weight α and the lexical teacher weight w in force during `stage`.
    public func distillWeight(in stage: Stage) -> Float { stage.distillWeight ?? distillWeight }
    public func lexicalTeacherWeight(in stage: Stage) -> Float { stage.lexicalTeacherWeight ?? lexicalTeacherWeight }
    /// The InfoNCE temperature τ and the passage length cap in force during `stage`.
    public func temperature(in stage: Stage) -> Float { stage.temperature ?? temperature }
    public func maxPassageLength(in stage: Stage) -> Int { stage.maxPassageLength ?? maxPassageLength }
    /// The weight of `pooling`'s loss in the trained sum.
    public func weight(of pooling: Pooling) -> Float { poolingWeights?[pooling.rawValue] ?? 1 }

    public static func load(path: String) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: path) else { throw TrainingError.badRecipe("cannot read \(path)") }
        do { return try JSONDecoder().decode(Recipe.self, from: data) } catch let e as DecodingError {
            throw TrainingError.badRecipe("\(path): \(e)")
        }
    }

    public func validate() throws {
        guard !stages.isEmpty else { throw TrainingError.badRecipe("no stages") }
        guard !poolings.isEmpty else { throw TrainingError.badRecipe("poolings is empty") }
        for (name, w) in poolingWeights ?? [:] {
            guard let p = Pooling(rawValue: name), poolings.contains(p) else {
                throw TrainingError.badRecipe("pooling_weights: \(name) is not one of the trained poolings (\(poolings.map(\.rawValue).joined(separator: ", ")))")
            }
            guard w >= 0, w.isFinite else { throw TrainingError.badRecipe("pooling_weights: \(name) must be ≥ 0") }
        }
        guard lexicalTeacherWeight >= 0, lexicalTeacherWeight.isFinite else { throw TrainingError.badRecipe("lexical_teacher_weight must be ≥ 0") }
        guard (0...1).contains(distillWeight) else { throw TrainingError.badRecipe("distill_weight must be in [0, 1]") }
        guard Set(stages.map(\.name)).count == stages.count else { throw TrainingError.badRecipe("stage names must be unique") }
        for (k, s) in stages.enumerated() {
            if let a = s.averageWithStartOf, !stages[...k].contains(where: { $0.name == a }) {
                throw TrainingError.badRecipe("stage \(s.name): average_with_start_of must name this stage or an earlier one, not \(a)")
            }
            guard s.steps > 0, s.batchSize >= 2 else { throw TrainingError.badRecipe("stage \(s.name): steps > 0 and batch_size ≥ 2 required") }
            guard s.familyNegatives >= 0, s.selfNegatives >= 0, s.familyNegatives + s.lexicalNegatives + s.selfNegatives <= s.hardNegatives else {
                throw TrainingError.badRecipe("stage \(s.name): family_negatives + lexical_negatives + self_negatives must be in 0...hard_negatives")
            }
            guard (0...s.hardNegatives).contains(s.lexicalNegatives) else {
                throw TrainingError.badRecipe("stage \(s.name): lexical_negatives must be in 0...hard_negatives")
            }
            guard lexicalTeacherWeight(in: s) >= 0, lexicalTeacherWeight(in: s).isFinite else {
                throw TrainingError.badRecipe("stage \(s.name): lexical_teacher_weight must be ≥ 0")
            }
            guard (0...1).contains(distillWeight(in: s)) else { throw TrainingError.badRecipe("stage \(s.name): distill_weight must be in [0, 1]") }
            guard temperature(in: s) > 0, temperature(in: s).isFinite else { throw TrainingError.badRecipe("stage \(s.name): temperature must be > 0") }
            guard maxPassageLength(in: s) >= 3 else { throw TrainingError.badRecipe("stage \(s.name): max_passage_length must be ≥ 3") }
            guard (0...1).contains(s.cropQueries) else { throw TrainingError.badRecipe("stage \(s.name): crop_queries must be in [0, 1]") }
            guard (0...1).contains(s.questionQueries) else { throw TrainingError.badRecipe("stage \(s.name): question_queries must be in [0, 1]") }
            guard (0...1).contains(s.variedInstructions) else { throw TrainingError.badRecipe("stage \(s.name): varied_instructions must be in [0, 1]") }
            guard (0...1).contains(s.bareQueries) else { throw TrainingError.badRecipe("stage \(s.name): bare_queries must be in [0, 1]") }
            guard (0..<1).contains(s.wordDropout) else { throw TrainingError.badRecipe("stage \(s.name): word_dropout must be in [0, 1)") }
            if let t = s.wordDropoutTasks {
                guard !t.isEmpty else { throw TrainingError.badRecipe("stage \(s.name): word_dropout_tasks is empty (leave it out to drop words of every task)") }
                guard s.wordDropout > 0 else { throw TrainingError.badRecipe("stage \(s.name): word_dropout_tasks needs word_dropout > 0") }
            }
            guard (0...1).contains(s.retrievalFraction) else { throw TrainingError.badRecipe("stage \(s.name): retrieval_fraction must be in [0, 1]") }
        }
        guard model.hiddenSize % model.heads == 0, model.heads % model.kvHeads == 0 else {
            throw TrainingError.badRecipe("model: heads must divide hidden_size and kv_heads must divide heads")
        }
    }

    /// The index of stage `name` when a run can start there from an earlier export: a stage
    /// after the first that resets the optimizer (otherwise it would need AdamW moments an
    /// export does not hold).
    public func startableStage(_ name: String) throws -> Int {
        guard let k = stages.firstIndex(where: { $0.name == name }), k > 0 else {
            throw TrainingError.badRecipe("--start-stage: no stage after the first is named \(name) (stages: \(stages.map(\.name).joined(separator: ", ")))")
        }
        guard stages[k].resetOptimizer else {
            throw TrainingError.badRecipe("--start-stage \(name): the stage must set reset_optimizer (otherwise it needs the AdamW moments the export does not hold)")
        }
        for s in stages[k...] {
            if let a = s.averageWithStartOf, let j = stages.firstIndex(where: { $0.name == a }), j < k {
                throw TrainingError.badRecipe("--start-stage \(name): stage \(s.name) averages with the start of \(a), which this run would not train; start at \(a) or earlier")
            }
        }
        return k
    }

    /// The NV-Embed config this recipe trains.
    public var config: ModelConfig {
        ModelConfig(family: .nvembed,
                    decoder: DecoderConfig(vocabSize: model.vocabSize, hiddenSize: model.hiddenSize, intermediateSize: model.intermediateSize,
                                           numHiddenLayers: model.layers, numAttentionHeads: model.heads, numKeyValueHeads: model.kvHeads,
                                           rmsNormEps: 1e-5, ropeTheta: model.ropeTheta, maxPositionEmbeddings: 4096),
                    latent: LatentAttentionConfig(numLatents: model.latents, numCrossHeads: model.crossHeads, latentDim: model.hiddenSize,
                                                  hiddenDim: model.hiddenSize, crossDimHead: model.crossDimHead),
                    maskInstruction: true, name: name)
    }
}
