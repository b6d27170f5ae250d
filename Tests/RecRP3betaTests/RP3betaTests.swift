import Foundation
import RecCore
import RecData
import RecEngineKit
import Testing

@testable import RecRP3beta

/// Users 0, 1, 2 and items 0..3: u0 has {0, 1}, u1 has {0, 2}, u2 has {0, 1, 3}.
func walkDataset(ratings: [Float] = [5, 4, 3, 5, 5, 2, 4]) throws -> Dataset {
    let pairs: [(Int32, Int32)] = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 0), (2, 1), (2, 3)]
    return Dataset(
        name: "walk", users: try IDMap(ids: ["u0", "u1", "u2"]), items: try IDMap(ids: ["a", "b", "c", "d"]),
        interactions: zip(pairs, ratings).enumerated().map { n, x in
            Interaction(user: x.0.0, item: x.0.1, rating: x.1, timestamp: Int64(n))
        },
        itemMeta: (0..<4).map { ItemMeta(title: "T\($0)") }, userMeta: [UserMeta(), UserMeta(), UserMeta()])
}

/// Two blocks (implicit's checkerboard): users 0..<10 take items 0..<10, users 10..<20 items
/// 10..<20, each user all but one of their block's items.
func checkerboard() throws -> Dataset {
    var xs: [Interaction] = []
    for u in 0..<20 {
        let base = u < 10 ? 0 : 10
        for i in base..<(base + 10) where i != base + u % 10 {
            xs.append(Interaction(user: Int32(u), item: Int32(i), rating: 1, timestamp: 0))
        }
    }
    return Dataset(
        name: "checkerboard", users: try IDMap(ids: (0..<20).map { "u\($0)" }),
        items: try IDMap(ids: (0..<20).map { "i\($0)" }), interactions: xs,
        itemMeta: (0..<20).map { ItemMeta(title: "I\($0)") }, userMeta: Array(repeating: UserMeta(), count: 20))
}

@Suite struct RP3betaTests {
    func weight(_ e: RP3betaEngine, _ i: Int, _ j: Int32) -> Float? {
        let m = e.matrix
        return (m.offsets[i]..<m.offsets[i + 1]).first { m.neighbours[$0] == j }.map { m.weights[$0] }
    }

    /// W_ij = pop(j)^-β Σ_u (1/|U(i)|)^α (1/|I(u)|)^α, by hand for the walk dataset.
    @Test(arguments: [(1.0, 0.0), (0.5, 0.6)])
    func weightsAreTheDiscountedThreeStepWalk(alpha: Double, beta: Double) throws {
        var p = RP3betaEngine.Params()
        (p.alpha, p.beta, p.implicit, p.normalize) = (alpha, beta, true, false)
        let e = RP3betaEngine.fit(try walkDataset(), params: p)
        func pw(_ x: Double) -> Double { pow(x, alpha) }
        // Item a (users u0, u1, u2) to b: via u0 (1/2 of its items) and u2 (1/3); pop(b) = 2.
        let ab = pw(1 / 3) * (pw(1 / 2) + pw(1 / 3)) * pow(2, -beta)
        // b (u0, u2) to d: via u2 only; pop(d) = 1.
        let bd = pw(1 / 2) * pw(1 / 3)
        // c (u1) to a: via u1; pop(a) = 3.
        let ca = pw(1 / 1) * pw(1 / 2) * pow(3, -beta)
        #expect(abs(Double(try #require(weight(e, 0, 1))) - ab) < 1e-6)
        #expect(abs(Double(try #require(weight(e, 1, 3))) - bd) < 1e-6)
        #expect(abs(Double(try #require(weight(e, 2, 0))) - ca) < 1e-6)
        #expect(weight(e, 0, 0) == nil && weight(e, 2, 3) == nil, "no diagonal, no weight without a shared user")
    }

