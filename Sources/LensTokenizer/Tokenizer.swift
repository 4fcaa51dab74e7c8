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
    /// Encodes enough of `text` that the first `limit` tokens are exactly `encode(text)`'s
    /// (all of them when the text has no more): a huge input costs what its first tokens do.
    func encodeLeading(_ text: String, limit: Int, specialTokens: SpecialTokenHandling) -> [Token]
    /// The piece string of an id.
    func piece(for id: Int32) -> String
    /// Turns ids back into text.
    func decode(_ ids: [Int32]) -> String
}

extension Tokenizer {
    public func encodeLeading(_ text: String, limit: Int, specialTokens: SpecialTokenHandling) -> [Token] {
        encode(text, specialTokens: specialTokens)
    }
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
        longestPiece = pieces.map(\.utf8.count).max() ?? 1
        // "▁" (U+2581) is how SentencePiece writes a space. A piece that puts something other
        // than "▁" right before a "▁" would let a merge join a word to the space after it.
        spaceStartsEveryPiece = !pieces.contains { p in
            var previous: Character?
            for c in p { if c == "▁", let b = previous, b != "▁" { return true }; previous = c }
            return false
        }
    }

    /// Bytes of the longest piece: a text of n bytes has at least n / longestPiece tokens.
    public let longestPiece: Int
    /// True when no piece runs from a non-space into a space (as with `split_by_whitespace`,
    /// Mistral's and LLaMA's models): cutting a text just before a space that follows a
    /// non-space then leaves every token before the cut as it was.
    public let spaceStartsEveryPiece: Bool

    /// Cuts a long text before tokenizing it: just before the first space (after a non-space)
    /// that lies beyond `(limit + 2) · longestPiece` bytes, so the prefix holds more than `limit`
    /// tokens, each exactly as in the whole text. A text with no such space within four times
    /// that is cut there at a character boundary: BPE merges only join neighbours, so a cut that
    /// far past the last kept token leaves it alone (checked on runs of one letter, CJK and
    /// random scalars in the tests). A vocabulary that joins words to spaces gets no cut.
    public func encodeLeading(_ text: String, limit: Int, specialTokens: SpecialTokenHandling) -> [Token] {
        let start = (max(0, limit) + 2) * longestPiece
        let utf8 = text.utf8
        guard spaceStartsEveryPiece, utf8.count > start else { return encode(text, specialTokens: specialTokens) }
        var i = utf8.index(utf8.startIndex, offsetBy: start)
        var previous = utf8[utf8.index(before: i)]
        let far = utf8.index(utf8.startIndex, offsetBy: 4 * start, limitedBy: utf8.endIndex)
        var cut: String.UTF8View.Index?
        while i < (far ?? utf8.endIndex) {
            let b = utf8[i]
            if b == UInt8(ascii: " ") && previous != UInt8(ascii: " ") { cut = i; break }
            previous = b
            i = utf8.index(after: i)
        }
        if cut == nil, var c = far, c < utf8.endIndex {
            while (utf8[c] & 0xC0) == 0x80 { c = utf8.index(before: c) }   // a scalar's first byte
            cut = c
        }
        guard let cut else { return encode(text, specialTokens: specialTokens) }
        return encode(String(text[..<cut]), specialTokens: specialTokens)
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
