import Foundation
import Testing
import LensMath
import LensModel
import LensSupport
import LensRetrieval
@testable import LensTraining

let trainingRepoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let tinyTokenizer = trainingRepoRoot.appendingPathComponent("Tests/LensTokenizerTests/Fixtures/tiny-bpe.model").path

/// A small synthetic data folder in build_data.py's layout.
func makeDataFolder() throws -> String {
    let dir = NSTemporaryDirectory() + "latentlens-train-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir + "/train", withIntermediateDirectories: true)
    let words = ["embedding", "latent", "attention", "pooling", "token", "vector", "query", "passage", "model", "retrieve",
                 "the", "of", "a", "and", "with", "for"]
    var pairs = ""
    for i in 0..<24 {
        let w = words[i % 10]
        let q = "\(w) \(i)"
        let p = "a passage about \(w) and number \(i) with \(words[(i * 3) % 16]) \(words[(i * 7) % 16])"
        pairs += "{\"task\": \"\(i % 2 == 0 ? "foldoc" : "debian")\", \"query\": \"\(q)\", \"positive\": \"\(p)\", \"positive_title\": \"\", \"doc_id\": \"d\(i)\", \"source\": \"x\"}\n"
    }
    try pairs.write(toFile: dir + "/train/retrieval.jsonl", atomically: true, encoding: .utf8)
    var ex = ""
    for i in 0..<20 { ex += "{\"task\": \"wordnet-lexname\", \"text\": \"\(words[i % 16]) thing \(i)\", \"label\": \"L\(i % 3)\"}\n" }
    try ex.write(toFile: dir + "/train/stage2.jsonl", atomically: true, encoding: .utf8)
    return dir
}

func tinyRecipe(data: String, steps: [Int]) -> Recipe {
    var r = Recipe()
    r.name = "tiny-test"
    r.seed = 5
    r.model.hiddenSize = 32; r.model.layers = 2; r.model.heads = 4; r.model.kvHeads = 2; r.model.intermediateSize = 48
    r.model.latents = 8; r.model.crossHeads = 2; r.model.crossDimHead = 16; r.model.vocabSize = 600
    r.data = data
    r.teacher = nil
    r.maxQueryLength = 96      // the tiny BPE tokenizer spends ~1 token per character of the instruction
    r.maxPassageLength = 64
    r.temperature = 0.1
    r.checkpointEvery = 3
    r.evalEvery = 0
    r.evalSets = []
    var s1 = Recipe.Stage(); s1.name = "stage1"; s1.steps = steps[0]; s1.batchSize = 8; s1.learningRate = 3e-3; s1.warmupSteps = 2
    var s2 = Recipe.Stage(); s2.name = "stage2"; s2.steps = steps[1]; s2.batchSize = 8; s2.inBatchNegatives = false
    s2.hardNegatives = 2; s2.retrievalFraction = 0.5; s2.learningRate = 1e-3; s2.warmupSteps = 1
    r.stages = [s1, s2]
    return r
}

/// Stage 1's batches for seeds 0..<seeds, read back from their token ids: each query's pair and
/// the passages it is scored against (its positive first, then its negatives).
func batchPassages(_ trainer: Trainer, _ recipe: Recipe, seeds: Int) -> [(pair: Int, docs: [Int])] {
    var out: [(pair: Int, docs: [Int])] = []
    for seed in 0..<seeds {
        var r = SplitMix64(seed: UInt64(seed))
        let batch = trainer.buildBatch(stage: recipe.stages[0], rng: &r)
        func sequence(_ i: Int) -> [Int32] { Array(batch.packed.ids[batch.packed.offsets[i]..<batch.packed.offsets[i] + batch.packed.lengths[i]]) }
        for qi in 0..<batch.queryCount {
            let pair = trainer.data.pairs.firstIndex { trainer.data.tokens(queryInstruction(task: trainingInstructions[$0.task] ?? "") + $0.query, maxLength: recipe.maxQueryLength) == sequence(qi) }!
            out.append((pair, batch.allowed[qi].map { c in trainer.data.docs.firstIndex { trainer.data.tokens($0, maxLength: recipe.maxPassageLength) == sequence(batch.queryCount + c) }! }))
        }
    }
    return out
}

/// The mining tests' setup: the teacher folder `data`, random token embeddings, the top 5
/// candidates, and stage 1 scored against its own two negatives only (no in-batch ones).
func useMiningTeacher(_ recipe: inout Recipe, data: String) {
    recipe.teacher = data
    recipe.initEmbeddingsFromTeacher = false
    recipe.mineTop = 5
    recipe.stages[0].inBatchNegatives = false
    recipe.stages[0].hardNegatives = 2
}

/// Trainer runs one at a time: bit-for-bit comparisons need the process to themselves.
@Suite(.serialized) struct TrainerTests {
@Test func trainingLowersTheLoss() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    let out = data + "/run"
    let trainer = try Trainer(recipe: tinyRecipe(data: data, steps: [40, 4]), root: "/", output: out, tokenizerPath: tinyTokenizer) { _ in }
    var losses: [Float] = []
    try trainer.run { _, rep, _ in losses.append(rep.loss[.latent]!) }
    let first = losses.prefix(4).reduce(0, +) / 4, last = losses[32..<40].reduce(0, +) / 8
    #expect(last < first * 0.7, "stage-1 loss went from \(first) to \(last)")
    // The export loads in the inference engine and embeds like the trainer's own weights.
    let exported = try EmbeddingModel(folder: out)
    let live = try trainer.currentModel()
    let a = try exported.embed(["embedding 3"], options: EmbedOptions(instruction: "Instruct: x\nQuery: "))[0]
    let b = try live.embed(["embedding 3"], options: EmbedOptions(instruction: "Instruct: x\nQuery: "))[0]
    for p in Pooling.allCases { #expect(zip(a.vectors[p]!, b.vectors[p]!).allSatisfy { abs($0 - $1) < 1e-6 }) }
    #expect(FileManager.default.fileExists(atPath: out + "/train.csv"))
    // Stage 1's own model: loads, and differs from the final one (stage 2 trained on after it).
    let stage1 = try EmbeddingModel(folder: out + "/after-stage1")
    let c = try stage1.embed(["embedding 3"], options: EmbedOptions(instruction: "Instruct: x\nQuery: "))[0]
    #expect(zip(a.vectors[.latent]!, c.vectors[.latent]!).contains { abs($0 - $1) > 1e-4 })
}

@Test func resumedRunEqualsUninterruptedRun() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    // Uninterrupted: 6 + 3 steps.
    let a = try Trainer(recipe: tinyRecipe(data: data, steps: [6, 3]), root: "/", output: data + "/a", tokenizerPath: tinyTokenizer) { _ in }
    try a.run { _, _, _ in }
    // Interrupted after step 3, then a fresh process (new Trainer) resumes from the checkpoint.
    let recipe = tinyRecipe(data: data, steps: [6, 3])
    let b1 = try Trainer(recipe: recipe, root: "/", output: data + "/b", tokenizerPath: tinyTokenizer) { _ in }
    var n = 0
    let finished = try b1.run(shouldStop: { n >= 3 }) { _, _, _ in n += 1 }
    #expect(!finished)
    var resumedLog: [String] = []
    let b2 = try Trainer(recipe: recipe, root: "/", output: data + "/b", tokenizerPath: tinyTokenizer) { resumedLog.append($0) }
    #expect(resumedLog.contains { $0.contains("resumed") })
    #expect(b2.state.globalStep == 3)
    try b2.run { _, _, _ in }
    let differing = differingTensors(a, b2)
    #expect(differing.isEmpty, "differ after resume: \(differing.prefix(5))")
}

