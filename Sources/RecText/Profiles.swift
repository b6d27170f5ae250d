import Foundation
import RecCore

/// An item's profile, after the structured schema of arXiv 2508.01514: the catalogue facts
/// (title, year, genres) and, once an LLM has enriched it, an overview, attributes and a
/// description. `text` is what the sentence encoder embeds.
public struct ItemProfile: Codable, Sendable, Equatable {
    public var id: String
    public var title: String
    public var year: Int?
    public var genres: [String]
    public var overview: String?
    public var attributes: [String]?
    public var description: String?
    /// An imported dataset's free-text columns ("Brand: Acme."); absent for MovieLens.
    public var fields: [TextField]?
    /// What the category list is called; absent means "Genres" (MovieLens).
    public var categoryLabel: String?

    public init(
        id: String, title: String, year: Int?, genres: [String], overview: String? = nil,
        attributes: [String]? = nil, description: String? = nil, fields: [TextField]? = nil,
        categoryLabel: String? = nil
    ) {
        self.id = id
        self.title = title
        self.year = year
        self.genres = genres
        self.overview = overview
        self.attributes = attributes
        self.description = description
        self.fields = fields
        self.categoryLabel = categoryLabel
    }

    enum CodingKeys: String, CodingKey {
        case id, title, year, genres, overview, attributes, description, fields
        case categoryLabel = "category_label"
    }

    /// "Toy Story (1995). Genres: Animation, Children's, Comedy." plus the dataset's text
    /// columns (" Brand: Acme. Description: …") and any enrichment: " Overview: ….
    /// Attributes: a; b. …description".
    public var text: String {
        var s = Profiles.displayTitle(title, year: year)
        s += genres.isEmpty ? "." : ". \(categoryLabel ?? "Genres"): \(genres.joined(separator: ", "))."
        for f in fields ?? [] where !f.value.isEmpty { s += " \(f.label): \(Profiles.sentence(f.value))" }
        if let overview, !overview.isEmpty { s += " Overview: \(Profiles.sentence(overview))" }
        if let attributes, !attributes.isEmpty { s += " Attributes: \(attributes.joined(separator: "; "))." }
        if let description, !description.isEmpty { s += " \(Profiles.sentence(description))" }
        return s
    }
}

/// A user's profile, after the same paper: demographics, titles they liked (rated >= 4)
/// and disliked (rated <= 2), and their dominant genres; an LLM may add a summary.
public struct UserProfile: Codable, Sendable, Equatable {
    public var id: String
    public var age: Int?
    public var gender: String?
    public var occupation: String?
    /// Display titles ("Fargo (1996)"), best first.
    public var liked: [String]
    public var disliked: [String]
    public var dominantGenres: [String]
    public var summary: String?
    /// An imported dataset's user columns ("tier gold"); absent for MovieLens.
    public var attributes: [TextField]?
    /// What the category list is called; absent means "Genres" (MovieLens).
    public var categoryLabel: String?

    enum CodingKeys: String, CodingKey {
        case id, age, gender, occupation, liked, disliked
        case dominantGenres = "dominant_genres"
        case summary, attributes
        case categoryLabel = "category_label"
    }

    /// "User: 24-year-old male technician. Liked: A (1995); B (1977). Disliked: C (1997).
    /// Dominant genres: Drama, Comedy." Parts with nothing to say are left out. An imported
    /// dataset's attributes read "User: tier gold, region north." and its category label
    /// replaces "genres".
    public var text: String {
        var parts: [String] = []
        var who: [String] = []
        if let age { who.append("\(age)-year-old") }
        if let gender, !gender.isEmpty { who.append(Profiles.genderWord(gender)) }
        if let occupation, !occupation.isEmpty, occupation != "none", occupation != "other" { who.append(occupation) }
        let attrs = (attributes ?? []).filter { !$0.value.isEmpty }.map { "\($0.label.lowercased()) \($0.value)" }
        if !who.isEmpty || !attrs.isEmpty {
            let w = who.joined(separator: " "), a = attrs.joined(separator: ", ")
            parts.append("User: \(w)\(w.isEmpty || a.isEmpty ? "" : ", ")\(a).")
        }
        if !liked.isEmpty { parts.append("Liked: \(liked.joined(separator: "; ")).") }
        if !disliked.isEmpty { parts.append("Disliked: \(disliked.joined(separator: "; ")).") }
        if !dominantGenres.isEmpty {
            let label = (categoryLabel ?? "Genres").lowercased()
            parts.append("Dominant \(label): \(dominantGenres.joined(separator: ", ")).")
        }
        if let summary, !summary.isEmpty { parts.append(Profiles.sentence(summary)) }
        return parts.joined(separator: " ")
    }

    /// True when the profile says nothing (no demographics, no history).
    public var isEmpty: Bool { text.isEmpty }
}

/// Builds template profiles from a catalogue and user histories. Deterministic: the same
/// data gives the same text, which keeps bundle embeddings reproducible.
public enum Profiles {
    /// Liked / disliked thresholds (on the 1–5 MovieLens scale).
    public static let likedMin: Float = 4
    public static let dislikedMax: Float = 2
    /// How many titles a profile lists (keeps a profile well under 256 tokens).
    public static let maxLiked = 10
    public static let maxDisliked = 5
    public static let maxGenres = 3

    public static func item(_ index: Int, catalog: Catalog) -> ItemProfile {
        let m = catalog.meta[index]
        let id = catalog.ids[Int32(index)]
        return ItemProfile(
            id: id, title: m.title.isEmpty ? id : m.title, year: m.year, genres: m.genres,
            fields: m.fields.isEmpty ? nil : m.fields,
            categoryLabel: catalog.schema == .movies ? nil : catalog.schema.categoryLabel)
    }

