/// The items a bundle can recommend: ids, metadata and a genre index.
/// Immutable, shared by all engines and workers.
public final class Catalog: Sendable {
    public let ids: IDMap
    public let meta: [ItemMeta]
    /// Genre vocabulary, in first-seen order.
    public let genreNames: [String]
    /// Per item, indices into `genreNames`.
    public let genreIDs: [[Int16]]
    private let genreIndex: [String: Int16]
    /// What the items are (the noun prompts and templates use) and what interactions mean.
    public let schema: DatasetSchema

    public init(ids: IDMap, meta: [ItemMeta], schema: DatasetSchema = .movies) {
        precondition(ids.count == meta.count)
        self.ids = ids
        self.meta = meta
        self.schema = schema
        var names: [String] = []
        var index: [String: Int16] = [:]
        var perItem: [[Int16]] = []
        perItem.reserveCapacity(meta.count)
        for m in meta {
            perItem.append(
                m.genres.map { g in
                    let key = g.lowercased()
                    if let i = index[key] { return i }
                    let i = Int16(names.count)
                    names.append(g)
                    index[key] = i
                    return i
                })
        }
        genreNames = names
        genreIDs = perItem
        genreIndex = index
    }

    public var count: Int { ids.count }

    /// How item `item` is named to people and models: its display title ("The Shawshank
    /// Redemption (1994)"), or its id when it has no title.
    public func displayTitle(_ item: Int32) -> String {
        let m = meta[Int(item)]
        return m.title.isEmpty ? ids[item] : m.displayTitle
    }

    /// Genre index for a name, case-insensitive.
    public func genre(named name: String) -> Int16? { genreIndex[name.lowercased()] }
}

/// Users the bundle knows: ids, demographics and their stored histories.
public final class UserStore: Sendable {
    public let ids: IDMap
    public let meta: [UserMeta]
    public let histories: Histories

    public init(ids: IDMap, meta: [UserMeta], histories: Histories) {
        precondition(ids.count == meta.count && histories.userCount == ids.count)
        self.ids = ids
        self.meta = meta
        self.histories = histories
    }
}
