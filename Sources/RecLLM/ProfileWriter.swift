import Foundation
import RecCore
import RecText

/// The offline profile job (`recfuse profiles --llm`), after arXiv 2508.01514 and 2507.07251:
///
/// - items: the template profile (title, year, genres) enriched with an LLM-written
///   overview, attributes and description;
/// - users: a summary built over several turns, each adding 5 more liked (rated >= 4,
///   best first) or disliked (<= 2) titles to the summary so far, plus a one-sentence
///   preference written from the user's 10 top-rated titles.
///
/// Resumable: `done` holds the ids already in the output (the caller reads them back), and
/// profiles are handed to `emit` a chunk at a time, so an interrupted run loses at most one
/// chunk. A profile whose calls fail is not emitted (the next run retries it) and counted.
/// With the client's on-disk cache, a rerun repeats no call that already succeeded.
public struct ProfileWriter {
    public let llm: LLMClient
    /// Liked / disliked titles per summary turn.
    public static let turnSize = 5
    /// Summary turns per user at most (each a call).
    public var maxTurns: Int
    /// Items or users per chunk (calls within a chunk run concurrently).
    public var chunkSize: Int

    public struct Stats: Sendable, Equatable {
        public var written = 0
        public var skipped = 0
        public var failed = 0
        public var firstError: String?
    }

    public init(llm: LLMClient, maxTurns: Int = 4, chunkSize: Int = 32) {
        self.llm = llm
        self.maxTurns = max(1, maxTurns)
        self.chunkSize = max(1, chunkSize)
    }

    /// Enriches every item not in `done`; `emit` receives each finished chunk.
    public func items(
        _ catalog: Catalog, done: Set<String>, emit: ([ItemProfile]) throws -> Void,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> Stats {
        var stats = Stats()
        let todo = Profiles.items(catalog).filter { p in
            if done.contains(p.id) {
                stats.skipped += 1
                return false
            }
            return true
        }
        for start in stride(from: 0, to: todo.count, by: chunkSize) {
            let chunk = Array(todo[start..<min(todo.count, start + chunkSize)])
            let results = llm.chatAll(
                chunk.map {
                    ChatRequest(
                        messages: Prompts.itemProfile($0.text, domain: catalog.schema),
                        schema: Prompts.itemProfileSchema)
                })
            var out: [ItemProfile] = []
            for (p, r) in zip(chunk, results) {
                switch r.flatMap({ res in Result { () throws(LLMError) in try Prompts.parseItemProfile(res.content) } })
                {
                case .success(let e):
                    var q = p
                    (q.overview, q.attributes, q.description) = (e.overview, e.attributes, e.description)
                    out.append(q)
                case .failure(let e):
                    stats.failed += 1
                    stats.firstError = stats.firstError ?? "item \(p.id): \(e)"
                }
            }
            try emit(out)
            stats.written += out.count
            progress(start + chunk.count, todo.count)
        }
        return stats
    }

    /// A user's profile with its LLM summary and preference sentence.
    public struct UserResult: Sendable {
        public var profile: UserProfile
        public var preference: String
    }

    /// Summarises every user not in `done`.
    public func users(
        _ store: UserStore, catalog: Catalog, done: Set<String>, emit: ([UserResult]) throws -> Void,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> Stats {
        var stats = Stats()
        let all = (0..<store.ids.count).map(Int32.init).filter { u in
            if done.contains(store.ids[u]) {
                stats.skipped += 1
                return false
            }
            return true
        }
        let title = { (e: HistoryEntry) in catalog.displayTitle(e.item) }
        for start in stride(from: 0, to: all.count, by: chunkSize) {
            let chunk = Array(all[start..<min(all.count, start + chunkSize)])
            let history = chunk.map { store.histories.entries(of: $0) }
            let profiles = chunk.indices.map { n in
                Profiles.user(
                    id: store.ids[chunk[n]], history: history[n], meta: store.meta[Int(chunk[n])], catalog: catalog)
            }
            // Turns: liked titles best first, then disliked worst first, 5 per turn.
            let turns: [[(liked: [String], disliked: [String])]] = history.map { h in
                let liked = Profiles.liked(h, implicit: catalog.schema.isImplicit).map(title),
                    disliked = Profiles.disliked(h).map(title)
                var t: [(liked: [String], disliked: [String])] = []
                for s in stride(from: 0, to: liked.count, by: Self.turnSize) {
                    t.append((Array(liked[s..<min(liked.count, s + Self.turnSize)]), []))
                }
                for s in stride(from: 0, to: disliked.count, by: Self.turnSize) {
                    t.append(([], Array(disliked[s..<min(disliked.count, s + Self.turnSize)])))
                }
                // Keep the first turns of each kind when there are too many.
                if t.count > maxTurns {
                    let d = t.filter { !$0.disliked.isEmpty }.prefix(max(1, maxTurns / 4))
                    t = Array(t.filter { $0.disliked.isEmpty }.prefix(maxTurns - d.count)) + d
                }
                return t
            }
            var summary = [String](repeating: "", count: chunk.count)
            var failed = [String?](repeating: nil, count: chunk.count)
            let demographics = profiles.map { p in
                var q = p
                (q.liked, q.disliked, q.dominantGenres) = ([], [], [])
                return q.text
            }
            for turn in 0..<(turns.map(\.count).max() ?? 0) {
                let active = chunk.indices.filter { turn < turns[$0].count && failed[$0] == nil }
                let results = llm.chatAll(
                    active.map { n in
                        ChatRequest(
                            messages: Prompts.userSummaryTurn(
                                previous: summary[n], demographics: demographics[n],
                                liked: turns[n][turn].liked, disliked: turns[n][turn].disliked,
                                domain: catalog.schema),
                            schema: Prompts.userSummarySchema, maxTokens: 256)
                    })
                for (n, r) in zip(active, results) {
                    switch r.flatMap({ res in Result { () throws(LLMError) in try Prompts.parseSummary(res.content) } })
                    {
                    case .success(let s): summary[n] = s
                    case .failure(let e): failed[n] = "user \(store.ids[chunk[n]]) turn \(turn + 1): \(e)"
                    }
                }
            }
            let wantPreference = chunk.indices.filter { failed[$0] == nil && !profiles[$0].liked.isEmpty }
            let prefs = llm.chatAll(
                wantPreference.map { n in
                    ChatRequest(
                        messages: Prompts.preference(favourites: profiles[n].liked, domain: catalog.schema),
                        schema: Prompts.preferenceSchema,
                        maxTokens: 128)
                })
            var preference = [String](repeating: "", count: chunk.count)
            for (n, r) in zip(wantPreference, prefs) {
                switch r.flatMap({ res in Result { () throws(LLMError) in try Prompts.parsePreference(res.content) } })
                {
                case .success(let s): preference[n] = s
                case .failure(let e): failed[n] = "user \(store.ids[chunk[n]]) preference: \(e)"
                }
            }
            var out: [UserResult] = []
            for n in chunk.indices {
                if let f = failed[n] {
                    stats.failed += 1
                    stats.firstError = stats.firstError ?? f
                    continue
                }
                var p = profiles[n]
                p.summary = summary[n].isEmpty ? nil : summary[n]
                out.append(UserResult(profile: p, preference: preference[n]))
            }
            try emit(out)
            stats.written += out.count
            progress(start + chunk.count, all.count)
        }
        return stats
    }
}
