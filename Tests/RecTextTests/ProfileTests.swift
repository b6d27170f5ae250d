import Foundation
import RecCore
import RecTestSupport
import Testing

@testable import RecText

@Suite struct ProfileTests {
    /// An imported shop: products with a brand and a description, categories, implicit
    /// feedback, user attributes. The text says "Categories", not "Genres", and an item
    /// without a title goes by its id.
    @Test func anImportedCatalogueProfilesItsOwnColumns() throws {
        let schema = DatasetSchema(domain: "product", feedback: .implicit)
        let ids = try IDMap(ids: ["sku-1", "sku-2", "sku-3"])
        let catalog = Catalog(
            ids: ids,
            meta: [
                ItemMeta(
                    title: "Cast Iron Skillet", genres: ["Kitchen", "Outdoor"],
                    fields: [TextField("brand", "Acme"), TextField("unit_price", "30 EUR")]),
                ItemMeta(title: "Trowel", genres: ["Garden"]),
                ItemMeta(title: ""),
            ], schema: schema)
        #expect(
            Profiles.item(0, catalog: catalog).text
                == "Cast Iron Skillet. Categories: Kitchen, Outdoor. Brand: Acme. Unit price: 30 EUR.")
        #expect(Profiles.item(2, catalog: catalog).text == "sku-3.")
        // Implicit feedback: every interaction is liked, most recent first.
        let history = [HistoryEntry(item: 0, timestamp: 5), HistoryEntry(item: 1, timestamp: 9)]
        let p = Profiles.user(
            id: "u1", history: history, meta: UserMeta(attributes: [TextField("tier", "gold")]), catalog: catalog)
        #expect(p.liked == ["Trowel", "Cast Iron Skillet"])
        #expect(
            p.text
                == "User: tier gold. Liked: Trowel; Cast Iron Skillet. Dominant categories: Garden, Kitchen, Outdoor.")
        // The same history under explicit feedback likes nothing (unrated is not liked).
        let explicit = Catalog(
            ids: ids, meta: catalog.meta, schema: DatasetSchema(domain: "product", feedback: .explicit))
        #expect(Profiles.user(id: "u1", history: history, meta: UserMeta(), catalog: explicit).liked.isEmpty)
        // MovieLens profiles carry none of the new keys (their JSON is unchanged).
        let movie = try JSONEncoder().encode(ItemProfile(id: "1", title: "Fargo", year: 1996, genres: ["Crime"]))
        #expect(!String(decoding: movie, as: UTF8.self).contains("category_label"))
    }

    @Test func domainPluralsReadAsEnglish() {
        #expect(DatasetSchema.plural("product") == "products")
        #expect(DatasetSchema.plural("box") == "boxes")
        #expect(DatasetSchema.plural("category") == "categories")
        #expect(DatasetSchema.plural("day") == "days")
        #expect(DatasetSchema(domain: "person", domainPlural: "people", feedback: .explicit).domainPlural == "people")
    }

    @Test func itemProfileTextFollowsTheTemplateAndPutsArticlesFirst() throws {
        let d = try movieDataset()
        let catalog = Catalog(ids: d.items, meta: d.itemMeta)
        #expect(Profiles.item(0, catalog: catalog).text == "Toy Story (1995). Genres: Animation, Children's, Comedy.")
        #expect(Profiles.item(4, catalog: catalog).text == "The Shawshank Redemption (1994). Genres: Drama.")
        var enriched = Profiles.item(1, catalog: catalog)
        enriched.overview = "A killer stalks teenagers"
        enriched.attributes = ["slasher", "self-aware"]
        enriched.description = "Witty and scary!"
        #expect(
            enriched.text
                == "Scream (1996). Genres: Horror, Thriller. Overview: A killer stalks teenagers. Attributes: "
                + "slasher; self-aware. Witty and scary!"
        )
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
        #expect(
            p[1].text == "User: 31-year-old male engineer. Liked: Star Wars (1977); Alien (1979). "
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
