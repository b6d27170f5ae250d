/// The serving pipeline: resolves users and items, picks an engine (with fallback),
/// scores, filters and selects. One instance per loaded bundle; immutable and safe to
/// call from any number of threads at once.
///
/// Called by the wire dispatcher (server and C ABI alike) with domain requests in raw ids.
public final class Recommender: Sendable {
    public let catalog: Catalog
    public let users: UserStore
    /// Engines in registration order (the order `Info` lists them).
    public let engines: [any Engine]
    public let defaultEngine: String
    /// The engine used when the requested one cannot score a user. Must score anyone.
    public let fallbackEngine: String
    public let limits: Limits
    public let bundleVersion: String
    /// Approximate Retrieve indexes, by engine name (engines without one are searched exactly).
    public let indexes: [String: any ApproximateIndex]
    /// Score screens for the exact path, by engine name (engines without one score every item).
    public let screens: [String: any ScoreScreen]
    private let byName: [String: any Engine]
    /// Scratch for Rank's candidate checks (duplicates, exclude-seen): reused, so a request
    /// allocates nothing of catalogue size.
    private let rankSlots: ItemSlotsPool
    /// The writes recorded since the bundle (feedback, users), read on every request; nil
    /// without a store.
    public let live: LiveState?
    /// Items the engines were trained on: `0..<baseItemCount`. The catalogue's items beyond
    /// were added since (UpsertItem) and are scored through `NewItemScoring`.
    public let baseItemCount: Int
    /// The catalogue changes served (nil: none).
    let changes: Changes?
    /// `LiveState.catalogueVersion` of the changes served (0: none taken).
    public let changesVersion: Int

    /// The catalogue changes a recommender serves beyond its bundle (`serving`).
    struct Changes: Sendable {
        /// Deleted items, and how many (nil: none).
        var hidden: (bits: ItemBits, count: Int)?
        /// Per engine name, per new item (index − baseItemCount): its model, nil when the
        /// engine cannot score it (`gaps` says why).
        var models: [String: [NewItemModel?]]
        var gaps: [String: String]
    }

    public static let defaultK = 10

    public convenience init(
        catalog: Catalog, users: UserStore, engines: [any Engine], defaultEngine: String,
        fallbackEngine: String, limits: Limits = Limits(), bundleVersion: String,
        indexes: [String: any ApproximateIndex] = [:], screens: [String: any ScoreScreen] = [:],
        live: LiveState? = nil
    ) throws {
        try self.init(
            catalog: catalog, users: users, engines: engines, defaultEngine: defaultEngine,
            fallbackEngine: fallbackEngine, limits: limits, bundleVersion: bundleVersion, indexes: indexes,
            screens: screens, live: live, baseItemCount: catalog.count, changes: nil, changesVersion: 0)
    }

    init(
        catalog: Catalog, users: UserStore, engines: [any Engine], defaultEngine: String,
        fallbackEngine: String, limits: Limits, bundleVersion: String,
        indexes: [String: any ApproximateIndex], screens: [String: any ScoreScreen],
        live: LiveState?, baseItemCount: Int, changes: Changes?, changesVersion: Int
    ) throws {
        var map: [String: any Engine] = [:]
        for e in engines {
            guard e.itemCount == baseItemCount else {
                throw RecError.failedPrecondition(
                    "engine '\(e.name)' scores \(e.itemCount) items, catalogue has \(catalog.count)")
            }
            guard map.updateValue(e, forKey: e.name) == nil else {
                throw RecError.failedPrecondition("two engines named '\(e.name)'")
            }
        }
        guard map[defaultEngine] != nil else {
            throw RecError.failedPrecondition("default engine '\(defaultEngine)' not loaded")
        }
        guard map[fallbackEngine] != nil else {
            throw RecError.failedPrecondition("fallback engine '\(fallbackEngine)' not loaded")
        }
        for name in indexes.keys where !(map[name] is any DotProductEngine) {
            throw RecError.failedPrecondition("an approximate index for '\(name)', which is not a dot-product engine")
        }
        for name in screens.keys where !(map[name] is any DotProductEngine) {
            throw RecError.failedPrecondition("a score screen for '\(name)', which is not a dot-product engine")
        }
        self.indexes = indexes
        self.screens = screens
        self.catalog = catalog
        self.users = users
        self.engines = engines
        self.byName = map
        self.defaultEngine = defaultEngine
        self.fallbackEngine = fallbackEngine
        self.limits = limits
        self.bundleVersion = bundleVersion
        self.live = live
        self.baseItemCount = baseItemCount
        self.changes = changes
        self.changesVersion = changesVersion
        rankSlots = ItemSlotsPool(count: catalog.count)
    }

