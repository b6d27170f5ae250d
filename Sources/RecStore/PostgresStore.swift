import CLibPQ
import Foundation
import RecCore

/// The shared store: the event log in a PostgreSQL table, for several replicas serving one
/// write history. A commit returns once PostgreSQL has made it durable (its default
/// `synchronous_commit = on`). Every replica appends to the same table and follows it
/// (`EventLog.catchUp`), so each serves every replica's writes.
///
/// Writers take one transaction-scoped advisory lock before inserting, so sequence numbers
/// become visible in order: a follower that has read everything up to sequence n has missed
/// nothing below it. (Without the lock a transaction that drew n−1 could commit after one
/// that drew n, and a follower reading "after n" would never see it.)
///
/// Why libpq and not postgres-nio: the store is called from the server's worker threads,
/// synchronously, one transaction per group commit; libpq is PostgreSQL's own client, with
/// that API, already on the machine, and adds nothing to the build. postgres-nio's async API
/// would need a bridge back to those threads.
public final class PostgresEventStore: EventStoreBackend, @unchecked Sendable {
    public let kind = "postgres"
    public let isShared = true
    /// The URL without its password (for messages).
    public let displayURL: String
    private let url: String
    private var conn: OpaquePointer?
    private let lock = NSLock()

    /// The advisory lock keys: schema creation, and appends.
    static let schemaLock: Int64 = 0x7265_6366_0001
    static let appendLock: Int64 = 0x7265_6366_0002

    public init(url: String) throws {
        self.url = url
        displayURL = Self.redacted(url)
        try connect()
        try exec("SELECT pg_advisory_lock(\(Self.schemaLock))")
        defer { _ = try? exec("SELECT pg_advisory_unlock(\(Self.schemaLock))") }
        try exec(
            """
            CREATE TABLE IF NOT EXISTS recfuse_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS events(
              seq BIGSERIAL PRIMARY KEY,
              event_id TEXT UNIQUE,
              kind SMALLINT NOT NULL,
              user_id TEXT NOT NULL,
              item_id TEXT NOT NULL,
              rating REAL NOT NULL,
              ts BIGINT NOT NULL,
              event_type TEXT NOT NULL,
              body TEXT);
            INSERT INTO recfuse_meta VALUES ('schema_version', '\(SQLiteEventStore.schemaVersion)')
              ON CONFLICT (key) DO NOTHING;
            """)
        let v = try query("SELECT value FROM recfuse_meta WHERE key = 'schema_version'", []).first?.first ?? nil
        guard v == SQLiteEventStore.schemaVersion else {
            throw RecError.failedPrecondition(
                "store \(displayURL) has schema version \(v ?? "none"); this server reads version "
                    + SQLiteEventStore.schemaVersion)
        }
    }

