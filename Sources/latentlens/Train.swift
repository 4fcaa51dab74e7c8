import ArgumentParser
import Foundation
import LensMath
import LensModel
import LensTraining

/// Set by SIGINT/SIGTERM; polled between training steps.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an NV-Embed-style model with a recipe (two-stage contrastive instruction tuning).",
        discussion: """
        RECIPE is a JSON file or the name of one in Models/recipes/. Needs the data built by \
        `python3 scripts/build_data.py` (and, for hard-negative mining and distillation, the \
        teacher outputs of scripts/teacher.py). Writes train.csv, eval.csv, a checkpoint (every \
        checkpoint_every steps) and finally the model folder to --out. Ctrl-C saves a checkpoint; \
        running the same command again resumes exactly where it stopped.
        """)

    @Option(name: .long, help: "Recipe file or name (Models/recipes/NAME.json).")
    var recipe: String

    @Option(name: .long, help: "Output folder (model, logs, checkpoint).")
    var out: String

    @Option(name: .long, help: "BLAS threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp("SentencePiece model (default: the Mistral v0.1 tokenizer in Models/).", valueName: "FILE"))
    var tokenizer: String?

    @Flag(name: .long, help: "Write the model folder from the latest checkpoint in --out and stop (no training).")
    var exportOnly = false

    @Flag(name: .long, help: "Evaluate the (subsampled) dev sets at the latest checkpoint, or with --start-stage/--from at that model, append the read to --out/eval.csv, and stop.")
    var evalOnly = false

    @Option(name: .long, help: ArgumentHelp("Start a fresh run at this stage (one with reset_optimizer) from --from instead of training the stages before it.", valueName: "STAGE"))
    var startStage: String?

    @Option(name: .customLong("from"), help: ArgumentHelp("With --start-stage: the f32 model the earlier stages exported (e.g. RUN/after-stage1).", valueName: "DIR"))
    var fromModel: String?

    @Option(name: .long, help: "dtype of the exported model.safetensors: f32, f16 or bf16 (training state is always f32).")
    var exportDtype: String = "f32"

    @Option(name: .long, help: ArgumentHelp("Precision of the network's large matrix products: fp32 (OpenBLAS, any CPU) or bf16 (bfloat16 operands, float32 sums, through oneDNN on CPUs with AMX or AVX512_BF16; docs/PERFORMANCE.md).", valueName: "fp32|bf16"))
    var matmul: String = "fp32"

    func run() throws {
        try runReportingErrors {
            guard let precision = MatmulPrecision(rawValue: matmul.lowercased()) else { throw ValidationError("--matmul is fp32 or bf16") }
            if precision == .bf16 && !BF16Matmul.available {
                throw ValidationError("--matmul bf16 needs a CPU with AMX or AVX512_BF16 (oneDNN finds \(BF16Matmul.isaName) here); train with --matmul fp32")
            }
            if let threads { BLAS.setThreads(threads) }
            if let notice = BLAS.userCoreTypeNotice() { warn("note: " + notice) }
            let recipePath = recipe.hasSuffix(".json") || recipe.contains("/") ? recipe
                : (ModelLocator.findInRepo("Models/recipes/\(recipe).json") ?? "Models/recipes/\(recipe).json")
            let r = try Recipe.load(path: recipePath)
            let root = ModelLocator.findInRepo("Package.swift").map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath
            let tok = tokenizer ?? (ModelLocator.findInRepo("Models/mistral-tokenizer/tokenizer.model") ?? "Models/mistral-tokenizer/tokenizer.model")
            // Checked before the data loads (a minute) so a wrong flag fails at once.
            switch (startStage, fromModel) {
            case let (stage?, folder?):
                _ = try r.startableStage(stage)
                guard FileManager.default.fileExists(atPath: folder + "/config.json") else { throw ValidationError("--from \(folder): no config.json there") }
            case (nil, nil): break
            default: throw ValidationError("--start-stage and --from go together")
            }
            let trainer = try Trainer(recipe: r, root: root, output: out, tokenizerPath: tok) { warn($0) }
            guard let dtype = DType(rawValue: exportDtype.uppercased()) else { throw ValidationError("--export-dtype is f32, f16 or bf16") }
            trainer.exportType = dtype
            trainer.matmulPrecision = precision
            if precision == .bf16 { warn("matmul: bfloat16 operands, float32 sums, on \(BF16Matmul.hardwareName ?? "?") (oneDNN \(BF16Matmul.isaName)), for products of ≥ \(BF16Matmul.minimumWork) multiply-adds") }
            if let stage = startStage, let folder = fromModel { try trainer.start(atStage: stage, from: folder) }
            if exportOnly || evalOnly {
                if evalOnly { try trainer.evaluateDev() }
                if exportOnly { try trainer.export() }
                return
            }
            signal(SIGINT) { _ in stopRequested = 1 }
            signal(SIGTERM) { _ in stopRequested = 1 }
            let isTTY = isatty(2) != 0
            var lastPrint = 0.0
            let totalSteps = r.stages.reduce(0) { $0 + $1.steps }
            let flops = 3 * FlopCount.forward(r.config, length: 64)   // per token, roughly
            var pace = StepTimeEstimate()
            let done = try trainer.run(shouldStop: { stopRequested != 0 }) { state, rep, stage in
                pace.add(stepSeconds: rep.seconds)
                let now = monotonicSeconds()
                guard isTTY || now - lastPrint > 30 || state.step == stage.steps else { return }
                lastPrint = now
                let frac = Double(state.globalStep) / Double(totalSteps)
                let eta = pace.eta(remainingSteps: totalSteps - state.globalStep) ?? .infinity
                let bar = String(repeating: "█", count: Int(frac * 24)) + String(repeating: "·", count: 24 - Int(frac * 24))
                let losses = r.poolings.map { "\($0.rawValue) " + String(format: "%.3f", rep.loss[$0] ?? 0) }.joined(separator: " ")
                let tps = Double(rep.tokens) / rep.seconds
                let line = "\(stage.name) \(state.globalStep)/\(totalSteps) \(bar) \(losses) acc " + String(format: "%.2f", rep.accuracy[r.poolings[0]] ?? 0)
                    + " │ \(Int(tps)) tok/s \(Int(tps * flops / 64 / 1e9)) GFLOP/s │ ETA \(formatDuration(eta))"
                FileHandle.standardError.write(Data(((isTTY ? "\r\u{1B}[K" : "") + line + (isTTY ? "" : "\n")).utf8))
            }
            if isTTY { FileHandle.standardError.write(Data("\n".utf8)) }
            if !done { throw ExitCode(130) }
        }
    }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s)
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}