    /// This bundle's recommender serving the writes recorded since: `live`'s feedback and
    /// users on every request, and `changes` laid over the catalogue — items added (scored by
    /// the engines that can, `NewItemScoring`), metadata replaced, items deleted (never in a
    /// reply). Called on the bundle's own recommender (the engines, indexes and screens are
    /// shared; with catalogue changes the catalogue is copied: O(items)).
    public func serving(_ live: LiveState?, changes: CatalogueChanges = CatalogueChanges()) throws -> Recommender {
        guard self.changes == nil, baseItemCount == catalog.count else {
            throw RecError.internal("catalogue changes are laid over the bundle's own recommender only")
        }
        if changes.isEmpty {
            return try Recommender(
                catalog: catalog, users: users, engines: engines, defaultEngine: defaultEngine,
                fallbackEngine: fallbackEngine, limits: limits, bundleVersion: bundleVersion, indexes: indexes,
                screens: screens, live: live, baseItemCount: baseItemCount, changes: nil,
                changesVersion: changes.version)
        }
        var ids = catalog.ids.ids, meta = catalog.meta
        var added: [CatalogueChanges.Item] = []
        for it in changes.upserted {
            if let i = catalog.ids.index(of: it.id) {
                meta[Int(i)] = it.meta
            } else {
                ids.append(it.id)
                meta.append(it.meta)
                added.append(it)
            }
        }
        let cat =
            added.isEmpty && changes.upserted.isEmpty
            ? catalog : Catalog(ids: try IDMap(ids: ids), meta: meta, schema: catalog.schema)
        var hidden = ItemBits(count: cat.count), hiddenCount = 0
        for id in changes.deleted { if let i = cat.ids.index(of: id), hidden.insert(i) { hiddenCount += 1 } }
        var models: [String: [NewItemModel?]] = [:], gaps: [String: String] = [:]
        if !added.isEmpty {
            for e in engines {
                guard let s = e as? any NewItemScoring else {
                    gaps[e.name] = "it scores only the items it was trained on"
                    continue
                }
                models[e.name] = added.map { it in
                    let raters = it.raters.map { NewItemRater(user: users.ids.index(of: $0.user), rating: $0.rating) }
                    do { return try s.newItemModel(it.meta, raters: raters) } catch {
                        gaps[e.name] = (error as? RecError)?.message ?? "\(error)"
                        return nil
                    }
                }
            }
        }
        return try Recommender(
            catalog: cat, users: users, engines: engines, defaultEngine: defaultEngine,
            fallbackEngine: fallbackEngine, limits: limits, bundleVersion: bundleVersion, indexes: indexes,
            screens: screens, live: live, baseItemCount: baseItemCount,
            changes: Changes(hidden: hiddenCount > 0 ? (hidden, hiddenCount) : nil, models: models, gaps: gaps),
            changesVersion: changes.version)
    }

    /// Items added since the bundle (`serving`).
    public var newItemCount: Int { catalog.count - baseItemCount }

    /// Whether item `i` was deleted.
    public func isHidden(_ i: Int32) -> Bool { changes?.hidden?.bits.contains(i) ?? false }

    /// Why `engine` cannot score (some) new items; nil when it scores all of them.
    public func newItemGap(_ engine: String) -> String? {
        guard newItemCount > 0 else { return nil }
        return changes?.gaps[engine]
    }

    /// The engines that score every new item, and those that do not (with why).
    public var newItemScoring: (scoredBy: [String], notScoredBy: [String]) {
        var yes: [String] = [], no: [String] = []
        for e in engines {
            if let gap = newItemGap(e.name) { no.append("\(e.name): \(gap)") } else { yes.append(e.name) }
        }
        return (yes, no)
    }

