import Foundation
import Testing
import LensTokenizer

/// Repository root, found from this file's path.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let fixtures = repoRoot.appendingPathComponent("Tests/LensTokenizerTests/Fixtures")
let mistralModel = repoRoot.appendingPathComponent("Models/mistral-tokenizer/tokenizer.model").path

struct GoldenFile: Decodable {
    struct Piece: Decodable { let id: Int32; let piece: String; let begin: Int; let end: Int }
    struct Case: Decodable { let text: String; let tokens: [Piece] }
    let model: String
    let vocab_size: Int
    let bos: Int32
    let eos: Int32
    let unk: Int32
    let cases: [Case]
}

struct HFGoldens: Decodable {
    struct Literal: Decodable { let text: String; let ids: [Int32] }
    let literal_cases: [Literal]
}

func loadJSON<T: Decodable>(_ name: String, as: T.Type) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(contentsOf: fixtures.appendingPathComponent(name)))
}

/// Compares the Swift tokenizer with Python `sentencepiece` on every golden string:
/// ids, pieces and byte ranges must be identical.
func checkGoldens(_ file: String) throws {
    let golden = try loadJSON(file, as: GoldenFile.self)
    let tok = try SentencePieceTokenizer(path: repoRoot.appendingPathComponent(golden.model).path)
    #expect(tok.vocabularySize == golden.vocab_size)
    #expect(tok.bosID == golden.bos && tok.eosID == golden.eos && tok.unkID == golden.unk)
    #expect(golden.cases.count > 50)
    for c in golden.cases {
        let got = tok.encode(c.text, specialTokens: .plain)
        #expect(got.map(\.id) == c.tokens.map(\.id), "ids differ for \(c.text.prefix(60).debugDescription)")
        #expect(got.map(\.piece) == c.tokens.map(\.piece), "pieces differ for \(c.text.prefix(60).debugDescription)")
        #expect(got.map(\.byteRange) == c.tokens.map { $0.begin..<$0.end }, "byte ranges differ for \(c.text.prefix(60).debugDescription)")
    }
}

@Test func mistralTokenizerMatchesPythonSentencePiece() throws {
    try checkGoldens("goldens-mistral.json")
}

@Test func tinyTrainedTokenizerMatchesPythonSentencePiece() throws {
    try checkGoldens("goldens-tiny.json")
}

@Test func literalSpecialTokensMatchHuggingFaceLegacyTokenizer() throws {
    let hf = try loadJSON("goldens-hf.json", as: HFGoldens.self)
    let tok = try SentencePieceTokenizer(path: mistralModel)
    #expect(hf.literal_cases.count >= 10)
    for c in hf.literal_cases {
        #expect(tok.encode(c.text, specialTokens: .parse).map(\.id) == c.ids, "\(c.text.debugDescription)")
    }
}

@Test func plainModeKeepsLiteralSpecialTokensAsText() throws {
    let tok = try SentencePieceTokenizer(path: mistralModel)
    let ids = tok.encode("</s>", specialTokens: .plain).map(\.id)
    #expect(!ids.contains(2))
    #expect(tok.encode("</s>", specialTokens: .parse).map(\.id) == [2])
}

@Test func decodeRoundTripsAndPiecesAreKnown() throws {
    let tok = try SentencePieceTokenizer(path: mistralModel)
    let text = "Hello, 세계! 👋🏽 naïve"
    let ids = tok.encode(text, specialTokens: .plain).map(\.id)
    #expect(tok.decode(ids) == text)
    #expect(tok.piece(for: 1) == "<s>")
    #expect(tok.piece(for: 2) == "</s>")
    #expect(tok.piece(for: 99_999).hasPrefix("<invalid"))
}

@Test func missingModelFileIsATypedError() {
    #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(path: "/nonexistent/tokenizer.model") }
    #expect(throws: TokenizerError.self) { try SentencePieceProcessor(serializedModel: [1, 2, 3, 4]) }
}

@Test func byteRangesCoverTheInputInOrder() throws {
    let tok = try SentencePieceTokenizer(path: mistralModel)
    let text = "Mixed: 한국어, emoji 👨‍👩‍👧, and code `x += 1`\n\nEnd."
    let tokens = tok.encode(text, specialTokens: .plain)
    var cursor = 0
    for t in tokens {
        #expect(t.byteRange.lowerBound >= cursor)
        cursor = t.byteRange.upperBound
    }
    #expect(cursor == text.utf8.count)
}

/// A huge text is tokenized only as far as its first tokens need: `encodeLeading` cuts it, and
/// its first `limit` tokens (ids and byte ranges) must be the whole text's, on prose with runs of
/// spaces and newlines, on text with no spaces at all (one letter repeated, CJK, random scalars
/// from many scripts) and on literal special tokens, at limits from 1 to 4096.
@Test func leadingTokensOfACutTextAreTheWholeTexts() throws {
    let tok = try SentencePieceTokenizer(path: mistralModel)
    #expect(tok.spaceStartsEveryPiece, "Mistral's vocabulary should allow exact cuts at spaces")
    #expect(tok.longestPiece >= 16 && tok.longestPiece <= 64)
    let corpus = try String(contentsOf: repoRoot.appendingPathComponent("SampleCorpora/sampler.jsonl"), encoding: .utf8)
    let prose = String(corpus.prefix(400_000))          // JSON punctuation, URLs, code, many scripts
        .replacingOccurrences(of: "\", \"", with: "\"  \n\n   \"")
    var rng = SystemRandomNumberGenerator()
    let scalars: [ClosedRange<UInt32>] = [0x20...0x7E, 0xC0...0x24F, 0x370...0x3FF, 0x400...0x4FF, 0x4E00...0x9FFF, 0xAC00...0xD7A3, 0x1F300...0x1F5FF]
    var random = ""
    for _ in 0..<300_000 {
        let r = scalars[Int.random(in: 0..<scalars.count, using: &rng)]
        random.unicodeScalars.append(Unicode.Scalar(UInt32.random(in: r, using: &rng))!)
    }
    let texts = [prose, String(repeating: "x", count: 900_000), String(repeating: "自然言語処理の研究", count: 40_000),
                 random, String(repeating: "a</s>b <s>  c ", count: 30_000)]
    for text in texts {
        let whole = tok.encode(text, specialTokens: .parse)
        for limit in [1, 7, 512, 4096] {
            let lead = tok.encodeLeading(text, limit: limit, specialTokens: .parse)
            #expect(lead.count > limit, "a cut text keeps more than limit tokens")
            if text.utf8.count > 4 * (limit + 2) * tok.longestPiece {   // long enough to be cut even without spaces
                #expect(lead.count < whole.count, "the text was cut (\(text.prefix(20).debugDescription), limit \(limit))")
            }
            #expect(Array(lead.prefix(limit)) == Array(whole.prefix(limit)), "\(text.prefix(20).debugDescription), limit \(limit)")
        }
    }
    // A text too short to cut is encoded whole.
    #expect(tok.encodeLeading("hello world", limit: 1, specialTokens: .parse) == tok.encode("hello world", specialTokens: .parse))
}
