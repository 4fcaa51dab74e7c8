import ArgumentParser
import Foundation
import LensMath
import LensModel
import LensSupport
import LensRetrieval
import LensTraining

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure this machine's sgemm peak and the model's speed against it.",
        discussion: """
        Prints, from one run: the OpenBLAS sgemm peak measured now (GFLOP/s), batch-encoding \
        throughput (tokens/s) at several batch sizes and lengths with achieved GFLOP/s as a % of \
        that peak, single-query latency percentiles (tokenize + forward + all poolings), and peak RSS. \
        Numbers move with load on a shared host: compare ratios from the same run.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Seconds per throughput measurement.")
    var seconds: Double = 2

    @Option(name: .long, help: "Single-query latency samples.")
    var queries: Int = 200

    @Option(name: .long, parsing: .upToNextOption, help: "Batch shapes as BATCHxLENGTH, space- or comma-separated (default 32x16 32x64 8x256 4x512).")
    var shapes: [String] = ["32x16", "32x64", "8x256", "4x512"]

    @Flag(name: .long, help: "Also benchmark exact search over a synthetic store (--search-rows × width, f32 and f16).")
    var search = false

    @Option(name: .long, help: "Rows of the synthetic store for --search.")
    var searchRows: Int = 1_000_000

    @Option(name: .long, help: "Vector width of the synthetic store for --search.")
    var searchWidth: Int = 256

    @Flag(name: .long, help: "Also benchmark training steps (forward + backward + AdamW) on the model's shape.")
    var train = false

    @Flag(name: .long, help: "Also compare indexing into a fresh store with raw batch encoding of the same texts.")
    var index = false

    func run() throws {
        try runReportingErrors {
            let model = try modelOptions.load()
            let c = model.config
            let threads = BLAS.threads
            print("model      \(model.name): \(c.family.rawValue), \(formatCount(c.parameterCount)) parameters, hidden \(c.decoder.hiddenSize), \(c.decoder.numHiddenLayers) layers, \(c.decoder.numAttentionHeads)/\(c.decoder.numKeyValueHeads) heads" + (c.latent.map { ", latent \($0.numLatents)×\($0.numCrossHeads)×\($0.crossDimHead)" + (model.network.latentFolded ? " (folded)" : "") } ?? ""))
            let detected = ProcessInfo.processInfo.environment["LATENTLENS_BLAS_DETECTED"].map { " (selected by LatentLens; OpenBLAS detected \($0))" } ?? ""
            print("machine    OpenBLAS \(BLAS.coreName)\(detected), \(threads) thread(s), \(ProcessInfo.processInfo.activeProcessorCount) cores")
            if let notice = BLAS.userCoreTypeNotice() { print("note       " + notice) }
            print("bf16       " + (BF16Matmul.hardwareName.map { "\($0) through oneDNN (\(BF16Matmul.isaName)): `train --matmul bf16` available" }
                                 ?? "no AMX or AVX512_BF16 (oneDNN: \(BF16Matmul.isaName)): training products stay float32"))
            if model.network.weightsPacked {
                let kernel = [3: "AVX-512", 2: "AVX2"][PackedWeight.level] ?? "portable"
                print("small      batches ≤ \(EmbeddingNetwork.packedRowLimit) tokens: packed weights, \(kernel) kernel, \(min(threads, PackedWeight.threads)) thread(s)")
            }
            let d = c.decoder.hiddenSize
            let peakSquare = MachineLimits.sgemmGFLOPS(m: 1024, n: 1024, k: 1024)
            let peakModel = MachineLimits.sgemmGFLOPS(m: 2048, n: c.decoder.intermediateSize, k: d)
            let peak = max(peakSquare, peakModel)
            print(String(format: "sgemm      1024³: %.1f GFLOP/s   2048×%d×%d (model shape): %.1f GFLOP/s   → peak %.1f",
                         peakSquare, c.decoder.intermediateSize, d, peakModel, peak))
            let fma = MachineLimits.fmaPeakGFLOPS(threads: threads)
            if fma > 0, let vectors = MachineLimits.fmaVectors {
                print(String(format: "fma        %.1f GFLOP/s on %d thread(s), registers only (%@): the sgemm peak is %.0f%% of it",
                             fma, threads, vectors as NSString, 100 * peak / fma))
            }
            print("")
            print("batch encoding (bidirectional, decoder + latent block, random tokens)")
            print("  shape       tokens/s   GFLOP/s   % of peak   ms/batch")
            let ws = Workspace()
            var rng = SystemRandomNumberGenerator()
            for shape in shapes.flatMap({ $0.split(separator: ",").map(String.init) }) {
                let fields = shape.lowercased().split(separator: "x", omittingEmptySubsequences: false)
                let parts = fields.compactMap { Int($0) }
                guard fields.count == 2, parts.count == 2, parts[0] > 0, parts[1] > 1 else { throw CLIError("bad --shapes entry \(shape): use BATCHxLENGTH") }
                let (b, n) = (parts[0], parts[1])
                var batch = PackedBatch()
                for _ in 0..<b {
                    var ids: [Int32] = [c.decoder.bosTokenID]
                    for _ in 1..<n { ids.append(Int32.random(in: 3..<Int32(c.decoder.vocabSize), using: &rng)) }
                    batch.append(ids)
                }
                _ = model.network.forward(batch, mask: .bidirectional, workspace: ws)   // warm-up
                var best = Double.infinity
                let start = monotonicSeconds()
                repeat {
                    let t0 = monotonicSeconds()
                    _ = model.network.forward(batch, mask: .bidirectional, workspace: ws)
                    best = min(best, monotonicSeconds() - t0)
                } while monotonicSeconds() - start < seconds
                let flops = Double(b) * FlopCount.forward(c, length: n, folded: model.network.latentFolded)
                let gflops = flops / best / 1e9
                print(String(format: "  %-9@ %9.0f %9.1f %10.1f%% %10.2f", shape as NSString, Double(b * n) / best, gflops, 100 * gflops / peak, best * 1e3))
            }
            print("")
            let query = "how do I find which tokens made two sentences similar?"
            let instruction = queryInstruction(task: "Given a question, retrieve passages that answer the question")
            let prepared = model.prepare(query, instruction: instruction, maxLength: 4096)
            let options = EmbedOptions(poolings: Pooling.allCases.filter { $0 != .latent || model.hasLatentBlock }, instruction: instruction)
            _ = try model.embed([query], options: options)
            var times: [Double] = []
            for _ in 0..<max(queries, 1) {
                let t0 = monotonicSeconds()
                _ = try model.embed([query], options: options)
                times.append(monotonicSeconds() - t0)
            }
            let floor = FlopCount.forward(c, length: prepared.tokens.count, folded: model.network.latentFolded) / (peak * 1e9)
            print(String(format: "single query (%d tokens with instruction; tokenize + forward + all poolings), %d runs", prepared.tokens.count, times.count))
            print(String(format: "  p50 %.2f ms   p95 %.2f ms   p99 %.2f ms   FLOP floor at peak %.2f ms (p50 = %.1f× floor)",
                         percentile(times, 50) * 1e3, percentile(times, 95) * 1e3, percentile(times, 99) * 1e3, floor * 1e3,
                         percentile(times, 50) / floor))
            print("")
            if index { try benchIndex(model: model) }
            if search { try benchSearch() }
            if train { try benchTrain(model: model, peak: peak) }
            print(String(format: "peak RSS   %.1f MiB", Double(MachineLimits.peakRSSBytes()) / 1048576))
            print("")
            benchTokenizer(model: model)   // after the RSS figure: its test strings are not the model's memory
        }
    }
}

extension Bench {
    /// SentencePiece throughput on real prose (the bundled sample corpus, else a synthetic text),
    /// and what a huge one-line input costs before its first max-length tokens are kept.
    func benchTokenizer(model: EmbeddingModel) {
        let sample = ModelLocator.findInRepo("SampleCorpora/sampler.jsonl").flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        let text = String((sample ?? String(repeating: "a synthetic sentence about latent attention pooling, ", count: 20_000)).prefix(1_000_000))
        let bytes = text.utf8.count
        var best = Double.infinity, count = 0
        for _ in 0..<3 {
            let t0 = monotonicSeconds()
            count = model.tokenizer.encode(text, specialTokens: .parse).count
            best = min(best, monotonicSeconds() - t0)
        }
        print(String(format: "tokenizer  %.1f MB/s, %.0f tokens/s (%@, %.1f MB, best of 3)", Double(bytes) / best / 1e6, Double(count) / best,
                     (sample == nil ? "synthetic text" : "SampleCorpora/sampler.jsonl") as NSString, Double(bytes) / 1e6))
        var huge = text
        while huge.utf8.count < 16_000_000 { huge += huge }
        huge = huge.replacingOccurrences(of: "\n", with: " ")
        let t0 = monotonicSeconds()
        let prepared = model.prepare(huge, instruction: "", maxLength: 512)
        let cut = monotonicSeconds() - t0
        print(String(format: "           a %.0f MB one-line input prepared for 512 tokens: %.1f ms (only its first tokens are tokenized; whole: ~%.0f ms at the rate above)",
                     Double(huge.utf8.count) / 1e6, cut * 1e3, Double(huge.utf8.count) / (Double(bytes) / best) * 1e3) + (prepared.truncated ? "" : " — not truncated?"))
    }

    /// Top-10 over a synthetic memory-mapped store, next to this run's memory bandwidth.
    func benchSearch() throws {
        let n = searchRows, d = searchWidth
        let copy = MachineLimits.memcpyGBps()
        let read = MachineLimits.readGBps(threads: BLAS.threads)
        print("")
        print(String(format: "exact search over %d × %d (memory-mapped store; memcpy %.1f GB/s, read %.1f GB/s measured now)", n, d, copy, read))
        let dir = NSTemporaryDirectory() + "latentlens-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 7)
        for dtype in [DType.f32, .f16] {
            let path = dir + "/m-\(dtype.rawValue).vec"
            try writeSyntheticMatrix(path: path, rows: n, width: d, dtype: dtype, rng: &rng)
            let m = try StoredMatrix.open(path: path)
            let query = (0..<d).map { _ in Float(rng.nextGaussian()) }
            _ = m.search(query, k: 10)
            var times: [Double] = []
            let start = monotonicSeconds()
            while times.count < 40 && monotonicSeconds() - start < 10 {
                let t0 = monotonicSeconds()
                _ = m.search(query, k: 10)
                times.append(monotonicSeconds() - t0)
            }
            let bytes = Double(n * d * dtype.byteSize)
            let p50 = percentile(times, 50)
            print(String(format: "  %@  top-10: p50 %.1f ms  p95 %.1f ms   %.1f GB/s = %.0f%% of read bandwidth", dtype.rawValue as NSString,
                         p50 * 1e3, percentile(times, 95) * 1e3, bytes / p50 / 1e9, 100 * bytes / p50 / 1e9 / read))
        }
    }

    func writeSyntheticMatrix(path: String, rows: Int, width: Int, dtype: DType, rng: inout SplitMix64) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let fh = FileHandle(forWritingAtPath: path) else { throw CLIError("cannot write \(path)") }
        defer { fh.closeFile() }
        fh.write(Data(StoredMatrix.header(rows: rows, width: width, dtype: dtype)))
        let chunk = 8192
        var buf = [Float](repeating: 0, count: chunk * width)
        var half = [UInt16](repeating: 0, count: chunk * width)
        var r = 0
        while r < rows {
            let m = min(chunk, rows - r)
            for i in 0..<(m * width) { buf[i] = Float(rng.nextGaussian()) / Float(width).squareRoot() }
            if dtype == .f32 {
                buf.withUnsafeBytes { fh.write(Data($0.prefix(m * width * 4))) }
            } else {
                buf.withUnsafeBufferPointer { s in half.withUnsafeMutableBufferPointer { h in HalfPrecision.f32ToF16(s.baseAddress!, h.baseAddress!, count: m * width) } }
                half.withUnsafeBytes { fh.write(Data($0.prefix(m * width * 2))) }
            }
            r += m
        }
    }

    /// Store overhead: the same synthetic documents embedded raw (all poolings, batched) and
    /// indexed into an empty store (hashing, SQLite transactions, matrix files).
    func benchIndex(model: EmbeddingModel) throws {
        let words = ["latent", "attention", "pooling", "token", "vector", "query", "passage", "model", "embedding", "decoder",
                     "retrieval", "instruction", "mask", "layer", "the", "of", "a", "and", "with", "for"]
        var rng = SplitMix64(seed: 11)
        let docs = (0..<2000).map { i in (0..<(30 + Int(rng.next() % 50))).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ") + " \(i)" }
        let dir = NSTemporaryDirectory() + "latentlens-bench-index-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var jsonl = ""
        for (i, d) in docs.enumerated() { jsonl += "{\"id\": \"d\(i)\", \"text\": \"\(d)\"}\n" }
        try jsonl.write(toFile: dir + "/corpus.jsonl", atomically: true, encoding: .utf8)
        let poolings = model.hasLatentBlock ? Pooling.allCases : [.mean, .eos]
        var options = EmbedOptions(poolings: poolings, instruction: "", maxLength: 512)
        options.maxBatchTokens = 8192
        let t0 = monotonicSeconds()
        var tokens = 0
        for start in stride(from: 0, to: docs.count, by: 64) {
            let r = try model.embed(Array(docs[start..<min(start + 64, docs.count)]), options: options)
            tokens += r.reduce(0) { $0 + $1.input.tokens.count }
        }
        let raw = monotonicSeconds() - t0
        let store = try EmbeddingStore(directory: dir + "/store")
        var io = CorpusIndexer.Options(poolings: poolings)
        io.maxLength = 512
        let t1 = monotonicSeconds()
        _ = try CorpusIndexer.open(source: dir + "/corpus.jsonl", model: model, modelFingerprint: "bench", store: store, options: io)
        let indexed = monotonicSeconds() - t1
        print("")
        print("indexing \(docs.count) documents (\(tokens) tokens, all poolings)")
        print(String(format: "  raw batch encoding  %.0f tokens/s   (%.2f s)", Double(tokens) / raw, raw))
        print(String(format: "  into the store      %.0f tokens/s   (%.2f s)   store overhead %+.1f%%", Double(tokens) / indexed, indexed, 100 * (indexed / raw - 1)))
    }

    /// Training steps on synthetic batches of the model's shape: tokens/s and % of peak.
    func benchTrain(model: EmbeddingModel, peak: Double) throws {
        print("")
        print("training step (forward + backward + AdamW, bidirectional, all three poolings' losses)")
        let params = ParameterSet(config: model.config)
        try params.load(from: model.network.weights)
        let net = TrainableNetwork(params: params)
        let cache = ActivationCache()
        let c = model.config
        let optimizer = AdamW(beta1: 0.9, beta2: 0.98, epsilon: 1e-6, weightDecay: 0.01, clip: 1)
        var rng = SplitMix64(seed: 3)
        let precisions: [MatmulPrecision] = BF16Matmul.available ? [.fp32, .bf16] : [.fp32]
        if !BF16Matmul.available { print("  (bf16 products not measured: oneDNN finds \(BF16Matmul.isaName), no AMX or AVX512_BF16)") }
        for (b, n) in [(128, 24), (256, 80)] {
            var batch = PackedBatch()
            for _ in 0..<b { batch.append([c.decoder.bosTokenID] + (1..<n).map { _ in Int32(3 + Int(rng.next() % UInt64(c.decoder.vocabSize - 3))) }) }
            let d = c.decoder.hiddenSize, T = batch.totalTokens
            let dHidden = FloatBuffer(count: T * d), dLatent = FloatBuffer(count: T * d)
            // Rounds alternate between precisions, so host noise falls on both alike.
            var best = [MatmulPrecision: Double]()
            for _ in 0..<3 {
                for precision in precisions {
                    let t0 = monotonicSeconds()
                    params.zeroGrad()
                    BF16Matmul.with(precision) {
                        _ = net.forward(batch, mask: .bidirectional, cache: cache)
                        for i in 0..<(T * d) { dHidden[i] = 1e-3; dLatent[i] = 1e-3 }
                        net.backward(cache: cache, dHidden: dHidden.pointer, dLatent: c.latent != nil ? dLatent.pointer : nil)
                    }
                    optimizer.step(params, lr: 1e-6, step: 1)
                    best[precision] = min(best[precision] ?? .infinity, monotonicSeconds() - t0)
                }
            }
            let flops = 3 * Double(b) * FlopCount.forward(c, length: n)
            for precision in precisions {
                let t = best[precision]!
                let ratio = precision == .fp32 ? "" : String(format: "   %.2f× fp32", best[.fp32]! / t)
                print(String(format: "  %3d × %3d tokens, %@: %.0f tokens/s   %.1f GFLOP/s = %.0f%% of the sgemm peak   (%.2f s/step)%@",
                             b, n, precision.rawValue as NSString, Double(T) / t, flops / t / 1e9, 100 * flops / t / 1e9 / peak, t, ratio as NSString))
            }
        }
    }
}

func formatCount(_ n: Int) -> String {
    n >= 1_000_000 ? String(format: "%.1fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
}
