import Foundation
import RecCore
import Synchronization

/// A database that keeps the write log: SQLite (embedded, the default) or PostgreSQL.
public protocol EventStoreBackend: AnyObject, Sendable {
    /// "sqlite" or "postgres".
    var kind: String { get }
    /// Whether other processes append to the same log (then every commit is followed by a
    /// read of the log, so this process applies everyone's events in sequence order).
    var isShared: Bool { get }
    /// Writes `batches` in one transaction, each batch all or nothing, and returns once the
    /// transaction is durable: per batch, its events as stored (sequence set) with nil for an
    /// event whose id the store already held, or the error that rolled that batch back.
    func write(_ batches: [[WriteEvent]]) -> [Result<[WriteEvent?], RecError>]
    /// Up to `limit` events with a sequence above `after`, in sequence order.
    func read(after: Int64, limit: Int) throws -> [WriteEvent]
    /// Bytes the database takes on disk (nil when it cannot tell).
    func sizeBytes() -> Int64?
}

/// The server's write path: appends events to the store with group commit, and hands every
/// committed event, in sequence order and once, to `apply` before the writer hears back (so
/// the next request sees it). With a shared store, `apply` also gets the other replicas'
/// events: after each commit, and whenever `catchUp` is called (the server polls).
///
/// Group commit without a thread of its own: the first writer to find no commit in progress
/// leads; it takes every batch queued by then, writes them in one transaction (one fsync),
/// wakes their writers, and leads again while more are queued. Concurrent writers share
/// fsyncs; a lone writer pays one per call.
public final class EventLog: Sendable {
    public let backend: any EventStoreBackend
    private let apply: @Sendable ([WriteEvent]) -> Void
    /// The highest sequence applied; everything at or below it has been applied. Held while
    /// applying, so events reach `apply` in order.
    private let applied = Mutex<Int64>(0)

    private final class Job: @unchecked Sendable {
        let events: [WriteEvent]
        var result: Result<[WriteEvent?], RecError> = .failure(.internal("not written"))
        let done = DispatchSemaphore(value: 0)
        init(_ events: [WriteEvent]) { self.events = events }
    }

    private struct Queue {
        var pending: [Job] = []
        var leading = false
    }
    private let queue = Mutex(Queue())
    /// Commits and events written since start (for metrics and the benchmark).
    private let stats = Mutex((commits: 0, events: 0, duplicates: 0))

    public init(_ backend: any EventStoreBackend, apply: @escaping @Sendable ([WriteEvent]) -> Void) {
        self.backend = backend
        self.apply = apply
    }

    /// Applies every stored event not applied yet, in order (start-up; a replica's poll).
    /// Returns how many.
    @discardableResult
    public func catchUp(chunk: Int = 50_000) throws -> Int {
        try applied.withLock { last in
            var n = 0
            while true {
                let events = try backend.read(after: last, limit: chunk)
                if events.isEmpty { return n }
                apply(events)
                last = events.last!.sequence
                n += events.count
            }
        }
    }

    /// The highest sequence applied.
    public var appliedSequence: Int64 { applied.withLock { $0 } }

    /// Appends `events` as one unit (all or none); returns them as stored, nil for duplicates.
    public func append(_ events: [WriteEvent]) throws -> [WriteEvent?] {
        let job = Job(events)
        let lead = queue.withLock { q -> Bool in
            q.pending.append(job)
            if q.leading { return false }
            q.leading = true
            return true
        }
        if lead { leadCommits() }
        job.done.wait()
        return try job.result.get()
    }

    private func leadCommits() {
        while true {
            var jobs = queue.withLock { q -> [Job] in
                let j = q.pending
                q.pending = []
                if j.isEmpty { q.leading = false }
                return j
            }
            if jobs.isEmpty { return }
            let results = backend.write(jobs.map(\.events))
            var committed: [WriteEvent] = []
            var dup = 0
            for (job, r) in zip(jobs, results) {
                job.result = r
                if case .success(let stored) = r {
                    committed += stored.compactMap { $0 }
                    dup += stored.count { $0 == nil }
                }
            }
            committed.sort { $0.sequence < $1.sequence }
            if backend.isShared {
                // Others may have committed in between: read the log up to and past ours.
                if !committed.isEmpty, (try? catchUp()) == nil {
                    for (n, job) in jobs.enumerated() where (try? job.result.get()) != nil {
                        jobs[n].result = .failure(
                            .unavailable("recorded, but the store could not be read back; it is served once it can"))
                    }
                }
            } else if !committed.isEmpty {
                applied.withLock { last in
                    apply(committed)
                    last = committed.last!.sequence
                }
            }
            stats.withLock {
                $0.commits += 1
                $0.events += committed.count
                $0.duplicates += dup
            }
            for job in jobs { job.done.signal() }
        }
    }

    public var counts: (commits: Int, events: Int, duplicates: Int) { stats.withLock { $0 } }
}

/// How events' metadata is kept in a store's text column.
enum EventBody {
    static func encode(_ e: WriteEvent) -> String? {
        guard e.itemMeta != nil || e.userMeta != nil else { return nil }  // feedback: no body
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        if let m = e.itemMeta { return (try? enc.encode(m)).map { String(decoding: $0, as: UTF8.self) } }
        if let m = e.userMeta { return (try? enc.encode(m)).map { String(decoding: $0, as: UTF8.self) } }
        return nil
    }

    static func decode(_ body: String?, into e: inout WriteEvent) throws {
        guard let body, !body.isEmpty else { return }
        let data = Data(body.utf8)
        do {
            switch e.kind {
            case .upsertItem: e.itemMeta = try JSONDecoder().decode(ItemMeta.self, from: data)
            case .upsertUser: e.userMeta = try JSONDecoder().decode(UserMeta.self, from: data)
            default: break
            }
        } catch {
            throw RecError.dataLoss("store event \(e.sequence): its metadata does not decode: \(error)")
        }
    }
}