/// A stage with reset_optimizer can be started from the previous stages' export: the run
/// ends bit-identical to one that trained every stage itself.
@Test func startingAtAResetStageFromItsExportEqualsTheFullRun() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = tinyRecipe(data: data, steps: [4, 2])
    var s1b = recipe.stages[0]; s1b.name = "stage1b"; s1b.steps = 3; s1b.learningRate = 2e-3; s1b.warmupSteps = 1; s1b.resetOptimizer = true
    recipe.stages.insert(s1b, at: 1)
    let a = try Trainer(recipe: recipe, root: "/", output: data + "/a", tokenizerPath: tinyTokenizer) { _ in }
    try a.run { _, _, _ in }
    var log: [String] = []
    let b = try Trainer(recipe: recipe, root: "/", output: data + "/b", tokenizerPath: tinyTokenizer) { log.append($0) }
    try b.start(atStage: "stage1b", from: data + "/a/after-stage1")
    #expect(b.state.globalStep == 4 && b.state.stage == 1)
    var steps: [Int] = []
    try b.run { state, _, _ in steps.append(state.globalStep) }
    #expect(steps == Array(5...9))
    let differing = differingTensors(a, b)
    #expect(differing.isEmpty, "differ from the full run: \(differing.prefix(5))")
    let summary = try String(contentsOfFile: data + "/b/training_summary.json", encoding: .utf8)
    #expect(summary.contains("\"started_from\":\"stage1b from \(data)/a/after-stage1\""), "\(summary)")
    // Rerunning the same command resumes b's own checkpoint instead of starting over.
    let again = try Trainer(recipe: recipe, root: "/", output: data + "/b", tokenizerPath: tinyTokenizer) { _ in }
    try again.start(atStage: "stage1b", from: data + "/a/after-stage1")
    #expect(again.state.globalStep == 9)
    // Refused: a stage that keeps the optimizer's moments, the first stage, an unknown one,
    // and an export made after a different number of steps.
    for (stage, from) in [("stage2", "/a/after-stage1b"), ("stage1", "/a/after-stage1"), ("nope", "/a/after-stage1"), ("stage1b", "/a/after-stage1b")] {
        try? FileManager.default.removeItem(atPath: data + "/c")
        let c = try Trainer(recipe: recipe, root: "/", output: data + "/c", tokenizerPath: tinyTokenizer) { _ in }
        #expect(throws: TrainingError.self, "\(stage) from \(from)") { try c.start(atStage: stage, from: data + from) }
    }
}

/// `latentlens train --eval-only --start-stage S --from DIR --out NEW`: the trainer's own
/// subsampled dev read of an exported model, in a folder no step has made yet (it used to fail
/// on the missing folder). The read is recorded at the export's step and is the read the
/// uninterrupted run took of the same weights.
@Test func evaluatingAStartedModelInAFreshFolderWritesItsRead() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    let dev = data + "/eval/dev/tiny"
    try FileManager.default.createDirectory(atPath: dev + "/qrels", withIntermediateDirectories: true)
    var corpus = "", queries = "", qrels = "query-id\tcorpus-id\tscore\n"
    for i in 0..<6 {
        corpus += "{\"_id\": \"d\(i)\", \"title\": \"\", \"text\": \"a passage about token \(i) and vector \(i * 5)\"}\n"
        queries += "{\"_id\": \"q\(i)\", \"text\": \"token \(i)\"}\n"
        qrels += "q\(i)\td\(i)\t1\n"
    }
    try corpus.write(toFile: dev + "/corpus.jsonl", atomically: true, encoding: .utf8)
    try queries.write(toFile: dev + "/queries.jsonl", atomically: true, encoding: .utf8)
    try qrels.write(toFile: dev + "/qrels/test.tsv", atomically: true, encoding: .utf8)
    var recipe = tinyRecipe(data: data, steps: [4, 2])
    recipe.evalSets = ["dev/tiny"]
    var s1b = recipe.stages[0]; s1b.name = "stage1b"; s1b.steps = 2; s1b.resetOptimizer = true
    recipe.stages.insert(s1b, at: 1)
    let a = try Trainer(recipe: recipe, root: "/", output: data + "/a", tokenizerPath: tinyTokenizer) { _ in }
    try a.run { _, _, _ in }
    let fresh = data + "/never/made"
    let b = try Trainer(recipe: recipe, root: "/", output: fresh, tokenizerPath: tinyTokenizer) { _ in }
    try b.start(atStage: "stage1b", from: data + "/a/after-stage1")
    let read = try b.evaluateDev()
    let rows = try String(contentsOfFile: fresh + "/eval.csv", encoding: .utf8).split(separator: "\n")
    #expect(rows.count == 1 + Pooling.allCases.count, "\(rows)")
    #expect(rows.dropFirst().allSatisfy { $0.hasPrefix("4,") && $0.contains(",dev/tiny,") })
    // The uninterrupted run read the same weights at the end of stage 1 (step 4).
    let logged = try String(contentsOfFile: data + "/a/eval.csv", encoding: .utf8).split(separator: "\n")
        .filter { $0.hasPrefix("4,") && $0.contains(",latent,") }
    #expect(logged.count == 1)
    // (Equal up to the last bits: the live weights and their export embed within 1e-6.)
    let loggedRead = logged.first.flatMap { Double($0.split(separator: ",")[4]) }
    let newRead = read["dev/tiny"]?[.latent]?.ndcg10
    #expect(loggedRead != nil && newRead != nil && abs(loggedRead! - newRead!) < 1e-9, "\(String(describing: loggedRead)) vs \(String(describing: newRead))")
}

/// The names of the tensors whose values differ between two trainers' weights.
func differingTensors(_ a: Trainer, _ b: Trainer) -> [String] {
    zip(a.params.all, b.params.all).filter { $0.value.array != $1.value.array }.map(\.0.name)
}

/// tinyRecipe with a grown cycle between its two stages: `stage1b` resets AdamW and rounds every
/// weight to f16 at its start (the shipped recipe's `stage1e`).
func recipeWithRoundingCycle(data: String) -> Recipe {
    var recipe = tinyRecipe(data: data, steps: [4, 2])
    var s1b = recipe.stages[0]; s1b.name = "stage1b"; s1b.steps = 3; s1b.learningRate = 2e-3; s1b.warmupSteps = 1
    s1b.resetOptimizer = true; s1b.roundWeightsToF16 = true
    recipe.stages.insert(s1b, at: 1)
    return recipe
}

/// The shipped-model analogue a grown run starts from: the recipe's first stage alone, exported in f16.
func exportFirstStageInF16(_ recipe: Recipe, to dir: String) throws {
    var first = recipe; first.stages = [recipe.stages[0]]
    let shipped = try Trainer(recipe: first, root: "/", output: dir, tokenizerPath: tinyTokenizer) { _ in }
    shipped.exportType = .f16
    try shipped.run { _, _, _ in }
}

/// A stage with round_weights_to_f16 continues from an f16 export (the shipped model) exactly
/// as a from-scratch run of the whole recipe does: that run rounds at the stage's start.
@Test func aStageThatRoundsToF16StartsFromAnF16ExportBitForBit() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = recipeWithRoundingCycle(data: data)
    let full = try Trainer(recipe: recipe, root: "/", output: data + "/full", tokenizerPath: tinyTokenizer) { _ in }
    try full.run { _, _, _ in }
    try exportFirstStageInF16(recipe, to: data + "/shipped")
    var log: [String] = []
    let grown = try Trainer(recipe: recipe, root: "/", output: data + "/grown", tokenizerPath: tinyTokenizer) { log.append($0) }
    try grown.start(atStage: "stage1b", from: data + "/shipped")
    #expect(!log.contains { $0.contains("warning") }, "\(log)")   // f16 weights are what this stage starts from
    try grown.run { _, _, _ in }
    let differing = differingTensors(full, grown)
    #expect(differing.isEmpty, "differ from the full run: \(differing.prefix(5))")
    // Without the rounding the full run does not match the one grown from f16 weights.
    recipe.stages[1].roundWeightsToF16 = false
    let unrounded = try Trainer(recipe: recipe, root: "/", output: data + "/unrounded", tokenizerPath: tinyTokenizer) { _ in }
    try unrounded.run { _, _, _ in }
    var warned: [String] = []
    let fromF16 = try Trainer(recipe: recipe, root: "/", output: data + "/from-f16", tokenizerPath: tinyTokenizer) { warned.append($0) }
    try fromF16.start(atStage: "stage1b", from: data + "/shipped")
    #expect(warned.contains { $0.contains("warning") && $0.contains("bit for bit") }, "\(warned)")
    #expect(!differingTensors(unrounded, grown).isEmpty)
    // The key is written only when set, so recipes from before it keep their identity.
    let enc = String(decoding: try JSONEncoder().encode(recipe), as: UTF8.self)
    #expect(!enc.contains("round_weights_to_f16"))
    recipe.stages[1].roundWeightsToF16 = true
    #expect(String(decoding: try JSONEncoder().encode(recipe), as: UTF8.self).contains("\"round_weights_to_f16\":true"))
}

