import RecTestSupport
import XCTest

@testable import RecCore

/// score(u, i) = offset + ⟨x(u), v_i⟩ + b_i over 2-d item vectors; x(u) from the user's id.
final class DotEngine: DotProductEngine {
    let name = "dot"
    let summary = "dot product for tests"
    let vectors: [Float]
    let biases: [Float]
    var itemCount: Int { biases.count }
    let vectorDimension = 2
    var itemVectorData: [Float] { vectors }
    var itemBiases: [Float] { biases }
    init(items n: Int) {
        var rng = SplitMix64(seed: 11)
        vectors = (0..<(2 * n)).map { _ in Float(rng.nextGaussian()) }
        biases = (0..<n).map { _ in Float(rng.nextGaussian()) * 0.1 }
    }
    func x(_ q: UserQuery) -> [Float] { q.userIndex == 0 ? [1, 0.5] : [-0.3, 1] }
    func unscorableReason(_ q: UserQuery) -> String? { q.userIndex == nil ? "unknown user" : nil }
    func score(_ q: UserQuery, items: [Int32]?) throws -> [Float] {
        scores(UserVector(x: x(q), offset: 3), items: items ?? (0..<Int32(itemCount)).map { $0 })
    }
    func userVector(for q: UserQuery) throws -> UserVectorAnswer {
        if let why = unscorableReason(q) { return .declined(why) }
        return .vector(UserVector(x: x(q), offset: 3))
    }
    func scores(_ u: UserVector, items: [Int32]) -> [Float] {
        items.map { i in u.offset + u.x[0] * vectors[2 * Int(i)] + u.x[1] * vectors[2 * Int(i) + 1] + biases[Int(i)] }
    }
}

/// An exact "index" that counts its searches and returns exactly `k` proposals, so the
/// pipeline's over-fetch decides what it sees.
final class ExactIndex: ApproximateIndex, @unchecked Sendable {
    let engine: DotEngine
    var searches: [Int] = []
    let path = "fake-ann"
    let searchBreadth = 16
    var summary: String { "exact test index" }
    init(_ e: DotEngine) { engine = e }
    func search(_ x: [Float], k: Int) -> [Int32] {
        searches.append(k)
        let all = engine.scores(UserVector(x: x), items: (0..<Int32(engine.itemCount)).map { $0 })
        return TopK.select(all, k: k).map(\.index)
    }
}

final class ApproximateRetrieveTests: XCTestCase {
    let n = 4_000

    func make(annMinItems: Int = 1_000_000, index: Bool = true) throws -> (Recommender, DotEngine, ExactIndex) {
        let e = DotEngine(items: n)
        let ids = try IDMap(ids: (0..<n).map { "i\($0)" })
        // 1% of the items carry the rare genre; years spread over 1950..2049.
        let meta = (0..<n).map { i in
            ItemMeta(title: "t\(i)", year: 1950 + i % 100, genres: i % 100 == 0 ? ["Rare"] : ["Common"])
        }
        let users = try IDMap(ids: ["u0", "u1"])
        // u0 has seen the 30 items it likes best.
        let best = TopK.select(try e.score(UserQuery(userIndex: 0), items: nil), k: 30).map(\.index)
        let hist = Histories(
            userCount: 2, interactions: best.map { Interaction(user: 0, item: $0, rating: 5, timestamp: 1) })
        var limits = Limits()
        limits.annMinItems = annMinItems
        let idx = ExactIndex(e)
        let pop = FixedEngine(name: "pop", weights: (0..<n).map { Float(n - $0) })
        let rec = try Recommender(
            catalog: Catalog(ids: ids, meta: meta),
            users: UserStore(ids: users, meta: [.init(), .init()], histories: hist),
            engines: [pop, e], defaultEngine: "dot", fallbackEngine: "pop", limits: limits, bundleVersion: "t@1",
            indexes: index ? ["dot": idx] : [:])
        return (rec, e, idx)
    }

    func retrieve(
        _ rec: Recommender, user: String = "u0", k: Int = 20, path: RetrievalPath, filters: FilterSpec = FilterSpec(),
        excludeSeen: Bool = true
    ) throws -> Recommendation {
        try rec.retrieve(
            RetrieveQuery(user: UserSpec(id: user), k: k, excludeSeen: excludeSeen, filters: filters, path: path))
    }