    /// `engine`'s scores of the new items `items` (indices ≥ baseItemCount) for `user`; NaN
    /// where it cannot score one (left out of replies).
    func newItemScores(_ engine: any Engine, _ user: UserQuery, _ items: [Int32]) throws -> [Float] {
        guard let models = changes?.models[engine.name] else { return items.map { _ in .nan } }
        var vector: UserVector?
        var out: [Float] = []
        out.reserveCapacity(items.count)
        for i in items {
            switch models[Int(i) - baseItemCount] {
            case .none: out.append(.nan)
            case .constant(let c)?: out.append(c)
            case .vector(let v, let bias)?:
                if vector == nil, let dot = engine as? any DotProductEngine,
                    case .vector(let x) = try dot.userVector(for: user)
                {
                    vector = x
                }
                guard let x = vector, x.x.count == v.count else {
                    out.append(.nan)
                    continue
                }
                var s = x.offset + bias
                for j in v.indices { s += x.x[j] * v[j] }
                out.append(s)
            }
        }
        return out
    }

    /// Retrieve's warning when `engine` cannot score the items added since the bundle.
    private func newItemWarning(_ engine: String) -> String? {
        newItemGap(engine).map {
            "\(newItemCount) item(s) added since the bundle are not scored by '\(engine)' before the next "
                + "bundle (\($0))"
        }
    }

    /// The new items (all of them), for merging into a Retrieve reply.
    private var newItems: [Int32] { (baseItemCount..<catalog.count).map { Int32($0) } }

    /// A reply over the engines' items with the new items merged in: the best `k` of both.
    private func mergingNew(
        _ r: Recommendation, k: Int, _ user: UserQuery, seen: Set<Int32>, _ filter: CompiledFilter
    ) throws -> Recommendation {
        guard newItemCount > 0, let engine = byName[r.engine] else { return r }
        var out = r
        let fresh = newItems.filter { !seen.contains($0) && filter.admits($0) }
        if !fresh.isEmpty {
            let scores = try newItemScores(engine, user, fresh)
            var entries = r.items.map { TopK.Entry(index: $0.item, score: $0.score) }
            for (i, s) in zip(fresh, scores) where s.isFinite { entries.append(.init(index: i, score: s)) }
            var ranked = TopK.sorted(entries)
            if ranked.count > k { ranked.removeLast(ranked.count - k) }
            out.items = ranked.map { ScoredItem(item: $0.index, score: $0.score, engine: engine.name) }
        }
        if let w = newItemWarning(engine.name) { out.warnings.append(w) }
        return out
    }

    // MARK: - Retrieve

    public func retrieve(_ q: RetrieveQuery, deadline: Deadline = .none) throws -> Recommendation {
        let k = q.k == 0 ? min(Self.defaultK, limits.maxK) : q.k
        guard k <= limits.maxK else {
            throw RecError.invalidArgument("k = \(q.k) exceeds the server's max_k (\(limits.maxK))")
        }
        try checkFilterSize(q.filters)
        var warnings: [String] = []
        let user = try resolve(q.user, warnings: &warnings)
        let filter = CompiledFilter(q.filters, catalog: catalog, hidden: changes?.hidden, warnings: &warnings)
        var path = "exact"
        let name = q.engine.isEmpty ? defaultEngine : q.engine
        if q.path == .approximate || (q.path == .auto && catalog.count >= limits.annMinItems),
            let engine = byName[name]
        {
            if let dot = engine as? any DotProductEngine, let index = indexes[engine.name] {
                switch try approximate(q, k: k, dot, index, user, filter, warnings: warnings, deadline: deadline) {
                case .served(let r): return r
                case .exact(let why): path = why.map { "exact: \($0)" } ?? path
                }
            } else {
                path = "exact: engine '\(engine.name)' has no approximate index"
            }
        }
        var result: Recommendation
        if let screened = try screened(q, k: k, name: name, user, filter, warnings: warnings, deadline: deadline) {
            result = screened
            path = "screened" + path.dropFirst("exact".count)  // "exact" or "exact: why"
        } else {
            result = try exactPass(q, k: k, user, filter, warnings: warnings, deadline: deadline)
        }
        if result.items.count < k && result.items.count < catalog.count && q.k != 0 {
            result.warnings.append("only \(result.items.count) item(s) pass the filters")
        }
        result.retrieval = path
        return result
    }