/// The shipped recipe's shape: a grown cycle that rounds to f16 at its start and a last stage
/// averaged with that start. A from-scratch run must compute exactly what the run grown from the
/// f16 export computes, so the snapshot it averages with is the rounded weights.
@Test func anAveragedCycleGrownFromAnF16ExportEqualsTheFromScratchRun() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = recipeWithRoundingCycle(data: data)
    recipe.stages[2].resetOptimizer = true
    recipe.stages[2].averageWithStartOf = "stage1b"
    let full = try Trainer(recipe: recipe, root: "/", output: data + "/full", tokenizerPath: tinyTokenizer) { _ in }
    try full.run { _, _, _ in }
    try exportFirstStageInF16(recipe, to: data + "/shipped")
    let grown = try Trainer(recipe: recipe, root: "/", output: data + "/grown", tokenizerPath: tinyTokenizer) { _ in }
    try grown.start(atStage: "stage1b", from: data + "/shipped")
    try grown.run { _, _, _ in }
    let differing = differingTensors(full, grown)
    #expect(differing.isEmpty, "differ from the full run: \(differing.prefix(5))")
    // The average is not a no-op here: without it the end differs.
    recipe.stages[2].averageWithStartOf = nil
    let plain = try Trainer(recipe: recipe, root: "/", output: data + "/plain", tokenizerPath: tinyTokenizer) { _ in }
    try plain.run { _, _, _ in }
    #expect(!differingTensors(plain, full).isEmpty)
}

@Test func adamBiasCorrectionRestartsAtAResetStage() throws {
    var recipe = tinyRecipe(data: "/nonexistent", steps: [3, 4])
    var mid = recipe.stages[0]; mid.name = "mid"; mid.steps = 2; mid.resetOptimizer = true
    recipe.stages.insert(mid, at: 1)
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    recipe.data = data
    let t = try Trainer(recipe: recipe, root: "/", output: data + "/t", tokenizerPath: tinyTokenizer) { _ in }
    #expect(t.adamStep(stageIndex: 0, step: 0) == 1)
    #expect(t.adamStep(stageIndex: 0, step: 2) == 3)
    #expect(t.adamStep(stageIndex: 1, step: 0) == 1)   // restarted
    #expect(t.adamStep(stageIndex: 2, step: 1) == 4)   // 2 steps of "mid" + 2
    recipe.stages[1].resetOptimizer = false
    let u = try Trainer(recipe: recipe, root: "/", output: data + "/u", tokenizerPath: tinyTokenizer) { _ in }
    #expect(u.adamStep(stageIndex: 2, step: 1) == 7)
}

@Test func twoRunsWithTheSameSeedAreIdentical() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    let r = tinyRecipe(data: data, steps: [3, 0 + 1])
    let a = try Trainer(recipe: r, root: "/", output: data + "/a", tokenizerPath: tinyTokenizer) { _ in }
    try a.run { _, _, _ in }
    let b = try Trainer(recipe: r, root: "/", output: data + "/b", tokenizerPath: tinyTokenizer) { _ in }
    try b.run { _, _, _ in }
    let differing = differingTensors(a, b)
    #expect(differing.isEmpty, "differ between identical runs: \(differing.prefix(5))")
}

/// Writes a 2-D `<f4` .npy file.
func writeNPY(_ rows: [[Float]], to path: String) throws {
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows.count), \(rows[0].count)), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 255), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
    for v in rows.joined() { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// A random 6-dimensional unit vector (coordinates uniform in [−0.5, 0.5), then normalised).
func randomUnitVector(_ rng: inout SplitMix64) -> [Float] {
    let v = (0..<6).map { _ in Float(rng.nextUnit()) - 0.5 }
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return v.map { $0 / n }
}

/// A teacher folder in scripts/teacher.py's layout inside `data`: random unit vectors for the
/// 24 queries and 24 passages, two mined candidates each. Returns the vectors.
func writeTeacherFolder(_ data: String) throws -> (queries: [[Float]], docs: [[Float]]) {
    var rng = SplitMix64(seed: 9)
    func unit() -> [Float] { randomUnitVector(&rng) }
    let tq = (0..<24).map { _ in unit() }, td = (0..<24).map { _ in unit() }
    try writeNPY(tq, to: data + "/queries.npy")
    try writeNPY(td, to: data + "/docs.npy")
    let cand = (0..<24).map { i in "{\"pos\": \(i), \"pos_score\": 1.0, \"cand\": [\((i + 1) % 24), \((i + 5) % 24)], \"score\": [0.1, 0.05]}" }
    try (cand.joined(separator: "\n") + "\n").write(toFile: data + "/candidates.jsonl", atomically: true, encoding: .utf8)
    return (tq, td)
}

/// The tiny recipe with the teacher folder `data` (written by `writeTeacherFolder`), random token embeddings.
func tinyTeacherRecipe(data: String) -> Recipe {
    var recipe = tinyRecipe(data: data, steps: [2, 1])
    recipe.teacher = data
    recipe.initEmbeddingsFromTeacher = false
    return recipe
}

/// The blended teacher's w comes from the recipe, or from the stage when the stage sets it.
@Test(arguments: [(Float(0.5), Float?.none, Float(0.5)), (0, 0.5, 0.5), (0.5, 0, 0)])
func blendedTeacherIsCosinePlusWeightedNormalisedBM25(recipeWeight: Float, stageWeight: Float?, want w: Float) throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    let (tq, td) = try writeTeacherFolder(data)
    var recipe = tinyTeacherRecipe(data: data)
    recipe.lexicalTeacherWeight = recipeWeight
    recipe.stages[0].lexicalTeacherWeight = stageWeight
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    var r = SplitMix64(seed: 3)
    let batch = trainer.buildBatch(stage: recipe.stages[0], rng: &r)
    // Independently: the passages' texts in the batch, BM25 over all 24 passages, cosines from the vectors.
    let passages = trainer.data.docs
    let bm = BM25(documents: passages)
    func sequence(_ i: Int) -> [Int32] { Array(batch.packed.ids[batch.packed.offsets[i]..<batch.packed.offsets[i] + batch.packed.lengths[i]]) }
    var checked = 0
    for (qi, scores) in batch.teacher.enumerated() {
        guard let scores else { continue }
        let pair = trainer.data.pairs.firstIndex { trainer.data.tokens(queryInstruction(task: trainingInstructions[$0.task] ?? "") + $0.query, maxLength: recipe.maxQueryLength) == sequence(qi) }!
        let docs = batch.allowed[qi].map { c in passages.firstIndex { trainer.data.tokens($0, maxLength: recipe.maxPassageLength) == sequence(batch.queryCount + c) }! }
        let q = bm.prepare(trainer.data.pairs[pair].query)
        let lex = docs.map { bm.score(q, document: $0) }
        let top = lex.max()!
        for (k, d) in docs.enumerated() {
            let cosine = zip(tq[pair], td[d]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let want = cosine + w * (top > 0 ? Float(lex[k] / top) : 0)
            #expect(abs(scores[k] - want) < 1e-3, "query \(qi) candidate \(k)")
        }
        #expect(top > 0 && scores.count == docs.count)
        checked += 1
    }
    #expect(checked == batch.queryCount)
}

/// A per-stage override replaces the recipe's value for that stage only: the first step under
/// the override is bit-identical to the same step with the recipe's value set to it, and differs
/// from the step under the recipe's own value. `set(recipe, recipeValue, stageValue)` applies one key.
func expectStageOverride(_ base: Recipe, data: String, recipeValue: Float, stageValue: Float,
                         set: (inout Recipe, Float, Float?) -> Void) throws {
    func firstStep(_ r: Float, _ st: Float?) throws -> StepReport {
        var recipe = base
        set(&recipe, r, st)
        let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run-\(r)-\(st ?? -1)", tokenizerPath: tinyTokenizer) { _ in }
        return trainer.trainStep(stage: recipe.stages[0], stageIndex: 0, step: 1)
    }
    let overridden = try firstStep(recipeValue, stageValue)
    let global = try firstStep(stageValue, nil)
    let plain = try firstStep(recipeValue, nil)
    for p in Pooling.allCases {
        #expect(overridden.loss[p] == global.loss[p], "\(p)")
        #expect(overridden.loss[p] != plain.loss[p], "\(p)")
    }
    #expect(overridden.gradNorm == global.gradNorm && overridden.gradNorm != plain.gradNorm)
}

@Test func stageDistillWeightOverridesTheRecipes() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    _ = try writeTeacherFolder(data)
    try expectStageOverride(tinyTeacherRecipe(data: data), data: data, recipeValue: 0, stageValue: 0.8) {
        $0.distillWeight = $1; $0.stages[0].distillWeight = $2
    }
}