    public static func items(_ catalog: Catalog) -> [ItemProfile] {
        (0..<catalog.count).map { item($0, catalog: catalog) }
    }

    /// A profile from a history (any order) and demographics. Liked titles are the highest
    /// rated first, then the most recent; disliked the lowest first. Dominant genres are
    /// counted over liked items (all rated items when nothing is liked), ties by name.
    public static func user(id: String, history: [HistoryEntry], meta: UserMeta, catalog: Catalog) -> UserProfile {
        let liked = liked(history, implicit: catalog.schema.isImplicit), disliked = disliked(history)
        var counts: [String: Int] = [:]
        for e in (liked.isEmpty ? history : liked) {
            for g in catalog.meta[Int(e.item)].genres where g.lowercased() != "unknown" { counts[g, default: 0] += 1 }
        }
        let genres = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(maxGenres)
            .map(\.key)
        func title(_ e: HistoryEntry) -> String { catalog.displayTitle(e.item) }
        return UserProfile(
            id: id, age: meta.age, gender: meta.gender, occupation: meta.occupation,
            liked: liked.prefix(maxLiked).map(title), disliked: disliked.prefix(maxDisliked).map(title),
            dominantGenres: genres, summary: nil, attributes: meta.attributes.isEmpty ? nil : meta.attributes,
            categoryLabel: catalog.schema == .movies ? nil : catalog.schema.categoryLabel)
    }

    /// Entries rated at least `likedMin`: highest rated first, then the most recent. With
    /// `implicit` (a dataset without ratings) every unrated interaction counts too.
    public static func liked(_ history: [HistoryEntry], implicit: Bool = false) -> [HistoryEntry] {
        history.filter { $0.rating >= likedMin || (implicit && $0.rating == 0) }
            .sorted { ($0.rating, $0.timestamp, -$0.item) > ($1.rating, $1.timestamp, -$1.item) }
    }

    /// Entries rated at most `dislikedMax` (0 = unrated is not a dislike): lowest first.
    public static func disliked(_ history: [HistoryEntry]) -> [HistoryEntry] {
        history.filter { $0.rating > 0 && $0.rating <= dislikedMax }
            .sorted { ($0.rating, -$0.timestamp, $0.item) < ($1.rating, -$1.timestamp, $1.item) }
    }

    public static func users(_ users: UserStore, catalog: Catalog) -> [UserProfile] {
        (0..<users.ids.count).map { u in
            user(
                id: users.ids[Int32(u)], history: users.histories.entries(of: Int32(u)), meta: users.meta[u],
                catalog: catalog)
        }
    }

    /// "Shawshank Redemption, The" -> "The Shawshank Redemption (1994)" (see `ItemMeta.displayTitle`).
    public static func displayTitle(_ title: String, year: Int?) -> String { ItemMeta.displayTitle(title, year: year) }

    static func genderWord(_ g: String) -> String {
        switch g.uppercased() {
        case "M": "male"
        case "F": "female"
        default: g
        }
    }

    /// `s` with a final full stop unless it already ends in punctuation.
    static func sentence(_ s: String) -> String {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let last = t.last else { return t }
        return ".!?".contains(last) ? t : t + "."
    }
}

/// Profiles enriched offline (`recfuse profiles --llm`), read back from its JSON lines and
/// laid over the template ones when engines are trained (`recfuse train --profiles FILE`).
/// Items take the file's overview, attributes and description; users take its summary, while
/// their liked/disliked lists are always rebuilt from the training data (so an evaluation
/// split never sees held-out titles through them).
public struct ProfileOverrides: Sendable {
    public var items: [String: ItemProfile] = [:]
    public var users: [String: UserProfile] = [:]
    /// Preference sentences (arXiv 2507.07251) by user id.
    public var preferences: [String: String] = [:]

    public init() {}

    /// Reads `recfuse profiles` output: one JSON object per line with "kind" item | user.
    /// Names the line of anything it cannot read.
    public static func load(_ url: URL) throws -> ProfileOverrides {
        var o = ProfileOverrides()
        let text = try String(contentsOf: url, encoding: .utf8)
        let dec = JSONDecoder()
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let data = Data(line.utf8)
            guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let kind = obj["kind"] as? String
            else {
                throw RecError.invalidArgument("\(url.path):\(n + 1): not a JSON object with a \"kind\"")
            }
            do {
                switch kind {
                case "item":
                    let p = try dec.decode(ItemProfile.self, from: data)
                    o.items[p.id] = p
                case "user":
                    let p = try dec.decode(UserProfile.self, from: data)
                    o.users[p.id] = p
                    if let s = obj["preference"] as? String, !s.isEmpty { o.preferences[p.id] = s }
                default: throw RecError.invalidArgument("unknown kind '\(kind)'")
                }
            } catch {
                throw RecError.wrapping(error, "\(url.path):\(n + 1): ", code: .invalidArgument)
            }
        }
        return o
    }

    /// The item profile texts the encoder embeds, in catalogue order.
    public func itemTexts(_ catalog: Catalog) -> [String] {
        Profiles.items(catalog).map { p in
            guard let e = items[p.id] else { return p.text }
            var q = p
            q.overview = e.overview
            q.attributes = e.attributes
            q.description = e.description
            return q.text
        }
    }

    /// The user profile texts, in store order.
    public func userTexts(_ store: UserStore, catalog: Catalog) -> [String] {
        Profiles.users(store, catalog: catalog).map { p in
            var q = p
            q.summary = users[p.id]?.summary
            return q.text
        }
    }
}
