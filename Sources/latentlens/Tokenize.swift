import ArgumentParser
import LensModel
import LensSupport
import LensTokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print token ids and pieces.",
        discussion: "Tokenizes each TEXT with the model's SentencePiece tokenizer, the way embed does: <s>, the instruction and text, then </s>. Literal <s>, </s> and <unk> in the text become their special ids, as in the Hugging Face tokenizer NV-Embed ships.")

    @Option(name: .long, help: ArgumentHelp("Model folder (only tokenizer.model and config.json are read).", valueName: "DIR"))
    var model: String = ModelLocator.defaultModelFolder()

    @Option(name: .long, help: "Task instruction, wrapped as 'Instruct: TASK\\nQuery: '.")
    var instruction: String?

    @Flag(name: .long, help: "Raw SentencePiece: no <s>/</s>, literal special tokens stay text.")
    var raw = false

    @Flag(name: .long, help: "One JSON object per text.")
    var json = false

    @Argument(help: "Texts to tokenize.")
    var texts: [String]

    func run() throws {
        try runReportingErrors {
            let tok: SentencePieceTokenizer
            do { tok = try SentencePieceTokenizer(path: model + "/tokenizer.model") } catch { throw CLIError("\(error)") }
            let config = try? ModelConfig.load(path: model + "/config.json")
            let prefix = instruction.map { queryInstruction(task: $0) } ?? ""
            for text in texts {
                var tokens = tok.encode(prefix + text, specialTokens: raw ? .plain : .parse)
                if !raw {
                    let bos = config?.decoder.bosTokenID ?? tok.bosID, eos = config?.decoder.eosTokenID ?? tok.eosID
                    let end = (prefix + text).utf8.count
                    tokens = [Token(id: bos, piece: tok.piece(for: bos), byteRange: 0..<0)] + tokens
                        + [Token(id: eos, piece: tok.piece(for: eos), byteRange: end..<end)]
                }
                if json {
                    var w = JSONWriter()
                    w.beginObject()
                    w.member("text", text)
                    w.key("ids"); w.ints(tokens.map(\.id))
                    w.key("pieces"); w.beginArray(); for t in tokens { w.string(t.piece) }; w.endArray()
                    w.endObject()
                    emit(w.text)
                } else {
                    emit("\(tokens.count) tokens")
                    emit("ids:    " + tokens.map { String($0.id) }.joined(separator: " "))
                    emit("pieces: " + tokens.map { $0.piece.debugDescription }.joined(separator: " "))
                }
            }
        }
    }
}
