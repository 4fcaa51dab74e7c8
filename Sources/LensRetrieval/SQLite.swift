import CSQLite
import Foundation

/// An SQLite error with the statement or file it concerns.
public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { "sqlite error \(code): \(message)" }
}

/// A minimal SQLite connection: prepared statements, typed binds and columns, transactions.
public final class SQLiteDatabase: @unchecked Sendable {
    let handle: OpaquePointer
    public let path: String

    public init(path: String, readOnly: Bool = false) throws {
        var h: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let rc = sqlite3_open_v2(path, &h, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let h { sqlite3_close(h) }
            throw SQLiteError(code: rc, message: "\(path): \(msg)")
        }
        handle = h
        self.path = path
        sqlite3_busy_timeout(h, 10_000)
    }

    deinit { sqlite3_close(handle) }

    func error(_ rc: Int32, _ what: String) -> SQLiteError {
        SQLiteError(code: rc, message: "\(what): \(String(cString: sqlite3_errmsg(handle)))")
    }

    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "?"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: "\(msg) in: \(sql.prefix(80))")
        }
    }

    public func prepare(_ sql: String) throws -> Statement {
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &s, nil)
        guard rc == SQLITE_OK, let s else { throw error(rc, "prepare \(sql.prefix(80))") }
        return Statement(db: self, handle: s)
    }

    /// Runs `body` in one IMMEDIATE transaction (committed on return, rolled back on throw).
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try execute("COMMIT")
            return r
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    public final class Statement {
        let db: SQLiteDatabase
        let handle: OpaquePointer
        init(db: SQLiteDatabase, handle: OpaquePointer) { self.db = db; self.handle = handle }
        deinit { sqlite3_finalize(handle) }

        @discardableResult
        public func reset() -> Statement { sqlite3_reset(handle); sqlite3_clear_bindings(handle); return self }

        public func bind(_ i: Int32, _ v: Int) { sqlite3_bind_int64(handle, i, sqlite3_int64(v)) }
        public func bind(_ i: Int32, _ v: Double) { sqlite3_bind_double(handle, i, v) }
        public func bind(_ i: Int32, _ v: String) { sqlite3_bind_text(handle, i, v, -1, csqlite_transient()) }
        public func bind(_ i: Int32, blob: UnsafeRawBufferPointer) {
            sqlite3_bind_blob(handle, i, blob.baseAddress, Int32(blob.count), csqlite_transient())
        }
        public func bind(_ i: Int32, bytes: [UInt8]) { bytes.withUnsafeBytes { bind(i, blob: $0) } }

        /// Steps once; true when a row is available.
        @discardableResult
        public func step() throws -> Bool {
            let rc = sqlite3_step(handle)
            if rc == SQLITE_ROW { return true }
            if rc == SQLITE_DONE { return false }
            throw db.error(rc, "step")
        }

        public func int(_ c: Int32) -> Int { Int(sqlite3_column_int64(handle, c)) }
        public func double(_ c: Int32) -> Double { sqlite3_column_double(handle, c) }
        public func string(_ c: Int32) -> String {
            guard let p = sqlite3_column_text(handle, c) else { return "" }
            return String(cString: p)
        }
        /// The blob of column c (valid until the next step/reset).
        public func blob(_ c: Int32) -> UnsafeRawBufferPointer {
            let n = Int(sqlite3_column_bytes(handle, c))
            guard let p = sqlite3_column_blob(handle, c) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            return UnsafeRawBufferPointer(start: p, count: n)
        }
    }
}
