import ArgumentParser
import Foundation
import LensModel
import LensSupport

/// `--pooling latent|mean|eos|all`.
enum PoolingChoice: String, ExpressibleByArgument, CaseIterable {
    case latent, mean, eos, all

    func poolings(for model: EmbeddingModel) -> [Pooling] {
        switch self {
        case .all: return model.hasLatentBlock ? Pooling.allCases : [.mean, .eos]
        default: return [Pooling(rawValue: rawValue)!]
        }
    }
}

/// Options that shape the model's input and output, shared by embed / search / eval.
struct EncodingOptions: ParsableArguments {
    @Option(name: .long, help: "Pooling: latent, mean, eos or all.")
    var pooling: PoolingChoice = .all

    @Option(name: .long, help: "Attention mask: bidirectional (NV-Embed) or causal.")
    var mask: AttentionMask = .bidirectional

    @Option(name: .long, help: ArgumentHelp("Task instruction, sent as 'Instruct: TASK\\nQuery: ' and masked from the pool.", valueName: "TASK"))
    var instruction: String?

    @Option(name: .long, help: ArgumentHelp("Exact instruction prefix, used as given (instead of --instruction).", valueName: "PREFIX"))
    var rawInstruction: String?

    @Option(name: .long, help: "Maximum tokens per input including <s> and </s>; longer inputs are truncated (and flagged).")
    var maxLength: Int = 4096

    func validate() throws {
        if instruction != nil && rawInstruction != nil { throw ValidationError("give --instruction or --raw-instruction, not both") }
        if maxLength < 1 { throw ValidationError("--max-length must be at least 1") }
    }

    /// The instruction prefix: --raw-instruction as given, --instruction TASK wrapped
    /// ('' = none), or, when neither is given, `defaultTask` wrapped (nil: none).
    func instructionPrefix(defaultTask: String? = nil) -> String {
        rawInstruction ?? (instruction ?? defaultTask).map { queryInstruction(task: $0) } ?? ""
    }

    /// `defaultTask`: the query instruction used when the command line names none (search and
    /// eval give queries `defaultSearchTask`; embed, whose texts are usually documents, none).
    func embedOptions(for model: EmbeddingModel, defaultTask: String? = nil, trace: Bool = false) throws -> EmbedOptions {
        if pooling == .latent && !model.hasLatentBlock { throw EmbeddingError.noLatentBlock(model: model.name) }
        return EmbedOptions(poolings: pooling.poolings(for: model), mask: mask, instruction: instructionPrefix(defaultTask: defaultTask),
                            maxLength: maxLength, trace: trace)
    }
}

