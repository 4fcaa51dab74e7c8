import ArgumentParser
import Foundation
import LensMath
import LensModel

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

    @Option(name: .long, parsing: .upToNextOption, help: "Batch shapes as BATCHxLENGTH (default 32x16 32x64 8x256 4x512).")
    var shapes: [String] = ["32x16", "32x64", "8x256", "4x512"]

    func run() throws {
        try runReportingErrors {
            let model = try modelOptions.load()
            let c = model.config
            let threads = BLAS.threads
            print("model      \(model.name): \(c.family.rawValue), \(formatCount(c.parameterCount)) parameters, hidden \(c.decoder.hiddenSize), \(c.decoder.numHiddenLayers) layers, \(c.decoder.numAttentionHeads)/\(c.decoder.numKeyValueHeads) heads" + (c.latent.map { ", latent \($0.numLatents)×\($0.numCrossHeads)×\($0.crossDimHead)" } ?? ""))
            let detected = ProcessInfo.processInfo.environment["LATENTLENS_BLAS_DETECTED"].map { " (selected by LatentLens; OpenBLAS detected \($0))" } ?? ""
            print("machine    OpenBLAS \(BLAS.coreName)\(detected), \(threads) thread(s), \(ProcessInfo.processInfo.activeProcessorCount) cores")
            let d = c.decoder.hiddenSize
            let peakSquare = MachineLimits.sgemmGFLOPS(m: 1024, n: 1024, k: 1024)
            let peakModel = MachineLimits.sgemmGFLOPS(m: 2048, n: c.decoder.intermediateSize, k: d)
            let peak = max(peakSquare, peakModel)
            print(String(format: "sgemm      1024³: %.1f GFLOP/s   2048×%d×%d (model shape): %.1f GFLOP/s   → peak %.1f",
                         peakSquare, c.decoder.intermediateSize, d, peakModel, peak))
            print("")
            print("batch encoding (bidirectional, decoder + latent block, random tokens)")
            print("  shape       tokens/s   GFLOP/s   % of peak   ms/batch")
            let ws = Workspace()
            var rng = SystemRandomNumberGenerator()
            for shape in shapes {
                let parts = shape.lowercased().split(separator: "x").compactMap { Int($0) }
                guard parts.count == 2, parts[0] > 0, parts[1] > 1 else { throw CLIError("bad --shapes entry \(shape): use BATCHxLENGTH") }
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
                let flops = Double(b) * FlopCount.forward(c, length: n)
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
            let floor = FlopCount.forward(c, length: prepared.tokens.count) / (peak * 1e9)
            print(String(format: "single query (%d tokens with instruction; tokenize + forward + all poolings), %d runs", prepared.tokens.count, times.count))
            print(String(format: "  p50 %.2f ms   p95 %.2f ms   p99 %.2f ms   FLOP floor at peak %.2f ms (p50 = %.1f× floor)",
                         percentile(times, 50) * 1e3, percentile(times, 95) * 1e3, percentile(times, 99) * 1e3, floor * 1e3,
                         percentile(times, 50) / floor))
            print("")
            print(String(format: "peak RSS   %.1f MiB", Double(MachineLimits.peakRSSBytes()) / 1048576))
        }
    }
}

func formatCount(_ n: Int) -> String {
    n >= 1_000_000 ? String(format: "%.1fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
}
