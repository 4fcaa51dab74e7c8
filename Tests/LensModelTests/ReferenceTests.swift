import Foundation
import Testing
import LensMath
import LensModel

/// Swift forward pass vs the float64 numpy reference (scripts/reference.py) on tiny
/// random checkpoints in the NV-Embed-v2 layout. Tolerances: 1e-4 for f32 weights,
/// 2e-3 for f16/bf16 (the weights are the same values on both sides, so real errors are
/// far smaller; the bounds are the issue's).
@Suite struct ReferenceTests {
    static let variants: [(String, Double)] = [
        ("tiny-nvembed-f32", 1e-4), ("tiny-nvembed-f16", 2e-3), ("tiny-nvembed-bf16", 2e-3),
        ("tiny-mistral-f32", 1e-4), ("tiny-llama-bf16", 2e-3),
    ]

    @Test(arguments: variants)
    func matchesNumpyReference(_ name: String, _ tolerance: Double) throws {
        let model = try EmbeddingModel(folder: fixture(name))
        let ref = try ReferenceFile.load(fixture(name))
        #expect(ref.cases.count >= 5)
        var worst = 0.0
        for c in ref.cases {
            var opts = EmbedOptions(poolings: model.hasLatentBlock ? Pooling.allCases : [.mean, .eos],
                                    mask: AttentionMask(rawValue: c.mask)!, instruction: c.instruction,
                                    maxLength: c.max_length, trace: c.trace ?? false)
            opts.maxBatchTokens = 1 << 20   // one mixed-length batch
            let got = try model.embed(c.texts, options: opts)
            for (g, r) in zip(got, c.outputs) {
                #expect(g.input.ids == r.ids, "\(name)/\(c.name): ids")
                #expect(g.input.poolMask.map { $0 ? 1 : 0 } == r.pool_mask, "\(name)/\(c.name): pool mask")
                #expect(g.input.truncated == r.truncated, "\(name)/\(c.name): truncated flag")
                var diffs = [maxAbsDiff(g.vectors[.mean]!, r.mean), maxAbsDiff(g.vectors[.eos]!, r.eos)]
                if let lat = r.latent { diffs.append(maxAbsDiff(g.vectors[.latent]!, lat)) }
                let d = diffs.max()!
                worst = max(worst, d)
                #expect(d <= tolerance, "\(name)/\(c.name): max abs diff \(d)")
                if let shares = r.shares, let t = g.trace {
                    for (k, v) in shares {
                        #expect(maxAbsDiff(t.shares[Pooling(rawValue: k)!]!, v) <= tolerance * 10, "\(name)/\(c.name): \(k) shares")
                        #expect(abs(v.reduce(0, +) - 1) < 1e-9)
                    }
                    if let probs = r.latent_probabilities {
                        let flat = probs.flatMap { $0.flatMap { $0 } }
                        #expect(t.heads == probs.count && t.latents == probs[0][0].count)
                        #expect(maxAbsDiff(t.latentProbabilities, flat) <= tolerance, "\(name)/\(c.name): latent probabilities")
                    }
                }
            }
        }
        print("\(name): worst max-abs difference vs float64 reference = \(worst)")
    }

