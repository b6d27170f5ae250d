import Foundation
import RecCore
import RecData
@testable import RecText
import RecTestSupport
import Testing

/// A tiny catalogue with distinctive titles, and three users.
func movieDataset() throws -> Dataset {
    let titles: [(String, Int, [String])] = [
        ("Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
        ("Scream", 1996, ["Horror", "Thriller"]),
        ("Star Wars", 1977, ["Action", "Adventure", "Sci-Fi", "War"]),
        ("Sleepless in Seattle", 1993, ["Comedy", "Romance"]),
        ("Shawshank Redemption, The", 1994, ["Drama"]),
        ("Lion King, The", 1994, ["Animation", "Children's", "Musical"]),
        ("Alien", 1979, ["Action", "Horror", "Sci-Fi", "Thriller"]),
        ("When Harry Met Sally...", 1989, ["Comedy", "Romance"]),
    ]
    var items = IDMap(), users = IDMap()
    for i in 0..<titles.count { items.intern("m\(i)") }
    for u in ["kid", "fan", "blank"] { users.intern(u) }
    let x = { (u: Int32, i: Int32, r: Float, t: Int64) in Interaction(user: u, item: i, rating: r, timestamp: t) }
    return Dataset(name: "movies", users: users, items: items,
                   interactions: [x(0, 0, 5, 1), x(0, 1, 1, 2), x(1, 2, 5, 3), x(1, 6, 4, 4), x(1, 3, 2, 5), x(2, 4, 3, 6)],
                   itemMeta: titles.map { ItemMeta(title: $0.0, year: $0.1, genres: $0.2) },
                   userMeta: [UserMeta(age: 9, gender: "F", occupation: "student"), UserMeta(age: 31, gender: "M", occupation: "engineer"),
                              UserMeta()])
}

@Suite struct ProfileTests {
    @Test func itemProfileTextFollowsTheTemplateAndPutsArticlesFirst() throws {
        let d = try movieDataset()
        let catalog = Catalog(ids: d.items, meta: d.itemMeta)
        #expect(Profiles.item(0, catalog: catalog).text == "Toy Story (1995). Genres: Animation, Children's, Comedy.")
        #expect(Profiles.item(4, catalog: catalog).text == "The Shawshank Redemption (1994). Genres: Drama.")
        var enriched = Profiles.item(1, catalog: catalog)
        enriched.overview = "A killer stalks teenagers"
        enriched.attributes = ["slasher", "self-aware"]
        enriched.description = "Witty and scary!"
        #expect(enriched.text == "Scream (1996). Genres: Horror, Thriller. Overview: A killer stalks teenagers. Attributes: slasher; self-aware. Witty and scary!")
        #expect(ItemProfile(id: "x", title: "Untitled", year: nil, genres: []).text == "Untitled.")
    }

    @Test func userProfileListsLikesDislikesAndDominantGenres() throws {
        let d = try movieDataset()
        let catalog = Catalog(ids: d.items, meta: d.itemMeta)
        let store = UserStore(ids: d.users, meta: d.userMeta, histories: d.userHistories())
        let p = Profiles.users(store, catalog: catalog)
        #expect(p[1].liked == ["Star Wars (1977)", "Alien (1979)"])
        #expect(p[1].disliked == ["Sleepless in Seattle (1993)"])
        #expect(p[1].dominantGenres == ["Action", "Sci-Fi", "Adventure"])
        #expect(p[1].text == "User: 31-year-old male engineer. Liked: Star Wars (1977); Alien (1979). "
            + "Disliked: Sleepless in Seattle (1993). Dominant genres: Action, Sci-Fi, Adventure.")
        // Neither liked nor disliked (rated 3), no demographics: only the genres remain.
        #expect(p[2].text == "Dominant genres: Drama.")
        #expect(Profiles.user(id: "n", history: [], meta: UserMeta(), catalog: catalog).isEmpty)
    }

    @Test func profilesRoundTripThroughJSON() throws {
        let d = try movieDataset()
        let catalog = Catalog(ids: d.items, meta: d.itemMeta)
        let store = UserStore(ids: d.users, meta: d.userMeta, histories: d.userHistories())
        let u = Profiles.users(store, catalog: catalog)[0]
        let data = try JSONEncoder().encode(u)
        #expect(String(decoding: data, as: UTF8.self).contains("\"dominant_genres\""))
        #expect(try JSONDecoder().decode(UserProfile.self, from: data) == u)
    }
}