    func testTheIndexPathGivesTheExactItemsAndScores() throws {
        let (rec, _, idx) = try make()
        for user in ["u0", "u1"] {
            for filters in [FilterSpec(), FilterSpec(deny: ["i1", "i2", "i3"]), FilterSpec(minYear: 2000)] {
                let exact = try retrieve(rec, user: user, path: .exact, filters: filters)
                let approx = try retrieve(rec, user: user, path: .approximate, filters: filters)
                XCTAssertEqual(exact.retrieval, "exact")
                XCTAssertEqual(approx.retrieval, "fake-ann")
                XCTAssertEqual(approx.items.map(\.item), exact.items.map(\.item), "\(user) \(filters)")
                XCTAssertEqual(approx.items.map(\.score), exact.items.map(\.score))
                XCTAssertEqual(approx.items.count, 20)
            }
        }
        XCTAssertFalse(idx.searches.isEmpty)
    }

    func testOverFetchCoversExcludeSeenAndTheFilters() throws {
        let (rec, _, idx) = try make()
        let r = try retrieve(rec, k: 10, path: .approximate)
        // u0 has seen its 30 best items: the index must be asked for more than 10 + 30.
        XCTAssertGreaterThanOrEqual(idx.searches.last!, 40)
        XCTAssertEqual(r.items.count, 10)
        let seen = Set(rec.users.histories.entries(of: 0).map(\.item))
        XCTAssertTrue(r.items.allSatisfy { !seen.contains($0.item) })
        // Half the catalogue passes a year filter: about twice as many proposals.
        _ = try retrieve(rec, k: 10, path: .approximate, filters: FilterSpec(minYear: 2000))
        XCTAssertGreaterThanOrEqual(idx.searches.last!, 80)
    }

    func testSelectiveFiltersAndAllowListsAreServedExactly() throws {
        let (rec, _, _) = try make()
        let rare = try retrieve(rec, path: .approximate, filters: FilterSpec(genres: ["Rare"]))
        XCTAssertTrue(rare.retrieval.hasPrefix("exact: about "), rare.retrieval)
        XCTAssertTrue(rare.retrieval.contains("% of the catalogue passes the filters"), rare.retrieval)
        let exactRare = try retrieve(rec, path: .exact, filters: FilterSpec(genres: ["Rare"]))
        XCTAssertEqual(rare.items.map(\.item), exactRare.items.map(\.item))
        XCTAssertTrue(rare.items.allSatisfy { $0.item % 100 == 0 })
        let allow = try retrieve(rec, path: .approximate, filters: FilterSpec(allow: ["i5", "i6", "i7"]))
        XCTAssertEqual(allow.retrieval, "exact: allow_items given (scored directly)")
        XCTAssertEqual(Set(allow.items.map(\.item)), [5, 6, 7])
        // k larger than a quarter of the catalogue: not worth the index.
        let big = try retrieve(rec, k: n / 2, path: .approximate)
        XCTAssertTrue(big.retrieval.hasPrefix("exact: "), big.retrieval)
        XCTAssertEqual(big.items.count, n / 2)
    }

    func testAutoUsesTheIndexFromTheThreshold() throws {
        let (below, _, _) = try make(annMinItems: n + 1)
        XCTAssertEqual(try retrieve(below, path: .auto).retrieval, "exact")
        let (above, _, _) = try make(annMinItems: n)
        XCTAssertEqual(try retrieve(above, path: .auto).retrieval, "fake-ann")
        XCTAssertEqual(try retrieve(above, path: .exact).retrieval, "exact")
    }

    func testEnginesWithoutAnIndexAndDeclinedUsersAreServedExactly() throws {
        let (rec, _, _) = try make(index: false)
        XCTAssertEqual(
            try retrieve(rec, path: .approximate).retrieval, "exact: engine 'dot' has no approximate index")
        let (withIndex, _, _) = try make()
        let popular = try rec.retrieve(
            RetrieveQuery(user: UserSpec(id: "u0"), engine: "pop", k: 5, path: .approximate))
        XCTAssertEqual(popular.retrieval, "exact: engine 'pop' has no approximate index")
        let stranger = try retrieve(withIndex, user: "nobody", path: .approximate)
        XCTAssertEqual(stranger.engine, "pop")
        XCTAssertTrue(stranger.degraded)
        XCTAssertEqual(stranger.retrieval, "exact")
    }

    func testAnIndexForAnEngineThatIsNotADotProductIsRefused() throws {
        let e = DotEngine(items: 10)
        let ids = try IDMap(ids: (0..<10).map { "i\($0)" })
        let pop = FixedEngine(name: "pop", weights: Array(repeating: 1, count: 10))
        XCTAssertThrowsError(
            try Recommender(
                catalog: Catalog(ids: ids, meta: Array(repeating: ItemMeta(title: ""), count: 10)),
                users: UserStore(ids: IDMap(), meta: [], histories: Histories(userCount: 0, interactions: [])),
                engines: [pop, e], defaultEngine: "dot", fallbackEngine: "pop", bundleVersion: "t",
                indexes: ["pop": ExactIndex(e)]))
    }
}
