import Foundation
import RecCore
import RecData
import RecEngineKit
import RecFixtures
import Testing

@testable import RecEngines

/// What a retrain trains on and what it is judged by.
@Suite struct RetrainingTests {
    func event(
        _ seq: Int64, _ kind: WriteEvent.Kind, user: String = "", item: String = "", rating: Float = 4
    )
        -> WriteEvent
    {
        var e = WriteEvent(kind: kind, user: user, item: item, rating: rating, timestamp: 5000 + seq)
        e.sequence = seq
        if kind == .upsertItem { e.itemMeta = ItemMeta(title: "New \(item)", genres: ["Drama"]) }
        if kind == .upsertUser { e.userMeta = UserMeta(age: 50) }
        return e
    }

    @Test func theMostRecentFeedbackIsHeldOut() {
        let events =
            (1...10).map { event(Int64($0), .feedback, user: "u\($0 % 3)", item: "i\($0)") }
            + [event(11, .upsertItem, item: "n1")]
        let s = Retraining.split(events.shuffled(), holdoutFraction: 0.2)
        #expect(s.holdout.map(\.sequence) == [9, 10])
        #expect(s.train.map(\.sequence) == Array(1...8) + [11])
        #expect(s.trainedFeedback == 8)
    }

    @Test func theDatasetIsTheBundlesPlusTheRecordedWrites() throws {
        let (dir, _, m) = try trainedBundle(kinds: ["popularity", "cooccurrence"], defaultEngine: "cooccurrence")
        let reader = try BundleReader(dir)
        let base = reader.users.histories
        let u4 = try #require(reader.users.ids.index(of: "u4"))
        let had = base.entries(of: u4)
        let rerated = reader.catalog.ids[had[0].item]
        let events = [
            event(1, .upsertItem, item: "n1"),
            event(2, .feedback, user: "u4", item: rerated, rating: 1),  // replaces u4's rating of it
            event(3, .feedback, user: "newbie", item: "n1", rating: 5),
            event(4, .feedback, user: "u4", item: "unknown-item"),  // never recorded; skipped
            event(5, .upsertUser, user: "newbie"),
            event(6, .upsertItem, item: "i0"),  // a trained item's metadata replaced
            event(7, .deleteItem, item: "i1"),
        ]
        let d = try Retraining.dataset(reader, plus: events)
        #expect(d.items.count == reader.catalog.count + 1 && d.items.index(of: "n1") != nil)
        #expect(d.users.count == reader.users.ids.count + 1)
        #expect(d.itemMeta[Int(d.items.index(of: "n1")!)].title == "New n1")
        #expect(d.itemMeta[Int(d.items.index(of: "i0")!)].title == "New i0")
        #expect(d.items.index(of: "i1") != nil)  // deleted items stay; the store keeps hiding them
        #expect(d.userMeta[Int(d.users.index(of: "newbie")!)].age == 50)
        #expect(d.interactions.count == m.dataset.interactions + 1)
        let mine = d.interactions.filter { $0.user == u4 }
        #expect(mine.count == had.count)
        #expect(mine.first { d.items[$0.item] == rerated }?.rating == 1)
        let plan = try Retraining.plan(m)
        #expect(plan.kinds == m.engines.map(\.kind) && plan.defaultEngine == "cooccurrence")
        // Recorded parameters (written by training) are not passed back as settings.
        #expect(plan.params.values.allSatisfy { p in !p.keys.contains("validation_ndcg10") })
    }

    @Test func heldOutUsersAreJudgedByRetrievesTopTen() throws {
        let (_, rec, _) = try trainedBundle(kinds: ["popularity"], defaultEngine: "popularity")
        let top = try rec.retrieve(RetrieveQuery(user: UserSpec(id: "u4"), engine: "popularity", k: 1)).items[0]
        let best = rec.catalog.ids[top.item]
        let hit = Retraining.judged(
            rec, engine: "popularity", holdout: [event(1, .feedback, user: "u4", item: best, rating: 5)],
            threshold: 4)
        #expect(try hit.get() == (1.0, 1))
        // Below the threshold: not relevant, so no user to judge.
        let low = Retraining.judged(
            rec, engine: "popularity", holdout: [event(1, .feedback, user: "u4", item: best, rating: 2)],
            threshold: 4)
        #expect(try low.get().1 == 0)
    }
}

extension Retraining {
    static func judged(
        _ rec: Recommender, engine: String, holdout: [WriteEvent], threshold: Float
    )
        -> Result<(Double, Int), any Error>
    {
        Result { try Retraining.ndcg10(rec, engine: engine, holdout: holdout, threshold: threshold) }
    }
}
