/// Metadata of one catalogue item (MovieLens: a movie; an imported dataset: whatever its
/// items file holds). `genres` is the dataset's multi-valued category column, whatever the
/// schema calls it; `fields` its free-text columns ("brand", "description"), in schema order.
public struct ItemMeta: Sendable, Equatable, Codable {
    public var title: String
    /// Release year, nil when unknown.
    public var year: Int?
    public var genres: [String]
    public var fields: [TextField]

    public init(title: String, year: Int? = nil, genres: [String] = [], fields: [TextField] = []) {
        self.title = title
        self.year = year
        self.genres = genres
        self.fields = fields
    }
}

extension ItemMeta {
    /// "Shawshank Redemption, The" -> "The Shawshank Redemption (1994)": MovieLens files put
    /// articles last; text reads better (for the encoder and for people) with them first.
    public static func displayTitle(_ title: String, year: Int?) -> String {
        var t = title
        for article in ["The", "A", "An", "La", "Le", "Les", "L'", "Il", "El", "Das", "Der", "Die", "Den", "Det"] {
            let suffix = ", \(article)"
            if t.hasSuffix(suffix) {
                t = String(t.dropLast(suffix.count))
                t = article.hasSuffix("'") ? article + t : article + " " + t
                break
            }
        }
        if let year { t += " (\(year))" }
        return t
    }

    public var displayTitle: String { Self.displayTitle(title, year: year) }
}

/// Metadata of one user (MovieLens demographics; an imported dataset's user columns go in
/// `attributes`). Every field is optional.
public struct UserMeta: Sendable, Equatable, Codable {
    public var age: Int?
    public var gender: String?
    public var occupation: String?
    public var zip: String?
    public var attributes: [TextField]

    public init(
        age: Int? = nil, gender: String? = nil, occupation: String? = nil, zip: String? = nil,
        attributes: [TextField] = []
    ) {
        self.age = age
        self.gender = gender
        self.occupation = occupation
        self.zip = zip
        self.attributes = attributes
    }
}

/// One rating event, in dense indices. Implicit feedback (a view, a purchase) has rating 0.
public struct Interaction: Sendable, Equatable {
    public var user: Int32
    public var item: Int32
    public var rating: Float
    /// Unix seconds.
    public var timestamp: Int64

    public init(user: Int32, item: Int32, rating: Float, timestamp: Int64) {
        self.user = user
        self.item = item
        self.rating = rating
        self.timestamp = timestamp
    }
}

/// A rating dataset with item and user metadata, in dense indices.
///
/// `items` holds every item that appears in the metadata or the ratings; items without
/// metadata get an empty title. Value type, immutable after loading.
public struct Dataset: Sendable {
    public var name: String
    public var users: IDMap
    public var items: IDMap
    public var interactions: [Interaction]
    /// Indexed by item index; `itemMeta.count == items.count`.
    public var itemMeta: [ItemMeta]
    /// Indexed by user index; `userMeta.count == users.count`.
    public var userMeta: [UserMeta]
    /// What the items are and what an interaction means (MovieLens: movies, explicit ratings).
    public var schema: DatasetSchema

    public init(
        name: String, users: IDMap, items: IDMap, interactions: [Interaction],
        itemMeta: [ItemMeta], userMeta: [UserMeta], schema: DatasetSchema = .movies
    ) {
        precondition(itemMeta.count == items.count && userMeta.count == users.count)
        self.name = name
        self.users = users
        self.items = items
        self.interactions = interactions
        self.itemMeta = itemMeta
        self.userMeta = userMeta
        self.schema = schema
    }

    /// Whether any interaction carries a rating (false: implicit feedback only).
    public var hasRatings: Bool { interactions.contains { $0.rating > 0 } }

    /// The catalogue of this dataset's items, with its schema.
    public func makeCatalog() -> Catalog { Catalog(ids: items, meta: itemMeta, schema: schema) }

    /// Each user's interactions ordered by time (ties by item index), as a CSR structure.
    public func userHistories() -> Histories {
        Histories(userCount: users.count, interactions: interactions)
    }
}

/// Per-user interaction lists in compressed-sparse-row form, each row sorted by
/// timestamp then item. Immutable, shareable between threads.
public struct Histories: Sendable {
    /// Row offsets, `count + 1` entries.
    public let offsets: [Int]
    public let items: [Int32]
    public let ratings: [Float]
    public let timestamps: [Int64]

    public init(userCount: Int, interactions: [Interaction]) {
        var counts = [Int](repeating: 0, count: userCount + 1)
        for x in interactions { counts[Int(x.user) + 1] += 1 }
        for u in 0..<userCount { counts[u + 1] += counts[u] }
        let order = interactions.indices.sorted { a, b in
            let x = interactions[a], y = interactions[b]
            if x.user != y.user { return x.user < y.user }
            if x.timestamp != y.timestamp { return x.timestamp < y.timestamp }
            return x.item < y.item
        }
        offsets = counts
        items = order.map { interactions[$0].item }
        ratings = order.map { interactions[$0].rating }
        timestamps = order.map { interactions[$0].timestamp }
    }

    public init(offsets: [Int], items: [Int32], ratings: [Float], timestamps: [Int64]) {
        self.offsets = offsets
        self.items = items
        self.ratings = ratings
        self.timestamps = timestamps
    }

    public var userCount: Int { offsets.count - 1 }

    public func range(of user: Int32) -> Range<Int> { offsets[Int(user)]..<offsets[Int(user) + 1] }

    public func entries(of user: Int32) -> [HistoryEntry] {
        range(of: user).map { HistoryEntry(item: items[$0], rating: ratings[$0], timestamp: timestamps[$0]) }
    }
}

/// One item of a user's history, in dense indices.
public struct HistoryEntry: Sendable, Equatable {
    public var item: Int32
    /// 0 means unrated (implicit feedback).
    public var rating: Float
    public var timestamp: Int64

    public init(item: Int32, rating: Float = 0, timestamp: Int64 = 0) {
        self.item = item
        self.rating = rating
        self.timestamp = timestamp
    }
}
