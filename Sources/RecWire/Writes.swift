import Foundation
import RecCore
import RecStore

/// The store a server records writes in, and the in-memory state fed from it.
struct Writes: Sendable {
    let log: EventLog
    let live: LiveState
}

extension Service {
    /// Longest user or item id a write may carry.
    static let maxIDBytes = 512

    /// Serves the writes of `backend`: replays what it holds into memory (so a restart, or a
    /// second replica of a shared store, starts where the store is), then records every
    /// Feedback, UpsertUser, UpsertItem and DeleteItem in it. Returns the events replayed.
    @discardableResult
    public func attachStore(_ backend: any EventStoreBackend) throws -> Int {
        let live = LiveState()
        let log = EventLog(backend) { [weak self] events in
            // Runs in the committing thread, in sequence order, before any writer hears back.
            // Feedback for a new item changes its model: rebuilt shortly, off this path. An
            // item upserted or deleted is rebuilt by its own call before it answers — or here
            // when another replica wrote it.
            if live.apply(events) { self?.scheduleRefresh() }
        }
        let replayed = try log.catchUp()
        writes.withLock { $0 = Writes(log: log, live: live) }
        rebuilding.lock()
        defer { rebuilding.unlock() }
        let base = state.withLock { $0.base }
        let next = served(base: base, reuse: nil)
        state.withLock { $0 = next }
        return replayed
    }

    /// The live state of the store, nil without one.
    public var liveState: LiveState? { writes.withLock { $0?.live } }

    /// The write log, nil without a store.
    public var eventLog: EventLog? { writes.withLock { $0?.log } }

    /// Applies what other replicas wrote to a shared store since the last look (the server
    /// calls it every `--store-poll`). Returns the events applied.
    @discardableResult
    public func followStore() throws -> Int {
        guard let log = eventLog else { return 0 }
        return try log.catchUp()
    }

    /// `base` serving the store's writes (itself without a store). Holds `rebuilding`.
    func served(base: Recommender, reuse: Served?) -> Served {
        guard let live = writes.withLock({ $0?.live }) else { return Served(base: base, serving: base) }
        do {
            return Served(base: base, serving: try base.serving(live, changes: live.catalogueChanges()), reuse: reuse)
        } catch {
            // Cannot happen for a bundle's own recommender; serve the bundle rather than nothing.
            return Served(base: base, serving: base)
        }
    }

    /// Rebuilds the served recommender when the catalogue changed since it was built.
    func refreshCatalogue() {
        guard let live = liveState else { return }
        rebuilding.lock()
        defer { rebuilding.unlock() }
        let current = state.withLock { $0 }
        guard current.recommender.changesVersion != live.catalogueVersion else { return }
        let next = served(base: current.base, reuse: current)
        state.withLock { $0 = next }
    }

