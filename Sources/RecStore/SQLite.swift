import CSQLite
import Foundation
import RecCore

/// A thin handle on one SQLite connection: statements prepared once, bound and stepped. Not
/// thread-safe; `SQLiteEventStore` uses it from one thread at a time.
///
/// Why the C library and not GRDB.swift: the store runs a handful of fixed statements from
/// one writer thread with its own group commit, and reads the log once at start; GRDB's
/// records, pools and observation would go unused, and it would add its build to every CI run.
final class SQLiteConnection {
    private(set) var db: OpaquePointer?
    let path: String

    init(path: String) throws {
        self.path = path
        var h: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &h, flags, nil)
        guard rc == SQLITE_OK, let h else {
            let why = h.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(h)
            throw RecError.unavailable("cannot open the store \(path): \(why)")
        }
        db = h
        sqlite3_busy_timeout(h, 5000)
    }

    deinit {
        sqlite3_close_v2(db)
    }

    func error(_ what: String) -> RecError {
        let code = sqlite3_errcode(db)
        let msg = String(cString: sqlite3_errmsg(db))
        let full = "store \(path): \(what): \(msg)"
        switch code & 0xff {
        case SQLITE_FULL: return RecError.resourceExhausted(full)
        case SQLITE_CORRUPT, SQLITE_NOTADB: return RecError.dataLoss(full)
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN: return RecError.unavailable(full)
        default: return RecError.internal(full)
        }
    }

    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &err) == SQLITE_OK else {
            let msg = err.map { String(cString: $0) } ?? "?"
            sqlite3_free(err)
            throw RecError.internal("store \(path): \(sql.prefix(60)): \(msg)")
        }
    }

    /// The first column of the first row of `sql`, as text (nil: no row).
    func scalar(_ sql: String) throws -> String? {
        let s = try Statement(self, sql)
        guard try s.step() else { return nil }
        return s.text(0)
    }

    var changes: Int { Int(sqlite3_changes(db)) }
}

/// A prepared statement.
final class Statement {
    private var stmt: OpaquePointer?
    private unowned let conn: SQLiteConnection

    init(_ conn: SQLiteConnection, _ sql: String) throws {
        self.conn = conn
        guard sqlite3_prepare_v3(conn.db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil) == SQLITE_OK else {
            throw conn.error("prepare \(sql.prefix(60))")
        }
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    func bind(_ i: Int32, _ v: String?) {
        guard let v else {
            sqlite3_bind_null(stmt, i)
            return
        }
        sqlite3_bind_text(stmt, i, v, -1, rec_sqlite_transient())
    }

    func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(stmt, i, v) }
    func bind(_ i: Int32, _ v: Double) { sqlite3_bind_double(stmt, i, v) }

    /// Steps once: true with a row, false when done.
    func step() throws -> Bool {
        switch sqlite3_step(stmt) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw conn.error("step")
        }
    }

    func text(_ c: Int32) -> String? {
        guard let p = sqlite3_column_text(stmt, c) else { return nil }
        return String(cString: p)
    }

    func int64(_ c: Int32) -> Int64 { sqlite3_column_int64(stmt, c) }
    func double(_ c: Int32) -> Double { sqlite3_column_double(stmt, c) }
}
