import Foundation
import LensMath
import LensModel
import LensRetrieval
import LensSupport
import LensTokenizer

/// Task instructions used in training (query side); mirrored in docs/TRAINING.md and
/// the explorer's presets. Keep in sync with scripts/build_data.py.
public let trainingInstructions: [String: String] = [
    "debian": "Given a one-line summary of a software package, retrieve the package's full description",
    "wordnet-def": "Given a word or phrase, retrieve its dictionary definition",
    "wordnet-example": "Given a definition, retrieve a sentence that uses the word in that sense",
    "foldoc": "Given a computing term, retrieve its definition",
    "vera": "Given a computing acronym, retrieve its expansion",
    "pydocs-section": "Given a section title from the Python documentation, retrieve the section",
    "pydocs-api": "Given a Python API name, retrieve its documentation",
    "debian-section": "Classify a software package description by its Debian archive section",
    "wordnet-lexname": "Classify a dictionary definition by its semantic category",
    "synonyms": "Retrieve semantically similar text",
]

/// The instruction of a cropped query (a stage's `crop_queries`): an excerpt of the passage it retrieves.
public let cropInstruction = "Given an excerpt of a passage, retrieve the passage"

/// Question-form rewrites of a task's queries (a stage's `question_queries`; `{}` is the query),
/// so the model sees the words people wrap a search in ("What does … stand for?") and learns
/// to look past them. Deliberately none of the forms docs/TRAINING.md measures robustness with
/// ("What is {}?", "What does \"{}\" mean?", "Which package provides a {}?").
public let questionTemplates: [String: [String]] = [
    "debian": ["Is there a package for {}?", "I need {}", "looking for a package: {}", "what Debian package is a {}", "Find me a {}."],
    "wordnet-def": ["What is the meaning of {}?", "define {}", "{} - definition", "meaning of the word {}", "Explain the term \"{}\"."],
    "foldoc": ["What does {} mean in computing?", "define {}", "explain {}", "{}: what is it?", "Can you tell me what {} is?"],
    "vera": ["What does {} stand for?", "expand the acronym {}", "{} meaning", "what is {} short for?"],
    "pydocs-section": ["Where do the Python docs explain {}?", "Python docs: {}", "Tell me about {} in Python.", "How does Python handle {}?"],
    "pydocs-api": ["What does {} do?", "How do I use {}?", "{} documentation", "python {} usage"],
]

/// General retrieval instructions a stage's `varied_instructions` puts in place of a query's
/// task instruction: users and benchmarks write their own. The measured one ("Given a question,
/// retrieve passages that answer the question") is deliberately not among them.
public let variedInstructions = [
    "Given a web search query, retrieve relevant passages that answer the query",
    "Given a user question, retrieve the passage that best answers it",
    "Retrieve the passage most relevant to the query",
    "Given a query, find the document it is looking for",
]

/// Training data: stage-1 retrieval pairs with teacher-mined candidates, stage-2
/// labelled examples, teacher vectors, and a token cache.
public final class TrainingData: @unchecked Sendable {
    /// `family`: index into `familyDocs` of the pair's entity (source package, synset, headword,
    /// page), or -1 when retrieval.jsonl gives none.
    public struct Pair { let task: String; let query: String; let doc: Int; var family: Int = -1 }
    public struct Candidates { let posScore: Float; let docs: [Int32]; let scores: [Float] }
    public struct Example { let task: String; let text: String; let label: String }

    public let pairs: [Pair]
    public let docs: [String]
    public let candidates: [Candidates]?
    /// BM25 over the passages: the lexical half of the teacher when the recipe blends one in.
    public let lexical: BM25?
    public let teacherQueries: FloatBuffer?
    public let teacherDocs: FloatBuffer?
    let teacherWidth: Int
    public let examples: [Example]
    /// Stage-2 task → label → example indices.
    let byLabel: [String: [String: [Int]]]
    let labelsOf: [String: [String]]
    /// Retrieval task → pair indices.
    public let pairsByTask: [String: [Int]]
    /// Entity family → its distinct passages (first-seen order): `family_negatives` draws from it.
    public let familyDocs: [[Int]]

    let tokenizer: SentencePieceTokenizer
    private var tokenCache: [String: [Int32]] = [:]
    private lazy var instructionLengths = InstructionLengths(tokenizer: tokenizer)
    private let lock = NSLock()

    /// BM25-mined candidates per retrieval pair, best first, the pair's own passage left out
    /// (`mineLexicalCandidates`); used by stages with `lexical_negatives`.
    public private(set) var lexicalCandidates: [[Int32]]? = nil
    /// The model's own nearest passages per retrieval pair, best first, the pair's own passage
    /// left out (`Trainer.mineSelfCandidates`, at the start of a stage with `self_negatives`).
    public var selfCandidates: [[Int32]]? = nil