    /// Every item scored, the best `k` that pass exclude-seen and the filters.
    private func exactPass(
        _ q: RetrieveQuery, k: Int, _ user: UserQuery, _ filter: CompiledFilter, warnings: [String],
        deadline: Deadline
    ) throws -> Recommendation {
        var r = try scored(q.engine, user, items: nil, warnings: warnings, deadline: deadline) { engine, scores in
            let seen = q.excludeSeen ? user.seen : []
            let top = TopK.select(scores, k: k) { i in
                let item = Int32(i)
                return !seen.contains(item) && filter.admits(item)
            }
            return top.map { ScoredItem(item: $0.index, score: $0.score, engine: engine.name) }
        }
        if let w = newItemWarning(r.engine) { r.warnings.append(w) }
        return r
    }

    /// The exact pass through the engine's score screen: the screen's bounds leave the items
    /// that can reach the top k, the engine scores those, and the best k are the reply — the
    /// same items, scores and order as `exactPass`. nil when there is no screen for the engine,
    /// an allow list names the items anyway, or the engine declines the user (the fallback
    /// engine then serves through `exactPass`).
    private func screened(
        _ q: RetrieveQuery, k: Int, name: String, _ user: UserQuery, _ filter: CompiledFilter,
        warnings: [String], deadline: Deadline
    ) throws -> Recommendation? {
        guard let screen = screens[name], !filter.hasAllowList,
            let engine = byName[name] as? any DotProductEngine
        else { return nil }
        try deadline.check("scoring")
        guard case .vector(let v) = try engine.userVector(for: user) else { return nil }
        let seen = q.excludeSeen ? user.seen : []
        let fetch = min(catalog.count, Self.expectedToPass(k: k, seen: seen.count, filter, filter.admittedFraction()))
        guard
            let candidates = screen.candidates(v, k: k, fetch: fetch, keep: { !seen.contains($0) && filter.admits($0) })
        else {
            return nil
        }
        let scores = engine.scores(v, items: candidates)
        try check(scores, count: candidates.count, engine)
        var r = Recommendation(
            items: Self.ranked(candidates, scores, k: k, engine: engine), engine: engine.name,
            requestedEngine: engine.name)
        r.warnings = warnings
        return try mergingNew(r, k: k, user, seen: seen, filter)
    }

    /// How many of the best items to look at so that `k` of them should pass exclude-seen
    /// (`seen` items) and `filter` (which admits about `admitted` of the catalogue), with a
    /// margin: the approximate path's proposals, the screen's gathered bounds.
    static func expectedToPass(k: Int, seen: Int, _ filter: CompiledFilter, _ admitted: Double) -> Int {
        let needed = Double(k + seen + filter.deniedCount)
        return Int(min(1e9, (needed / max(admitted, 1e-9) * 1.25).rounded(.up)))
    }

    private enum Approximate {
        case served(Recommendation)
        /// Search exactly instead, and why (nil: nothing worth saying, e.g. the engine
        /// declined the user and the fallback engine serves them exactly).
        case exact(String?)
    }

    /// Retrieve through `index`: the index proposes candidates, enough that `k` should pass
    /// exclude-seen and the filters (estimated from a sample of the catalogue); the engine
    /// scores them exactly; the best `k` that pass are the reply. When the filters admit too
    /// little of the catalogue for that to pay, or too few candidates pass after a wider
    /// second search, the exact path serves instead and the reply says why.
    private func approximate(
        _ q: RetrieveQuery, k: Int, _ engine: any DotProductEngine, _ index: any ApproximateIndex, _ user: UserQuery,
        _ filter: CompiledFilter, warnings: [String], deadline: Deadline
    ) throws -> Approximate {
        if filter.hasAllowList { return .exact("allow_items given (scored directly)") }
        let admitted = filter.admittedFraction()
        // Past a quarter of the catalogue the exact pass costs less than searching and
        // filtering that many proposals.
        var fetch = max(
            index.searchBreadth,
            Self.expectedToPass(k: k, seen: q.excludeSeen ? user.history.count : 0, filter, admitted))
        let limit = catalog.count / 4
        guard fetch <= limit else {
            let share = String(format: "%.1f", admitted * 100)
            return .exact(
                "about \(share)% of the catalogue passes the filters; \(fetch) proposals would be needed for \(k) "
                    + "to pass them and exclude_seen (the index is used up to \(limit))")
        }
        try deadline.check("scoring")
        guard case .vector(let v) = try engine.userVector(for: user) else { return .exact(nil) }
        let seen = q.excludeSeen ? user.seen : []
        var kept: [Int32] = []
        for attempt in 0..<2 {
            fetch = min(fetch, catalog.count)
            let candidates = index.search(v.x, k: fetch)
            kept = candidates.filter { !seen.contains($0) && filter.admits($0) }
            if kept.count >= k { break }
            if attempt == 1 { return .exact("only \(kept.count) of \(candidates.count) candidates passed the filters") }
            fetch *= 4
        }
        let scores = engine.scores(v, items: kept)
        try check(scores, count: kept.count, engine)
        var r = Recommendation(
            items: Self.ranked(kept, scores, k: k, engine: engine), engine: engine.name, requestedEngine: engine.name)
        r.warnings = warnings
        r.retrieval = index.path
        return .served(try mergingNew(r, k: k, user, seen: seen, filter))
    }

