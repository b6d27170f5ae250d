import Foundation
import RecCore
import RecData
import RecEngines
import RecFixtures
import RecTestSupport
import Testing

/// Every engine kind the build can train goes through the same checks, through the real
/// bundle write/load path and the real pipeline.
@Suite struct EngineConformanceTests {
    static let fixture = Result { try trainedBundle() }

    func rec() throws -> Recommender { try Self.fixture.get().1 }

    @Test(arguments: testKinds)
    func sortedTopKWithoutDuplicatesAndFinite(engine: String) throws {
        let r = try rec()
        for u in ["u0", "u7", "u33"] {
            let out = try r.retrieve(RetrieveQuery(user: UserSpec(id: u), engine: engine, k: 10))
            #expect(out.engine == engine && !out.degraded)
            #expect(out.items.count == 10)
            #expect(Set(out.items.map(\.item)).count == out.items.count)
            #expect(out.items.allSatisfy { $0.score.isFinite })
            #expect(zip(out.items, out.items.dropFirst()).allSatisfy { $0.score >= $1.score })
            let seen = Set(r.users.histories.entries(of: r.users.ids.index(of: u)!).map(\.item))
            #expect(out.items.allSatisfy { !seen.contains($0.item) })
        }
    }

    @Test(arguments: testKinds)
    func deterministicAcrossCallsAndRetraining(engine: String) throws {
        let r = try rec()
        let q = RetrieveQuery(user: UserSpec(id: "u5"), engine: engine, k: 15)
        #expect(try r.retrieve(q).items == r.retrieve(q).items)
        let (_, again, _) = try trainedBundle()
        #expect(try again.retrieve(q).items == r.retrieve(q).items)
    }

    @Test(arguments: testKinds)
    func kLargerThanTheCatalogue(engine: String) throws {
        let r = try rec()
        let out = try r.retrieve(RetrieveQuery(user: UserSpec(id: "u1"), engine: engine, k: 1000, excludeSeen: false))
        #expect(out.items.count == r.catalog.count)
    }

    @Test(arguments: testKinds)
    func rankAgreesWithRetrieve(engine: String) throws {
        let r = try rec()
        let all = try r.retrieve(RetrieveQuery(user: UserSpec(id: "u3"), engine: engine, k: 1000, excludeSeen: false))
        let ids = all.items.map { r.catalog.ids[$0.item] }
        let ranked = try r.rank(
            RankQuery(user: UserSpec(id: "u3"), engine: engine, candidates: ids.reversed() + ["zzz"]))
        #expect(ranked.items.map(\.score) == all.items.map(\.score))
        #expect(ranked.unknownItems == ["zzz"])
    }

    /// Scoring a subset (what Rank asks: any order, repeats allowed) gives, bit for bit, the
    /// full pass's scores of those items, however the engine computes the subset.
    @Test(arguments: testKinds)
    func subsetScoresAreTheFullPassesBitForBit(engine: String) throws {
        let r = try rec()
        let e = try #require(r.engines.first { $0.name == engine })
        var warnings: [String] = []
        let q = try r.resolve(UserSpec(id: "u5"), warnings: &warnings)
        guard e.unscorableReason(q) == nil else { return }
        let all = try e.score(q, items: nil)
        let n = Int32(r.catalog.count)
        let subset: [Int32] = [n - 1, 3, 0, 3, n / 2, 7, n - 1]
        let part = try e.score(q, items: subset)
        #expect(part.map(\.bitPattern) == subset.map { all[Int($0)].bitPattern })
    }

    @Test(arguments: testKinds)
    func unknownUsersAndItemsAreNotFatal(engine: String) throws {
        let r = try rec()
        let out = try r.retrieve(
            RetrieveQuery(
                user: UserSpec(id: "ghost", history: [.init(itemID: "i3", rating: 5), .init(itemID: "nope")]),
                engine: engine, k: 5))
        #expect(out.items.count == 5)
        #expect(out.warnings.contains { $0.contains("unknown user id 'ghost'") })
        #expect(out.warnings.contains { $0.contains("unknown item id(s) in user.history") })
        #expect(!out.items.contains { $0.item == r.catalog.ids.index(of: "i3") })
        let cold = try r.retrieve(RetrieveQuery(user: UserSpec(id: "ghost"), engine: engine, k: 5))
        #expect(cold.items.count == 5)
        #expect(cold.engine == engine || (cold.degraded && cold.engine == "popularity"))
    }

    @Test(arguments: testKinds)
    func filtersHold(engine: String) throws {
        let r = try rec()
        let f = FilterSpec(deny: ["i1"], genres: ["comedy"], excludeGenres: ["Horror"], minYear: 1985, maxYear: 2005)
        let out = try r.retrieve(RetrieveQuery(user: UserSpec(id: "u2"), engine: engine, k: 100, filters: f))
        #expect(!out.items.isEmpty)
        for it in out.items {
            let m = r.catalog.meta[Int(it.item)]
            #expect(m.genres.contains("Comedy") && !m.genres.contains("Horror"))
            #expect((1985...2005).contains(m.year!))
            #expect(r.catalog.ids[it.item] != "i1")
        }
    }

    /// The one call the pipeline makes agrees with the two it replaces.
    @Test(arguments: testKinds)
    func answerIsUnscorableReasonThenScore(engine: String) throws {
        let r = try rec()
        let e = try #require(r.engines.first { $0.name == engine })
        let u = r.users.ids.index(of: "u6")!
        let queries = [
            UserQuery(userIndex: u, rawID: "u6", history: r.users.histories.entries(of: u)),
            UserQuery(rawID: "new", history: [HistoryEntry(item: 3, rating: 5), HistoryEntry(item: 8, rating: 4)]),
            UserQuery(), UserQuery(preference: "a comedy"),
        ]
        for q in queries {
            for items in [nil, [Int32(4), 0, 17]] as [[Int32]?] {
                switch try e.answer(q, items: items) {
                case .scores(let s):
                    #expect(e.unscorableReason(q) == nil)
                    #expect(try s == e.score(q, items: items))
                case .declined(let why):
                    #expect(e.unscorableReason(q) == why)
                }
            }
        }
    }

    @Test func saveLoadRoundTripKeepsEveryEngine() throws {
        let (dir, r, m) = try Self.fixture.get()
        #expect(Set(r.engines.map(\.name)) == Set(testKinds))
        #expect(m.engines.map(\.kind) == testKinds)
        let (again, m2) = try Bundles.load(dir, modelsDir: TestModels.modelsDir)
        #expect(m2 == m)
        for e in testKinds {
            let q = RetrieveQuery(user: UserSpec(id: "u9"), engine: e, k: 30)
            #expect(try again.retrieve(q).items == r.retrieve(q).items)
        }
    }
}