    deinit { PQfinish(conn) }

    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.password != nil else { return url }
        c.password = "***"
        return c.string ?? url
    }

    private func connect() throws {
        PQfinish(conn)
        conn = PQconnectdb(url)
        guard PQstatus(conn) == CONNECTION_OK else {
            let why = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(conn)
            conn = nil
            throw RecError.unavailable("cannot connect to the store \(displayURL): \(why)")
        }
    }

    /// Reconnects when the connection broke (a server restart); the caller retries its statement.
    private func ensureConnected() throws {
        if conn == nil || PQstatus(conn) != CONNECTION_OK { try connect() }
    }

    private func error(_ r: OpaquePointer?, _ what: String) -> RecError {
        let msg = String(cString: PQresultErrorMessage(r)).trimmingCharacters(in: .whitespacesAndNewlines)
        let state = PQresultErrorField(r, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        let text = "store \(displayURL): \(what): \(msg.isEmpty ? String(cString: PQerrorMessage(conn)) : msg)"
        if PQstatus(conn) != CONNECTION_OK || state.hasPrefix("08") || state.hasPrefix("57") {
            return RecError.unavailable(text)
        }
        if state.hasPrefix("53") { return RecError.resourceExhausted(text) }
        return RecError.internal(text)
    }

    @discardableResult
    private func exec(_ sql: String) throws -> Int {
        let r = PQexec(conn, sql)
        defer { PQclear(r) }
        let s = PQresultStatus(r)
        guard s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK else { throw error(r, String(sql.prefix(60))) }
        return Int(PQntuples(r))
    }

    /// Rows of `sql` with text parameters, as text (nil: SQL NULL).
    private func query(_ sql: String, _ params: [String?]) throws -> [[String?]] {
        let cParams = params.map { $0.map { strdup($0) } ?? nil }
        defer { for p in cParams { free(p) } }
        let r = cParams.map { UnsafePointer<CChar>($0) }.withUnsafeBufferPointer { pp in
            PQexecParams(conn, sql, Int32(params.count), nil, pp.baseAddress, nil, nil, 0)
        }
        defer { PQclear(r) }
        let s = PQresultStatus(r)
        guard s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK else { throw error(r, String(sql.prefix(60))) }
        let rows = Int(PQntuples(r)), cols = Int(PQnfields(r))
        return (0..<rows).map { i in
            (0..<cols).map { j in
                PQgetisnull(r, Int32(i), Int32(j)) == 1 ? nil : String(cString: PQgetvalue(r, Int32(i), Int32(j)))
            }
        }
    }

    public func write(_ batches: [[WriteEvent]]) -> [Result<[WriteEvent?], RecError>] {
        lock.lock()
        defer { lock.unlock() }
        do {
            try ensureConnected()
            try exec("BEGIN")
            try exec("SELECT pg_advisory_xact_lock(\(Self.appendLock))")
        } catch {
            _ = try? exec("ROLLBACK")
            return batches.map { _ in .failure(RecError.wrapping(error)) }
        }
        var out: [Result<[WriteEvent?], RecError>] = []
        for batch in batches {
            do {
                try exec("SAVEPOINT batch")
                // One statement per batch (a round trip per event cost 200 µs each): the
                // events as arrays, inserted in their order; RETURNING names the event ids
                // that were new (events without an id are always new).
                func array(_ values: [String?]) -> String {
                    "{"
                        + values.map { v in
                            guard let v else { return "NULL" }
                            return "\""
                                + v.replacingOccurrences(of: "\\", with: "\\\\")
                                .replacingOccurrences(of: "\"", with: "\\\"") + "\""
                        }.joined(separator: ",") + "}"
                }
                let rows = try query(
                    "INSERT INTO events(event_id, kind, user_id, item_id, rating, ts, event_type, body) "
                        + "SELECT e, k, u, i, r, t, y, b FROM unnest($1::text[], $2::int2[], $3::text[], $4::text[], "
                        + "$5::float4[], $6::int8[], $7::text[], $8::text[]) "
                        + "WITH ORDINALITY AS x(e, k, u, i, r, t, y, b, n) "
                        + "ORDER BY n ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                    [
                        array(batch.map { $0.eventID.isEmpty ? nil : $0.eventID }),
                        array(batch.map { String($0.kind.rawValue) }), array(batch.map(\.user)),
                        array(batch.map(\.item)), array(batch.map { String($0.rating) }),
                        array(batch.map { String($0.timestamp) }), array(batch.map(\.eventType)),
                        array(batch.map { EventBody.encode($0) }),
                    ])
                var fresh = Set(rows.compactMap { $0.first ?? nil })
                // The sequence numbers come from the log when it is read back (a shared store
                // is always read back after a commit); here only which events were new.
                let stored: [WriteEvent?] = batch.map { e in
                    if e.eventID.isEmpty { return e }
                    return fresh.remove(e.eventID) != nil ? e : nil
                }
                try exec("RELEASE SAVEPOINT batch")
                out.append(.success(stored))
            } catch {
                _ = try? exec("ROLLBACK TO SAVEPOINT batch")
                out.append(.failure(RecError.wrapping(error)))
            }
        }
        do { try exec("COMMIT") } catch {
            _ = try? exec("ROLLBACK")
            let e = RecError.wrapping(error, "commit failed, nothing was recorded: ")
            return batches.map { _ in .failure(e) }
        }
        return out
    }

    public func read(after: Int64, limit: Int) throws -> [WriteEvent] {
        lock.lock()
        defer { lock.unlock() }
        try ensureConnected()
        let rows = try query(
            "SELECT seq, event_id, kind, user_id, item_id, rating, ts, event_type, body FROM events "
                + "WHERE seq > $1 ORDER BY seq LIMIT $2", [String(after), String(limit)])
        return try rows.map { r in
            guard let seq = r[0].flatMap({ Int64($0) }), let k = r[2].flatMap({ Int($0) }),
                let kind = WriteEvent.Kind(rawValue: k)
            else {
                throw RecError.dataLoss("store \(displayURL): an event row does not decode: \(r.map { $0 ?? "NULL" })")
            }
            var e = WriteEvent(
                eventID: r[1] ?? "", kind: kind, user: r[3] ?? "", item: r[4] ?? "",
                rating: r[5].flatMap { Float($0) } ?? 0, timestamp: r[6].flatMap { Int64($0) } ?? 0,
                eventType: r[7] ?? "")
            e.sequence = seq
            try EventBody.decode(r[8], into: &e)
            return e
        }
    }

    public func sizeBytes() -> Int64? {
        lock.lock()
        defer { lock.unlock() }
        guard let cell = (try? query("SELECT pg_total_relation_size('events')", []))?.first?.first, let text = cell
        else { return nil }
        return Int64(text)
    }
}