    /// A coalesced `refreshCatalogue` shortly after a catalogue change the writer's own call
    /// does not rebuild for (feedback for a new item, another replica's writes).
    func scheduleRefresh() {
        guard
            refreshPending.withLock({ p in
                defer { p = true }
                return !p
            })
        else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + .milliseconds(50)) { [weak self] in
            self?.refreshPending.withLock { $0 = false }
            self?.refreshCatalogue()
        }
    }

    private func requireStore() throws -> Writes {
        guard let w = writes.withLock({ $0 }) else {
            throw RecError.failedPrecondition(
                "this server records no writes: start it with --store (an SQLite file or a PostgreSQL URL)")
        }
        return w
    }

    private static func checkID(_ id: String, _ field: String) throws {
        guard !id.isEmpty else { throw RecError.invalidArgument("\(field) is required") }
        guard id.utf8.count <= maxIDBytes else {
            throw RecError.invalidArgument("\(field) of \(id.utf8.count) bytes is over the limit of \(maxIDBytes)")
        }
    }

    private static func checkText(_ s: String, _ field: String, _ limits: Limits) throws {
        guard s.utf8.count <= limits.maxTextBytes else {
            throw RecError.resourceExhausted(
                "\(field) of \(s.utf8.count) bytes exceeds the server's max_text_bytes (\(limits.maxTextBytes))")
        }
    }

    /// Named text fields of a request, each named and within the text limit.
    private static func fields(_ fs: [RFField], _ name: String, _ limits: Limits) throws -> [TextField] {
        try fs.enumerated().map { n, f in
            guard !f.name.isEmpty else { throw RecError.invalidArgument("\(name)[\(n)].name is required") }
            try checkText(f.value, "\(name)[\(n)].value", limits)
            return TextField(f.name, f.value)
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    func feedback(_ req: RFFeedbackRequest, _ rec: Recommender) throws -> RFFeedbackResponse {
        let w = try requireStore()
        guard !req.events.isEmpty else { throw RecError.invalidArgument("events is empty: nothing to record") }
        guard req.events.count <= rec.limits.maxFeedbackBatch else {
            throw RecError.resourceExhausted(
                "\(req.events.count) events exceed the server's max_feedback_batch (\(rec.limits.maxFeedbackBatch))")
        }
        let received = Self.now()
        var events: [WriteEvent] = []
        events.reserveCapacity(req.events.count)
        for (n, e) in req.events.enumerated() {
            try Self.checkID(e.userID, "events[\(n)].user_id")
            try Self.checkID(e.itemID, "events[\(n)].item_id")
            try Self.checkText(e.eventID, "events[\(n)].event_id", rec.limits)
            try Self.checkText(e.eventType, "events[\(n)].event_type", rec.limits)
            guard e.rating.isFinite, e.rating >= 0 else {
                throw RecError.invalidArgument("events[\(n)].rating must be a finite number >= 0, got \(e.rating)")
            }
            guard let i = rec.catalog.ids.index(of: e.itemID) else {
                throw RecError.notFound(
                    "events[\(n)].item_id '\(e.itemID)' is not in the catalogue (add it with Admin/UpsertItem); "
                        + "nothing was recorded")
            }
            guard !rec.isHidden(i) else {
                throw RecError.notFound("events[\(n)].item_id '\(e.itemID)' was deleted; nothing was recorded")
            }
            events.append(
                WriteEvent(
                    eventID: e.eventID, kind: .feedback, user: e.userID, item: e.itemID, rating: e.rating,
                    timestamp: e.timestamp == 0 ? received : e.timestamp, eventType: e.eventType))
        }
        let stored = try w.log.append(events)
        var out = RFFeedbackResponse()
        out.recorded = UInt32(stored.count { $0 != nil })
        out.duplicates = UInt32(stored.count - Int(out.recorded))
        out.sequence = UInt64(max(0, w.log.appliedSequence))
        return out
    }

    func upsertUser(_ req: RFUpsertUserRequest) throws -> RFWriteResponse {
        let w = try requireStore()
        let limits = current.limits
        try Self.checkID(req.userID, "user_id")
        try Self.checkText(req.eventID, "event_id", limits)
        var meta = UserMeta(
            age: req.age == 0 ? nil : Int(req.age), gender: req.gender.isEmpty ? nil : req.gender,
            occupation: req.occupation.isEmpty ? nil : req.occupation)
        meta.attributes = try Self.fields(req.attributes, "attributes", limits)
        let stored = try w.log.append([
            WriteEvent(eventID: req.eventID, kind: .upsertUser, user: req.userID, timestamp: Self.now(), userMeta: meta)
        ])
        return writeResponse(stored, w)
    }

    func upsertItem(_ req: RFUpsertItemRequest) throws -> RFWriteResponse {
        let w = try requireStore()
        let limits = current.limits
        try Self.checkID(req.itemID, "item_id")
        try Self.checkText(req.eventID, "event_id", limits)
        try Self.checkText(req.title, "title", limits)
        let meta = ItemMeta(
            title: req.title, year: req.year == 0 ? nil : Int(req.year), genres: req.categories,
            fields: try Self.fields(req.fields, "fields", limits))
        let stored = try w.log.append([
            WriteEvent(eventID: req.eventID, kind: .upsertItem, item: req.itemID, timestamp: Self.now(), itemMeta: meta)
        ])
        refreshCatalogue()
        var out = writeResponse(stored, w)
        let rec = current
        if let i = rec.catalog.ids.index(of: req.itemID), Int(i) >= rec.baseItemCount {
            let s = rec.newItemScoring
            out.scoredBy = s.scoredBy
            out.notScoredBy = s.notScoredBy
        } else {
            out.scoredBy = rec.engines.map(\.name)  // a trained item: its metadata changed, its scores did not
        }
        return out
    }

    func deleteItem(_ req: RFDeleteItemRequest, _ rec: Recommender) throws -> RFWriteResponse {
        let w = try requireStore()
        try Self.checkID(req.itemID, "item_id")
        try Self.checkText(req.eventID, "event_id", rec.limits)
        guard rec.catalog.ids.index(of: req.itemID) != nil else {
            throw RecError.notFound("item_id '\(req.itemID)' is not in the catalogue")
        }
        let stored = try w.log.append([
            WriteEvent(eventID: req.eventID, kind: .deleteItem, item: req.itemID, timestamp: Self.now())
        ])
        refreshCatalogue()
        return writeResponse(stored, w)
    }

    private func writeResponse(_ stored: [WriteEvent?], _ w: Writes) -> RFWriteResponse {
        var out = RFWriteResponse()
        out.duplicate = stored.first.map { $0 == nil } ?? false
        out.sequence = UInt64(max(0, w.log.appliedSequence))
        return out
    }
}