@Test func stageTemperatureOverridesTheRecipes() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    try expectStageOverride(tinyRecipe(data: data, steps: [2, 1]), data: data, recipeValue: 0.1, stageValue: 0.02) {
        $0.temperature = $1; $0.stages[0].temperature = $2
    }
}

/// A stage's max_passage_length cuts that stage's passages and leaves its queries at
/// max_query_length: the same batch (same RNG) under the cap has every candidate within it and
/// some at it, under the recipe's cap some longer, and the same queries either way. (Stage 2's
/// examples are passage-side on both ends, so they take the cap too.)
@Test func stageMaxPassageLengthCutsThatStagesPassages() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = tinyRecipe(data: data, steps: [2, 1])
    recipe.stages[0].maxPassageLength = 12
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    #expect(recipe.maxPassageLength(in: recipe.stages[0]) == 12 && recipe.maxPassageLength(in: recipe.stages[1]) == 64)
    func sequences(_ stage: Recipe.Stage) -> (queries: [[Int32]], candidates: [Int]) {
        var r = SplitMix64(seed: 9)
        let b = trainer.buildBatch(stage: stage, rng: &r)
        let q = (0..<b.queryCount).map { Array(b.packed.ids[b.packed.offsets[$0]..<b.packed.offsets[$0] + b.packed.lengths[$0]]) }
        return (q, Array(b.packed.lengths[b.queryCount...]))
    }
    let cut = sequences(recipe.stages[0])
    var uncut = recipe.stages[0]
    uncut.maxPassageLength = nil
    let full = sequences(uncut)
    #expect(cut.candidates.allSatisfy { $0 <= 12 } && cut.candidates.contains(12), "\(cut.candidates)")
    #expect(full.candidates.contains { $0 > 12 } && full.candidates.count == cut.candidates.count)
    #expect(cut.queries == full.queries && cut.queries.contains { $0.count > 12 })
}