    /// Per-token match contributions (which tokens made this match): against the text's own
    /// unit vector they are the numpy reference's shares; against any unit query they sum to
    /// the cosine of the two vectors and are linear in the query; EOS puts it all on the last token.
    @Test(arguments: ["tiny-nvembed-f32", "tiny-nvembed-bf16"])
    func matchContributionsDecomposeTheScore(_ name: String) throws {
        let model = try EmbeddingModel(folder: fixture(name))
        let ref = try ReferenceFile.load(fixture(name))
        let poolings: [Pooling] = model.hasLatentBlock ? Pooling.allCases : [.mean, .eos]
        var checked = 0
        for c in ref.cases where c.trace == true {
            let base = EmbedOptions(poolings: poolings, mask: AttentionMask(rawValue: c.mask)!, instruction: c.instruction, maxLength: c.max_length)
            let plain = try model.embed(c.texts, options: base)
            let query = try model.embed(["a query about something else"], options: EmbedOptions(poolings: poolings, instruction: "Instruct: q\nQuery: "))[0]
            for (i, r) in c.outputs.enumerated() {
                guard let shares = r.shares else { continue }
                var opts = base
                opts.trace = true
                opts.matchQueries = plain[i].vectors                        // the text's own direction
                let own = try model.embed([c.texts[i]], options: opts)[0].trace!
                for (k, v) in shares { #expect(maxAbsDiff(own.matches[Pooling(rawValue: k)!]!, v) <= 1e-3, "\(name)/\(c.name): \(k) own match = share") }
                opts.matchQueries = query.vectors
                let q1 = try model.embed([c.texts[i]], options: opts)[0].trace!
                var half = query.vectors
                for p in poolings { half[p] = half[p]!.map { $0 * 0.5 } }
                opts.matchQueries = half
                let qh = try model.embed([c.texts[i]], options: opts)[0].trace!
                for p in poolings {
                    let score = zip(plain[i].vectors[p]!, query.vectors[p]!).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                    let sum = q1.matches[p]!.reduce(0.0) { $0 + Double($1) }
                    #expect(abs(sum - score) <= 1e-5, "\(name)/\(c.name) \(p): contributions sum \(sum), cosine \(score)")
                    #expect(maxAbsDiff(qh.matches[p]!.map { $0 * 2 }, q1.matches[p]!.map(Double.init)) <= 1e-6, "\(p): linear in the query")
                    if p == .eos { #expect(q1.matches[p]!.dropLast().allSatisfy { $0 == 0 }) }
                }
                checked += 1
            }
        }
        #expect(checked >= 2)
    }

    @Test func batchedEqualsOneByOne() throws {
        let model = try EmbeddingModel(folder: fixture("tiny-nvembed-f32"))
        let texts = ["short", "a somewhat longer text about latent attention pooling", "안녕", "x y z 1 2 3"]
        for mask in AttentionMask.allCases {
            var opts = EmbedOptions(mask: mask, instruction: "Instruct: find it\nQuery: ")
            opts.maxBatchTokens = 1 << 20
            let batched = try model.embed(texts, options: opts)
            for (i, t) in texts.enumerated() {
                let single = try model.embed([t], options: opts)[0]
                for p in Pooling.allCases {
                    #expect(maxAbsDiff(batched[i].vectors[p]!, single.vectors[p]!) <= 1e-6, "\(mask) \(p) text \(i)")
                }
            }
        }
    }

    @Test func blasEqualsNaiveLoops() throws {
        let model = try EmbeddingModel(folder: fixture("tiny-nvembed-f16"))
        let texts = ["blas versus naive loops", "two", "three words here"]
        for mask in AttentionMask.allCases {
            let a = try model.embed(texts, options: EmbedOptions(mask: mask, instruction: "Instruct: x\nQuery: ", backend: .blas))
            let b = try model.embed(texts, options: EmbedOptions(mask: mask, instruction: "Instruct: x\nQuery: ", backend: .naive))
            for (x, y) in zip(a, b) {
                for p in Pooling.allCases { #expect(maxAbsDiff(x.vectors[p]!, y.vectors[p]!) <= 1e-5, "\(mask) \(p)") }
            }
        }
    }

    /// The inference fast paths equal the plain forms: the folded latent block (products with
    /// the constant latents taken once) and the stacked q/k/v and gate/up projections, on
    /// vectors of every pooling and the per-head latent probabilities.
    @Test(arguments: ["tiny-nvembed-f32", "tiny-nvembed-bf16"])
    func fastPathsEqualPlainForms(_ name: String) throws {
        let a = try EmbeddingModel(folder: fixture(name))
        let b = EmbeddingModel(folder: a.folder, config: a.config, tokenizer: a.tokenizer, weights: a.network.weights,
                               foldLatents: false, fuseProjections: false)
        #expect(a.network.latentFolded && !b.network.latentFolded)
        #expect(a.network.projectionsFused && !b.network.projectionsFused)
        #expect(a.network.weightsPacked == PackedWeight.available && !b.network.weightsPacked)
        // Folded and stacked but on OpenBLAS (not the packed small-input kernel).
        let c = EmbeddingModel(folder: a.folder, config: a.config, tokenizer: a.tokenizer, weights: a.network.weights, packWeights: false)
        #expect(c.network.latentFolded && c.network.projectionsFused && !c.network.weightsPacked)
        let texts = ["folded latent attention", "two", "a longer third text, so the batch has mixed lengths"]
        for mask in AttentionMask.allCases {
            let opts = EmbedOptions(mask: mask, instruction: "Instruct: x\nQuery: ", trace: true)
            let va = try a.embed(texts, options: opts), vb = try b.embed(texts, options: opts), vc = try c.embed(texts, options: opts)
            for (x, (y, z)) in zip(va, zip(vb, vc)) {
                for p in Pooling.allCases {
                    #expect(maxAbsDiff(x.vectors[p]!, y.vectors[p]!) <= 1e-5, "\(mask) \(p)")
                    #expect(maxAbsDiff(x.vectors[p]!, z.vectors[p]!) <= 1e-5, "\(mask) \(p) packed")
                }
                #expect(maxAbsDiff(x.trace!.latentProbabilities, y.trace!.latentProbabilities) <= 1e-5)
            }
        }
    }

    /// Streaming half-precision weights (convert on use) gives the same vectors as
    /// materialising them.
    @Test(arguments: ["tiny-nvembed-f16", "tiny-nvembed-bf16"])
    func streamedWeightsEqualMaterialized(_ name: String) throws {
        let a = try EmbeddingModel(folder: fixture(name), residency: .materialize)
        let b = try EmbeddingModel(folder: fixture(name), residency: .stream)
        #expect(b.network.weights.residency == .stream && b.network.weights.layers[0].wq.isStreamed)
        let texts = ["streamed weights", "a second, longer text about the latent attention block"]
        let opts = EmbedOptions(instruction: "Instruct: x\nQuery: ")
        let va = try a.embed(texts, options: opts), vb = try b.embed(texts, options: opts)
        for (x, y) in zip(va, vb) { for p in Pooling.allCases { #expect(maxAbsDiff(x.vectors[p]!, y.vectors[p]!) <= 1e-6, "\(name) \(p)") } }
    }

    @Test func plainDecoderRefusesLatentPooling() throws {
        let model = try EmbeddingModel(folder: fixture("tiny-mistral-f32"))
        #expect(!model.hasLatentBlock)
        #expect(throws: EmbeddingError.noLatentBlock(model: "tiny-mistral-f32")) {
            _ = try model.embed(["x"], options: EmbedOptions(poolings: [.latent]))
        }
        let r = try model.embed(["x"], options: EmbedOptions(poolings: [.mean, .eos]))
        #expect(r[0].vectors[.mean]!.count == 32)
    }

    @Test func emptyPoolIsAnError() throws {
        let model = try EmbeddingModel(folder: fixture("tiny-nvembed-f32"))
        let instruction = "Instruct: Given a question, retrieve passages\nQuery: "
        #expect(throws: EmbeddingError.self) {
            _ = try model.embed(["anything"], options: EmbedOptions(instruction: instruction, maxLength: 5))
        }
    }
}
