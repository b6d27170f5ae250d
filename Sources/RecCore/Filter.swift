/// A `FilterSpec` compiled against a catalogue: O(1) per-item checks.
struct CompiledFilter {
    private var allowed: [Bool]?
    private var denied: Set<Int32> = []
    private var genreMask: [Bool]?  // indexed by genre id: item must have one of these
    private var excludeGenreMask: [Bool]?  // item must have none of these
    private let minYear: Int?
    private let maxYear: Int?
    private let catalog: Catalog
    /// Items deleted since the bundle (DeleteItem): never admitted.
    private let hidden: ItemBits?
    private let hiddenCount: Int
    /// Whether any constraint applies (an empty spec admits every item).
    let constrains: Bool
    /// Whether the spec has an allow list (then at most its size of items pass).
    var hasAllowList: Bool { allowed != nil }
    /// Items named by the deny list.
    var deniedCount: Int { denied.count + hiddenCount }

    /// `warnings` collects ids and genres that match nothing; `hidden` are deleted items.
    init(_ spec: FilterSpec, catalog: Catalog, hidden: (bits: ItemBits, count: Int)? = nil, warnings: inout [String]) {
        self.catalog = catalog
        self.hidden = hidden?.bits
        hiddenCount = hidden?.count ?? 0
        constrains = !spec.isEmpty || hiddenCount > 0
        minYear = spec.minYear
        maxYear = spec.maxYear
        if !spec.allow.isEmpty {
            var mask = [Bool](repeating: false, count: catalog.count)
            var unknown = 0
            for id in spec.allow {
                if let i = catalog.ids.index(of: id) { mask[Int(i)] = true } else { unknown += 1 }
            }
            if unknown > 0 { warnings.append("\(unknown) unknown item id(s) in filters.allow_items ignored") }
            allowed = mask
        }
        var unknownDeny = 0
        for id in spec.deny {
            if let i = catalog.ids.index(of: id) { denied.insert(i) } else { unknownDeny += 1 }
        }
        if unknownDeny > 0 { warnings.append("\(unknownDeny) unknown item id(s) in filters.deny_items ignored") }
        func mask(_ names: [String], _ field: String) -> [Bool]? {
            guard !names.isEmpty else { return nil }
            var m = [Bool](repeating: false, count: catalog.genreNames.count)
            for g in names {
                if let i = catalog.genre(named: g) {
                    m[Int(i)] = true
                } else {
                    warnings.append("unknown genre '\(g)' in filters.\(field)")
                }
            }
            return m
        }
        genreMask = mask(spec.genres, "genres")
        excludeGenreMask = mask(spec.excludeGenres, "exclude_genres")
    }

    /// The share of the catalogue the filter admits, estimated from at most `samples` items
    /// evenly spread over it (1 without constraints).
    func admittedFraction(samples: Int = 256) -> Double {
        guard constrains, catalog.count > 0 else { return 1 }
        let n = min(samples, catalog.count)
        var pass = 0
        for s in 0..<n where admits(Int32(s * catalog.count / n)) { pass += 1 }
        return Double(pass) / Double(n)
    }

    func admits(_ item: Int32) -> Bool {
        let i = Int(item)
        if let allowed, !allowed[i] { return false }
        if denied.contains(item) { return false }
        if let hidden, hidden.contains(item) { return false }
        let genres = catalog.genreIDs[i]
        if let genreMask, !genres.contains(where: { genreMask[Int($0)] }) { return false }
        if let excludeGenreMask, genres.contains(where: { excludeGenreMask[Int($0)] }) { return false }
        if minYear != nil || maxYear != nil {
            guard let y = catalog.meta[i].year else { return false }
            if let minYear, y < minYear { return false }
            if let maxYear, y > maxYear { return false }
        }
        return true
    }
}
