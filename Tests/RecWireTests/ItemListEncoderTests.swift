import Foundation
import RecCore
import RecFixtures
import SwiftProtobuf
import Testing

@testable import RecWire

/// `ItemListEncoder` against the generated code: the same bytes for the same response.
@Suite struct ItemListEncoderTests {
    /// Items that exercise every encoding branch: empty and long (> 127 bytes: two-byte
    /// length) titles, non-ASCII text, no year, no genres, an empty genre name.
    static let catalog: Catalog = {
        let ids = (0..<300).map { "item-\($0)" }
        let meta = (0..<300).map { i -> ItemMeta in
            switch i % 6 {
            case 0: ItemMeta(title: "Film \(i)", year: 1990 + i % 30, genres: ["Drama", "Comedy"])
            case 1: ItemMeta(title: "", year: nil, genres: [])
            case 2: ItemMeta(title: String(repeating: "Long title ", count: 20), year: 2001, genres: ["Sci-Fi"])
            case 3:
                ItemMeta(
                    title: "Amélie (Le Fabuleux Destin d'Amélie Poulain) — 🎬", year: 2001, genres: ["Romance", ""])
            case 4: ItemMeta(title: "Zero year", year: 0, genres: ["Film-Noir", "Thriller", "Mystery"])
            default: ItemMeta(title: "Film \(i)", year: 1920, genres: ["Western"])
            }
        }
        return Catalog(ids: try! IDMap(ids: ids), meta: meta)
    }()

    static let encoder = ItemListEncoder(catalog: catalog)

    /// The reference: the response built field by field and serialized by swift-protobuf.
    static func reference(_ items: [ScoredItem]) -> [RFScoredItem] {
        items.enumerated().map { n, s in
            var out = RFScoredItem()
            let m = catalog.meta[Int(s.item)]
            out.itemID = catalog.ids.ids[Int(s.item)]
            out.score = s.score
            out.rank = UInt32(n + 1)
            out.title = m.title
            out.year = UInt32(m.year ?? 0)
            out.genres = m.genres
            for (name, v) in s.components { out.components[name] = v }
            return out
        }
    }

    static func recommendation(count: Int, components: Int, seed: UInt64) -> Recommendation {
        var rng = SplitMix64(seed: seed)
        let names = ["gat", "", "judge", "fused-score-with-a-long-name"]
        let scores: [Float] = [0, -0.0, 1, -3.5, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 0.1234]
        let items = (0..<count).map { n -> ScoredItem in
            let score = n < scores.count ? scores[n] : Float(Int(rng.next() % 20_000) - 10_000) / 997
            let comps = (0..<components).map { c in (names[c], c == 0 ? score : Float(rng.next() % 100) / 7) }
            let item = Int32(rng.next() % UInt64(catalog.count))
            // One component: half the items the way engines make them (no array), half with an array.
            if components == 1 && n % 2 == 0 { return ScoredItem(item: item, score: score, engine: names[0]) }
            return ScoredItem(item: item, score: score, components: comps)
        }
        var r = Recommendation(items: items, engine: "gat", requestedEngine: "")
        r.degraded = seed % 2 == 0
        r.degradedReason = r.degraded ? "unknown user" : ""
        r.warnings = seed % 3 == 0 ? ["2 unknown candidate id(s) left out"] : []
        r.unknownItems = seed % 3 == 0 ? ["nope", ""] : []
        return r
    }

    /// One component per item (every engine's Retrieve and Rank): byte for byte what the
    /// generated code writes, up to 200 items (two-byte rank varints).
    @Test(arguments: [0, 1, 7, 100, 200])
    func bytesMatchTheGeneratedCode(count: Int) throws {
        for components in [0, 1] {
            let r = Self.recommendation(count: count, components: components, seed: UInt64(count * 10 + components))
            var rank = RFRankResponse()
            rank.items = Self.reference(r.items)
            rank.meta = RFResponseMeta(r, bundleVersion: "v@1")
            rank.unknownItems = r.unknownItems
            #expect(try Self.encoder.rank(r, bundleVersion: "v@1") == rank.serializedData())

            var retrieve = RFRetrieveResponse()
            retrieve.items = rank.items
            retrieve.meta = rank.meta
            #expect(try Self.encoder.retrieve(r, bundleVersion: "v@1") == retrieve.serializedData())

            for judge in [RFJudge.default, .local, .llmPointwise] {
                var rerank = RFRerankResponse()
                rerank.items = rank.items
                rerank.meta = rank.meta
                rerank.unknownItems = r.unknownItems
                rerank.judge = judge
                #expect(try Self.encoder.rerank(r, judge: judge, bundleVersion: "v@1") == rerank.serializedData())
            }
        }
    }