    // MARK: - Rank

    public func rank(_ q: RankQuery, deadline: Deadline = .none) throws -> Recommendation {
        guard q.candidates.count <= limits.maxCandidates else {
            throw RecError.resourceExhausted(
                "\(q.candidates.count) candidates exceed the server's max_candidates (\(limits.maxCandidates))")
        }
        guard q.k <= limits.maxK else {
            throw RecError.invalidArgument("k = \(q.k) exceeds the server's max_k (\(limits.maxK))")
        }
        try checkFilterSize(q.filters)
        var warnings: [String] = []
        let user = try resolve(q.user, warnings: &warnings)
        let filter = CompiledFilter(q.filters, catalog: catalog, hidden: changes?.hidden, warnings: &warnings)
        var unknown: [String] = []
        var candidates: [Int32] = []
        candidates.reserveCapacity(q.candidates.count)
        var duplicates = 0, filtered = 0
        // One slot per item: -1 untouched, -2 seen by the user (exclude_seen), -3 seen by the
        // user and already a candidate, 0 already a candidate.
        rankSlots.with { slots in
            for h in user.history where q.excludeSeen { slots.set(h.item, -2) }
            for i in user.newItemsSeen where q.excludeSeen { slots.set(i, -2) }
            for id in q.candidates {
                guard let i = catalog.ids.index(of: id) else {
                    unknown.append(id)
                    continue
                }
                switch slots.slot(i) {
                case 0, -3: duplicates += 1
                case -2:
                    slots.set(i, -3)
                    filtered += 1
                default:
                    slots.set(i, 0)
                    if filter.admits(i) { candidates.append(i) } else { filtered += 1 }
                }
            }
        }
        if !unknown.isEmpty { warnings.append("\(unknown.count) unknown candidate id(s) left out") }
        if duplicates > 0 { warnings.append("\(duplicates) duplicate candidate id(s) ignored") }
        if filtered > 0 { warnings.append("\(filtered) candidate(s) removed by filters or exclude_seen") }
        var result = try scored(q.engine, user, items: candidates, warnings: warnings, deadline: deadline) {
            engine, scores in Self.ranked(candidates, scores, k: q.k, engine: engine)
        }
        if newItemCount > 0, let gap = newItemGap(result.engine) {
            let unscored = candidates.filter { Int($0) >= baseItemCount }
            if !unscored.isEmpty {
                result.warnings.append(
                    "\(unscored.count) candidate(s) added since the bundle left out: '\(result.engine)' cannot score "
                        + "them before the next bundle (\(gap))")
            }
        }
        result.unknownItems = unknown
        return result
    }

    // MARK: - shared steps

    /// `items` ordered by their `scores` (non-finite ones left out), the best `k` (0: all):
    /// what Rank returns, and the approximate Retrieve of the index's proposals.
    static func ranked(_ items: [Int32], _ scores: [Float], k: Int, engine: any Engine) -> [ScoredItem] {
        var entries: [TopK.Entry] = []
        entries.reserveCapacity(items.count)
        for (c, s) in zip(items, scores) where s.isFinite { entries.append(.init(index: c, score: s)) }
        var ranked = TopK.sorted(entries)
        if k > 0 && ranked.count > k { ranked.removeLast(ranked.count - k) }
        return ranked.map { ScoredItem(item: $0.index, score: $0.score, engine: engine.name) }
    }

