import Foundation
import RecCore
import RecData
import RecEngineKit
import RecTestSupport
import RecText
import Testing

@testable import RecTextEngine

@Suite(.enabled(if: TestModels.miniLM != nil, "needs models/all-MiniLM-L6-v2 (recfuse models fetch)"))
struct TextEngineTests {
    func engine() throws -> TextEngine {
        try TextEngine.fit(movieDataset(), encoder: SentenceEncoder.shared(try #require(TestModels.miniLM)))
    }

    func top(_ e: TextEngine, _ q: UserQuery, _ n: Int = 2) throws -> [String] {
        let s = try e.score(q, items: nil)
        return s.indices.sorted { s[$0] > s[$1] }.prefix(n).map { e.catalog.meta[$0].title }
    }

    @Test func aFreeTextPreferenceFindsMatchingItemsForAUserWithNoHistory() throws {
        let e = try engine()
        let q = UserQuery(preference: "animated cartoon for kids")
        #expect(e.unscorableReason(q) == nil)
        #expect(Set(try top(e, q)) == ["Toy Story", "Lion King, The"])
        #expect(
            Set(try top(e, UserQuery(preference: "romantic comedy"))) == [
                "Sleepless in Seattle", "When Harry Met Sally...",
            ])
        #expect(try top(e, UserQuery(preference: "scary horror slasher"), 1) == ["Scream"])
    }

    @Test func aStoredUserIsScoredFromTheBundlesProfileEmbedding() throws {
        let e = try engine()
        let u = e.users.ids.index(of: "fan")!
        let q = UserQuery(
            userIndex: u, rawID: "fan", history: e.users.histories.entries(of: u), meta: e.users.meta[Int(u)])
        let stored = try e.queryVector(q)
        let profile = Profiles.user(id: "fan", history: q.history, meta: q.meta, catalog: e.catalog).text
        #expect(cosine(stored[...], e.encoder!.embed(profile)[...]) > 0.99999)
        #expect(try top(e, q, 1) == ["Star Wars"] || (try top(e, q, 1)) == ["Alien"])
    }

    @Test func preferenceAndProfileAreBlended() throws {
        let e = try engine()
        let u = e.users.ids.index(of: "fan")!
        let q = UserQuery(
            userIndex: u, rawID: "fan", history: e.users.histories.entries(of: u), preference: "romantic comedy",
            meta: e.users.meta[Int(u)])
        let v = try e.queryVector(q)
        let pref = e.encoder!.embed("romantic comedy")
        let prof = e.encoder!.embed(Profiles.user(id: "fan", history: q.history, meta: q.meta, catalog: e.catalog).text)
        let c1: Double = cosine(v[...], pref[...]), c2: Double = cosine(v[...], prof[...])
        #expect(c1 > 0.5 && c2 > 0.5 && Swift.abs(c1 - c2) < 1e-4, "the blend sits halfway: \(c1) \(c2)")
        // The query memo gives what a fresh encode gives, on the first call and the next.
        let once = e.encoder!.embedQuery(["romantic comedy", "a second text"])
        let twice = e.encoder!.embedQuery(["a second text", "romantic comedy"])
        let direct = e.encoder!.embed(["romantic comedy", "a second text"])
        // (Batch composition moves the last bits, so compare within float noise.)
        func close(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Bool {
            zip(a, b).allSatisfy { Swift.abs($0 - $1) < 1e-5 }
        }
        #expect(close(once.data[0..<768], direct.data[0..<768]))
        #expect(
            twice.data[0..<384] == once.data[384..<768] && twice.data[384..<768] == once.data[0..<384],
            "the second call is served from the memo")
    }

    @Test func nothingToGoOnIsUnscorableAndAMissingEncoderLimitsToStoredUsers() throws {
        let e = try engine()
        #expect(
            e.unscorableReason(UserQuery()) == "no preference text, history or demographics to build a profile from")
        #expect(throws: RecError.self) { try e.score(UserQuery(), items: nil) }
        let noEncoder = TextEngine(
            catalog: e.catalog, users: e.users, itemEmbeddings: e.itemEmbeddings, userEmbeddings: e.userEmbeddings,
            encoder: nil, encoderProblem: "model missing", modelName: "m", modelSHA256: "")
        #expect(
            noEncoder.unscorableReason(UserQuery(preference: "comedy")) == "text encoder unavailable (model missing)")
        let u = e.users.ids.index(of: "kid")!
        let stored = UserQuery(
            userIndex: u, rawID: "kid", history: e.users.histories.entries(of: u), meta: e.users.meta[Int(u)])
        #expect(noEncoder.unscorableReason(stored) == nil)
        #expect(try noEncoder.score(stored, items: nil) == e.score(stored, items: nil))
        #expect(noEncoder.summary.contains("stored users only"))
    }

    @Test func tensorsRoundTripAndScoresStayUnitCosines() throws {
        let e = try engine()
        let file = try SafetensorsFile(data: e.tensors().serialized())
        let params = try TextKind.params(["model": "all-MiniLM-L6-v2", "model_sha256": e.modelSHA256])
        let entry = BundleManifest.EngineEntry(name: "text", kind: "text", file: "", params: params.values)
        let context = LoadContext(catalog: e.catalog, users: e.users, modelsDir: TestModels.modelsDir)
        let again = try #require(try TextKind.load(file, entry: entry, params: params, context: context) as? TextEngine)
        #expect(again.encoder != nil, "the bundle's model is found and matches")
        let q = UserQuery(preference: "space battles")
        #expect(try again.score(q, items: nil) == e.score(q, items: nil))
        #expect(try e.score(q, items: [3, 1]) == [e.score(q, items: nil)[3], e.score(q, items: nil)[1]])
        #expect(try e.score(q, items: nil).allSatisfy { $0 >= -1.0001 && $0 <= 1.0001 })
        #expect(e.modelSHA256 == e.encoder!.weightsSHA256)
    }
}