@Test func lexicalNegativesAreBM25MinedAndPositiveAware() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = tinyRecipe(data: data, steps: [2, 1])
    let passages = try String(contentsOfFile: data + "/train/retrieval.jsonl", encoding: .utf8).split(separator: "\n").map {
        (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]) }
    // Independently: BM25 over the 24 passages, each query's ranking without its own passage.
    let bm = BM25(documents: passages.map { $0["positive"] as! String })
    func ranking(_ i: Int) -> [Int] {
        let q = bm.prepare(passages[i]["query"] as! String)
        return (0..<24).filter { $0 != i && bm.score(q, document: $0) > 0 }
            .sorted { (a: Int, b: Int) -> Bool in bm.score(q, document: a) != bm.score(q, document: b) ? bm.score(q, document: a) > bm.score(q, document: b) : a < b }
    }
    // Teacher: random vectors, except that pair 0's best BM25 passage gets pair 0's query vector
    // (cosine 1 ≥ 0.95 × its positive's): the positive-aware rule must never pick it for pair 0.
    var rng = SplitMix64(seed: 4)
    func unit() -> [Float] { randomUnitVector(&rng) }
    let tq = (0..<24).map { _ in unit() }
    var td = (0..<24).map { _ in unit() }
    let banned = ranking(0)[0]
    td[banned] = tq[0]
    try writeNPY(tq, to: data + "/queries.npy")
    try writeNPY(td, to: data + "/docs.npy")
    let cand = (0..<24).map { i in "{\"pos\": \(i), \"pos_score\": 1.0, \"cand\": [\((i + 1) % 24)], \"score\": [0.1]}" }
    try (cand.joined(separator: "\n") + "\n").write(toFile: data + "/candidates.jsonl", atomically: true, encoding: .utf8)
    useMiningTeacher(&recipe, data: data)
    recipe.stages[0].lexicalNegatives = 1
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    #expect(trainer.data.lexicalCandidates == nil)
    try trainer.run { _, _, _ in }   // a stage with lexical negatives mines first
    let mined = try #require(trainer.data.lexicalCandidates)
    for i in 0..<24 { #expect(mined[i].map(Int.init) == Array(ranking(i).prefix(5)), "pair \(i)") }
    var sawPair0 = false, lexicalHits = 0, items = 0
    for (pair, docs) in batchPassages(trainer, recipe, seeds: 120) {
        #expect(docs.count == 3 && docs[0] == trainer.data.pairs[pair].doc && Set(docs).count == 3)
        let allowedLexical = Set(ranking(pair).prefix(5)).subtracting(pair == 0 ? [banned] : [])
        if !allowedLexical.isEmpty { #expect(docs[1...].contains { allowedLexical.contains($0) }, "pair \(pair): \(docs)") }
        if pair == 0 { sawPair0 = true; #expect(!docs.contains(banned)) }
        lexicalHits += docs[1...].filter { allowedLexical.contains($0) }.count
        items += 1
    }
    #expect(sawPair0 && lexicalHits >= items)
    recipe.stages[0].lexicalNegatives = 3
    #expect(throws: TrainingError.self) { try recipe.validate() }
}

/// `self_negatives`: at the stage's start each pair's `mine_top` nearest passages under the model
/// being trained (latent pooling; queries with their task's instruction), its own passage left
/// out, checked against rankings computed here from the starting model; the positive-aware rule
/// drops the one the teacher rates like the positive; a resumed stage reads the saved lists.
@Test func selfNegativesAreTheModelsOwnNearestPassagesAndPositiveAware() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = tinyRecipe(data: data, steps: [2, 1])
    useMiningTeacher(&recipe, data: data)
    recipe.stages[0].selfNegatives = 1
    // Teacher: random vectors, one mined candidate each.
    var rng = SplitMix64(seed: 4)
    func unit() -> [Float] { randomUnitVector(&rng) }
    let tq = (0..<24).map { _ in unit() }
    var td = (0..<24).map { _ in unit() }
    func writeTeacher() throws {
        try writeNPY(tq, to: data + "/queries.npy")
        try writeNPY(td, to: data + "/docs.npy")
        let cand = (0..<24).map { i in "{\"pos\": \(i), \"pos_score\": 1.0, \"cand\": [\((i + 1) % 24)], \"score\": [0.1]}" }
        try (cand.joined(separator: "\n") + "\n").write(toFile: data + "/candidates.jsonl", atomically: true, encoding: .utf8)
    }
    try writeTeacher()
    // Independently: the starting model's rankings (same seed, so the same starting weights).
    let probe = try Trainer(recipe: recipe, root: "/", output: data + "/probe", tokenizerPath: tinyTokenizer) { _ in }
    let model = try probe.currentModel()
    let pairs = probe.data.pairs, docs = probe.data.docs
    let docVectors = try model.embed(docs, options: EmbedOptions(poolings: [.latent], mask: recipe.mask, instruction: "", maxLength: recipe.maxPassageLength)).map { $0.vectors[.latent]! }
    func ranking(_ i: Int) throws -> [Int] {
        let o = EmbedOptions(poolings: [.latent], mask: recipe.mask, instruction: queryInstruction(task: trainingInstructions[pairs[i].task] ?? ""), maxLength: recipe.maxQueryLength)
        let q = try model.embed([pairs[i].query], options: o)[0].vectors[.latent]!
        let s = docVectors.map { v in zip(q, v).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
        return docs.indices.filter { $0 != pairs[i].doc }.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
    }
    let want = try (0..<24).map { try Array(ranking($0).prefix(5)) }
    // Pair 0's nearest passage gets pair 0's teacher query vector (cosine 1 ≥ 0.95 × its positive's).
    let banned = want[0][0]
    td[banned] = tq[0]
    try writeTeacher()
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    #expect(trainer.data.selfCandidates == nil)
    try trainer.run { _, _, _ in }   // a stage with self negatives mines first
    let mined = try #require(trainer.data.selfCandidates)
    // Scores of near-equal passages may swap at the last bit between batchings (the mining embeds
    // 2,048 texts a call, this test one): compare the top 5 as sets.
    for i in 0..<24 { #expect(Set(mined[i].map(Int.init)) == Set(want[i]), "pair \(i): \(mined[i]) vs \(want[i])") }
    var sawPair0 = false, selfHits = 0, items = 0
    for (pair, got) in batchPassages(trainer, recipe, seeds: 120) {
        #expect(got.count == 3 && got[0] == trainer.data.pairs[pair].doc)
        let allowed = Set(mined[pair].map(Int.init)).subtracting(pair == 0 ? [banned] : [])
        #expect(got[1...].contains { allowed.contains($0) }, "pair \(pair): \(got)")
        if pair == 0 { sawPair0 = true; #expect(!got.contains(banned)) }
        selfHits += got[1...].filter { allowed.contains($0) }.count
        items += 1
    }
    #expect(sawPair0 && selfHits >= items)
    // Resuming the stage reads the lists its start mined, not the trained weights' lists.
    let path = data + "/run/self-negatives-stage1.bin"
    #expect(FileManager.default.fileExists(atPath: path))
    trainer.data.selfCandidates = nil
    try trainer.mineSelfCandidates(stage: recipe.stages[0])
    #expect(trainer.data.selfCandidates == mined)
    // A file that is not a candidate list is refused, and the lists are mined again.
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
    #expect(throws: TrainingError.self) { _ = try trainer.readCandidateLists(path) }
    recipe.stages[0].lexicalNegatives = 1
    recipe.stages[0].selfNegatives = 2
    #expect(throws: TrainingError.self) { try recipe.validate() }
}

/// `blended_positive_aware`: the positive-aware rule reads the blended teacher. Pair 0's only
/// mined candidate, passage 5, has teacher cosine 0.97 with pair 0's query (above 0.95 × the
/// positive's 1.0: dropped by the cosine rule) and no word in common with it, while the positive
/// is BM25's best; blended with w = 0.5 it scores 0.97 against the positive's 1.5, so the rule
/// keeps it. The filter's scores are checked against an independent cosine + w · BM25 / max.
@Test func blendedPositiveAwareRuleReadsTheBlendedTeacher() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var rng = SplitMix64(seed: 4)
    func unit() -> [Float] { randomUnitVector(&rng) }
    var tq = (0..<24).map { _ in unit() }
    let u = unit()   // the part of passage 5's vector orthogonal to query 0
    let along = zip(u, tq[0]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
    let ortho = zip(u, tq[0]).map { $0 - along * $1 }
    let on = ortho.reduce(0) { $0 + $1 * $1 }.squareRoot()
    tq[5] = zip(tq[0], ortho).map { 0.97 * $0 + (1 - 0.97 * 0.97).squareRoot() * $1 / on }
    try writeNPY(tq, to: data + "/queries.npy")
    try writeNPY(tq, to: data + "/docs.npy")   // every positive's vector is its query's: cosine 1
    let cand = (0..<24).map { i in i == 0 ? "{\"pos\": 0, \"pos_score\": 1.0, \"cand\": [5], \"score\": [0.97]}"
                                          : "{\"pos\": \(i), \"pos_score\": 1.0, \"cand\": [\((i + 2) % 24)], \"score\": [0.1]}" }
    try (cand.joined(separator: "\n") + "\n").write(toFile: data + "/candidates.jsonl", atomically: true, encoding: .utf8)
    func negativesOfPair0(blended: Bool) throws -> Set<Int> {
        var recipe = tinyTeacherRecipe(data: data)
        recipe.stages[0].inBatchNegatives = false
        recipe.stages[0].hardNegatives = 1
        recipe.stages[0].lexicalTeacherWeight = 0.5
        recipe.stages[0].blendedPositiveAware = blended
        let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run-\(blended)", tokenizerPath: tinyTokenizer) { _ in }
        if blended {
            let bm = BM25(documents: trainer.data.docs)
            let q = bm.prepare(trainer.data.pairs[0].query)
            let lex = [0, 5].map { bm.score(q, document: $0) }
            #expect(lex[0] > 0 && lex[1] == 0)
            let got = try #require(trainer.blendedFilterScores(pair: 0, lexical: [], stage: recipe.stages[0]))
            #expect(abs(got[0]! - (1 + 0.5)) < 1e-4 && abs(got[5]! - 0.97) < 1e-4, "\(got)")
        }
        var seen = Set<Int>()
        for seed in 0..<200 {
            var r = SplitMix64(seed: UInt64(seed))
            let batch = trainer.buildBatch(stage: recipe.stages[0], rng: &r)
            func sequence(_ i: Int) -> [Int32] { Array(batch.packed.ids[batch.packed.offsets[i]..<batch.packed.offsets[i] + batch.packed.lengths[i]]) }
            for qi in 0..<batch.queryCount where sequence(qi) == trainer.data.tokens(queryInstruction(task: trainingInstructions[trainer.data.pairs[0].task] ?? "") + trainer.data.pairs[0].query, maxLength: recipe.maxQueryLength) {
                for c in batch.allowed[qi].dropFirst() {
                    seen.insert(trainer.data.docs.firstIndex { trainer.data.tokens($0, maxLength: recipe.maxPassageLength) == sequence(batch.queryCount + c) }!)
                }
            }
        }
        return seen
    }
    #expect(try negativesOfPair0(blended: true) == [5])
    let cosineRule = try negativesOfPair0(blended: false)
    #expect(!cosineRule.isEmpty && !cosineRule.contains(5), "\(cosineRule)")
}

/// `family_negatives`: with retrieval.jsonl's `entity` (here pair i's family is i mod 4, six
/// pairs each within one task), a stage's first negatives are other passages of the query's own
/// family; without `entity` there are no families and the stage mines as before.
@Test func familyNegativesComeFromTheQuerysOwnFamily() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = tinyRecipe(data: data, steps: [2, 1])
    recipe.stages[0].inBatchNegatives = false
    recipe.stages[0].hardNegatives = 2
    recipe.stages[0].familyNegatives = 1
    let plain = try Trainer(recipe: recipe, root: "/", output: data + "/run-plain", tokenizerPath: tinyTokenizer) { _ in }
    #expect(plain.data.familyDocs.isEmpty && plain.data.pairs.allSatisfy { $0.family == -1 })
    let path = data + "/train/retrieval.jsonl"
    let rows = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").enumerated().map { i, l in
        l.replacingOccurrences(of: "\"source\": \"x\"}", with: "\"source\": \"x\", \"entity\": \"x:\(i % 4)\"}") }
    try (rows.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    #expect(trainer.data.familyDocs.count == 4 && trainer.data.familyDocs.allSatisfy { $0.count == 6 })
    func docIndex(_ seq: [Int32]) -> Int { trainer.data.docs.firstIndex { trainer.data.tokens($0, maxLength: recipe.maxPassageLength) == seq }! }
    var items = 0
    for seed in 0..<40 {
        var r = SplitMix64(seed: UInt64(seed))
        let batch = trainer.buildBatch(stage: recipe.stages[0], rng: &r)
        func sequence(_ i: Int) -> [Int32] { Array(batch.packed.ids[batch.packed.offsets[i]..<batch.packed.offsets[i] + batch.packed.lengths[i]]) }
        for qi in 0..<batch.queryCount {
            let docs = batch.allowed[qi].map { docIndex(sequence(batch.queryCount + $0)) }
            let family = docs[0] % 4   // passage i belongs to pair i
            #expect(docs.count == 3 && docs[1] != docs[0] && docs[1] % 4 == family, "\(docs)")
            items += 1
        }
    }
    #expect(items >= 40 * 8)
    recipe.stages[0].lexicalNegatives = 2
    #expect(throws: TrainingError.self) { try recipe.validate() }
}

/// `crop_queries`: a cropped query is 4–12 consecutive words of its own positive under the crop
/// instruction, has no teacher target, and no candidate holding its excerpt (or that BM25 scores
/// within the margin of the positive) is its negative, in-batch or mined. With `crop_rare`, every
/// excerpt holds its passage's rarest word.
@Test(arguments: [false, true])
func cropQueriesAreExcerptsOfTheirPositiveWithoutFalseNegatives(rare: Bool) throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    _ = try writeTeacherFolder(data)
    var recipe = tinyTeacherRecipe(data: data)
    recipe.stages[0].cropQueries = 0.5
    recipe.stages[0].cropRare = rare
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    let docs = trainer.data.docs
    let bm = BM25(documents: docs)
    func docIndex(_ seq: [Int32]) -> Int { docs.firstIndex { trainer.data.tokens($0, maxLength: recipe.maxPassageLength) == seq }! }
    let cropPrefix = queryInstruction(task: cropInstruction)
    // Independently: each passage's rarest word (fewest passages holding it; the first on ties).
    func rarest(_ words: [String]) -> Int {
        let df = words.map { w in docs.filter { Set(BM25.tokenize($0)).contains(w.lowercased()) }.count }
        let counted = df.indices.filter { df[$0] > 0 && !BM25.tokenize(words[$0]).isEmpty }
        return counted.min { df[$0] < df[$1] || (df[$0] == df[$1] && $0 < $1) }!
    }
    var anchored = 0
    var cropped = 0, plain = 0, excludedInBatch = 0
    for seed in 0..<30 {
        var r = SplitMix64(seed: UInt64(seed))
        let batch = trainer.buildBatch(stage: recipe.stages[0], rng: &r)
        func sequence(_ i: Int) -> [Int32] { Array(batch.packed.ids[batch.packed.offsets[i]..<batch.packed.offsets[i] + batch.packed.lengths[i]]) }
        let candidates = (batch.queryCount..<batch.packed.lengths.count).map { docIndex(sequence($0)) }
        for qi in 0..<batch.queryCount {
            let positive = candidates[batch.positive[qi]]
            let words = docs[positive].split(separator: " ").map(String.init)
            // Which excerpt of the positive, if any, is this query?
            var excerpt: String? = nil, window = 0..<0
            for length in 4...12 where length <= words.count {
                for start in 0...(words.count - length) {
                    let e = words[start..<(start + length)].joined(separator: " ")
                    if trainer.data.tokens(cropPrefix + e, maxLength: recipe.maxQueryLength) == sequence(qi) { excerpt = e; window = start..<(start + length) }
                }
            }
            if excerpt != nil && window.contains(rarest(words)) { anchored += 1 }
            guard let excerpt else {
                #expect(batch.teacher[qi] != nil)   // an ordinary query keeps its soft target
                #expect(batch.allowed[qi].count == candidates.count)
                plain += 1
                continue
            }
            cropped += 1
            #expect(batch.teacher[qi] == nil)
            let q = bm.prepare(excerpt)
            let pos = bm.score(q, document: positive)
            for c in batch.allowed[qi] where c != batch.positive[qi] {
                let d = candidates[c]
                #expect(!docs[d].contains(excerpt), "negative \(d) holds \"\(excerpt)\"")
                #expect(bm.score(q, document: d) < 0.95 * pos)
            }
            excludedInBatch += candidates.count - batch.allowed[qi].count
        }
    }
    #expect(cropped > 60 && plain > 60, "cropped \(cropped), plain \(plain)")
    if rare {
        #expect(anchored == cropped)   // (an excerpt with a passage's unique number is in no other passage)
    } else {
        #expect(anchored < cropped)
        #expect(excludedInBatch > 0)   // the fixture's passages share 4-word runs, so the rule had work to do
    }
    recipe.stages[0].cropQueries = 1.5
    #expect(throws: TrainingError.self) { try recipe.validate() }
}

/// `question_queries` / `varied_instructions`: a query is its pair's query, plain or in one of its
/// task's question forms, under its task instruction or one of the varied ones; rewrites keep the
/// teacher's soft target and pool after the instruction. (That stages without the keys draw no
/// extra random numbers was checked on the real data: the shipped recipe's stage1f losses match.)
@Test func questionFormsAndVariedInstructionsRewriteQueriesOnly() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    _ = try writeTeacherFolder(data)
    var recipe = tinyTeacherRecipe(data: data)
    recipe.stages[0].questionQueries = 0.5
    recipe.stages[0].variedInstructions = 0.5
    recipe.stages[0].bareQueries = 0.25
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    let queries = Set(trainer.data.pairs.map(\.query))
    var plain = 0, questions = 0, varied = 0, bare = 0
    for seed in 0..<20 {
        var r = SplitMix64(seed: UInt64(seed))
        let batch = trainer.buildBatch(stage: recipe.stages[0], rng: &r)
        func sequence(_ i: Int) -> [Int32] { Array(batch.packed.ids[batch.packed.offsets[i]..<batch.packed.offsets[i] + batch.packed.lengths[i]]) }
        for qi in 0..<batch.queryCount {
            // Which (instruction, form, query) is this sequence? Exactly one must match.
            var matches: [(task: String, form: String)] = []   // (a varied instruction is tried under both tasks)
            for task in ["foldoc", "debian"] {
                for instruction in [trainingInstructions[task]!] + variedInstructions + [""] {
                    let prefix = queryInstruction(task: instruction)
                    for form in ["{}"] + questionTemplates[task]! {
                        for q in queries where trainer.data.tokens(prefix + form.replacingOccurrences(of: "{}", with: q), maxLength: recipe.maxQueryLength) == sequence(qi)
                            && !matches.contains(where: { $0 == (instruction, form) }) {
                            matches.append((instruction, form))
                            #expect(batch.poolStart[qi] == trainer.data.instructionLength(prefix))
                        }
                    }
                }
            }
            #expect(matches.count == 1, "query \(qi) of batch \(seed): \(matches.count) readings")
            guard let m = matches.first else { continue }
            if m.form == "{}" { plain += 1 } else { questions += 1 }
            if variedInstructions.contains(m.task) { varied += 1 }
            if m.task.isEmpty { bare += 1 }
            #expect(batch.teacher[qi] != nil)
        }
    }
    let total = plain + questions
    #expect(questions > total / 4 && plain > total / 4 && varied > total / 4 && varied < total * 3 / 4, "plain \(plain), questions \(questions), varied \(varied)")
    #expect(bare > total / 10 && bare < total * 4 / 10, "bare \(bare) of \(total)")   // bare_queries 0.25
    recipe.stages[0].questionQueries = -0.1
    #expect(throws: TrainingError.self) { try recipe.validate() }
    recipe.stages[0].questionQueries = 0
    recipe.stages[0].variedInstructions = 2
    #expect(throws: TrainingError.self) { try recipe.validate() }
    recipe.stages[0].variedInstructions = 0
    recipe.stages[0].bareQueries = 1.5
    #expect(throws: TrainingError.self) { try recipe.validate() }
}

/// `word_dropout`: each retrieval passage in a batch is its passage with whole words deleted,
/// about the stage's rate of them and never all; queries are untouched; rate 0 leaves every
/// passage whole; the key is validated.
@Test(arguments: [0.0, 0.3])
func wordDropoutDeletesWholeWordsOfPassagesOnly(rate: Double) throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = tinyRecipe(data: data, steps: [2, 1])
    recipe.maxPassageLength = 512   // no truncation: a kept passage is exactly its kept words
    recipe.stages[0].wordDropout = rate
    try recipe.validate()
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    let tokens = trainer.data
    // Each word's tokens (SentencePiece splits at whitespace, so a text's tokens are its words').
    let docWords: [[[Int32]]] = tokens.docs.map { doc in
        doc.split(whereSeparator: \.isWhitespace).map { Array(tokens.uncachedTokens(String($0), maxLength: 512).dropFirst().dropLast()) }
    }
    // How many of `words` a sequence keeps when it is BOS, the tokens of a subsequence of them, EOS (nil: it is not).
    func kept(_ seq: [Int32], _ words: [[Int32]]) -> Int? {
        let body = Array(seq.dropFirst().dropLast())
        var memo: [Int: Int?] = [:]
        func go(_ w: Int, _ p: Int) -> Int? {
            if p == body.count { return 0 }
            if w == words.count { return nil }
            if let m = memo[w * 100_000 + p] { return m }
            var r: Int? = nil
            let c = words[w]
            if p + c.count <= body.count, Array(body[p..<(p + c.count)]) == c, let rest = go(w + 1, p + c.count) { r = rest + 1 }
            if r == nil { r = go(w + 1, p) }
            memo[w * 100_000 + p] = r
            return r
        }
        return go(0, 0)
    }
    let queries = Set(trainer.data.pairs.map { tokens.tokens(queryInstruction(task: trainingInstructions[$0.task] ?? "") + $0.query, maxLength: recipe.maxQueryLength) })
    var keptWords = 0, allWords = 0, shortened = 0, passages = 0
    for seed in 0..<20 {
        var r = SplitMix64(seed: UInt64(seed))
        let batch = trainer.buildBatch(stage: recipe.stages[0], rng: &r)
        func sequence(_ i: Int) -> [Int32] { Array(batch.packed.ids[batch.packed.offsets[i]..<batch.packed.offsets[i] + batch.packed.lengths[i]]) }
        for qi in 0..<batch.queryCount { #expect(queries.contains(sequence(qi)), "query \(qi) of batch \(seed) was changed") }
        for ci in batch.queryCount..<batch.packed.lengths.count {
            let seq = sequence(ci)
            if rate == 0 {
                #expect(tokens.docs.contains { tokens.tokens($0, maxLength: 512) == seq }, "passage \(ci) of batch \(seed) is not whole")
                continue
            }
            // The passage it came from: the one with the most of its words in it.
            let best = docWords.indices.compactMap { d in kept(seq, docWords[d]).map { (d, $0) } }.max { $0.1 < $1.1 }
            guard let (d, k) = best else { Issue.record("passage \(ci) of batch \(seed) is no passage's words"); continue }
            #expect(k >= 1, "passage \(ci) of batch \(seed) kept no word")
            keptWords += k; allWords += docWords[d].count; passages += 1
            if k < docWords[d].count { shortened += 1 }
        }
    }
    if rate > 0 {
        let share = Double(keptWords) / Double(allWords)
        #expect(share > 0.62 && share < 0.78, "kept \(share) of the words at word_dropout \(rate)")
        #expect(shortened > passages / 2, "\(shortened) of \(passages) passages lost a word")
    }
    recipe.stages[0].wordDropout = 1
    #expect(throws: TrainingError.self) { try recipe.validate() }
    recipe.stages[0].wordDropout = -0.1
    #expect(throws: TrainingError.self) { try recipe.validate() }
}

/// `word_dropout_tasks`: only the named tasks' passages lose words; the others' stay whole;
/// an empty list, a list without a rate and a task the data lacks are errors.
@Test func wordDropoutTasksLimitsDropoutToTheNamedTasks() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    var recipe = tinyRecipe(data: data, steps: [2, 1])
    recipe.maxPassageLength = 512
    recipe.stages[0].wordDropout = 0.3
    recipe.stages[0].wordDropoutTasks = ["debian"]
    try recipe.validate()
    let trainer = try Trainer(recipe: recipe, root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    let tokens = trainer.data
    let whole = Set(tokens.docs.map { tokens.tokens($0, maxLength: 512) })
    var queryTask: [[Int32]: String] = [:]
    for p in trainer.data.pairs {
        queryTask[tokens.tokens(queryInstruction(task: trainingInstructions[p.task] ?? "") + p.query, maxLength: recipe.maxQueryLength)] = p.task
    }
    var shortened: [String: Int] = [:], batches: [String: Int] = [:]
    for seed in 0..<30 {
        var r = SplitMix64(seed: UInt64(seed))
        let batch = trainer.buildBatch(stage: recipe.stages[0], rng: &r)
        func sequence(_ i: Int) -> [Int32] { Array(batch.packed.ids[batch.packed.offsets[i]..<batch.packed.offsets[i] + batch.packed.lengths[i]]) }
        let task = try #require(queryTask[sequence(0)])   // stage 1: one task per batch
        batches[task, default: 0] += 1
        for ci in batch.queryCount..<batch.packed.lengths.count where !whole.contains(sequence(ci)) { shortened[task, default: 0] += 1 }
    }
    #expect((batches["foldoc"] ?? 0) > 0 && (batches["debian"] ?? 0) > 0, "\(batches)")
    #expect(shortened["foldoc"] == nil, "foldoc passages lost words: \(shortened)")
    #expect((shortened["debian"] ?? 0) > 0, "no debian passage lost a word: \(shortened)")
    // The restriction is part of the recipe's identity (a run resumes only under the same list).
    let encoded = String(decoding: try JSONEncoder().encode(recipe.stages[0]), as: UTF8.self)
    #expect(encoded.contains("word_dropout_tasks"))
    #expect(!String(decoding: try JSONEncoder().encode(Recipe.Stage()), as: UTF8.self).contains("word_dropout_tasks"))
    recipe.stages[0].wordDropoutTasks = ["wordnet-def"]
    #expect(throws: TrainingError.self) { try Trainer(recipe: recipe, root: "/", output: data + "/run2", tokenizerPath: tinyTokenizer) { _ in } }
    recipe.stages[0].wordDropoutTasks = []
    #expect(throws: TrainingError.self) { try recipe.validate() }
    recipe.stages[0].wordDropoutTasks = ["debian"]
    recipe.stages[0].wordDropout = 0
    #expect(throws: TrainingError.self) { try recipe.validate() }
}

/// `dropWords` keeps at least one word, even when every draw deletes.
@Test func dropWordsKeepsAWord() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    let trainer = try Trainer(recipe: tinyRecipe(data: data, steps: [2, 1]), root: "/", output: data + "/run", tokenizerPath: tinyTokenizer) { _ in }
    var r = SplitMix64(seed: 3)
    for _ in 0..<50 {
        let out = trainer.dropWords("alpha  beta\ngamma", rate: 0.999_999, rng: &r)
        #expect(["alpha", "beta", "gamma"].contains(out), "\(out)")
    }
    #expect(trainer.dropWords("alpha  beta\ngamma", rate: 0, rng: &r) == "alpha beta gamma")
    #expect(trainer.dropWords("", rate: 0.5, rng: &r) == "")
}

