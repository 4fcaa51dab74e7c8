/// One token of an encoded text.
public struct Token: Equatable, Sendable, Codable {
    /// Vocabulary id.
    public var id: Int32
    /// The SentencePiece piece (e.g. "▁Hello", "<0x0A>", "</s>").
    public var piece: String
    /// UTF-8 byte range of the input text this token covers (empty for tokens that
    /// cover no input, such as an added `<s>`/`</s>` or all but the last byte piece of
    /// a byte-fallback character).
    public var byteRange: Range<Int>

    public init(id: Int32, piece: String, byteRange: Range<Int>) {
        self.id = id
        self.piece = piece
        self.byteRange = byteRange
    }
}

/// How literal special-token strings (`<s>`, `</s>`, `<unk>`) typed inside a text are treated.
public enum SpecialTokenHandling: Sendable {
    /// Like the Hugging Face tokenizer NV-Embed ships (LlamaTokenizer, legacy mode): the
    /// literal becomes the special id and the text around it is encoded piecewise,
    /// each piece with its own dummy-prefix "▁".
    case parse
    /// Plain SentencePiece: the literal is ordinary text (`</s>` → "</", "s", ">").
    case plain
}

/// A text tokenizer with a SentencePiece-style vocabulary.
public protocol Tokenizer: Sendable {
    var vocabularySize: Int { get }
    var bosID: Int32 { get }
    var eosID: Int32 { get }
    /// Encodes `text` without adding `<s>` or `</s>`.
    func encode(_ text: String, specialTokens: SpecialTokenHandling) -> [Token]
    /// The piece string of an id.
    func piece(for id: Int32) -> String
    /// Turns ids back into text.
    func decode(_ ids: [Int32]) -> String
}

/// A SentencePiece `tokenizer.model` loaded through libsentencepiece.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    public let processor: SentencePieceProcessor
    /// Path the model came from (nil when loaded from bytes).
    public let path: String?
    private let pieces: [String]
    private let specials: [(literal: [UInt8], id: Int32)]

    public convenience init(path: String) throws {
        try self.init(processor: SentencePieceProcessor(modelPath: path), path: path)
    }

    public init(processor: SentencePieceProcessor, path: String? = nil) {
        self.processor = processor
        self.path = path
        let n = processor.vocabularySize
        pieces = (0..<n).map { processor.piece(for: Int32($0)) ?? "" }
        var specials: [(literal: [UInt8], id: Int32)] = []
        for id in [processor.unkID, processor.bosID, processor.eosID] where id >= 0 && Int(id) < n {
            let p = pieces[Int(id)]
            if !p.isEmpty { specials.append((Array(p.utf8), id)) }
        }
        // Longest first so that a literal that is a prefix of another never wins.
        self.specials = specials.sorted { $0.literal.count > $1.literal.count }
    }

    public var vocabularySize: Int { pieces.count }
    public var bosID: Int32 { processor.bosID }
    public var eosID: Int32 { processor.eosID }
    public var unkID: Int32 { processor.unkID }

    public func piece(for id: Int32) -> String {
        id >= 0 && Int(id) < pieces.count ? pieces[Int(id)] : "<invalid:\(id)>"
    }

    public func decode(_ ids: [Int32]) -> String { processor.decode(ids) }

    public func encode(_ text: String, specialTokens: SpecialTokenHandling = .parse) -> [Token] {
        var text = text
        return text.withUTF8 { utf8 -> [Token] in
            var tokens: [Token] = []
            tokens.reserveCapacity(utf8.count / 3 + 4)
            var segmentStart = 0
            var i = 0
            func flush(upTo end: Int) {
                guard end > segmentStart else { return }
                let seg = UnsafeBufferPointer(rebasing: utf8[segmentStart..<end])
                for p in processor.encode(utf8: seg) {
                    tokens.append(Token(id: p.id, piece: piece(for: p.id),
                                        byteRange: (segmentStart + p.begin)..<(segmentStart + p.end)))
                }
            }
            if specialTokens == .parse {
                while i < utf8.count {
                    var matched: (literal: [UInt8], id: Int32)?
                    if utf8[i] == UInt8(ascii: "<") {
                        for s in specials where i + s.literal.count <= utf8.count {
                            var eq = true
                            for (k, b) in s.literal.enumerated() where utf8[i + k] != b { eq = false; break }
                            if eq { matched = s; break }
                        }
                    }
                    if let m = matched {
                        flush(upTo: i)
                        tokens.append(Token(id: m.id, piece: piece(for: m.id), byteRange: i..<(i + m.literal.count)))
                        i += m.literal.count
                        segmentStart = i
                    } else {
                        i += 1
                    }
                }
            }
            flush(upTo: utf8.count)
            return tokens
        }
    }
}
