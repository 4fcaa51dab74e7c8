import Dispatch
import Foundation
import LensMath
import LensModel
import LensSupport

/// What a stored vector was computed with. Vectors from different spaces never mix.
public struct EmbeddingSpace: Hashable, Sendable {
    /// `ModelFingerprint` of the model folder.
    public var model: String
    public var pooling: Pooling
    public var mask: AttentionMask
    /// Full instruction prefix ("" for passages).
    public var instruction: String
    public var maxLength: Int
    /// Storage type of the vectors: f16 halves the store; search converts on the fly.
    public var dtype: DType

    public init(model: String, pooling: Pooling, mask: AttentionMask, instruction: String, maxLength: Int, dtype: DType = .f32) {
        self.model = model
        self.pooling = pooling
        self.mask = mask
        self.instruction = instruction
        self.maxLength = maxLength
        self.dtype = dtype
    }
}

/// A model folder's identity: config.json + tokenizer.model + weights. Files up to 512 MB
/// are hashed whole; bigger ones by their header, size and 64 KiB samples every 64 MiB.
public enum ModelFingerprint {
    public static func of(folder: String) throws -> String {
        var h = Hasher128()
        let fm = FileManager.default
        let names = try fm.contentsOfDirectory(atPath: folder).filter {
            $0 == "config.json" || $0 == "tokenizer.model" || $0.hasSuffix(".safetensors") || $0 == "model.safetensors.index.json"
        }.sorted()
        for n in names {
            h.update(n)
            let f = try MappedFile(path: folder + "/" + n)
            h.update(UInt64(f.size))
            guard let base = f.base else { continue }
            let bytes = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: f.size)
            if f.size <= 512 << 20 {
                h.update(bytes)
            } else {
                h.update(UnsafeBufferPointer(rebasing: bytes[0..<min(f.size, 1 << 20)]))
                var off = 64 << 20
                while off + (64 << 10) <= f.size {
                    h.update(UnsafeBufferPointer(rebasing: bytes[off..<(off + (64 << 10))]))
                    off += 64 << 20
                }
            }
        }
        return h.finalize().description
    }
}

/// The on-disk embedding store: an SQLite database (WAL) of vectors keyed by
/// (space, text hash) plus corpus manifests and documents, and one memory-mapped matrix
/// file per (corpus, space) for search. Every write is a transaction, so killing the
/// process at any moment leaves a consistent store; matrices are written to a temporary
/// file and renamed.
public final class EmbeddingStore: @unchecked Sendable {
    public let directory: String
    let db: SQLiteDatabase
    private let lock = NSLock()