    /// Maps a `UserSpec` to a `UserQuery`: stored history of a known user, plus inline items.
    public func resolve(_ spec: UserSpec, warnings: inout [String]) throws -> UserQuery {
        guard spec.history.count <= limits.maxHistory else {
            throw RecError.resourceExhausted(
                "user history of \(spec.history.count) items exceeds the server's max_history (\(limits.maxHistory))")
        }
        guard spec.preference.utf8.count <= limits.maxTextBytes else {
            throw RecError.resourceExhausted(
                "preference text of \(spec.preference.utf8.count) bytes exceeds the server's max_text_bytes "
                    + "(\(limits.maxTextBytes))"
            )
        }
        var q = UserQuery(rawID: spec.id, preference: spec.preference, meta: spec.meta)
        var history = HistoryBuilder(catalogCount: catalog.count)
        if !spec.id.isEmpty {
            let recorded = live?.history(of: spec.id)
            let attributes = live?.userMeta(spec.id)
            let known = users.ids.index(of: spec.id)
            // Attributes: the request's, then UpsertUser's, then the bundle's.
            for m in [attributes, known.map { users.meta[Int($0)] }] {
                guard let m else { continue }
                q.meta.age = q.meta.age ?? m.age
                q.meta.gender = q.meta.gender ?? m.gender
                q.meta.occupation = q.meta.occupation ?? m.occupation
                q.meta.zip = q.meta.zip ?? m.zip
                if q.meta.attributes.isEmpty { q.meta.attributes = m.attributes }
            }
            if let u = known {
                q.userIndex = u
                for e in users.histories.entries(of: u) { history.add(e) }
            } else if recorded == nil && attributes == nil {
                warnings.append("unknown user id '\(spec.id)'")
            }
            // Recorded feedback (Feedback RPC) after the bundle's, before the inline items.
            for h in recorded ?? [] {
                guard let i = catalog.ids.index(of: h.itemID) else { continue }
                history.add(HistoryEntry(item: i, rating: h.rating, timestamp: h.timestamp))
            }
        }
        var unknownItems = 0
        for (n, h) in spec.history.enumerated() {
            guard h.rating.isFinite, h.rating >= 0 else {
                throw RecError.invalidArgument(
                    "user.history[\(n)].rating must be a finite number >= 0, got \(h.rating)")
            }
            guard let i = catalog.ids.index(of: h.itemID) else {
                unknownItems += 1
                continue
            }
            history.add(HistoryEntry(item: i, rating: h.rating, timestamp: h.timestamp))
        }
        if unknownItems > 0 { warnings.append("\(unknownItems) unknown item id(s) in user.history ignored") }
        q.history = history.entries
        if newItemCount > 0 {
            // Engines see only the items they were trained on; exclude-seen sees every item.
            q.newItemsSeen = q.history.lazy.filter { Int($0.item) >= self.baseItemCount }.map(\.item)
            if !q.newItemsSeen.isEmpty { q.history.removeAll { Int($0.item) >= self.baseItemCount } }
        }
        return q
    }

    /// The engine a request names ("" = the default) and, when that engine cannot score
    /// `user`, the fallback engine with the reason (prefixed by the requested engine's name).
    func chooseEngine(
        _ requested: String, _ user: UserQuery
    ) throws -> (engine: any Engine, name: String, degraded: String?) {
        let name = requested.isEmpty ? defaultEngine : requested
        guard let engine = byName[name] else {
            let known = engines.map(\.name).joined(separator: ", ")
            throw RecError.invalidArgument("unknown engine '\(requested)'; this bundle serves: \(known)")
        }
        if let reason = engine.unscorableReason(user), let fallback = byName[fallbackEngine], fallback !== engine {
            return (fallback, name, "\(engine.name): \(reason); scored by \(fallback.name)")
        }
        return (engine, name, nil)
    }