    @Test func withoutTruncationAndDiscountEachRowIsTheWalksOffDiagonalMass() throws {
        var p = RP3betaEngine.Params()
        (p.alpha, p.beta, p.implicit, p.normalize) = (1, 0, true, false)
        let d = try walkDataset()
        let e = RP3betaEngine.fit(d, params: p)
        // Row sums are 1 minus the walk's probability of returning to the start item.
        let back: [Double] = [(1.0 / 2 + 1.0 / 2 + 1.0 / 3) / 3, (1.0 / 2 + 1.0 / 3) / 2, 1.0 / 2, 1.0 / 3]
        for i in 0..<4 {
            let s = (e.matrix.offsets[i]..<e.matrix.offsets[i + 1]).reduce(0.0) { $0 + Double(e.matrix.weights[$1]) }
            #expect(abs(s - (1 - back[i])) < 1e-6, "row \(i)")
        }
        p.normalize = true
        let n = RP3betaEngine.fit(d, params: p)
        for i in 0..<4 {
            let s = (n.matrix.offsets[i]..<n.matrix.offsets[i + 1]).reduce(Float(0)) { $0 + n.matrix.weights[$1] }
            #expect(abs(s - 1) < 1e-6)
        }
    }

    @Test func theCheckerboardRecommendsTheMissingItemOfTheUsersOwnBlock() throws {
        let d = try checkerboard()
        let e = RP3betaEngine.fit(d)
        let h = d.userHistories()
        for u: Int32 in [0, 3, 12, 19] {
            let q = UserQuery(userIndex: u, history: h.entries(of: u))
            let s = try e.score(q, items: nil)
            let seen = Set(q.history.map(\.item))
            let best = TopK.select(s, k: 1) { !seen.contains(Int32($0)) }[0].index
            #expect(best == (u < 10 ? u : 10 + (u - 10)), "user \(u) gets \(best)")
            let (score, evidence) = try e.explain(q, item: best, limit: 3)
            #expect(score == s[Int(best)] && evidence.count == 3 && evidence.allSatisfy { seen.contains($0.item!) })
        }
    }

    @Test func ratingsWeightTheHistoryWhenNotImplicitAndMinRatingFilters() throws {
        var p = RP3betaEngine.Params()
        (p.implicit, p.normalize) = (false, false)
        let d = try walkDataset()
        let e = RP3betaEngine.fit(d, params: p)
        let q = UserQuery(history: [HistoryEntry(item: 1, rating: 4), HistoryEntry(item: 2, rating: 2)])
        let s = try e.score(q, items: nil)
        #expect(abs(s[0] - (4 * weight(e, 1, 0)! + 2 * weight(e, 2, 0)!)) < 1e-6)
        p.implicit = true
        p.minRating = 4
        let f = RP3betaEngine.fit(d, params: p)
        // Ratings below 4 are out of the graph (u2's rating 2 for c, u1's 3): c has no users left.
        #expect(f.matrix.offsets[3] == f.matrix.offsets[2])
        #expect(try f.score(UserQuery(history: [HistoryEntry(item: 0, rating: 3)]), items: nil).allSatisfy { $0 == 0 })
        #expect(e.unscorableReason(UserQuery()) != nil && e.unscorableReason(q) == nil)
    }

    @Test func theKindRoundTripsThroughItsTensorsAndParameters() throws {
        let d = try walkDataset()
        let params = try RP3betaKind.params(["alpha": "0.6", "neighbours": "2"])
        let f = try RP3betaKind.fit(d, params: params, context: FitContext())
        let file = try SafetensorsFile(data: f.tensors.serialized())
        let entry = BundleManifest.EngineEntry(name: "rp3beta", kind: "rp3beta", file: "", params: f.params.values)
        let catalog = Catalog(ids: d.items, meta: d.itemMeta)
        let users = UserStore(ids: d.users, meta: d.userMeta, histories: d.userHistories())
        let back = try #require(
            try RP3betaKind.load(
                file, entry: entry, params: RP3betaKind.params(entry.params),
                context: LoadContext(catalog: catalog, users: users, modelsDir: URL(fileURLWithPath: "/")))
                as? RP3betaEngine)
        let original = try #require(f.engine as? RP3betaEngine)
        #expect(back.params == original.params && back.params.alpha == 0.6 && back.params.neighbours == 2)
        #expect(back.matrix.weights == original.matrix.weights && back.matrix.neighbours == original.matrix.neighbours)
        #expect(original.matrix.offsets.last! <= 2 * 4)
        #expect(throws: RecError.self) { try RP3betaKind.params(["beta": "-1"]) }
    }
}
