import RecTestSupport
import Testing
@testable import RecCore

@Suite struct TopKTests {
    @Test func selectsBestFirstWithIndexTieBreak() {
        let scores: [Float] = [0.5, 2, 2, -1, .nan, 3, 0.5]
        let top = TopK.select(scores, k: 4)
        #expect(top.map(\.index) == [5, 1, 2, 0])
        #expect(top.map(\.score) == [3, 2, 2, 0.5])
    }

    @Test func kLargerThanInputReturnsAllFiniteSorted() {
        let scores: [Float] = [1, .infinity, 3, 2]
        #expect(TopK.select(scores, k: 100).map(\.index) == [2, 3, 0])
    }

    @Test func keepPredicateAndZeroK() {
        let scores: [Float] = [4, 3, 2, 1]
        #expect(TopK.select(scores, k: 2, keep: { $0 % 2 == 1 }).map(\.index) == [1, 3])
        #expect(TopK.select(scores, k: 0).isEmpty)
    }

    @Test(arguments: [1, 5, 17, 100])
    func matchesFullSortOnRandomInput(k: Int) {
        var rng = SplitMix64(seed: UInt64(k))
        let scores = (0..<1000).map { _ in Float(rng.next() % 50) }  // many ties
        let expected = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(k)
        #expect(TopK.select(scores, k: k).map { Int($0.index) } == Array(expected))
    }
}

@Suite struct IDMapTests {
    @Test func internAndLookup() throws {
        var m = IDMap()
        #expect(m.intern("b") == 0)
        #expect(m.intern("a") == 1)
        #expect(m.intern("b") == 0)
        #expect(m.index(of: "a") == 1)
        #expect(m.index(of: "zz") == nil)
        #expect(m[1] == "a")
        #expect(throws: RecError.self) { try IDMap(ids: ["x", "y", "x"]) }
    }
}

@Suite struct DeadlineTests {
    @Test func expiredAndEarliest() throws {
        let past = Deadline(instant: ContinuousClock.now.advanced(by: .seconds(-1)))
        #expect(past.isExpired)
        #expect(throws: RecError.self) { try past.check("x") }
        #expect(!Deadline.none.isExpired)
        let later = Deadline.after(.seconds(60))
        #expect(later.earliest(past).instant == past.instant)
        #expect(Deadline.none.earliest(later).instant == later.instant)
        #expect(!later.isExpired)
    }
}