/// An instruction prefix on one line, for reports: "none" or the prefix with its newline as ⏎.
func describeInstruction(_ prefix: String) -> String {
    prefix.isEmpty ? "none" : "\"" + prefix.replacingOccurrences(of: "\n", with: "⏎") + "\""
}

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed texts; print JSON Lines.",
        discussion: """
        One JSON object per text: text, tokens (id, piece, byte range in instruction+text, pooled), \
        truncated, text_offset, and one L2-normalised vector per pooling under its name. With --trace: \
        latent_probabilities [heads][tokens][latents] and shares {pooling: [per-token share]} \
        (definitions in docs/TRACES.md); with --match QUERY also match {pooling: [each token's part \
        of the cosine with the query]}, which sums to match_score, the score `search` gives. Input: TEXT arguments, '-' for stdin (one text per line), \
        or --input FILE.jsonl (objects with "text", optional "id"; '-' reads JSONL from stdin). \
        Malformed lines are reported as file:line and skipped.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var encoding: EncodingOptions

    @Flag(name: .long, help: "Add per-token traces.")
    var trace = false

    @Option(name: .long, help: ArgumentHelp("With --trace: each token's part of the cosine with QUERY (embedded as search embeds queries: the general instruction, or --match-instruction).", valueName: "QUERY"))
    var match: String?

    @Option(name: .long, help: ArgumentHelp("Task instruction for --match's query ('' for none).", valueName: "TASK"))
    var matchInstruction: String?

    @Option(name: .long, help: ArgumentHelp("JSON Lines input with a \"text\" field.", valueName: "FILE.jsonl"))
    var input: String?

    @Option(name: .long, help: "Round vector components to N decimals.")
    var digits: Int?

    @Argument(help: "Texts to embed ('-' reads lines from stdin).")
    var texts: [String] = []

    /// Checked in `run`, not `validate`: ArgumentParser validates before it reports an unknown
    /// option, so `embed --bogus` would otherwise say "give TEXT arguments".
    func checkInputs() throws {
        if input == nil && texts.isEmpty { throw ValidationError("give TEXT arguments, '-' or --input FILE.jsonl") }
        if input != nil && !texts.isEmpty { throw ValidationError("give TEXT arguments or --input, not both") }
        if match != nil && !trace { throw ValidationError("--match needs --trace") }
        if matchInstruction != nil && match == nil { throw ValidationError("--match-instruction needs --match") }
    }

    func run() throws {
        try checkInputs()
        try runReportingErrors {
            let items = try gatherInputs()
            guard !items.isEmpty else { throw CLIError("no valid input texts") }
            let model = try modelOptions.load()
            var options = try encoding.embedOptions(for: model, trace: trace)
            if let match {
                // The query side exactly as `search` embeds it, with the texts' mask.
                let q = try model.embed([match], options: EmbedOptions(poolings: options.poolings, mask: options.mask,
                                                                       instruction: queryInstruction(task: matchInstruction ?? defaultSearchTask)))[0]
                options.matchQueries = q.vectors
            }
            var skipped = 0
            for chunkStart in stride(from: 0, to: items.count, by: 256) {
                let chunk = Array(items[chunkStart..<min(chunkStart + 256, items.count)])
                var ready: [(item: Item, input: PreparedInput)] = []
                for item in chunk {
                    let input = model.prepare(item.text, instruction: options.instruction, maxLength: options.maxLength)
                    // An empty pool is reported for that input alone; the rest go on.
                    if input.pooledCount == 0 {
                        warn("\(item.origin): \(EmbeddingError.emptyPool(index: item.index, tokens: input.tokens.count, masked: input.maskedPrefix)); skipped")
                        skipped += 1
                    } else {
                        ready.append((item, input))
                    }
                }
                let results = try model.embed(prepared: ready.map(\.input), options: options)
                for (entry, r) in zip(ready, results) { emit(render(r, id: entry.item.id)) }
            }
            if skipped > 0 { warn("\(skipped) input(s) skipped") }
        }
    }

    struct Item { var text: String; var id: String?; var origin: String; var index: Int }

    func gatherInputs() throws -> [Item] {
        var items: [Item] = []
        var skipped = 0
        if let input {
            let name = input == "-" ? "<stdin>" : input
            let bytes: [UInt8]
            do { bytes = try readAllBytes(path: input) } catch { throw CLIError("cannot read \(name): \(error)") }
            for (line, result) in utf8Lines(bytes, file: name) {
                switch result {
                case .failure(let issue): warn("\(issue); skipped"); skipped += 1
                case .success(let s):
                    if s.allSatisfy(\.isWhitespace) { continue }
                    guard let obj = try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else {
                        warn("\(name):\(line): not a JSON object; skipped"); skipped += 1; continue
                    }
                    guard let text = obj["text"] as? String else {
                        warn("\(name):\(line): no string field \"text\"; skipped"); skipped += 1; continue
                    }
                    let id = (obj["id"] as? String) ?? (obj["_id"] as? String) ?? (obj["id"] as? Int).map(String.init)
                    items.append(Item(text: text, id: id, origin: "\(name):\(line)", index: items.count))
                }
            }
        } else {
            for t in texts {
                if t == "-" {
                    let bytes = try readAllBytes(path: "-")
                    for (line, result) in utf8Lines(bytes, file: "<stdin>") {
                        switch result {
                        case .failure(let issue): warn("\(issue); skipped"); skipped += 1
                        case .success(let s): items.append(Item(text: s, id: nil, origin: "<stdin>:\(line)", index: items.count))
                        }
                    }
                } else {
                    items.append(Item(text: t, id: nil, origin: "argument \(items.count + 1)", index: items.count))
                }
            }
        }
        if skipped > 0 { warn("\(skipped) malformed input line(s) skipped, \(items.count) read") }
        return items
    }

    func render(_ r: EmbeddingResult, id: String?) -> String {
        var w = JSONWriter()
        w.beginObject()
        if let id { w.member("id", id) }
        w.member("text", r.input.text)
        if !r.input.instruction.isEmpty { w.member("instruction", r.input.instruction) }
        w.member("text_offset", r.input.textByteOffset)
        w.key("tokens")
        w.beginArray()
        for (i, t) in r.input.tokens.enumerated() {
            w.beginObject()
            w.member("id", Int(t.id))
            w.member("piece", t.piece)
            w.key("bytes"); w.ints([t.byteRange.lowerBound, t.byteRange.upperBound])
            w.member("pooled", r.input.poolMask[i])
            w.endObject()
        }
        w.endArray()
        w.member("truncated", r.input.truncated)
        for p in Pooling.allCases {
            if let v = r.vectors[p] { w.key(p.rawValue); w.floats(v, digits: digits) }
        }
        if let t = r.trace {
            w.key("trace")
            w.beginObject()
            w.key("shares")
            w.beginObject()
            for p in Pooling.allCases { if let s = t.shares[p] { w.key(p.rawValue); w.floats(s, digits: 6) } }
            w.endObject()
            if !t.matches.isEmpty {
                w.key("match")
                w.beginObject()
                for p in Pooling.allCases { if let m = t.matches[p] { w.key(p.rawValue); w.floats(m, digits: 6) } }
                w.endObject()
                w.key("match_score")
                w.beginObject()
                for p in Pooling.allCases { if let m = t.matches[p] { w.member(p.rawValue, m.reduce(0.0) { $0 + Double($1) }) } }
                w.endObject()
            }
            if t.heads > 0 {
                writeLatentProbabilities(&w, t.latentProbabilities, heads: t.heads, tokens: r.input.tokens.count, latents: t.latents)
            }
            w.endObject()
        }
        w.endObject()
        return w.text
    }
}