    public init(folder: String, teacher: String?, lexicalTeacher: Bool = false, tokenizer: SentencePieceTokenizer, log: (String) -> Void) throws {
        self.tokenizer = tokenizer
        func lines(_ path: String) throws -> [String] {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw TrainingError.badData("cannot read \(path); build it with python3 scripts/build_data.py")
            }
            return String(decoding: d, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        func object(_ s: String, _ file: String, _ i: Int) throws -> [String: Any] {
            guard let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else {
                throw TrainingError.badData("\(file):\(i + 1): not a JSON object")
            }
            return o
        }
        // Documents: the teacher's docs.jsonl when present (its row order matches docs.npy),
        // else the unique positives of retrieval.jsonl in first-seen order (the same order).
        let pairFile = folder + "/train/retrieval.jsonl"
        let rawPairs = try lines(pairFile)
        var docIndex: [String: Int] = [:]
        var docs: [String] = []
        var pairs: [Pair] = []
        var familyIndex: [String: Int] = [:]
        var familyDocs: [[Int]] = []
        for (i, l) in rawPairs.enumerated() {
            let o = try object(l, pairFile, i)
            guard let task = o["task"] as? String, let q = o["query"] as? String, let pos = o["positive"] as? String,
                  let id = o["doc_id"] as? String else { throw TrainingError.badData("\(pairFile):\(i + 1): missing fields") }
            let di: Int
            if let k = docIndex[id] { di = k } else { di = docs.count; docIndex[id] = di; docs.append(pos) }
            var pair = Pair(task: task, query: q, doc: di)
            if let entity = o["entity"] as? String, !entity.isEmpty {
                let key = task + "\u{1F}" + entity
                if let f = familyIndex[key] { pair.family = f } else { pair.family = familyDocs.count; familyIndex[key] = pair.family; familyDocs.append([]) }
                if !familyDocs[pair.family].contains(di) { familyDocs[pair.family].append(di) }
            }
            pairs.append(pair)
        }
        self.pairs = pairs
        self.familyDocs = familyDocs
        self.docs = docs
        var byTask: [String: [Int]] = [:]
        for (i, p) in pairs.enumerated() { byTask[p.task, default: []].append(i) }
        pairsByTask = byTask
        if lexicalTeacher {
            let t0 = Date()
            lexical = BM25(documents: docs)
            log(String(format: "teacher: BM25 over %d passages (%.1f s)", docs.count, Date().timeIntervalSince(t0)))
        } else {
            lexical = nil
        }
        log("data: \(pairs.count) retrieval pairs over \(docs.count) passages, tasks: " + byTask.map { "\($0.key) \($0.value.count)" }.sorted().joined(separator: ", "))

        if let teacher, FileManager.default.fileExists(atPath: teacher + "/candidates.jsonl") {
            let cand = try lines(teacher + "/candidates.jsonl")
            guard cand.count == pairs.count else { throw TrainingError.badData("\(teacher)/candidates.jsonl has \(cand.count) rows for \(pairs.count) pairs: rerun scripts/teacher.py train") }
            candidates = try cand.enumerated().map { i, l in
                let o = try object(l, teacher + "/candidates.jsonl", i)
                return Candidates(posScore: Float((o["pos_score"] as? Double) ?? 1),
                                  docs: ((o["cand"] as? [Int]) ?? []).map(Int32.init), scores: ((o["score"] as? [Double]) ?? []).map(Float.init))
            }
            let q = try NPY.read(path: teacher + "/queries.npy"), d = try NPY.read(path: teacher + "/docs.npy")
            guard q.shape.first == pairs.count, d.shape.first == docs.count else {
                throw TrainingError.badData("teacher vectors (\(q.shape), \(d.shape)) do not match \(pairs.count) pairs / \(docs.count) passages")
            }
            teacherQueries = q.values
            teacherDocs = d.values
            teacherWidth = q.shape.count == 2 ? q.shape[1] : 0
            log("teacher: mined candidates and vectors loaded from \(teacher)")
        } else {
            candidates = nil
            teacherQueries = nil
            teacherDocs = nil
            teacherWidth = 0
            log("teacher: none (negatives are random passages of the same task; no distillation)")
        }

        let exFile = folder + "/train/stage2.jsonl"
        var examples: [Example] = []
        if FileManager.default.fileExists(atPath: exFile) {
            for (i, l) in try lines(exFile).enumerated() {
                let o = try object(l, exFile, i)
                guard let task = o["task"] as? String, let text = o["text"] as? String, let label = o["label"] as? String else { continue }
                examples.append(Example(task: task, text: text, label: label))
            }
        }
        self.examples = examples
        var byLabel: [String: [String: [Int]]] = [:]
        for (i, e) in examples.enumerated() { byLabel[e.task, default: [:]][e.label, default: []].append(i) }
        // Only labels with at least two examples can give a positive.
        self.byLabel = byLabel.mapValues { $0.filter { $0.value.count >= 2 } }
        labelsOf = self.byLabel.mapValues { Array($0.keys).sorted() }
        log("data: \(examples.count) stage-2 examples, tasks: " + self.byLabel.map { "\($0.key) (\($0.value.count) labels)" }.sorted().joined(separator: ", "))
    }

    /// Token ids `<s> + text + </s>`, truncated, cached by (text, limit).
    func tokens(_ text: String, maxLength: Int) -> [Int32] {
        let key = "\(maxLength)\u{1}" + text
        lock.lock()
        if let t = tokenCache[key] { lock.unlock(); return t }
        lock.unlock()
        let ids = uncachedTokens(text, maxLength: maxLength)
        lock.lock()
        if tokenCache.count > 2_000_000 { tokenCache.removeAll(keepingCapacity: true) }
        tokenCache[key] = ids
        lock.unlock()
        return ids
    }

    /// `tokens` without the cache: for texts seen once, such as a passage with words dropped.
    func uncachedTokens(_ text: String, maxLength: Int) -> [Int32] {
        var ids: [Int32] = [tokenizer.bosID]
        ids += tokenizer.encode(text, specialTokens: .parse).map(\.id)
        ids.append(tokenizer.eosID)
        if ids.count > maxLength { ids.removeLast(ids.count - maxLength) }
        return ids
    }

    func instructionLength(_ instruction: String) -> Int { instructionLengths.length(instruction) }

    /// The teacher's BM25 scores of pair `pair`'s query against passages `docs`, divided by
    /// their maximum (all 0 when no passage shares a word with the query).
    func lexicalScores(pair: Int, docs: [Int]) -> [Float]? {
        guard let lexical else { return nil }
        let q = lexical.prepare(pairs[pair].query)
        let s = docs.map { q.isEmpty ? 0 : lexical.score(q, document: $0) }
        let top = s.max() ?? 0
        return s.map { top > 0 ? Float($0 / top) : 0 }
    }

    /// Mines the `top` best BM25 passages for every pair's query over all training passages
    /// (both cores, one score accumulator per worker). Needs the BM25 index (`lexicalTeacher`).
    public func mineLexicalCandidates(top: Int, log: (String) -> Void) {
        guard let lexical, top > 0 else { return }
        let t0 = Date()
        let n = pairs.count, stride = top
        let out = UnsafeMutableBufferPointer<Int32>.allocate(capacity: n * stride)
        out.initialize(repeating: -1)
        defer { out.deallocate() }
        let chunks = max(1, min(n, 64))
        nonisolated(unsafe) let base = out.baseAddress!
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let scratch = BM25.Scratch(documents: lexical.documentCount)
            for i in (c * n / chunks)..<((c + 1) * n / chunks) {
                var j = 0
                for hit in lexical.search(lexical.prepare(pairs[i].query), k: top + 1, scratch: scratch) where hit.index != pairs[i].doc && j < top {
                    base[i * stride + j] = Int32(hit.index)
                    j += 1
                }
            }
        }
        lexicalCandidates = (0..<n).map { i in Array(out[(i * stride)..<((i + 1) * stride)].prefix { $0 >= 0 }) }
        log(String(format: "teacher: BM25-mined %d candidates for %d queries (%.1f s)", top, n, Date().timeIntervalSince(t0)))
    }

    /// The index of the word of `words` with the lowest BM25 document frequency over the
    /// training passages (a word's df: its rarest alphanumeric run's; stop words and words
    /// without letters or digits never count), the first on ties; nil when none counts or
    /// without the BM25 index.
    func rarestWord<S: StringProtocol>(_ words: [S]) -> Int? {
        guard let lexical else { return nil }
        var best: (index: Int, df: Int)? = nil
        for (i, w) in words.enumerated() {
            guard let df = BM25.tokenize(String(w)).map({ lexical.documentFrequency($0) }).filter({ $0 > 0 }).min() else { continue }
            if best == nil || df < best!.df { best = (i, df) }
        }
        return best?.index
    }

    /// Teacher cosine between pair `pair`'s query and passage `doc`.
    func teacherScore(pair: Int, doc: Int) -> Float? {
        guard let tq = teacherQueries, let td = teacherDocs else { return nil }
        return Kernels.dot(tq.pointer + pair * teacherWidth, td.pointer + doc * teacherWidth, count: teacherWidth)
    }
}
