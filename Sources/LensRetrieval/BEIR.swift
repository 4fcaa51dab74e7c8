import Foundation
import LensSupport

/// A BEIR-layout evaluation folder: corpus.jsonl (`_id`, `title`, `text`),
/// queries.jsonl (`_id`, `text`), qrels/SPLIT.tsv (query-id, corpus-id, score; header line;
/// the score is a relevance grade, graded qrels such as TREC-COVID's 0/1/2 count by grade in nDCG).
public struct BEIRDataset: Sendable {
    public struct Document: Sendable { public var id: String; public var title: String; public var text: String }
    public var name: String
    public var documents: [Document]
    public var queries: [(id: String, text: String)]
    /// Query id → relevant document id → grade (the qrels score; only grades above 0 are kept).
    public var qrels: [String: Grades]
    /// Lines that could not be read (file:line: reason).
    public var issues: [LineIssue]

    /// Text embedded for a document: the same rule as a corpus document's `embeddingText`.
    public static func documentText(_ d: Document) -> String { LensRetrieval.Document(id: d.id, title: d.title, text: d.text).embeddingText }

    public static func load(folder: String, split: String = "test") throws -> BEIRDataset {
        var issues: [LineIssue] = []
        func jsonl(_ file: String) throws -> [(Int, [String: Any])] {
            let path = folder + "/" + file
            let bytes: [UInt8]
            do { bytes = try readAllBytes(path: path) } catch let e as LineIssue { throw LineIssue(file: path, line: 0, reason: "cannot read: \(e.reason)") }
            var out: [(Int, [String: Any])] = []
            for (line, r) in utf8Lines(bytes, file: path) {
                switch r {
                case .failure(let e): issues.append(e)
                case .success(let s):
                    if s.allSatisfy(\.isWhitespace) { continue }
                    guard let o = try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else {
                        issues.append(LineIssue(file: path, line: line, reason: "not a JSON object")); continue
                    }
                    out.append((line, o))
                }
            }
            return out
        }
        func idString(_ v: Any?) -> String? { (v as? String) ?? (v as? Int).map(String.init) }
        var docs: [Document] = []
        var firstLine: [String: Int] = [:]   // a repeated _id would make one relevant id count twice in nDCG
        for (line, o) in try jsonl("corpus.jsonl") {
            guard let id = idString(o["_id"]), let text = o["text"] as? String else {
                issues.append(LineIssue(file: folder + "/corpus.jsonl", line: line, reason: "needs string _id and text")); continue
            }
            if let first = firstLine[id] {
                issues.append(LineIssue(file: folder + "/corpus.jsonl", line: line, reason: "duplicate _id \(id) (first on line \(first))")); continue
            }
            firstLine[id] = line
            docs.append(Document(id: id, title: (o["title"] as? String) ?? "", text: text))
        }
        var queries: [(id: String, text: String)] = []
        for (line, o) in try jsonl("queries.jsonl") {
            guard let id = idString(o["_id"]), let text = o["text"] as? String else {
                issues.append(LineIssue(file: folder + "/queries.jsonl", line: line, reason: "needs string _id and text")); continue
            }
            queries.append((id, text))
        }
        let qpath = folder + "/qrels/\(split).tsv"
        let qbytes: [UInt8]
        do { qbytes = try readAllBytes(path: qpath) } catch let e as LineIssue {
            throw LineIssue(file: qpath, line: 0, reason: "cannot read: \(e.reason)" + splitsHint(folder: folder))
        }
        var qrels: [String: Grades] = [:]
        var judgedOn: [String: Int] = [:]   // "query\tdoc" → line: a pair judged twice is reported, the first kept
        for (line, r) in utf8Lines(qbytes, file: qpath) {
            let s: String
            switch r {
            case .failure(let e): issues.append(e); continue
            case .success(let t): s = t
            }
            let f = s.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if line == 1 && f.first == "query-id" { continue }
            guard f.count >= 3, let grade = Int(f[2].trimmingCharacters(in: .whitespaces)) else {
                if !s.allSatisfy(\.isWhitespace) { issues.append(LineIssue(file: qpath, line: line, reason: "expected query-id<TAB>corpus-id<TAB>integer score")) }
                continue
            }
            let pair = f[0] + "\t" + f[1]
            if let first = judgedOn[pair] {
                issues.append(LineIssue(file: qpath, line: line, reason: "\(f[0]) / \(f[1]) judged again (first on line \(first))")); continue
            }
            judgedOn[pair] = line
            if grade > 0 { qrels[f[0], default: [:]][f[1]] = grade }
        }
        guard !docs.isEmpty else { throw LineIssue(file: folder + "/corpus.jsonl", line: 0, reason: "no valid documents") }
        let known = Set(queries.map(\.id))
        qrels = qrels.filter { known.contains($0.key) }
        return BEIRDataset(name: URL(fileURLWithPath: folder).lastPathComponent, documents: docs,
                           queries: queries.filter { qrels[$0.id] != nil }, qrels: qrels, issues: issues)
    }
}

extension BEIRDataset {
    /// At most `maxQueries` queries (chosen by a seeded shuffle) and at most `maxDocuments`
    /// documents: every document relevant to a kept query, then others as distractors.
    public func subsample(maxQueries: Int, maxDocuments: Int, seed: UInt64) -> BEIRDataset {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        var qs = queries
        for i in stride(from: qs.count - 1, to: 0, by: -1) { qs.swapAt(i, Int(next() % UInt64(i + 1))) }
        qs = Array(qs.prefix(maxQueries))
        var keep = Set<String>()
        for q in qs { if let g = qrels[q.id] { keep.formUnion(g.keys) } }
        var docs = documents.filter { keep.contains($0.id) }
        var others = documents.filter { !keep.contains($0.id) }
        for i in stride(from: others.count - 1, to: 0, by: -1) { others.swapAt(i, Int(next() % UInt64(i + 1))) }
        docs += others.prefix(max(0, maxDocuments - docs.count))
        var out = self
        out.documents = docs
        out.queries = qs
        let kept = Set(qs.map(\.id))
        out.qrels = qrels.filter { kept.contains($0.key) }
        return out
    }

    /// "; this folder has qrels/dev.tsv (--split dev)" when a folder lacks the asked split but has others.
    static func splitsHint(folder: String) -> String {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/qrels")) ?? [])
            .filter { $0.hasSuffix(".tsv") }.map { String($0.dropLast(4)) }.sorted()
        guard !names.isEmpty else { return "" }
        return "; this folder has " + names.map { "qrels/\($0).tsv (--split \($0))" }.joined(separator: ", ")
    }
}