    /// One engine call for a request: the named engine's answer for `items` (nil: the whole
    /// catalogue), or — when it declines the user — the fallback engine's scores and the
    /// reason; `body` turns the scores into the reply's items.
    private func scored(
        _ requested: String, _ user: UserQuery, items: [Int32]?, warnings: [String], deadline: Deadline,
        _ body: (any Engine, [Float]) throws -> [ScoredItem]
    ) throws -> Recommendation {
        let name = requested.isEmpty ? defaultEngine : requested
        guard var engine = byName[name] else {
            let known = engines.map(\.name).joined(separator: ", ")
            throw RecError.invalidArgument("unknown engine '\(requested)'; this bundle serves: \(known)")
        }
        try deadline.check("scoring")
        var degraded: String?
        var scores: [Float]
        if items?.isEmpty == true {
            // Nothing to score; the reply still says which engine would have.
            (engine, _, degraded) = try chooseEngine(requested, user)
            scores = []
        } else {
            // New items (added since the bundle) are scored apart: engines know only the others.
            let split = newItemCount > 0 ? items?.contains { Int($0) >= baseItemCount } ?? true : false
            let engineItems = split ? items?.filter { Int($0) < baseItemCount } : items
            switch try engine.answer(user, items: engineItems) {
            case .scores(let s): scores = s
            case .declined(let reason):
                guard let fallback = byName[fallbackEngine], fallback !== engine else {
                    throw RecError.failedPrecondition("\(engine.name): \(reason)")
                }
                degraded = "\(engine.name): \(reason); scored by \(fallback.name)"
                engine = fallback
                scores = try fallback.score(user, items: engineItems)
            }
            try check(scores, count: engineItems?.count ?? baseItemCount, engine)
            if split {
                if let items {
                    let fresh = items.filter { Int($0) >= baseItemCount }
                    let freshScores = try newItemScores(engine, user, fresh)
                    var (b, f) = (0, 0)
                    scores = items.map { i in
                        if Int(i) < baseItemCount {
                            defer { b += 1 }
                            return scores[b]
                        }
                        defer { f += 1 }
                        return freshScores[f]
                    }
                } else {
                    scores += try newItemScores(engine, user, newItems)
                }
            }
        }
        try check(scores, count: items?.count ?? catalog.count, engine)
        var r = Recommendation(items: try body(engine, scores), engine: engine.name, requestedEngine: name)
        if let degraded {
            r.degraded = true
            r.degradedReason = degraded
            r.degradations = [.fallbackEngine]
        }
        r.warnings = warnings
        return r
    }

    private func checkFilterSize(_ f: FilterSpec) throws {
        let n = f.allow.count + f.deny.count + f.genres.count + f.excludeGenres.count
        guard n <= limits.maxFilterIDs else {
            throw RecError.resourceExhausted(
                "filters name \(n) entries, over the server's limit (\(limits.maxFilterIDs))")
        }
        if let lo = f.minYear, let hi = f.maxYear, lo > hi {
            throw RecError.invalidArgument("filters.min_year \(lo) is after filters.max_year \(hi)")
        }
    }

    private func check(_ scores: [Float], count: Int, _ engine: any Engine) throws {
        guard scores.count == count else {
            throw RecError.internal("engine '\(engine.name)' returned \(scores.count) scores for \(count) items")
        }
    }
}

/// A set of item indices as one bit per catalogue item: what Rank's per-request duplicate and
/// seen checks need, without hashing (a `Set<Int32>` of 100 candidates cost more than scoring them).
struct ItemBits {
    private var words: [UInt64]

    init(count: Int) { words = [UInt64](repeating: 0, count: (count + 63) / 64) }

    /// Adds `i`; returns whether it was new.
    @discardableResult
    mutating func insert(_ i: Int32) -> Bool {
        let (w, b) = (Int(i) >> 6, UInt64(1) << UInt64(i & 63))
        let new = words[w] & b == 0
        words[w] |= b
        return new
    }

    func contains(_ i: Int32) -> Bool {
        let w = Int(i) >> 6
        return w < words.count && words[w] & (UInt64(1) << UInt64(i & 63)) != 0
    }
}

/// One entry per item, in first-seen order, a later entry for an item replacing the earlier
/// one's value. Hashing only once an item repeats (rare: stored histories have one entry
/// per item), so the common request pays for a bitset, not a dictionary of its history.
struct HistoryBuilder {
    private(set) var entries: [HistoryEntry] = []
    /// A bitset for catalogues up to 64k items (8 KB), a hash set above (so a request never
    /// clears a structure of a big catalogue's size).
    private var seen: ItemBits
    private var seenSet: Set<Int32>?
    private var position: [Int32: Int]? = nil

    init(catalogCount: Int) {
        if catalogCount <= 1 << 16 {
            seen = ItemBits(count: catalogCount)
        } else {
            seen = ItemBits(count: 0)
            seenSet = []
        }
    }

    mutating func add(_ e: HistoryEntry) {
        let new = seenSet == nil ? seen.insert(e.item) : seenSet!.insert(e.item).inserted
        if new {
            position?[e.item] = entries.count
            entries.append(e)
            return
        }
        if position == nil {
            position = Dictionary(entries.enumerated().map { ($1.item, $0) }, uniquingKeysWith: { a, _ in a })
        }
        entries[position![e.item]!] = e
    }
}