@Suite(.enabled(if: TestModels.miniLM != nil, "needs models/all-MiniLM-L6-v2 (recfuse models fetch)"))
struct TextEngineTests {
    func engine() throws -> TextEngine {
        try TextEngine.fit(movieDataset(), encoder: try #require(SharedEncoder.encoder))
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
        #expect(Set(try top(e, UserQuery(preference: "romantic comedy"))) == ["Sleepless in Seattle", "When Harry Met Sally..."])
        #expect(try top(e, UserQuery(preference: "scary horror slasher"), 1) == ["Scream"])
    }

    @Test func aStoredUserIsScoredFromTheBundlesProfileEmbedding() throws {
        let e = try engine()
        let u = e.users.ids.index(of: "fan")!
        let q = UserQuery(userIndex: u, rawID: "fan", history: e.users.histories.entries(of: u), meta: e.users.meta[Int(u)])
        let stored = try e.queryVector(q)
        let profile = Profiles.user(id: "fan", history: q.history, meta: q.meta, catalog: e.catalog).text
        #expect(cosine(stored[...], e.encoder!.embed(profile)[...]) > 0.99999)
        #expect(try top(e, q, 1) == ["Star Wars"] || (try top(e, q, 1)) == ["Alien"])
    }

    @Test func preferenceAndProfileAreBlended() throws {
        let e = try engine()
        let u = e.users.ids.index(of: "fan")!
        let q = UserQuery(userIndex: u, rawID: "fan", history: e.users.histories.entries(of: u), preference: "romantic comedy",
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
        func close(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Bool { zip(a, b).allSatisfy { Swift.abs($0 - $1) < 1e-5 } }
        #expect(close(once.data[0..<768], direct.data[0..<768]))
        #expect(twice.data[0..<384] == once.data[384..<768] && twice.data[384..<768] == once.data[0..<384], "the second call is served from the memo")
    }

    @Test func nothingToGoOnIsUnscorableAndAMissingEncoderLimitsToStoredUsers() throws {
        let e = try engine()
        #expect(e.unscorableReason(UserQuery()) == "no preference text, history or demographics to build a profile from")
        #expect(throws: RecError.self) { try e.score(UserQuery(), items: nil) }
        let noEncoder = TextEngine(catalog: e.catalog, users: e.users, itemEmbeddings: e.itemEmbeddings, userEmbeddings: e.userEmbeddings,
                                   encoder: nil, encoderProblem: "model missing", modelName: "m", modelSHA256: "")
        #expect(noEncoder.unscorableReason(UserQuery(preference: "comedy")) == "text encoder unavailable (model missing)")
        let u = e.users.ids.index(of: "kid")!
        let stored = UserQuery(userIndex: u, rawID: "kid", history: e.users.histories.entries(of: u), meta: e.users.meta[Int(u)])
        #expect(noEncoder.unscorableReason(stored) == nil)
        #expect(try noEncoder.score(stored, items: nil) == e.score(stored, items: nil))
        #expect(noEncoder.summary.contains("stored users only"))
    }

    @Test func tensorsRoundTripAndScoresStayUnitCosines() throws {
        let e = try engine()
        let file = try SafetensorsFile(data: e.tensors().serialized())
        let entry = BundleManifest.EngineEntry(name: "text", kind: "text", file: "", params: e.params)
        let again = try TextEngine.load(file, entry: entry, catalog: e.catalog, users: e.users, encoder: e.encoder, encoderProblem: nil)
        let q = UserQuery(preference: "space battles")
        #expect(try again.score(q, items: nil) == e.score(q, items: nil))
        #expect(try e.score(q, items: [3, 1]) == [e.score(q, items: nil)[3], e.score(q, items: nil)[1]])
        #expect(try e.score(q, items: nil).allSatisfy { $0 >= -1.0001 && $0 <= 1.0001 })
        #expect(e.params["model_sha256"] == e.encoder!.weightsSHA256)
    }
}
