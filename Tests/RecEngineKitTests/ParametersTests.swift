import Foundation
import RecCore
import RecData
import RecEngineKit
import Testing

/// A configuration like an engine's, for the key-path table.
struct ToyConfig: Equatable {
    enum Mode: String, CaseIterable { case fast, careful }
    var width = 8
    var rate: Float = 0.5
    var decay = 0.1
    var layers = [4, 4, 1]
    var mode = Mode.fast
    var shuffle = true
    var seed: UInt64 = 42

    static let fields = ParamFields<ToyConfig>([
        .int("width", \.width, in: 1...64, "units"),
        .float("rate", \.rate, in: 0...1, "learning rate"),
        .double("decay", \.decay, "decay"),
        .ints("layers", \.layers, in: 1...Int.max, "heads per layer"),
        .choice("mode", \.mode, "how"),
        .bool("shuffle", \.shuffle, "shuffle"),
        .uint64("seed", \.seed, "seed"),
    ])
    static let specs = fields.specs(defaults: ToyConfig()) + [.recorded("checksum", "set by training")]
}

@Suite struct ParametersTests {
    func params(_ given: [String: String], code: StatusCode = .invalidArgument) throws -> EngineParams {
        try EngineParams(kind: "toy", specs: ToyConfig.specs, given: given, source: "test", code: code)
    }

    @Test func defaultsFillEveryDeclaredKeyAndRecordedOnesStayUnset() throws {
        let p = try params([:])
        #expect(
            p.values == [
                "width": "8", "rate": "0.5", "decay": "0.1", "layers": "4,4,1", "mode": "fast", "shuffle": "true",
                "seed": "42",
            ])
        #expect(try ToyConfig.fields.read(p, over: ToyConfig()) == ToyConfig())
        #expect(try p.string("checksum") == "")
        #expect(try p.recording("checksum", "abc").string("checksum") == "abc")
        #expect(throws: RecError.self) { try p.recording("nope", "x") }
        #expect(throws: RecError.self) { try p.int("nope") }
    }

    @Test func givenValuesAreReadIntoTheStructAndWrittenBack() throws {
        let given = [
            "width": "16", "rate": "0.25", "decay": "-3e-2", "layers": "2, 1", "mode": "careful", "shuffle": "false",
            "seed": "7",
        ]
        let c = try ToyConfig.fields.read(params(given), over: ToyConfig())
        #expect(
            c
                == ToyConfig(
                    width: 16, rate: 0.25, decay: -0.03, layers: [2, 1], mode: .careful, shuffle: false, seed: 7))
        let back = ToyConfig.fields.strings(c)
        #expect(try ToyConfig.fields.read(params(back), over: ToyConfig()) == c)
    }

    @Test(arguments: [
        ("width", "0", "is not in 1...64"), ("width", "8.5", "is not an integer"), ("rate", "2", "is not in 0.0...1.0"),
        ("decay", "nan", "is not a finite number"), ("layers", "4,x", "is not a list of integers"),
        ("layers", "", "is not a list"),
        ("mode", "slow", "is not one of fast, careful"), ("shuffle", "yes", "is not true or false"),
        ("seed", "-1", "is not"),
    ])
    func malformedValuesAreRejectedWithTheKindAndKey(key: String, value: String, why: String) throws {
        let e = try #require(throws: RecError.self) { try params([key: value]) }
        #expect(
            e.code == .invalidArgument && e.message.contains("toy \(key)") && e.message.contains(why), "\(e.message)")
        let fromBundle = try #require(throws: RecError.self) { try params([key: value], code: .dataLoss) }
        #expect(fromBundle.code == .dataLoss)
    }

    @Test func unknownKeysNameWhatTheKindHas() throws {
        let e = try #require(throws: RecError.self) { try params(["widht": "3"]) }
        #expect(e.message.contains("toy has no parameter 'widht'") && e.message.contains("width, rate"))
    }

    @Test func flagsAndTypeNames() {
        #expect(ToyConfig.specs[0].flag(kind: "toy") == "--toy-width")
        #expect(
            ParamSpec.double("half_life_days", 0, "h").flag(kind: "genre-popularity")
                == "--genre-popularity-half-life-days")
        #expect(ToyConfig.specs[0].typeName == "int in 1...64")
        #expect(ToyConfig.specs[4].typeName == "fast | careful")
    }
}

@Suite struct ItemNeighboursTests {
    /// Item i's weight to j is 10·i + j (i ≠ j): rows keep the k largest, diagonal dropped.
    func matrix(k: Int) -> ItemNeighbours {
        ItemNeighbours.build(items: 4, k: k) { i, row in
            for j in 0..<4 { row.add(Int32(j), Float(10 * i + j)) }
            if i == 3 { row.add(2, -32) }  // cancels to exactly 0: dropped
        }
    }

    @Test func keepsTheStrongestNeighboursPerRowWithoutTheDiagonal() {
        let m = matrix(k: 2)
        #expect(m.offsets == [0, 2, 4, 6, 8])
        #expect(m.neighbours == [3, 2, 3, 2, 3, 1, 1, 0])
        #expect(m.weights == [3, 2, 13, 12, 23, 21, 31, 30])
        // score(i) = Σ_h W_hi over the history {0, 2}.
        let s = m.scores([HistoryEntry(item: 0), HistoryEntry(item: 2)])
        #expect(s == [0, 21, 2, 3 + 23])
        let weighted = m.scores(
            [HistoryEntry(item: 0, rating: 2), HistoryEntry(item: 2, rating: 1)], weight: { $0.rating })
        #expect(weighted == [0, 21, 4, 6 + 23])
        let c = m.contributions([HistoryEntry(item: 0), HistoryEntry(item: 2)], to: 3)
        #expect(c.map(\.item) == [2, 0] && c.map(\.share) == [23, 3])
        #expect(m.evidence([HistoryEntry(item: 0), HistoryEntry(item: 2)], to: 3, limit: 1).map(\.item) == [2])
    }

    @Test func roundTripsThroughSafetensorsAndRejectsBadIndices() throws {
        let m = matrix(k: 3)
        let back = try ItemNeighbours.load(SafetensorsFile(data: m.tensors.serialized()), itemCount: 4)
        #expect(back.offsets == m.offsets && back.neighbours == m.neighbours && back.weights == m.weights)
        var bad = SafetensorsWriter()
        bad.add("offsets", [Int64(0), 1, 1, 1, 1])
        bad.add("neighbours", [Int32(9)])
        bad.add("similarities", [Float(1)])
        let e = try #require(throws: RecError.self) {
            try ItemNeighbours.load(SafetensorsFile(data: bad.serialized()), itemCount: 4)
        }
        #expect(e.code == .dataLoss && e.message.contains("outside the catalogue"))
        var unordered = SafetensorsWriter()
        unordered.add("offsets", [Int64(0), 1, 0, 1, 1])
        unordered.add("neighbours", [Int32(1)])
        unordered.add("similarities", [Float(1)])
        #expect(throws: RecError.self) {
            try ItemNeighbours.load(SafetensorsFile(data: unordered.serialized()), itemCount: 4)
        }
    }
}