    /// `$XDG_CACHE_HOME/latentlens` (else `~/.cache/latentlens`), or `$LATENTLENS_STORE`.
    public static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let s = env["LATENTLENS_STORE"], !s.isEmpty { return s }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/latentlens" }
        return (env["HOME"] ?? NSTemporaryDirectory()) + "/.cache/latentlens"
    }

    public init(directory: String = EmbeddingStore.defaultDirectory) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory + "/matrices", withIntermediateDirectories: true)
        db = try SQLiteDatabase(path: directory + "/store.sqlite")
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=NORMAL")
        try db.execute("""
            CREATE TABLE IF NOT EXISTS spaces(id INTEGER PRIMARY KEY, model TEXT NOT NULL, pooling TEXT NOT NULL, mask TEXT NOT NULL,
              instruction TEXT NOT NULL, max_length INTEGER NOT NULL, dtype TEXT NOT NULL,
              UNIQUE(model, pooling, mask, instruction, max_length, dtype));
            CREATE TABLE IF NOT EXISTS vectors(space INTEGER NOT NULL, text_hash BLOB NOT NULL, vector BLOB NOT NULL,
              tokens INTEGER NOT NULL, truncated INTEGER NOT NULL, PRIMARY KEY(space, text_hash)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS corpora(hash TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL,
              size INTEGER NOT NULL, mtime REAL NOT NULL, count INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS documents(corpus TEXT NOT NULL, ord INTEGER NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL,
              text TEXT NOT NULL, text_hash BLOB NOT NULL, PRIMARY KEY(corpus, ord)) WITHOUT ROWID;
            """)
    }

    // MARK: spaces and vectors

    public func spaceID(_ s: EmbeddingSpace) throws -> Int {
        lock.lock(); defer { lock.unlock() }
        let find = try db.prepare("SELECT id FROM spaces WHERE model=? AND pooling=? AND mask=? AND instruction=? AND max_length=? AND dtype=?")
        func bindAll(_ st: SQLiteDatabase.Statement) {
            st.bind(1, s.model); st.bind(2, s.pooling.rawValue); st.bind(3, s.mask.rawValue)
            st.bind(4, s.instruction); st.bind(5, s.maxLength); st.bind(6, s.dtype.rawValue)
        }
        bindAll(find)
        if try find.step() { return find.int(0) }
        let ins = try db.prepare("INSERT OR IGNORE INTO spaces(model, pooling, mask, instruction, max_length, dtype) VALUES(?,?,?,?,?,?)")
        bindAll(ins)
        try ins.step()
        find.reset()
        bindAll(find)
        guard try find.step() else { throw SQLiteError(code: -1, message: "cannot create space") }
        return find.int(0)
    }

    /// Which of `hashes` already have a vector in `space`.
    public func existing(space: Int, hashes: [ContentHash]) throws -> Set<ContentHash> {
        lock.lock(); defer { lock.unlock() }
        let st = try db.prepare("SELECT 1 FROM vectors WHERE space=? AND text_hash=?")
        var out = Set<ContentHash>()
        for h in hashes {
            st.reset()
            st.bind(1, space)
            st.bind(2, bytes: h.bytes)
            if try st.step() { out.insert(h) }
        }
        return out
    }

    /// Stores vectors for several spaces in one transaction (all or nothing).
    public func insert(_ items: [(space: Int, dtype: DType, hash: ContentHash, vector: [Float], tokens: Int, truncated: Bool)]) throws {
        lock.lock(); defer { lock.unlock() }
        let st = try db.prepare("INSERT OR REPLACE INTO vectors(space, text_hash, vector, tokens, truncated) VALUES(?,?,?,?,?)")
        try db.transaction {
            for it in items {
                st.reset()
                st.bind(1, it.space)
                st.bind(2, bytes: it.hash.bytes)
                Self.encode(it.vector, dtype: it.dtype) { st.bind(3, blob: $0) }
                st.bind(4, it.tokens)
                st.bind(5, it.truncated ? 1 : 0)
                try st.step()
            }
        }
    }

    /// Vector of one text in a space (nil when not stored).
    public func vector(space: Int, dtype: DType, hash: ContentHash) throws -> [Float]? {
        lock.lock(); defer { lock.unlock() }
        let st = try db.prepare("SELECT vector FROM vectors WHERE space=? AND text_hash=?")
        st.bind(1, space)
        st.bind(2, bytes: hash.bytes)
        guard try st.step() else { return nil }
        return Self.decode(st.blob(0), dtype: dtype)
    }

    public func vectorCount(space: Int) throws -> Int {
        lock.lock(); defer { lock.unlock() }
        let st = try db.prepare("SELECT count(*) FROM vectors WHERE space=?")
        st.bind(1, space)
        try st.step()
        return st.int(0)
    }

    static func encode(_ v: [Float], dtype: DType, _ body: (UnsafeRawBufferPointer) -> Void) {
        switch dtype {
        case .f32: v.withUnsafeBytes(body)
        case .f16, .bf16:
            var h = [UInt16](repeating: 0, count: v.count)
            v.withUnsafeBufferPointer { src in h.withUnsafeMutableBufferPointer { dst in
                if dtype == .f16 { HalfPrecision.f32ToF16(src.baseAddress!, dst.baseAddress!, count: v.count) }
                else { HalfPrecision.f32ToBF16(src.baseAddress!, dst.baseAddress!, count: v.count) }
            } }
            h.withUnsafeBytes(body)
        }
    }

    static func decode(_ b: UnsafeRawBufferPointer, dtype: DType) -> [Float] {
        switch dtype {
        case .f32:
            return Array(b.bindMemory(to: Float.self))
        case .f16, .bf16:
            let n = b.count / 2
            var out = [Float](repeating: 0, count: n)
            let tmp = Array(b.bindMemory(to: UInt16.self))
            tmp.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { d in
                if dtype == .f16 { HalfPrecision.f16ToF32(s.baseAddress!, d.baseAddress!, count: n) }
                else { HalfPrecision.bf16ToF32(s.baseAddress!, d.baseAddress!, count: n) }
            } }
            return out
        }
    }

    // MARK: corpora and documents

    /// A corpus manifest stored earlier for this exact file (path, size, mtime), if any.
    public func manifest(source: String) throws -> (hash: String, name: String, count: Int)? {
        guard let st0 = Self.stat(source) else { return nil }
        lock.lock(); defer { lock.unlock() }
        let st = try db.prepare("SELECT hash, name, count FROM corpora WHERE source=? AND size=? AND mtime=? ORDER BY rowid DESC LIMIT 1")
        st.bind(1, source); st.bind(2, st0.size); st.bind(3, st0.mtime)
        guard try st.step() else { return nil }
        return (st.string(0), st.string(1), st.int(2))
    }

    /// (size, mtime) of a regular file; nil for folders and stdin (always re-read).
    static func stat(_ path: String) -> (size: Int, mtime: Double)? {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            // A BEIR folder is identified by its corpus.jsonl; other folders are always re-read.
            return FileManager.default.fileExists(atPath: path + "/corpus.jsonl") ? stat(path + "/corpus.jsonl") : nil
        }
        guard path != "-", let a = try? FileManager.default.attributesOfItem(atPath: path),
              (a[.type] as? FileAttributeType) == .typeRegular else { return nil }
        return ((a[.size] as? Int) ?? 0, ((a[.modificationDate] as? Date) ?? Date(timeIntervalSince1970: 0)).timeIntervalSince1970)
    }

    /// Records a corpus and its documents (idempotent); returns its hash.
    @discardableResult
    public func record(_ corpus: Corpus) throws -> String {
        var h = Hasher128()
        for d in corpus.documents { h.update(d.id); h.update([0]); h.update(d.embeddingText); h.update([1]) }
        let hash = h.finalize().description
        let st0 = Self.stat(corpus.source)
        lock.lock(); defer { lock.unlock() }
        let has = try db.prepare("SELECT count(*) FROM documents WHERE corpus=?")
        has.bind(1, hash)
        try has.step()
        let stored = has.int(0)
        try db.transaction {
            if stored != corpus.documents.count {
                let del = try db.prepare("DELETE FROM documents WHERE corpus=?")
                del.bind(1, hash)
                try del.step()
                let ins = try db.prepare("INSERT INTO documents(corpus, ord, id, title, text, text_hash) VALUES(?,?,?,?,?,?)")
                for (i, d) in corpus.documents.enumerated() {
                    ins.reset()
                    ins.bind(1, hash); ins.bind(2, i); ins.bind(3, d.id); ins.bind(4, d.title); ins.bind(5, d.text)
                    ins.bind(6, bytes: ContentHash.of(d.embeddingText).bytes)
                    try ins.step()
                }
            }
            let c = try db.prepare("INSERT OR REPLACE INTO corpora(hash, name, source, size, mtime, count) VALUES(?,?,?,?,?,?)")
            c.bind(1, hash); c.bind(2, corpus.name); c.bind(3, corpus.source)
            c.bind(4, st0?.size ?? -1); c.bind(5, st0?.mtime ?? -1); c.bind(6, corpus.documents.count)
            try c.step()
        }
        return hash
    }

    /// Document `ord` of a recorded corpus.
    public func document(corpus: String, ord: Int) throws -> Document? {
        lock.lock(); defer { lock.unlock() }
        let st = try db.prepare("SELECT id, title, text FROM documents WHERE corpus=? AND ord=?")
        st.bind(1, corpus); st.bind(2, ord)
        guard try st.step() else { return nil }
        return Document(id: st.string(0), title: st.string(1), text: st.string(2))
    }

    /// Ids and titles of all documents of a recorded corpus, in order (no texts).
    public func documentHeads(corpus: String) throws -> [(id: String, title: String)] {
        lock.lock(); defer { lock.unlock() }
        let st = try db.prepare("SELECT id, title FROM documents WHERE corpus=? ORDER BY ord")
        st.bind(1, corpus)
        var out: [(String, String)] = []
        while try st.step() { out.append((st.string(0), st.string(1))) }
        return out
    }

    /// Text hashes of a recorded corpus, in order.
    public func textHashes(corpus: String) throws -> [ContentHash] {
        lock.lock(); defer { lock.unlock() }
        let st = try db.prepare("SELECT text_hash FROM documents WHERE corpus=? ORDER BY ord")
        st.bind(1, corpus)
        var out: [ContentHash] = []
        while try st.step() { if let h = ContentHash(bytes: st.blob(0)) { out.append(h) } }
        return out
    }

    // MARK: matrices

    public func matrixPath(corpus: String, space: Int) -> String { directory + "/matrices/\(corpus)-\(space).vec" }

    /// Writes the corpus's vectors in document order into one contiguous file (f32 or
    /// f16 rows after a 64-byte header), atomically. Fails if any vector is missing.
    public func writeMatrix(corpus: String, space: Int, dtype: DType, width: Int) throws {
        let hashes = try textHashes(corpus: corpus)
        var data = Data()
        data.append(contentsOf: StoredMatrix.header(rows: hashes.count, width: width, dtype: dtype))
        lock.lock()
        let st = try db.prepare("SELECT vector FROM vectors WHERE space=? AND text_hash=?")
        for h in hashes {
            st.reset(); st.bind(1, space); st.bind(2, bytes: h.bytes)
            guard try st.step() else { lock.unlock(); throw SQLiteError(code: -1, message: "vector missing for a document of corpus \(corpus)") }
            let b = st.blob(0)
            guard b.count == width * (dtype == .f32 ? 4 : 2) else { lock.unlock(); throw SQLiteError(code: -1, message: "stored vector has \(b.count) bytes") }
            data.append(contentsOf: b)
        }
        lock.unlock()
        let path = matrixPath(corpus: corpus, space: space)
        let tmp = path + ".tmp-\(getpid())"
        try data.write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else { throw SQLiteError(code: -1, message: "cannot rename \(tmp)") }
    }

    /// The memory-mapped matrix of a corpus in a space, or nil when not built yet.
    public func openMatrix(corpus: String, space: Int) throws -> StoredMatrix? {
        let path = matrixPath(corpus: corpus, space: space)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try StoredMatrix(file: MappedFile(path: path))
    }
}

