import Testing

@testable import RecCore

@Suite struct RecommenderTests {
    @Test func retrieveExcludesSeenByDefault() throws {
        let r = try makeRecommender()
        let out = try r.retrieve(RetrieveQuery(user: UserSpec(id: "u1"), k: 10))
        #expect(out.engine == "cf")
        #expect(!out.degraded)
        // u1 saw items 0 ("10") and 4 ("50"); cf prefers high indices.
        #expect(out.items.map(\.item) == [3, 2, 1])
        #expect(out.items.first?.components.first?.0 == "cf")
    }

    @Test func retrieveIncludeSeenAndDefaultK() throws {
        let r = try makeRecommender()
        let out = try r.retrieve(RetrieveQuery(user: UserSpec(id: "u1"), k: 0, excludeSeen: false))
        #expect(out.items.map(\.item) == [4, 3, 2, 1, 0])
    }

    @Test func unknownUserFallsBackAndSaysSo() throws {
        let r = try makeRecommender()
        let out = try r.retrieve(RetrieveQuery(user: UserSpec(id: "nobody"), k: 2))
        #expect(out.engine == "pop")
        #expect(out.requestedEngine == "cf")
        #expect(out.degraded)
        #expect(out.degradedReason.contains("no history"))
        #expect(out.warnings.contains { $0.contains("unknown user id 'nobody'") })
        #expect(out.items.map(\.item) == [0, 1])
    }

    @Test func inlineHistoryMakesUnknownUserScorable() throws {
        let r = try makeRecommender()
        let spec = UserSpec(history: [.init(itemID: "50", rating: 4), .init(itemID: "nope")])
        let out = try r.retrieve(RetrieveQuery(user: spec, k: 3))
        #expect(out.engine == "cf" && !out.degraded)
        #expect(out.items.map(\.item) == [3, 2, 1])
        #expect(out.warnings.contains { $0.contains("1 unknown item id(s) in user.history") })
    }

    @Test func filtersApply() throws {
        let r = try makeRecommender()
        var f = FilterSpec(genres: ["comedy"])
        var out = try r.retrieve(RetrieveQuery(user: UserSpec(id: "u2"), engine: "pop", k: 10, filters: f))
        #expect(out.items.map(\.item) == [1, 3])
        f = FilterSpec(deny: ["20"], excludeGenres: ["Horror"], minYear: 1986)
        out = try r.retrieve(RetrieveQuery(user: UserSpec(id: "u2"), engine: "pop", k: 10, filters: f))
        #expect(out.items.map(\.item) == [0])  // Delta has no year, Eps is 1985
        f = FilterSpec(allow: ["30", "40", "x"])
        out = try r.retrieve(RetrieveQuery(user: UserSpec(id: "u2"), engine: "pop", k: 10, filters: f))
        #expect(out.items.map(\.item) == [2, 3])
        #expect(out.warnings.contains { $0.contains("allow_items") })
    }

    @Test func rankReportsUnknownAndDuplicates() throws {
        let r = try makeRecommender()
        let out = try r.rank(
            RankQuery(user: UserSpec(id: "u1"), engine: "cf", candidates: ["10", "zz", "30", "10", "50"]))
        #expect(out.items.map(\.item) == [4, 2, 0])
        #expect(out.unknownItems == ["zz"])
        #expect(out.warnings.contains { $0.contains("duplicate") })
        let top1 = try r.rank(
            RankQuery(user: UserSpec(id: "u1"), engine: "cf", candidates: ["10", "30", "50"], k: 1, excludeSeen: true))
        #expect(top1.items.map(\.item) == [2])
    }

    /// Stored history plus inline items: one entry per item, in first-seen order, the last
    /// value of an item winning (an inline re-rating replaces the stored one).
    @Test func resolveMergesStoredAndInlineHistory() throws {
        let r = try makeRecommender()
        var warnings: [String] = []
        let stored = try r.resolve(UserSpec(id: "u1"), warnings: &warnings).history
        #expect(stored.map(\.item) == [0, 4])
        let spec = UserSpec(
            id: "u1",
            history: [
                .init(itemID: "30", rating: 2), .init(itemID: "10", rating: 1, timestamp: 9),
                .init(itemID: "30", rating: 5), .init(itemID: "20", rating: 3),
            ])
        let q = try r.resolve(spec, warnings: &warnings)
        #expect(q.history.map(\.item) == [0, 4, 2, 1])
        #expect(q.history.map(\.rating) == [1, stored[1].rating, 5, 3])
        #expect(q.history[0].timestamp == 9)
        #expect(warnings.isEmpty)
    }

    @Test func badArgumentsAreRefused() throws {
        let r = try makeRecommender(
            limits: {
                var l = Limits()
                l.maxK = 3
                l.maxCandidates = 2
                l.maxTextBytes = 4
                return l
            }())
        #expect(throws: RecError(.invalidArgument, "k = 4 exceeds the server's max_k (3)")) {
            try r.retrieve(RetrieveQuery(user: UserSpec(id: "u1"), k: 4))
        }
        #expect { try r.rank(RankQuery(user: UserSpec(), candidates: ["10", "20", "30"])) } throws: {
            ($0 as? RecError)?.code == .resourceExhausted
        }
        #expect { try r.retrieve(RetrieveQuery(user: UserSpec(preference: "too long"))) } throws: {
            ($0 as? RecError)?.code == .resourceExhausted
        }
        #expect { try r.retrieve(RetrieveQuery(user: UserSpec(), engine: "nope")) } throws: {
            ($0 as? RecError)?.code == .invalidArgument && "\($0)".contains("pop, cf")
        }
        #expect {
            try r.retrieve(RetrieveQuery(user: UserSpec(history: [.init(itemID: "10", rating: .nan)])))
        } throws: {
            ($0 as? RecError)?.code == .invalidArgument
        }
        #expect {
            try r.retrieve(RetrieveQuery(user: UserSpec(), filters: FilterSpec(minYear: 2000, maxYear: 1990)))
        } throws: {
            ($0 as? RecError)?.code == .invalidArgument
        }
    }

    @Test func expiredDeadlineDoesNoWork() throws {
        let r = try makeRecommender()
        let past = Deadline(instant: ContinuousClock.now.advanced(by: .milliseconds(-5)))
        #expect { try r.retrieve(RetrieveQuery(user: UserSpec(id: "u1")), deadline: past) } throws: {
            ($0 as? RecError)?.code == .deadlineExceeded
        }
    }
}
