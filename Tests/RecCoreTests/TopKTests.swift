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

    /// Decimal ids take the table path, everything else the dictionary; both agree with a
    /// plain dictionary on ids present and absent, before and after interning more.
    @Test(arguments: [false, true])
    func decimalIdsAndEverythingElseLookUpAlike(sparse: Bool) throws {
        // Dense decimal ids get the table; one huge id makes them sparse (dictionary only).
        let ids = ["1", "2", "10", "007", "x", "0", "12", "+3", "4.0"] + (sparse ? ["999999999"] : [])
        var m = try IDMap(ids: ids)
        var truth = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, Int32($0)) })
        func check() {
            for probe in ids + [
                "3", "7", "07", "11", "13", "40", "500", "2000", "1000000", "", "-1", "00", "1234567890", "y",
            ] {
                #expect(m.index(of: probe) == truth[probe], "\(probe)")
            }
        }
        check()
        for id in ["3", "11", "500", "z", "2000", "40"] {
            truth[id] = m.intern(id)
        }
        check()
        var built = IDMap()  // interned one by one, as bundle loading does
        for id in ids { built.intern(id) }
        #expect(built == (try IDMap(ids: ids)))
        for probe in ["1", "2", "10", "3", "13", "0", "x", "999999999", "99"] {
            #expect(built.index(of: probe) == (try IDMap(ids: built.ids)).index(of: probe), "\(probe)")
        }
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