/// A memory-mapped vector matrix file (header + rows). Search reads it in place.
public final class StoredMatrix: @unchecked Sendable {
    public let file: MappedFile
    public let count: Int
    public let width: Int
    public let dtype: DType
    public let rows: UnsafeRawPointer

    /// Opens a matrix file by path.
    public static func open(path: String) throws -> StoredMatrix { try StoredMatrix(file: MappedFile(path: path)) }

    /// The 64-byte header of a matrix file: magic "LLVEC1", then rows, width and bytes per
    /// value as little-endian UInt64 at offsets 8, 16 and 24; the rows follow.
    public static func header(rows: Int, width: Int, dtype: DType) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 64)
        for (i, b) in "LLVEC1".utf8.enumerated() { header[i] = b }
        for (o, v) in [(8, rows), (16, width), (24, dtype.byteSize)] {
            for i in 0..<8 { header[o + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
        }
        return header
    }

    init(file: MappedFile) throws {
        guard file.size >= 64, let base = file.base, String(decoding: UnsafeRawBufferPointer(start: base, count: 6), as: UTF8.self) == "LLVEC1" else {
            throw SQLiteError(code: -1, message: "\(file.path): not a LatentLens matrix")
        }
        func get(_ o: Int) -> Int { var v: UInt64 = 0; for i in 0..<8 { v |= UInt64(base.load(fromByteOffset: o + i, as: UInt8.self)) << (8 * UInt64(i)) }; return Int(v) }
        count = get(8)
        width = get(16)
        dtype = get(24) == 4 ? .f32 : .f16
        guard 64 + count * width * dtype.byteSize <= file.size else { throw SQLiteError(code: -1, message: "\(file.path): truncated") }
        self.file = file
        rows = base + 64
    }

    /// Top-k rows by inner product with `query` (unit vectors: cosine).
    public func search(_ query: [Float], k: Int) -> [(index: Int, score: Float)] {
        // Big matrices are scanned in one part per thread. Each part scores a block of rows at a
        // time into a small buffer and keeps its own top-k, so no full score array is written
        // and selection runs in parallel; the parts' lists are merged at the end.
        let parts = count >= 65_536 ? max(1, BLAS.threads) : 1
        let per = (count + parts - 1) / parts
        var f32Scores: FloatBuffer?
        if dtype == .f32 {
            let s = FloatBuffer(count: count)
            query.withUnsafeBufferPointer { q in
                sgemv(rows.assumingMemoryBound(to: Float.self), q.baseAddress!, s.pointer, rows: count, width: width)
            }
            f32Scores = s
        }
        let lists = UnsafeMutableBufferPointer<[(index: Int, score: Float)]>.allocate(capacity: parts)
        lists.initialize(repeating: [])
        defer { lists.deinitialize(); lists.deallocate() }
        nonisolated(unsafe) let (out, base) = (lists, rows)
        let f32 = f32Scores
        let (n, w) = (count, width)
        query.withUnsafeBufferPointer { qb in
            nonisolated(unsafe) let q = qb.baseAddress!
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let lo = p * per, hi = min(n, lo + per)
                guard lo < hi else { return }
                var acc = TopKAccumulator(k: k)
                if let f32 {
                    acc.add(f32.pointer + lo, hi - lo, offset: lo)
                } else {
                    let block = 4096
                    let buf = UnsafeMutablePointer<Float>.allocate(capacity: block)
                    defer { buf.deallocate() }
                    var r = lo
                    while r < hi {
                        let m = min(block, hi - r)
                        HalfPrecision.gemvF16(base.assumingMemoryBound(to: UInt16.self) + r * w, q, into: buf, rows: m, width: w)
                        acc.add(buf, m, offset: r)
                        r += m
                    }
                }
                out[p] = acc.sorted()
            }
        }
        return mergeTopK(Array(lists), k: k)
    }

    /// Row i as f32.
    public func row(_ i: Int) -> [Float] {
        if dtype == .f32 { return Array(UnsafeBufferPointer(start: rows.assumingMemoryBound(to: Float.self) + i * width, count: width)) }
        var out = [Float](repeating: 0, count: width)
        out.withUnsafeMutableBufferPointer { HalfPrecision.f16ToF32(rows.assumingMemoryBound(to: UInt16.self) + i * width, $0.baseAddress!, count: width) }
        return out
    }
}
