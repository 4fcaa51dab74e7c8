import Foundation
import LensSupport

/// One document of a corpus.
public struct Document: Sendable, Equatable {
    public var id: String
    public var title: String
    public var text: String
    public init(id: String, title: String = "", text: String) {
        self.id = id
        self.title = title
        self.text = text
    }
    /// What gets embedded: "title text" (either omitted when empty).
    public var embeddingText: String { title.isEmpty ? text : text.isEmpty ? title : title + " " + text }
}

/// Input formats `Corpus.load` understands.
public enum CorpusFormat: String, Sendable, CaseIterable {
    /// Decide from the path: folder with corpus.jsonl → beir; other folder → folder;
    /// .jsonl/.json → jsonl; .tsv → tsv; .csv → csv; anything else → text.
    case auto
    case jsonl, beir, tsv, csv, text, folder
}

/// How to read a corpus.
public struct CorpusOptions: Sendable {
    public var format: CorpusFormat = .auto
    public var idField = "id"
    public var titleField = "title"
    public var textField = "text"
    /// Passage size limit (tokens) when splitting .txt/.md files by paragraph.
    public var passageTokens = 200
    /// Counts tokens for passage splitting (default: words × 4/3).
    public var countTokens: @Sendable (String) -> Int = { s in (s.split(whereSeparator: \.isWhitespace).count * 4 + 2) / 3 }
    public init() {}
}

/// A loaded collection, with every problem met on the way.
public struct Corpus: Sendable {
    public var name: String
    public var source: String
    public var documents: [Document]
    /// Lines or files that were skipped, as file:line: reason.
    public var issues: [LineIssue]

    /// Loads `path` ("-" for stdin). Malformed lines and files are reported in `issues` and
    /// skipped; only a source with nothing valid is an error.
    public static func load(_ path: String, options: CorpusOptions = CorpusOptions()) throws -> Corpus {
        var format = options.format
        var isDir: ObjCBool = false
        let exists = path == "-" || FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        guard exists else { throw LineIssue(file: path, line: 0, reason: "no such file or folder") }
        if format == .auto {
            if isDir.boolValue {
                format = FileManager.default.fileExists(atPath: path + "/corpus.jsonl") ? .beir : .folder
            } else {
                let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
                format = ["jsonl", "json", "ndjson"].contains(ext) ? .jsonl : ext == "tsv" ? .tsv : ext == "csv" ? .csv : .text
            }
        }
        var issues: [LineIssue] = []
        var docs: [Document] = []
        let name = path == "-" ? "stdin" : URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        switch format {
        case .beir:
            var o = options
            o.idField = "_id"
            docs = try loadJSONL(path + "/corpus.jsonl", o, &issues)
        case .jsonl:
            docs = try loadJSONL(path, options, &issues)
        case .tsv, .csv:
            docs = try loadTable(path, separator: format == .tsv ? "\t" : ",", options, &issues)
        case .text:
            let file = path == "-" ? "<stdin>" : path
            for (line, r) in utf8Lines(try read(path), file: file) {
                switch r {
                case .failure(let e): issues.append(e)
                case .success(let s):
                    let t = s.trimmingCharacters(in: .whitespaces)
                    if !t.isEmpty { docs.append(Document(id: "\(name):\(line)", text: t)) }
                }
            }
        case .folder:
            docs = try loadFolder(path, options, &issues)
        case .auto:
            preconditionFailure()
        }
        guard !docs.isEmpty else {
            throw LineIssue(file: path, line: 0, reason: "no valid documents" + (issues.isEmpty ? "" : " (\(issues.count) problems, first: \(issues[0]))"))
        }
        return Corpus(name: name, source: path, documents: docs, issues: issues)
    }

    static func read(_ path: String) throws -> [UInt8] {
        do { return try readAllBytes(path: path) } catch { throw LineIssue(file: path, line: 0, reason: "cannot read: \(error)") }
    }

    /// Gathers the documents of one file with the checks every record-per-line format shares:
    /// a record with nothing to embed (no title, empty or blank text) is reported at its line
    /// and skipped; a record without an id gets "file:line". A repeated id is kept: a corpus
    /// keys documents by position and ids are labels (BEIR folders, where qrels join on ids,
    /// skip repeats in `BEIRDataset.load`).
    struct Collector {
        let file: String
        var documents: [Document] = []

        mutating func add(_ d: Document, line: Int, _ issues: inout [LineIssue]) {
            var d = d
            if d.embeddingText.allSatisfy(\.isWhitespace) {
                issues.append(LineIssue(file: file, line: line, reason: "empty text")); return
            }
            if d.id.isEmpty { d.id = "\(URL(fileURLWithPath: file).lastPathComponent):\(line)" }
            documents.append(d)
        }
    }

    static func loadJSONL(_ path: String, _ o: CorpusOptions, _ issues: inout [LineIssue]) throws -> [Document] {
        let file = path == "-" ? "<stdin>" : path
        var docs = Collector(file: file)
        for (line, r) in utf8Lines(try read(path), file: file) {
            switch r {
            case .failure(let e): issues.append(e)
            case .success(let s):
                if s.allSatisfy(\.isWhitespace) { continue }
                guard let obj = try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else {
                    issues.append(LineIssue(file: file, line: line, reason: "not a JSON object")); continue
                }
                guard let text = obj[o.textField] as? String else {
                    issues.append(LineIssue(file: file, line: line, reason: "no string field \"\(o.textField)\"")); continue
                }
                let id = (obj[o.idField] as? String) ?? (obj[o.idField] as? Int).map(String.init)
                docs.add(Document(id: id ?? "", title: (obj[o.titleField] as? String) ?? "", text: text), line: line, &issues)
            }
        }
        return docs.documents
    }

