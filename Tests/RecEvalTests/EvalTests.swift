import Foundation
import RecCore
import Testing

@testable import RecEval

@Suite struct MetricsTests {
    @Test func rankingByHand() {
        // Hits at ranks 2 and 4 of 5; three relevant items (one never retrieved).
        let m = Metrics.ranking([1, 2, 3, 4, 5], relevant: [2, 4, 9], k: 5)
        #expect(m.precision == 0.4)
        #expect(abs(m.recall - 2.0 / 3) < 1e-12)
        let dcg = 1 / log2(3.0) + 1 / log2(5.0), idcg = 1 + 1 / log2(3.0) + 0.5
        #expect(abs(m.ndcg - dcg / idcg) < 1e-12)
        #expect(abs(m.ndcg - 0.498_19) < 1e-4)
        #expect(abs(m.ap - (0.5 + 0.5) / 3) < 1e-12)
        #expect(m.hit == 1)
        #expect(
            Metrics.ranking([1, 2, 3, 4, 5], relevant: [2, 4, 9], k: 1)
                == .init(precision: 0, recall: 0, ndcg: 0, ap: 0, hit: 0))
        let perfect = Metrics.ranking([7, 8], relevant: [7, 8], k: 2)
        #expect(perfect.ndcg == 1 && perfect.ap == 1 && perfect.recall == 1)
        // Fewer items than K: the missing positions count as misses.
        #expect(Metrics.ranking([7], relevant: [7], k: 10).precision == 0.1)
    }

    @Test func errorsByHand() {
        let (rmse, mae) = Metrics.errors([3, 4, 5], [4, 4, 3])
        #expect(abs(rmse - (5.0 / 3).squareRoot()) < 1e-12)
        #expect(mae == 1)
    }
}

@Suite struct SplitTests {
    func dataset(users: Int = 30, items: Int = 50) -> Dataset {
        var rng = SplitMix64(seed: 1)
        var xs: [Interaction] = []
        for u in 0..<users {
            var picked = Set<Int32>()
            for t in 0..<(3 + Int(rng.next() % 12)) {
                let i = Int32(rng.next() % UInt64(items))
                if picked.insert(i).inserted {
                    xs.append(
                        Interaction(
                            user: Int32(u), item: i, rating: Float(1 + rng.next() % 5), timestamp: Int64(1000 + t)))
                }
            }
        }
        return Dataset(
            name: "t", users: try! IDMap(ids: (0..<users).map { "u\($0)" }),
            items: try! IDMap(ids: (0..<items).map { "i\($0)" }),
            interactions: xs, itemMeta: Array(repeating: ItemMeta(title: ""), count: items),
            userMeta: Array(repeating: UserMeta(), count: users))
    }

    func key(_ x: Interaction) -> String { "\(x.user)/\(x.item)/\(x.timestamp)" }

    @Test func randomIsAPartitionAndDeterministic() {
        let d = dataset()
        let s = Splits.random(d, testFraction: 0.2, seed: 9)
        #expect(s.test.count == Int((Double(d.interactions.count) * 0.2).rounded()))
        #expect(Set((s.train.interactions + s.test).map(key)) == Set(d.interactions.map(key)))
        #expect(s.train.interactions.count + s.test.count == d.interactions.count)
        #expect(Splits.random(d, seed: 9).test.map(key) == s.test.map(key))
        #expect(Splits.random(d, seed: 10).test.map(key) != s.test.map(key))
        #expect(s.train.items == d.items && s.train.users == d.users)
    }

    @Test func temporalLeaveLastOutHoldsEachUsersLatest() {
        let d = dataset()
        let s = Splits.temporalLeaveLastOut(d)
        #expect(Set(s.test.map(\.user)).count == s.test.count)
        for x in s.test {
            let mine = d.interactions.filter { $0.user == x.user }
            #expect(mine.allSatisfy { ($0.timestamp, $0.item) <= (x.timestamp, x.item) })
        }
    }

    @Test func leaveOneOutNegativesAreUnseen() {
        let d = dataset()
        let s = Splits.leaveOneOut(d, negatives: 20, seed: 3)
        for (u, c) in s.candidates {
            let seen = Set(d.interactions.filter { $0.user == u }.map(\.item))
            #expect(c.count == 21 && Set(c).count == 21)
            #expect(seen.contains(c[0]))
            #expect(c.dropFirst().allSatisfy { !seen.contains($0) })
        }
        #expect(Splits.leaveOneOut(d, negatives: 20, seed: 3).candidates == s.candidates)
    }

    @Test(arguments: [0, 1, 3, 5])
    func coldStartRevealsTheFirstInteractions(reveal: Int) {
        let d = dataset()
        let s = Splits.coldStart(d, userFraction: 0.2, reveal: reveal, seed: 5)
        #expect(s.coldUsers.count == 6)
        #expect(!s.train.interactions.contains { s.coldUsers.contains($0.user) })
        let h = d.userHistories()
        for u in s.coldUsers {
            let all = h.entries(of: u)
            #expect(s.revealed[u]! == Array(all.prefix(reveal)))
            #expect(s.test.filter { $0.user == u }.count == max(0, all.count - reveal))
        }
    }
}