/// average_with_start_of: at the stage's end every weight is the mean of its value then and at
/// the named stage's start, computed here from two runs without the key; a run stopped inside
/// the stage, or right at its last step, resumes to exactly the same weights (averaged once).
@Test func averagingWithAStagesStartIsTheMeanOfItsTwoEnds() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    let plain = tinyRecipe(data: data, steps: [4, 3])
    var recipe = plain
    recipe.stages[1].averageWithStartOf = "stage2"
    try recipe.validate()
    let end = try Trainer(recipe: plain, root: "/", output: data + "/end", tokenizerPath: tinyTokenizer) { _ in }
    try end.run { _, _, _ in }
    var first = plain; first.stages = [plain.stages[0]]
    let start = try Trainer(recipe: first, root: "/", output: data + "/start", tokenizerPath: tinyTokenizer) { _ in }
    try start.run { _, _, _ in }
    var log: [String] = []
    let avg = try Trainer(recipe: recipe, root: "/", output: data + "/avg", tokenizerPath: tinyTokenizer) { log.append($0) }
    try avg.run { _, _, _ in }
    #expect(log.filter { $0.contains("averaged every weight") }.count == 1, "\(log)")
    for ((a, e), s) in zip(zip(avg.params.all, end.params.all), start.params.all) {
        let want = zip(e.value.array, s.value.array).map { ($0 + $1) * 0.5 }
        #expect(a.value.array == want, "\(a.name)")
    }
    #expect(!differingTensors(avg, end).isEmpty)
    // The exported model is the averaged one.
    let exported = try EmbeddingModel(folder: data + "/avg"), live = try avg.currentModel()
    let opts = EmbedOptions(instruction: "Instruct: x\nQuery: ")
    let x = try exported.embed(["embedding 3"], options: opts)[0], y = try live.embed(["embedding 3"], options: opts)[0]
    #expect(zip(x.vectors[.latent]!, y.vectors[.latent]!).allSatisfy { abs($0 - $1) < 1e-6 })
    for stopAt in [5, 7] {   // inside stage 2; at its last step, before the average
        let out = data + "/stopped-\(stopAt)"
        var n = 0
        let a1 = try Trainer(recipe: recipe, root: "/", output: out, tokenizerPath: tinyTokenizer) { _ in }
        #expect(try !a1.run(shouldStop: { n >= stopAt }) { _, _, _ in n += 1 })
        let a2 = try Trainer(recipe: recipe, root: "/", output: out, tokenizerPath: tinyTokenizer) { _ in }
        try a2.run { _, _, _ in }
        let differing = differingTensors(avg, a2)
        #expect(differing.isEmpty, "stopped at \(stopAt), differ after resume: \(differing.prefix(5))")
    }
    // Refused: naming an unknown or a later stage; starting after the named stage (its start
    // weights would not exist).
    var later = recipe; later.stages[0].averageWithStartOf = "stage2"
    var unknown = recipe; unknown.stages[1].averageWithStartOf = "nope"
    for bad in [later, unknown] { #expect(throws: TrainingError.self) { try bad.validate() } }
    var three = plain
    var s3 = plain.stages[1]; s3.name = "stage3"; s3.resetOptimizer = true; s3.averageWithStartOf = "stage2"
    three.stages.append(s3)
    try three.validate()
    #expect { _ = try three.startableStage("stage3") } throws: { "\($0)".contains("averages with the start of stage2") }
    // The key is written only when set.
    #expect(!String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("average_with_start_of"))
    #expect(String(decoding: try JSONEncoder().encode(recipe), as: UTF8.self).contains("\"average_with_start_of\":\"stage2\""))
}