    /// Several components (Rerank's base/judge/fused): swift-protobuf writes a map in hash
    /// order, so compare what a decoder reads, and check the entries keep the engine's order.
    @Test func severalComponentsDecodeToTheSameMessage() throws {
        for seed in UInt64(0)..<20 {
            let r = Self.recommendation(count: 50, components: 1 + Int(seed % 4), seed: seed)
            let bytes = try Self.encoder.rerank(r, judge: .llmRelevancy, bundleVersion: "v@2")
            var expected = RFRerankResponse()
            expected.items = Self.reference(r.items)
            expected.meta = RFResponseMeta(r, bundleVersion: "v@2")
            expected.unknownItems = r.unknownItems
            expected.judge = .llmRelevancy
            #expect(try RFRerankResponse(serializedBytes: bytes) == expected)
        }
        // The map entries of the first item, in the order they were given.
        let r = Self.recommendation(count: 1, components: 4, seed: 1)
        var order: [String] = []
        var d = BinaryDecoding(Array(try Self.encoder.rank(r, bundleVersion: "v")))
        let item = try #require(d.fields().first { $0.field == 1 })
        var inner = BinaryDecoding(item.bytes)
        for f in try inner.fields() where f.field == 7 {
            var entry = BinaryDecoding(f.bytes)
            let key = try #require(try entry.fields().first { $0.field == 1 })
            order.append(String(decoding: key.bytes, as: UTF8.self))
        }
        #expect(order == r.items[0].components.map(\.0))
    }

    /// Replies, hand-encoded, against the generated code: OK with a payload (short, and long
    /// enough for a three-byte length), errors with and without a message, empty fields.
    @Test func repliesMatchTheGeneratedCode() throws {
        var replies: [RFReply] = [RFReply()]
        for payload in [Data(), Data([1, 2, 3]), Data(repeating: 0xAB, count: 20_000)] {
            var r = RFReply()
            r.status.code = .ok
            r.payload = payload
            r.requestID = payload.isEmpty ? "" : "req-7"
            r.bundleVersion = "ml-100k@2026"
            r.serverMicros = UInt64(payload.count) * 1000
            replies.append(r)
        }
        var e = RFReply()
        e.status.code = .invalidArgument
        e.status.message = String(repeating: "bad input; ", count: 30)
        replies.append(e)
        e.status.message = ""
        e.status.code = .unimplemented
        replies.append(e)
        for r in replies {
            #expect(r.encoded() == (try r.serializedData()))
        }
    }

    /// A new bundle's catalogue gets its own encoder, built at the swap.
    @Test func serviceEncodesWithTheServedCatalogue() throws {
        let (_, rec, _) = try trainedBundle()
        let service = Service(rec)
        var req = RFRankRequest()
        req.user.id = "u3"
        req.itemIds = ["i1", "i2", "i3"]
        req.engine = "popularity"
        let out = try RFRankResponse(serializedBytes: service.call(Methods.rank, payload: req.serializedData()))
        #expect(out.items.map(\.title).sorted() == ["Film 1", "Film 2", "Film 3"])
        #expect(out.items.allSatisfy { $0.components.keys.sorted() == ["popularity"] })
    }
}

/// A minimal reader of protobuf's length-delimited fields, to look at entry order.
struct BinaryDecoding {
    var bytes: [UInt8]
    var at = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard at < bytes.count else { throw RecError.invalidArgument("truncated varint") }
            let b = bytes[at]
            at += 1
            v |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }

    /// The length-delimited fields (others are skipped).
    mutating func fields() throws -> [(field: Int, bytes: [UInt8])] {
        var out: [(Int, [UInt8])] = []
        while at < bytes.count {
            let key = try varint()
            switch key & 7 {
            case 0: _ = try varint()
            case 5: at += 4
            case 1: at += 8
            case 2:
                let n = Int(try varint())
                out.append((Int(key >> 3), Array(bytes[at..<at + n])))
                at += n
            default: throw RecError.invalidArgument("wire type \(key & 7)")
            }
        }
        return out
    }
}
