import Foundation
import RecCore
import RecData
import RecEngines
import RecFixtures
import RecTestSupport
import Testing

/// Approximate Retrieve indexes through the real train → bundle → load → pipeline path.
@Suite struct IndexBundleTests {
    static let dotKinds = testKinds.filter { ["gat", "svd", "svdpp", "text"].contains($0) }
    static let options = Indexes.Options(minItems: 0, hnsw: .init(m: 8, efConstruction: 64, efSearch: 24))
    static let fixture = Result {
        try trainedBundle(
            syntheticDataset(users: 150, items: 400), kinds: testKinds, defaultEngine: "popularity",
            indexes: options)
    }

    @Test func everyDotProductEngineHasAnIndexInTheBundle() throws {
        let (dir, rec, m) = try Self.fixture.get()
        for e in m.engines {
            let dot = Self.dotKinds.contains(e.kind)
            #expect((e.index != nil) == dot, "\(e.name)")
            #expect((rec.indexes[e.name] != nil) == dot, "\(e.name)")
            if let i = e.index {
                #expect(i.kind == "hnsw" && i.params["ef_search"] == "24" && i.params["m"] == "8")
                // Chosen per engine from its vectors, recorded, and read back.
                #expect(["ip", "l2-centred"].contains(i.params["graph"] ?? ""), "\(e.name): \(i.params)")
                #expect(rec.indexes[e.name]?.summary.contains("\(i.params["graph"] ?? "?") graph") == true)
                #expect(m.files[i.file] != nil)
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(i.file).path))
            }
        }
    }

    @Test(arguments: dotKinds)
    func theIndexPathServesAndScoresExactly(engine: String) throws {
        let rec = try Self.fixture.get().1
        var overlap = 0
        for u in ["u0", "u7", "u33", "u101"] {
            let exact = try rec.retrieve(RetrieveQuery(user: UserSpec(id: u), engine: engine, k: 10, path: .exact))
            let approx = try rec.retrieve(
                RetrieveQuery(user: UserSpec(id: u), engine: engine, k: 10, path: .approximate))
            #expect(exact.retrieval == "exact")
            #expect(approx.retrieval == "hnsw")
            #expect(approx.items.count == 10)
            // Scores are the engine's own, whichever path found the item.
            let ranked = try rec.rank(
                RankQuery(
                    user: UserSpec(id: u), engine: engine, candidates: approx.items.map { rec.catalog.ids[$0.item] }))
            #expect(ranked.items.map(\.score) == approx.items.map(\.score))
            let seen = Set(rec.users.histories.entries(of: rec.users.ids.index(of: u)!).map(\.item))
            #expect(approx.items.allSatisfy { !seen.contains($0.item) })
            overlap += Set(exact.items.map(\.item)).intersection(approx.items.map(\.item)).count
        }
        #expect(overlap >= 36, "recall@10 over 4 users: \(overlap)/40")
    }

    @Test func autoFollowsTheServersThreshold() throws {
        let (dir, _, _) = try Self.fixture.get()
        var limits = Limits()
        limits.annMinItems = 400
        let (on, _) = try Bundles.load(dir, limits: limits, modelsDir: TestModels.modelsDir)
        limits.annMinItems = 401
        let (off, _) = try Bundles.load(dir, limits: limits, modelsDir: TestModels.modelsDir)
        let q = RetrieveQuery(user: UserSpec(id: "u3"), engine: "svd", k: 5)
        #expect(try on.retrieve(q).retrieval == "hnsw")
        #expect(try off.retrieve(q).retrieval == "exact")
    }

    /// The int8 screen (given to every dot-product engine from `Limits.screenMinItems` items)
    /// changes how the exact path reads the catalogue, never its reply.
    @Test(arguments: dotKinds)
    func theScreenedExactPathGivesTheFullPassesReply(engine: String) throws {
        let (dir, plain, _) = try Self.fixture.get()
        var limits = Limits()
        limits.screenMinItems = 0
        let (screened, _) = try Bundles.load(dir, limits: limits, modelsDir: TestModels.modelsDir)
        #expect(screened.screens[engine] != nil && plain.screens[engine] == nil)
        let users = [
            UserSpec(id: "u0"), UserSpec(id: "u77"),
            UserSpec(history: [.init(itemID: "i3", rating: 5), .init(itemID: "i250", rating: 4)]),
            UserSpec(id: "stranger"),
        ]
        let filters = [
            FilterSpec(), FilterSpec(genres: ["Drama"]), FilterSpec(deny: ["i1", "i2", "i3"]),
            FilterSpec(minYear: 1990, maxYear: 1991),
        ]
        for (n, user) in users.enumerated() {
            for k in [1, 10, 400] {
                for f in filters {
                    for seen in [true, false] {
                        var q = RetrieveQuery(user: user, engine: engine, k: k, excludeSeen: seen, filters: f)
                        q.path = .exact
                        let a = try plain.retrieve(q), b = try screened.retrieve(q)
                        let what = "user \(n), k \(k), \(f), exclude_seen \(seen)"
                        #expect(a.items == b.items, "\(what)")
                        #expect(a.warnings == b.warnings && a.degraded == b.degraded, "\(what)")
                        // The screen serves whenever the engine scores the user itself.
                        #expect(b.retrieval == (b.degraded ? "exact" : "screened"), "\(what): \(b.retrieval)")
                    }
                }
            }
        }
    }

    @Test func aBundleWhoseIndexDoesNotFitItsEngineIsRefused() throws {
        let (dir, _, m) = try Self.fixture.get()
        let copy = dir.deletingLastPathComponent().appendingPathComponent("tampered")
        try? FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(at: dir, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        var bad = m
        let n = bad.engines.firstIndex { $0.name == "svd" }!
        bad.engines[n].index!.params["dimension"] = "7"
        try JSONEncoder().encode(bad).write(to: copy.appendingPathComponent("manifest.json"))
        #expect {
            try Bundles.load(copy, modelsDir: TestModels.modelsDir)
        } throws: { e in
            (e as? RecError)?.code == .dataLoss && "\(e)".contains("built for 7-wide vectors")
        }
        // A graph this build does not know is refused; a bundle from before the choice existed
        // (no graph recorded) loads as an inner-product graph.
        bad = m
        bad.engines[n].index!.params["graph"] = "cosine"
        try JSONEncoder().encode(bad).write(to: copy.appendingPathComponent("manifest.json"))
        #expect {
            try Bundles.load(copy, modelsDir: TestModels.modelsDir)
        } throws: { e in (e as? RecError)?.code == .dataLoss && "\(e)".contains("graph 'cosine'") }
        bad.engines[n].index!.params["graph"] = nil
        try JSONEncoder().encode(bad).write(to: copy.appendingPathComponent("manifest.json"))
        let (old, _) = try Bundles.load(copy, modelsDir: TestModels.modelsDir)
        #expect(old.indexes["svd"]?.summary.contains("ip graph") == true)
        // A damaged index file fails the checksum before hnswlib reads it.
        try Data(count: 100).write(to: copy.appendingPathComponent(m.engines[n].index!.file))
        try JSONEncoder().encode(m).write(to: copy.appendingPathComponent("manifest.json"))
        #expect {
            try Bundles.load(copy, modelsDir: TestModels.modelsDir)
        } throws: { e in (e as? RecError)?.code == .dataLoss && "\(e)".contains("sha256") }
    }
}

/// Every dot-product engine's inner-product view gives its own scores, bit for bit.
@Suite struct DotProductViewTests {
    @Test(arguments: IndexBundleTests.dotKinds)
    func userVectorScoresAreTheEnginesScores(engine: String) throws {
        let rec = try IndexBundleTests.fixture.get().1
        let e = try #require(rec.engines.first { $0.name == engine } as? any DotProductEngine)
        var w: [String] = []
        for spec in [UserSpec(id: "u4"), UserSpec(history: [.init(itemID: "i3", rating: 5), .init(itemID: "i9")])] {
            let q = try rec.resolve(spec, warnings: &w)
            guard case .vector(let v) = try e.userVector(for: q) else { continue }
            let items: [Int32] = [0, 5, 399, 17]
            #expect(e.scores(v, items: items).map(\.bitPattern) == (try e.score(q, items: items)).map(\.bitPattern))
            #expect(e.itemVectorData.count == e.itemCount * e.vectorDimension)
            #expect(e.itemBiases.isEmpty || e.itemBiases.count == e.itemCount)
        }
        guard case .declined = try e.userVector(for: UserQuery()) else {
            Issue.record("\(engine) scored a user with nothing to go on")
            return
        }
    }
}
