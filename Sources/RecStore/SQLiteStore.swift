import CSQLite
import Foundation
import RecCore

/// The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so a commit has
/// reached the disk (the WAL fsynced) before it returns, and a killed process loses nothing
/// acknowledged. One table, the event log; the serving state is rebuilt from it at start.
public final class SQLiteEventStore: EventStoreBackend, @unchecked Sendable {
    public let kind = "sqlite"
    public let isShared = false
    public let path: String
    /// The connection and its statements; every use holds `lock`.
    private let conn: SQLiteConnection
    private let insert: Statement
    private let select: Statement
    private let lock = NSLock()

    static let schemaVersion = "1"

    /// Opens (creating when missing) the store at `path`.
    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        conn = try SQLiteConnection(path: path)
        guard try conn.scalar("PRAGMA journal_mode = WAL")?.lowercased() == "wal" else {
            throw RecError.unavailable("store \(path): the file system does not support SQLite's WAL mode")
        }
        try conn.exec("PRAGMA synchronous = FULL")
        do {
            try conn.exec(
                """
                CREATE TABLE IF NOT EXISTS recfuse_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS events(
                  seq INTEGER PRIMARY KEY,
                  event_id TEXT UNIQUE,
                  kind INTEGER NOT NULL,
                  user_id TEXT NOT NULL,
                  item_id TEXT NOT NULL,
                  rating REAL NOT NULL,
                  ts INTEGER NOT NULL,
                  event_type TEXT NOT NULL,
                  body TEXT);
                INSERT OR IGNORE INTO recfuse_meta VALUES ('schema_version', '\(Self.schemaVersion)');
                """)
        } catch let e as RecError {
            throw RecError(
                e.code == .internal ? .dataLoss : e.code, "store \(path) is not a recfuse store: \(e.message)")
        }
        let version = try conn.scalar("SELECT value FROM recfuse_meta WHERE key = 'schema_version'")
        guard version == Self.schemaVersion else {
            throw RecError.failedPrecondition(
                "store \(path) has schema version \(version ?? "none"); this server reads version \(Self.schemaVersion)"
            )
        }
        insert = try Statement(
            conn,
            "INSERT INTO events(event_id, kind, user_id, item_id, rating, ts, event_type, body) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING")
        select = try Statement(
            conn,
            "SELECT seq, event_id, kind, user_id, item_id, rating, ts, event_type, body FROM events "
                + "WHERE seq > ? ORDER BY seq LIMIT ?")
    }

    public func write(_ batches: [[WriteEvent]]) -> [Result<[WriteEvent?], RecError>] {
        lock.lock()
        defer { lock.unlock() }
        do { try conn.exec("BEGIN IMMEDIATE") } catch {
            return batches.map { _ in .failure(RecError.wrapping(error)) }
        }
        var out: [Result<[WriteEvent?], RecError>] = []
        for batch in batches {
            do {
                try conn.exec("SAVEPOINT batch")
                var stored: [WriteEvent?] = []
                for var e in batch {
                    insert.reset()
                    insert.bind(1, e.eventID.isEmpty ? nil : e.eventID)
                    insert.bind(2, Int64(e.kind.rawValue))
                    insert.bind(3, e.user)
                    insert.bind(4, e.item)
                    insert.bind(5, Double(e.rating))
                    insert.bind(6, e.timestamp)
                    insert.bind(7, e.eventType)
                    insert.bind(8, EventBody.encode(e))
                    _ = try insert.step()
                    if conn.changes == 1 {
                        e.sequence = sqlite3_last_insert_rowid(conn.db)
                        stored.append(e)
                    } else {
                        stored.append(nil)
                    }
                }
                try conn.exec("RELEASE batch")
                out.append(.success(stored))
            } catch {
                try? conn.exec("ROLLBACK TO batch")
                try? conn.exec("RELEASE batch")
                out.append(.failure(RecError.wrapping(error)))
            }
        }
        insert.reset()
        do { try conn.exec("COMMIT") } catch {
            try? conn.exec("ROLLBACK")
            let e = RecError.wrapping(error, "commit failed, nothing was recorded: ")
            return batches.map { _ in .failure(e) }
        }
        return out
    }

    public func read(after: Int64, limit: Int) throws -> [WriteEvent] {
        lock.lock()
        defer { lock.unlock() }
        select.reset()
        select.bind(1, after)
        select.bind(2, Int64(limit))
        var out: [WriteEvent] = []
        while try select.step() {
            guard let kind = WriteEvent.Kind(rawValue: Int(select.int64(2))) else {
                throw RecError.dataLoss("store \(path): event \(select.int64(0)) has unknown kind \(select.int64(2))")
            }
            var e = WriteEvent(
                eventID: select.text(1) ?? "", kind: kind, user: select.text(3) ?? "", item: select.text(4) ?? "",
                rating: Float(select.double(5)), timestamp: select.int64(6), eventType: select.text(7) ?? "")
            e.sequence = select.int64(0)
            try EventBody.decode(select.text(8), into: &e)
            out.append(e)
        }
        select.reset()
        return out
    }

    public func sizeBytes() -> Int64? {
        let fm = FileManager.default
        var total: Int64 = 0
        for suffix in ["", "-wal", "-shm"] {
            if let a = try? fm.attributesOfItem(atPath: path + suffix), let n = a[.size] as? NSNumber {
                total += n.int64Value
            }
        }
        return total
    }

    /// Folds the WAL back into the database file (the server does it at shutdown).
    public func checkpoint() {
        lock.lock()
        defer { lock.unlock() }
        try? conn.exec("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}

/// The `serve --store` argument: which backend, where.
public enum StoreURL {
    public static func open(_ s: String) throws -> any EventStoreBackend {
        if s.hasPrefix("postgres://") || s.hasPrefix("postgresql://") {
            return try PostgresEventStore(url: s)
        }
        var path = s
        if s.hasPrefix("sqlite:") {
            path = String(s.dropFirst("sqlite:".count))
        } else if !(s.hasSuffix(".sqlite") || s.hasSuffix(".db")) {
            throw RecError.invalidArgument(
                "--store '\(s)': give sqlite:PATH (or a path ending .sqlite or .db) or a postgres:// URL")
        }
        guard !path.isEmpty else { throw RecError.invalidArgument("--store sqlite: needs a file path") }
        return try SQLiteEventStore(path: path)
    }
}
