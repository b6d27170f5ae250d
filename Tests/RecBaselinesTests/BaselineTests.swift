import Foundation
import RecBaselines
import RecCore
import RecData
import Testing

/// The tiny fixture: u1 rated 10 (5★, t=100) and 20 (3★, t=200); u2 rated 10 (4★, t=150)
/// and 30 (1★, t=300). Item 40 has no ratings. Dense item indices 0..3 = 10, 20, 30, 40.
func tinyDataset() throws -> Dataset {
    let dir = try FileManager.default.url(
        for: .itemReplacementDirectory, in: .userDomainMask,
        appropriateFor: FileManager.default.temporaryDirectory, create: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try Data(
        ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
            + "1\t10\t5\t100\n1\t20\t3\t200\n2\t10\t4\t150\n2\t30\t1\t300\n").utf8
    )
    .write(to: dir.appendingPathComponent("tiny.inter"))
    try Data(
        ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
            + "10\tToy Story\t1995\tAnimation Children's Comedy\n20\tHeat\t1995\tAction Crime\n"
            + "30\tSe7en\t1995\tThriller\n40\tLone\t1990\tDrama\n").utf8
    )
    .write(to: dir.appendingPathComponent("tiny.item"))
    return try MovieLens.load(dir, name: "tiny")
}

@Suite struct PopularityTests {
    @Test func countsAndDecay() throws {
        let d = try tinyDataset()
        #expect(PopularityEngine.fit(d).scores == [2, 1, 1, 0])
        #expect(PopularityEngine.fit(d, minRating: 4).scores == [2, 0, 0, 0])
        // Half-life of 100 s: weights 0.5^((300 - t) / 100).
        let decayed = PopularityEngine.fit(d, halfLifeDays: 100.0 / 86_400).scores
        let expected: [Float] = [0.25 + 0.353_553_4, 0.5, 1, 0]
        for (a, b) in zip(decayed, expected) { #expect(abs(a - b) < 1e-5) }
        #expect(PopularityEngine.fit(d).unscorableReason(UserQuery()) == nil)
    }

    @Test func genrePopularityFollowsTheUsersGenres() throws {
        let d = try tinyDataset()
        let pop = PopularityEngine.fit(d)
        let e = GenrePopularityEngine(popularity: pop.scores, catalog: Catalog(ids: d.items, meta: d.itemMeta))
        #expect(e.unscorableReason(UserQuery()) != nil)
        let s = try e.score(UserQuery(history: [HistoryEntry(item: 0)]), items: nil)
        // History is all Animation/Children's/Comedy (share 1/3 each): item 0 gets 2 · (0.05 + 1).
        let expected: [Float] = [2 * 1.05, 0.05, 0.05, 0]
        for (a, b) in zip(s, expected) { #expect(abs(a - b) < 1e-6) }
        #expect(try e.score(UserQuery(history: [HistoryEntry(item: 0)]), items: [2, 0]) == [s[2], s[0]])
    }
}

@Suite struct CooccurrenceTests {
    @Test func cosineNeighboursByHand() throws {
        let e = CooccurrenceEngine.fit(try tinyDataset(), neighbours: 10)
        // c(10,20) = c(10,30) = 1 (one shared user each); |U(10)| = 2, |U(20)| = |U(30)| = 1.
        let s = Float(1 / 2.0.squareRoot())
        #expect(e.matrix.offsets == [0, 2, 3, 4, 4])
        #expect(e.matrix.neighbours == [1, 2, 0, 0])
        for (a, b) in zip(e.matrix.weights, [s, s, s, s]) { #expect(abs(a - b) < 1e-6) }
        let scores = try e.score(UserQuery(history: [HistoryEntry(item: 1), HistoryEntry(item: 2)]), items: nil)
        #expect(abs(scores[0] - 2 * s) < 1e-6 && scores[1] == 0 && scores[2] == 0 && scores[3] == 0)
        let (score, evidence) = try e.explain(
            UserQuery(history: [HistoryEntry(item: 1), HistoryEntry(item: 2)]), item: 0, limit: 5)
        #expect(
            score == scores[0] && evidence.map(\.item) == [1, 2] && evidence.allSatisfy { $0.kind == "history_item" })
        #expect(e.unscorableReason(UserQuery()) != nil)
    }

    @Test func neighbourCapAndMinRating() throws {
        let d = try tinyDataset()
        #expect(CooccurrenceEngine.fit(d, neighbours: 1).matrix.offsets == [0, 1, 2, 3, 3])
        // Only 10 keeps ratings >= 4, from two users: no pair co-occurs.
        #expect(CooccurrenceEngine.fit(d, minRating: 4).matrix.neighbours.isEmpty)
    }

    @Test func fitIsDeterministic() throws {
        let d = try tinyDataset()
        let a = CooccurrenceEngine.fit(d), b = CooccurrenceEngine.fit(d)
        #expect(a.matrix.neighbours == b.matrix.neighbours && a.matrix.weights == b.matrix.weights)
    }
}
