import Foundation
import RecCore
import RecTestSupport
import Testing

@testable import RecText

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
