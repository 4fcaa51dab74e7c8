import Foundation
import Testing
import LensSupport
@testable import LensRetrieval

func tempDir(_ tag: String) -> String {
    let p = NSTemporaryDirectory() + "ll-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

func write(_ path: String, _ bytes: [UInt8]) { _ = FileManager.default.createFile(atPath: path, contents: Data(bytes)) }
func write(_ path: String, _ s: String) { write(path, Array(s.utf8)) }

@Test func jsonlWithMalformedLinesReportsFileAndLine() throws {
    let d = tempDir("jsonl")
    let p = d + "/c.jsonl"
    write(p, Array("{\"id\": \"a\", \"title\": \"T\", \"text\": \"alpha\"}\nnot json\n{\"id\": 3, \"text\": \"gamma\"}\n{\"title\": \"no text\"}\n".utf8)
               + [0xFF, 0xFE] + Array(" bad\n\n{\"text\": \"no id\"}\n".utf8))
    let c = try Corpus.load(p)
    #expect(c.documents.map(\.id) == ["a", "3", "c.jsonl:7"])
    #expect(c.documents[0].title == "T" && c.documents[0].embeddingText == "T alpha")
    #expect(c.issues.map(\.line) == [2, 4, 5])
    #expect(c.issues[0].description == "\(p):2: not a JSON object")
    #expect(c.issues[2].reason.contains("invalid UTF-8"))
}

/// Nothing to embed is a problem at its line in every record format (an empty string would
/// otherwise be embedded and rank by noise); a title alone is something to embed.
@Test func emptyRecordsAreReportedAlike() throws {
    let d = tempDir("empty")
    write(d + "/c.jsonl", "{\"id\": \"e\", \"text\": \"\"}\n{\"id\": \"w\", \"text\": \" \\t \"}\n{\"id\": \"t\", \"title\": \"only a title\", \"text\": \"\"}\n{\"text\": \"body\"}\n")
    let j = try Corpus.load(d + "/c.jsonl")
    #expect(j.documents.map(\.id) == ["t", "c.jsonl:4"])
    #expect(j.documents[0].embeddingText == "only a title")
    #expect(j.issues.map(\.description) == ["\(d)/c.jsonl:1: empty text", "\(d)/c.jsonl:2: empty text"])
    write(d + "/c.tsv", "id\ttitle\ttext\n\tHead\t\n\t\t  \nx\t\tbody\n")
    let t = try Corpus.load(d + "/c.tsv")
    #expect(t.documents.map(\.id) == ["c.tsv:2", "x"])   // an empty id cell falls back to file:line
    #expect(t.issues.map(\.description) == ["\(d)/c.tsv:3: empty text"])
}

@Test func configurableFieldNames() throws {
    let d = tempDir("fields")
    write(d + "/c.jsonl", "{\"doc\": \"x\", \"head\": \"H\", \"body\": \"B\"}\n")
    var o = CorpusOptions()
    o.idField = "doc"; o.titleField = "head"; o.textField = "body"
    let c = try Corpus.load(d + "/c.jsonl", options: o)
    #expect(c.documents == [Document(id: "x", title: "H", text: "B")])
}

@Test func tsvAndCsv() throws {
    let d = tempDir("tables")
    write(d + "/c.tsv", "id\ttitle\ttext\n1\tOne\tfirst doc\n2\tTwo\n3\t\tthird doc\n")
    let t = try Corpus.load(d + "/c.tsv")
    #expect(t.documents.map(\.id) == ["1", "3"])
    #expect(t.issues.count == 1 && t.issues[0].line == 3)
    write(d + "/c.csv", "text,id\n\"quoted, with comma\",a\n\"multi\nline \"\"quote\"\"\",b\nplain,c\nbroken,d,extra\n")
    let c = try Corpus.load(d + "/c.csv")
    #expect(c.documents.map(\.text) == ["quoted, with comma", "multi\nline \"quote\"", "plain"])
    #expect(c.issues.count == 1 && c.issues[0].line == 6)
    write(d + "/nohead.csv", "a,b\n1,2\n")
    #expect(throws: LineIssue.self) { _ = try Corpus.load(d + "/nohead.csv") }
}

@Test func plainTextAndFolders() throws {
    let d = tempDir("text")
    write(d + "/lines.txt", "first line\n\n  second line  \n")
    let t = try Corpus.load(d + "/lines.txt")
    #expect(t.documents.map(\.text) == ["first line", "second line"])
    #expect(t.documents.map(\.id) == ["lines:1", "lines:3"])
    let f = d + "/notes"
    try FileManager.default.createDirectory(atPath: f + "/sub", withIntermediateDirectories: true)
    write(f + "/a.md", "# Title\n\nPara one is here.\n\nPara two is here.\n")
    write(f + "/sub/b.txt", String(repeating: "word ", count: 300) + "\n\nshort tail\n")
    write(f + "/ignored.bin", "xx")
    var o = CorpusOptions()
    o.passageTokens = 50
    let c = try Corpus.load(f, options: o)
    #expect(c.documents.first?.id == "a.md:1")
    #expect(c.documents.first?.text == "# Title\n\nPara one is here.\n\nPara two is here.")
    #expect(c.documents.contains { $0.id == "sub/b.txt:1" } && c.documents.contains { $0.text == "short tail" })
}

@Test func beirFolderAndEmptyInputs() throws {
    let d = tempDir("beir")
    try FileManager.default.createDirectory(atPath: d + "/qrels", withIntermediateDirectories: true)
    write(d + "/corpus.jsonl", "{\"_id\": \"d1\", \"title\": \"\", \"text\": \"doc one\"}\n{\"_id\": \"d2\", \"title\": \"t\", \"text\": \"doc two\"}\n{\"_id\": \"d1\", \"text\": \"again\"}\n")
    write(d + "/queries.jsonl", "{\"_id\": \"q1\", \"text\": \"one?\"}\n{\"_id\": \"q2\", \"text\": \"unjudged\"}\n")
    write(d + "/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nbad line\n")
    let c = try Corpus.load(d)
    #expect(c.documents.map(\.id) == ["d1", "d2", "d1"])   // an explorer corpus keys documents by position; ids are labels
    let b = try BEIRDataset.load(folder: d)
    #expect(b.queries.map(\.id) == ["q1"])
    #expect(b.qrels == ["q1": ["d1": 1]])
    // A repeated document _id is reported (file:line, where the first was) and skipped, so a
    // relevant id can never count twice in nDCG.
    #expect(b.documents.map(\.id) == ["d1", "d2"] && b.documents[0].text == "doc one")
    #expect(b.issues.map(\.description).sorted() == ["\(d)/corpus.jsonl:3: duplicate _id d1 (first on line 1)",
                                                     "\(d)/qrels/test.tsv:4: expected query-id<TAB>corpus-id<TAB>integer score"])
    // Graded qrels keep their grades; a pair judged twice, a non-integer score and a line that is
    // not UTF-8 are reported with file:line and skipped; another split is read with `split:`.
    var tsv = Array("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq1\td1\t0\nq2\td2\t1.0\n".utf8)
    tsv += [0x71, 0x32, 0x09, 0xFF, 0x09, 0x31, 0x0A]
    try Data(tsv).write(to: URL(fileURLWithPath: d + "/qrels/dev.tsv"))
    let g = try BEIRDataset.load(folder: d, split: "dev")
    #expect(g.qrels == ["q1": ["d1": 2, "d2": 1]])
    #expect(g.issues.map(\.description).filter { $0.contains("dev.tsv") } == [
        "\(d)/qrels/dev.tsv:4: q1 / d1 judged again (first on line 2)",
        "\(d)/qrels/dev.tsv:5: expected query-id<TAB>corpus-id<TAB>integer score",
        "\(d)/qrels/dev.tsv:6: invalid UTF-8 at byte 3 of the line"])
    // A split the folder lacks names the ones it has.
    #expect { _ = try BEIRDataset.load(folder: d, split: "train") } throws: { e in
        "\(e)".contains("qrels/train.tsv") && "\(e)".contains("qrels/dev.tsv (--split dev), qrels/test.tsv (--split test)")
    }
    write(d + "/empty.jsonl", "\n\n")
    #expect(throws: LineIssue.self) { _ = try Corpus.load(d + "/empty.jsonl") }
    #expect(throws: LineIssue.self) { _ = try Corpus.load(d + "/missing.jsonl") }
    // A folder without corpus.jsonl: the path once, no line number, the reason.
    #expect { _ = try BEIRDataset.load(folder: d + "/nope") } throws: { e in
        "\(e)" == "\(d)/nope/corpus.jsonl: cannot read: No such file or directory"
    }
}

@Test func contentHashIsStableAndDiscriminating() {
    #expect(ContentHash.of("hello") == ContentHash.of("hello"))
    #expect(ContentHash.of("hello") != ContentHash.of("hellp"))
    #expect(ContentHash.of("").description.count == 32)
    let h = ContentHash.of("round trip")
    #expect(h.bytes.withUnsafeBytes { ContentHash(bytes: $0) } == h)
}
