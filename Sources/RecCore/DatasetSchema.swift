/// What a dataset is about and what its interactions mean: the noun its items go by
/// ("movie", "product", "song"), whether interactions carry explicit ratings, and what its
/// multi-valued category column is called. Profiles, prompts and explanation templates read
/// it; MovieLens is `.movies`, which keeps every text exactly as it has always been.
public struct DatasetSchema: Sendable, Equatable, Codable {
    public enum Feedback: String, Sendable, Codable, CaseIterable {
        /// Ratings on a scale (MovieLens' 1-5 stars).
        case explicit
        /// Interactions without a rating (a view, a purchase, a play): stored with rating 0.
        case implicit
    }

    /// The singular noun for one item ("movie", "product").
    public var domain: String
    /// Its plural ("movies", "products").
    public var domainPlural: String
    public var feedback: Feedback
    /// How profiles name the category list ("Genres", "Categories").
    public var categoryLabel: String

    public init(domain: String, domainPlural: String? = nil, feedback: Feedback, categoryLabel: String = "Categories") {
        self.domain = domain
        self.domainPlural = domainPlural ?? Self.plural(domain)
        self.feedback = feedback
        self.categoryLabel = categoryLabel
    }

    /// MovieLens.
    public static let movies = DatasetSchema(
        domain: "movie", domainPlural: "movies", feedback: .explicit, categoryLabel: "Genres")

    public var isImplicit: Bool { feedback == .implicit }

    /// What a user did with the items explanations cite: "rated highly", or "chose" for
    /// implicit feedback.
    public var likedVerb: String { isImplicit ? "chose" : "rated highly" }

    /// An English plural good enough for a domain noun: "product" → "products", "box" →
    /// "boxes", "category" → "categories"; `--domain-plural` overrides it.
    public static func plural(_ noun: String) -> String {
        let lower = noun.lowercased()
        if lower.hasSuffix("s") || lower.hasSuffix("x") || lower.hasSuffix("ch") || lower.hasSuffix("sh") {
            return noun + "es"
        }
        if lower.hasSuffix("y"), let before = lower.dropLast().last, !"aeiou".contains(before) {
            return String(noun.dropLast()) + "ies"
        }
        return noun + "s"
    }

    enum CodingKeys: String, CodingKey {
        case domain
        case domainPlural = "domain_plural"
        case feedback
        case categoryLabel = "category_label"
    }
}

/// A named free-text attribute of an item ("brand": "Acme") or a user ("tier": "gold"), in
/// the order the dataset's schema lists them.
public struct TextField: Sendable, Equatable, Codable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    /// "unit_price" → "Unit price": how a column name reads in a profile.
    public var label: String {
        let words = name.replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: "-", with: " ")
        guard let first = words.first else { return words }
        return first.uppercased() + words.dropFirst()
    }
}