@Suite struct HTMLReportTests {
    @Test func selfContainedChartsAndTable() {
        func report(_ e: String, revealed: Int? = nil, ndcg: Double) -> EvalRunner.Report {
            EvalRunner.Report(
                engine: e, protocolName: revealed == nil ? "random" : "coldstart-\(revealed!)",
                metrics: ["ndcg@10": ndcg, "precision@10": ndcg / 2],
                curves: revealed == nil
                    ? ["precision": [0.3, 0.2], "recall": [0.1, 0.2], "ndcg": [0.3, 0.25]] : [:],
                fitSeconds: 0.5, usersEvaluated: 10, revealed: revealed)
        }
        let html = HTMLReport.render(
            title: "t <&>", main: [report("a<b", ndcg: 0.3), report("ease", ndcg: 0.36)],
            coldStart: [report("ease", revealed: 0, ndcg: 0.2), report("ease", revealed: 3, ndcg: 0.25)])
        #expect(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)  // P, R, NDCG, cold start
        #expect(html.components(separatedBy: "<polyline").count - 1 == 7)  // 2 engines x 3 metrics + 1 cold curve
        #expect(html.contains("a&lt;b") && !html.contains("a<b") && html.contains("t &lt;&amp;&gt;"))
        #expect(html.contains("<td>0.3600</td>") && html.contains("coldstart-3"))
        // Inside HTML, an unquoted attribute value swallows a following "/" and the element
        // never closes (everything after it vanishes): every SVG attribute must be quoted.
        let svg = html.components(separatedBy: "<svg")[1...].joined()
        #expect(svg.range(of: #"<[^>]*\s[a-zA-Z:-]+=[^'"]"#, options: .regularExpression) == nil)
        // A legend entry per series per chart.
        #expect(html.components(separatedBy: "stroke-width='3'/>").count - 1 == 7)
    }
}

/// Scores item i as −i for everyone: the base order is 0, 1, 2, …
private final class DescendingEngine: Engine {
    let name = "descending"
    let summary = "test"
    let itemCount: Int
    init(itemCount: Int) { self.itemCount = itemCount }
    func unscorableReason(_ query: UserQuery) -> String? { nil }
    func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        gather((0..<itemCount).map { -Float($0) }, items)
    }
}

@Suite struct RerankEvaluationTests {
    /// One user, relevant test item 7; the base puts it 8th.
    func split() -> Split {
        let items = 30
        let d = Dataset(
            name: "t", users: try! IDMap(ids: ["u0"]), items: try! IDMap(ids: (0..<items).map { "i\($0)" }),
            interactions: [Interaction(user: 0, item: 29, rating: 5, timestamp: 1)],
            itemMeta: Array(repeating: ItemMeta(title: ""), count: items), userMeta: [UserMeta()])
        return Split(protocolName: "t", train: d, test: [Interaction(user: 0, item: 7, rating: 5, timestamp: 2)])
    }

    @Test func theStageReordersOnlyTheTopDepth() {
        let s = split()
        let base = Evaluator.ranking(DescendingEngine(itemCount: 30), on: s, maxK: 10)
        #expect(abs(base.metrics["ndcg@10"]! - 1 / log2(9.0)) < 1e-9)
        // A stage that prefers item 7 lifts it to first when it is within the depth…
        let lift: Evaluator.Rerank = { _, items, _ in items.map { $0 == 7 ? 1 : 0 } }
        let lifted = Evaluator.ranking(DescendingEngine(itemCount: 30), on: s, maxK: 10, rerank: lift, rerankDepth: 10)
        #expect(lifted.metrics["ndcg@10"] == 1 && lifted.metrics["hr@1"] == nil && lifted.curves["ndcg"]![0] == 1)
        // …and cannot reach it beyond the depth; a stage that gives up leaves the base order.
        let shallow = Evaluator.ranking(DescendingEngine(itemCount: 30), on: s, maxK: 10, rerank: lift, rerankDepth: 5)
        #expect(shallow.metrics["ndcg@10"] == base.metrics["ndcg@10"])
        let giveUp: Evaluator.Rerank = { _, _, _ in nil }
        #expect(
            Evaluator.ranking(DescendingEngine(itemCount: 30), on: s, maxK: 10, rerank: giveUp).metrics == base.metrics)
        // The stage sees the base order and scores, seen items removed.
        let seenByStage = Evaluator.ranking(
            DescendingEngine(itemCount: 30), on: s, maxK: 10,
            rerank: { _, items, base in
                (items == (0..<20).map(Int32.init) && base == (0..<20).map { -Float($0) })
                    ? items.map { $0 == 7 ? 1 : 0 } : nil
            }, rerankDepth: 20)
        #expect(seenByStage.metrics["ndcg@10"] == 1)
    }

    @Test func theRunnerAddsOneRowPerEngineWithTheStage() throws {
        let s = split()
        var o = EvalRunner.Options()
        o.protocolKind = .splitFile
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-eval-\(UUID().uuidString).tsv")
        try Splits.write(s, to: dir)
        o.splitFile = dir
        o.rerankDepth = 10
        let runner = EvalRunner(
            options: o, fit: { _, d in (DescendingEngine(itemCount: d.items.count), 0) },
            rerank: .init(name: "lift", make: { _ in { _, items, _ in items.map { $0 == 7 ? 1 : 0 } } }))
        let reports = try runner.run(engines: ["a"], on: s.train)
        #expect(reports.map(\.engine) == ["a", "a+lift"])
        #expect(reports[1].metrics["ndcg@10"] == 1 && reports[0].metrics["ndcg@10"]! < 0.5)
    }
}