/// `pooling_weights` scales each pooling's loss in the trained sum: weights 0 on mean and EOS
/// train exactly what `poolings: [latent]` trains (bit for bit), a weight of 0.5 on EOS trains
/// something else, and the losses are logged unweighted either way.
@Test func poolingWeightsScaleEachLossInTheSum() throws {
    let data = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    func run(_ name: String, _ edit: (inout Recipe) -> Void) throws -> (Trainer, [StepReport]) {
        var recipe = tinyRecipe(data: data, steps: [3, 1])
        edit(&recipe)
        try recipe.validate()
        let t = try Trainer(recipe: recipe, root: "/", output: data + "/" + name, tokenizerPath: tinyTokenizer) { _ in }
        var reports: [StepReport] = []
        try t.run { _, rep, _ in reports.append(rep) }
        return (t, reports)
    }
    let (latentOnly, a) = try run("latent") { $0.poolings = [.latent] }
    let (zeroed, b) = try run("zeroed") { $0.poolingWeights = ["mean": 0, "eos": 0] }
    let (half, c) = try run("half") { $0.poolingWeights = ["eos": 0.5] }
    let (plain, d) = try run("plain") { _ in }
    #expect(differingTensors(latentOnly, zeroed).isEmpty)
    #expect(!differingTensors(half, plain).isEmpty && !differingTensors(half, zeroed).isEmpty)
    #expect(a.map { $0.loss[.latent] } == b.map { $0.loss[.latent] })
    #expect(a[0].loss[.mean] == nil && b[0].loss[.mean] != nil)
    // Step 1 runs on the initial weights: every pooling's logged loss is the same whatever its weight.
    for p in Pooling.allCases { #expect(c[0].loss[p] == d[0].loss[p] && b[0].loss[p] == d[0].loss[p], "\(p)") }
    #expect(c[1].loss[.latent] != d[1].loss[.latent])
    for bad in [["cls": Float(1)], ["eos": -1], ["mean": .nan]] {
        var r = tinyRecipe(data: data, steps: [1, 1])
        r.poolingWeights = bad
        #expect(throws: TrainingError.self) { try r.validate() }
    }
    var r = tinyRecipe(data: data, steps: [1, 1])
    r.poolings = [.latent]
    r.poolingWeights = ["eos": 1]
    #expect { try r.validate() } throws: { "\($0)".contains("not one of the trained poolings") }
    // Absent, the key is not written, so recipes without it keep their identity (checkpoint hash).
    let shipped = try Recipe.load(path: trainingRepoRoot.appendingPathComponent("Models/recipes/nvembed-mini.json").path)
    #expect(shipped.poolingWeights == nil)
    #expect(!String(decoding: try JSONEncoder().encode(shipped), as: UTF8.self).contains("pooling_weights"))
    let parsed = try JSONDecoder().decode(Recipe.self, from: Data("{\"pooling_weights\": {\"mean\": 0.25}}".utf8))
    #expect(parsed.weight(of: .mean) == 0.25 && parsed.weight(of: .latent) == 1)
}

@Test func recipeErrorsAreClear() throws {
    var r = Recipe()
    r.stages = []
    #expect(throws: TrainingError.self) { try r.validate() }
    let bad = NSTemporaryDirectory() + "bad-recipe-\(getpid()).json"
    try "{\"stages\": \"nope\"}".write(toFile: bad, atomically: true, encoding: .utf8)
    #expect { _ = try Recipe.load(path: bad) } throws: { e in "\(e)".contains("recipe") }
    let shipped = try Recipe.load(path: trainingRepoRoot.appendingPathComponent("Models/recipes/nvembed-mini.json").path)
    try shipped.validate()
    #expect(shipped.stages.map(\.name) == ["stage1", "stage1b", "stage1c", "stage1d", "stage2", "stage1e", "stage2c", "stage1f", "stage2d"])
    for cycle in shipped.stages[1...3] { #expect(cycle.resetOptimizer && cycle.inBatchNegatives) }
    #expect(shipped.stages[3].lexicalNegatives == 1 && shipped.stages[3].hardNegatives == 2)
    // Stage 2: in-batch negatives off (NV-Embed); a warm restart below stage 1d's peak LR (3e-5 vs 3e-4).
    #expect(shipped.stages[4].inBatchNegatives == false && shipped.stages[4].resetOptimizer)
    #expect(shipped.stages[4].learningRate < shipped.stages[3].learningRate)
    // The grown cycle: stage1e starts from the f16-rounded weights (what the earlier shipped model
    // held), and the final stage 2 averages its end with stage1e's start (docs/TRAINING.md).
    #expect(shipped.stages[5].roundWeightsToF16 && shipped.stages[5].resetOptimizer && shipped.stages[5].inBatchNegatives)
    #expect(shipped.stages[6].averageWithStartOf == "stage1e" && !shipped.stages[6].inBatchNegatives)
    // The second grown cycle, the same shape, adds question-form queries and varied instructions.
    #expect(shipped.stages[7].roundWeightsToF16 && shipped.stages[7].resetOptimizer && shipped.stages[7].inBatchNegatives)
    #expect(shipped.stages[8].averageWithStartOf == "stage1f" && !shipped.stages[8].inBatchNegatives)
    #expect(shipped.stages[7...8].allSatisfy { $0.questionQueries > 0 && $0.variedInstructions > 0 })
    #expect(shipped.stages[..<7].allSatisfy { $0.questionQueries == 0 && $0.variedInstructions == 0 })
    // No stage sends queries bare (tried, not kept: docs/TRAINING.md); the model needs an instruction.
    #expect(shipped.stages.allSatisfy { $0.bareQueries == 0 })
    #expect(shipped.stages.filter { $0.averageWithStartOf != nil }.count == 2)
    var dup = shipped
    dup.stages[1].name = "stage1"
    #expect(throws: TrainingError.self) { try dup.validate() }
    for (tau, cap) in [(Float(0), 128), (-0.1, 128), (.nan, 128), (0.05, 2)] {
        var bad = shipped
        bad.stages[1].temperature = tau
        bad.stages[1].maxPassageLength = cap
        #expect(throws: TrainingError.self) { try bad.validate() }
    }
    for (alpha, w) in [(Float(1.5), Float(0)), (0.5, -1), (0.5, .nan)] {
        var bad = shipped
        bad.stages[1].distillWeight = alpha
        bad.stages[1].lexicalTeacherWeight = w
        #expect(throws: TrainingError.self) { try bad.validate() }
    }
    // Per-stage keys are written only when set, so recipes without them keep their identity.
    let json = try JSONDecoder().decode(Recipe.self, from: Data("{\"stages\": [{\"name\": \"s\", \"distill_weight\": 0.7}]}".utf8))
    #expect(json.stages[0].distillWeight == 0.7 && json.stages[0].lexicalTeacherWeight == nil)
    #expect(json.distillWeight(in: json.stages[0]) == 0.7 && json.lexicalTeacherWeight(in: json.stages[0]) == json.lexicalTeacherWeight)
    let encoded = String(decoding: try JSONEncoder().encode(shipped.stages[0]), as: UTF8.self)
    #expect(!encoded.contains("distill_weight") && !encoded.contains("lexical_teacher_weight"), "\(encoded)")
    #expect(!encoded.contains("temperature") && !encoded.contains("max_passage_length"), "\(encoded)")
}
}

/// The progress line's ETA follows the recent pace: after a change from 4 s to 2 s per step it
/// moves most of the way to the new pace within ~100 steps, ignores non-finite times, and is
/// nil before any step.
@Test func etaFollowsTheRecentPace() {
    var pace = StepTimeEstimate()
    #expect(pace.eta(remainingSteps: 10) == nil)
    for _ in 0..<200 { pace.add(stepSeconds: 4) }
    #expect(abs(pace.eta(remainingSteps: 100)! - 400) < 1e-6)
    for _ in 0..<100 { pace.add(stepSeconds: 2) }
    let s = pace.secondsPerStep!
    #expect(s > 2 && s < 2.3, "\(s) s/step after 100 steps at 2 s")
    pace.add(stepSeconds: .nan)
    pace.add(stepSeconds: -1)
    #expect(pace.secondsPerStep == s)
    #expect(pace.eta(remainingSteps: -5) == 0)
    // A slow first step (warm-up) gives the first estimate, then is forgotten at once.
    var resumed = StepTimeEstimate()
    resumed.add(stepSeconds: 30)
    #expect(resumed.eta(remainingSteps: 10) == 300)
    for _ in 0..<40 { resumed.add(stepSeconds: 6) }
    #expect(resumed.secondsPerStep == 6, "\(resumed.secondsPerStep!) s/step after 40 steps at 6 s")
}