    /// TSV (no quoting) or CSV (RFC 4180 quoting, quoted fields may span lines) with a header row.
    static func loadTable(_ path: String, separator: Character, _ o: CorpusOptions, _ issues: inout [LineIssue]) throws -> [Document] {
        let file = path == "-" ? "<stdin>" : path
        var rows: [(line: Int, fields: [String])] = []
        if separator == "\t" {
            for (line, r) in utf8Lines(try read(path), file: file) {
                switch r {
                case .failure(let e): issues.append(e)
                case .success(let s): if !s.isEmpty { rows.append((line, s.split(separator: "\t", omittingEmptySubsequences: false).map(String.init))) }
                }
            }
        } else {
            let bytes = try read(path)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                let bad = firstInvalidUTF8(bytes)
                let line = bytes[..<bad].filter { $0 == 10 }.count + 1
                throw LineIssue(file: file, line: line, reason: "invalid UTF-8 (a CSV is read whole: fix the file)")
            }
            rows = parseCSV(text, file: file, &issues)
        }
        guard let header = rows.first else { throw LineIssue(file: file, line: 1, reason: "empty table") }
        let cols = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let ti = cols.firstIndex(of: o.textField.lowercased()) else {
            throw LineIssue(file: file, line: header.line, reason: "header has no \"\(o.textField)\" column (columns: \(cols.joined(separator: ", ")))")
        }
        let ii = cols.firstIndex(of: o.idField.lowercased()), hi = cols.firstIndex(of: o.titleField.lowercased())
        var docs = Collector(file: file)
        for row in rows.dropFirst() {
            guard row.fields.count == cols.count else {
                issues.append(LineIssue(file: file, line: row.line, reason: "\(row.fields.count) fields, header has \(cols.count)")); continue
            }
            docs.add(Document(id: ii.map { row.fields[$0] } ?? "", title: hi.map { row.fields[$0] } ?? "", text: row.fields[ti]),
                     line: row.line, &issues)
        }
        return docs.documents
    }

    static func parseCSV(_ text: String, file: String, _ issues: inout [LineIssue]) -> [(line: Int, fields: [String])] {
        var rows: [(Int, [String])] = []
        var field = "", fields: [String] = []
        var inQuotes = false, line = 1, rowStart = 1
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? { if let p = pending { pending = nil; return p }; return it.next() }
        while let c = next() {
            if inQuotes {
                if c == "\"" {
                    if let n = next() { if n == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = n } } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == "," {
                fields.append(field); field = ""
            } else if c == "\n" || c == "\r" {
                if c == "\r", let n = next(), n != "\n" { pending = n }
                fields.append(field); field = ""
                if !(fields.count == 1 && fields[0].isEmpty) { rows.append((rowStart, fields)) }
                fields = []
                line += 1
                rowStart = line
            } else {
                field.unicodeScalars.append(c)
            }
        }
        if inQuotes { issues.append(LineIssue(file: file, line: rowStart, reason: "unterminated quoted field")) }
        else if !field.isEmpty || !fields.isEmpty { fields.append(field); rows.append((rowStart, fields)) }
        return rows
    }

    /// .txt and .md files under a folder (recursively, sorted), split into passages at blank
    /// lines, consecutive paragraphs joined up to `passageTokens`.
    static func loadFolder(_ path: String, _ o: CorpusOptions, _ issues: inout [LineIssue]) throws -> [Document] {
        guard let e = FileManager.default.enumerator(atPath: path) else { throw LineIssue(file: path, line: 0, reason: "cannot list folder") }
        var files: [String] = []
        while let f = e.nextObject() as? String {
            let ext = URL(fileURLWithPath: f).pathExtension.lowercased()
            if ext == "txt" || ext == "md" { files.append(f) }
        }
        var docs: [Document] = []
        for f in files.sorted() {
            let full = path + "/" + f
            var paragraphs: [(line: Int, text: String)] = []
            var cur: [String] = [], start = 1
            for (line, r) in utf8Lines(try read(full), file: full) {
                switch r {
                case .failure(let err): issues.append(err)
                case .success(let s):
                    if s.trimmingCharacters(in: .whitespaces).isEmpty {
                        if !cur.isEmpty { paragraphs.append((start, cur.joined(separator: "\n"))); cur = [] }
                    } else {
                        if cur.isEmpty { start = line }
                        cur.append(s)
                    }
                }
            }
            if !cur.isEmpty { paragraphs.append((start, cur.joined(separator: "\n"))) }
            var passage = "", pStart = 0, tokens = 0
            func flush() {
                if !passage.isEmpty { docs.append(Document(id: "\(f):\(pStart)", title: f, text: passage)) }
                passage = ""; tokens = 0
            }
            for p in paragraphs {
                let n = o.countTokens(p.text)
                if !passage.isEmpty && tokens + n > o.passageTokens { flush() }
                if passage.isEmpty { pStart = p.line }
                passage += (passage.isEmpty ? "" : "\n\n") + p.text
                tokens += n
            }
            flush()
        }
        return docs
    }
}
