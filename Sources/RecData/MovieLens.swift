import Foundation
import RecCore

/// Loaders for MovieLens in every layout recfuse meets:
///
/// | layout            | files                                         |
/// |-------------------|-----------------------------------------------|
/// | RecBole atomic    | `<name>.inter`, `<name>.item`, `<name>.user`  |
/// | ml-100k (GroupLens) | `u.data`, `u.item`, `u.user`                |
/// | ml-1m (GroupLens) | `ratings.dat`, `movies.dat`, `users.dat`      |
/// | ml-latest(-small) | `ratings.csv`, `movies.csv`                   |
///
/// A malformed row is an error naming the file and the 1-based line. Item metadata
/// (title, year, genres) and user metadata (age, gender, occupation, zip) are kept.
///
/// A RecBole folder with a `dataset.json` beside it is a dataset `recfuse data import` wrote
/// from a user's own files: its schema (domain noun, explicit or implicit feedback, text and
/// category columns, user attributes) is read from that manifest instead of MovieLens' names.
public enum MovieLens {
    public enum Layout: String, Sendable, CaseIterable {
        case recbole, ml100k, ml1m, latest
    }

    /// Detects the layout of `directory`.
    public static func detectLayout(_ directory: URL) -> Layout? {
        let fm = FileManager.default
        func has(_ f: String) -> Bool { fm.fileExists(atPath: directory.appendingPathComponent(f).path) }
        if recBolePrefix(directory) != nil { return .recbole }
        if has("u.data") { return .ml100k }
        if has("ratings.dat") { return .ml1m }
        if has("ratings.csv") { return .latest }
        return nil
    }

    /// Loads the dataset in `directory`, whatever its layout. `name` defaults to the folder name.
    public static func load(_ directory: URL, name: String? = nil) throws -> Dataset {
        let manifest = try DatasetManifest.read(directory)
        let name = name ?? manifest?.name ?? directory.lastPathComponent
        guard let layout = detectLayout(directory) else {
            throw RecError.notFound(
                "no MovieLens files in \(directory.path) (expected RecBole .inter/.item/.user, u.data, ratings.dat "
                    + "or ratings.csv)"
            )
        }
        var b = Builder(name: name)
        switch layout {
        case .recbole:
            if let manifest {
                try loadImported(directory, manifest, into: &b)
            } else {
                try loadRecBole(directory, prefix: recBolePrefix(directory)!, into: &b)
            }
        case .ml100k: try loadML100k(directory, into: &b)
        case .ml1m: try loadML1M(directory, into: &b)
        case .latest: try loadLatest(directory, into: &b)
        }
        return b.build()
    }

    static func recBolePrefix(_ directory: URL) -> String? {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return nil }
        return files.filter { $0.hasSuffix(".inter") }.sorted().first.map { String($0.dropLast(".inter".count)) }
    }

    // MARK: - RecBole atomic files

    static func loadRecBole(_ dir: URL, prefix: String, into b: inout Builder) throws {
        let fm = FileManager.default
        let itemURL = dir.appendingPathComponent("\(prefix).item")
        if fm.fileExists(atPath: itemURL.path) {
            let f = try TextFile(itemURL)
            let cols = try header(f, required: ["item_id"])
            try f.forEachLine(startingAt: 1) { n, line in
                let v = try fields(f, n, line, "\t", count: cols.count)
                let title = cols["movie_title"].map { v[$0] } ?? ""
                let (t, y) = splitTitleYear(title)
                var year = y
                if let c = cols["release_year"], let yy = Int(v[c]) { year = yy }
                let genres = cols["class"].map { v[$0].split(separator: " ").map(String.init) } ?? []
                try b.addItem(v[cols["item_id"]!], ItemMeta(title: t, year: year, genres: genres), f, n)
            }
        }
        let userURL = dir.appendingPathComponent("\(prefix).user")
        if fm.fileExists(atPath: userURL.path) {
            let f = try TextFile(userURL)
            let cols = try header(f, required: ["user_id"])
            try f.forEachLine(startingAt: 1) { n, line in
                let v = try fields(f, n, line, "\t", count: cols.count)
                var m = UserMeta()
                if let c = cols["age"] { m.age = Int(v[c]) }
                if let c = cols["gender"], !v[c].isEmpty { m.gender = v[c] }
                if let c = cols["occupation"], !v[c].isEmpty { m.occupation = v[c] }
                if let c = cols["zip_code"], !v[c].isEmpty { m.zip = v[c] }
                try b.addUser(v[cols["user_id"]!], m, f, n)
            }
        }
        let f = try TextFile(dir.appendingPathComponent("\(prefix).inter"))
        let cols = try header(f, required: ["user_id", "item_id"])
        try f.forEachLine(startingAt: 1) { n, line in
            let v = try fields(f, n, line, "\t", count: cols.count)
            let rating = try cols["rating"].map { try number(f, n, v[$0], "rating") } ?? 1
            let ts = try cols["timestamp"].map { try Int64(number(f, n, v[$0], "timestamp")) } ?? 0
            try b.addRating(v[cols["user_id"]!], v[cols["item_id"]!], Float(rating), ts, f, n)
        }
    }

    /// A dataset `recfuse data import` wrote: RecBole atomic files named by the manifest, whose
    /// schema says which item columns are text, which is the category list and which user
    /// columns are attributes. Without a rating column every interaction is implicit (rating 0).
    static func loadImported(_ dir: URL, _ m: DatasetManifest, into b: inout Builder) throws {
        b.schema = m.schema
        let fm = FileManager.default
        let itemURL = dir.appendingPathComponent("\(m.name).item")
        if fm.fileExists(atPath: itemURL.path) {
            let f = try TextFile(itemURL)
            let cols = try header(f, required: ["item_id"])
            let fieldCols = try m.itemTextFields.map { name -> (String, Int) in
                guard let c = cols[name] else { throw f.error(line: 1, "header lacks field '\(name)' (dataset.json)") }
                return (name, c)
            }
            let catCol = m.categoryField.flatMap { cols[$0] }
            let sep = Character(m.categorySeparator ?? "|")
            try f.forEachLine(startingAt: 1) { n, line in
                let v = try fields(f, n, line, "\t", count: cols.count)
                let genres = catCol.map { v[$0].split(separator: sep).map(String.init) } ?? []
                let text = fieldCols.compactMap { name, c in v[c].isEmpty ? nil : TextField(name, v[c]) }
                let title = cols["title"].map { v[$0] } ?? ""
                try b.addItem(v[cols["item_id"]!], ItemMeta(title: title, genres: genres, fields: text), f, n)
            }
        }
        let userURL = dir.appendingPathComponent("\(m.name).user")
        if fm.fileExists(atPath: userURL.path) {
            let f = try TextFile(userURL)
            let cols = try header(f, required: ["user_id"])
            let attrCols = m.userFields.compactMap { name in cols[name].map { (name, $0) } }
            try f.forEachLine(startingAt: 1) { n, line in
                let v = try fields(f, n, line, "\t", count: cols.count)
                let attrs = attrCols.compactMap { name, c in v[c].isEmpty ? nil : TextField(name, v[c]) }
                try b.addUser(v[cols["user_id"]!], UserMeta(attributes: attrs), f, n)
            }
        }
        let f = try TextFile(dir.appendingPathComponent("\(m.name).inter"))
        let cols = try header(f, required: ["user_id", "item_id"])
        let ratingCol = m.schema.isImplicit ? nil : cols["rating"]
        if !m.schema.isImplicit && ratingCol == nil {
            throw f.error(line: 1, "dataset.json says explicit feedback but the header has no 'rating' field")
        }
        try f.forEachLine(startingAt: 1) { n, line in
            let v = try fields(f, n, line, "\t", count: cols.count)
            let rating = try ratingCol.map { try number(f, n, v[$0], "rating") } ?? 0
            let ts = try cols["timestamp"].map { try Int64(number(f, n, v[$0], "timestamp")) } ?? 0
            try b.addRating(v[cols["user_id"]!], v[cols["item_id"]!], Float(rating), ts, f, n)
        }
    }

    /// RecBole header: `name:type` fields; returns name -> column.
    private static func header(_ f: TextFile, required: [String]) throws -> [String: Int] {
        guard let first = f.lines.first, !first.isEmpty else { throw f.error(line: 1, "missing header") }
        var cols: [String: Int] = [:]
        for (i, h) in first.split(separator: "\t", omittingEmptySubsequences: false).enumerated() {
            cols[String(h.split(separator: ":").first ?? "")] = i
        }
        for r in required where cols[r] == nil { throw f.error(line: 1, "header lacks field '\(r)'") }
        return cols
    }

    // MARK: - GroupLens ml-100k

    static let ml100kGenres = [
        "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
        "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
        "Romance", "Sci-Fi", "Thriller", "War", "Western",
    ]

    static func loadML100k(_ dir: URL, into b: inout Builder) throws {
        let itemURL = dir.appendingPathComponent("u.item")
        if FileManager.default.fileExists(atPath: itemURL.path) {
            let f = try TextFile(itemURL)
            try f.forEachLine { n, line in
                let v = try fields(f, n, line, "|", count: 5 + ml100kGenres.count)
                var (title, year) = splitTitleYear(v[1])
                if year == nil, let y = Int(v[2].suffix(4)) { year = y }  // release date "01-Jan-1995"
                var genres: [String] = []
                for (g, name) in ml100kGenres.enumerated() {
                    switch v[5 + g] {
                    case "1": genres.append(name)
                    case "0": break
                    default: throw f.error(line: n, "genre flag '\(name)' is '\(v[5 + g])', expected 0 or 1")
                    }
                }
                try b.addItem(v[0], ItemMeta(title: title, year: year, genres: genres), f, n)
            }
        }
        let userURL = dir.appendingPathComponent("u.user")
        if FileManager.default.fileExists(atPath: userURL.path) {
            let f = try TextFile(userURL)
            try f.forEachLine { n, line in
                let v = try fields(f, n, line, "|", count: 5)
                guard let age = Int(v[1]) else { throw f.error(line: n, "age '\(v[1])' is not a number") }
                try b.addUser(v[0], UserMeta(age: age, gender: v[2], occupation: v[3], zip: v[4]), f, n)
            }
        }
        let f = try TextFile(dir.appendingPathComponent("u.data"))
        try f.forEachLine { n, line in
            let v = try fields(f, n, line, "\t", count: 4)
            try b.addRating(
                v[0], v[1], Float(number(f, n, v[2], "rating")), Int64(number(f, n, v[3], "timestamp")), f, n)
        }
    }

    // MARK: - GroupLens ml-1m

    static let ml1mOccupations = [
        "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
        "customer service", "doctor/health care", "executive/managerial", "farmer",
        "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
        "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
        "unemployed", "writer",
    ]

    static func loadML1M(_ dir: URL, into b: inout Builder) throws {
        let itemURL = dir.appendingPathComponent("movies.dat")
        if FileManager.default.fileExists(atPath: itemURL.path) {
            let f = try TextFile(itemURL)
            try f.forEachLine { n, line in
                let v = try fields(f, n, line, "::", count: 3)
                let (title, year) = splitTitleYear(v[1])
                let genres = v[2].split(separator: "|").map(String.init)
                try b.addItem(v[0], ItemMeta(title: title, year: year, genres: genres), f, n)
            }
        }
        let userURL = dir.appendingPathComponent("users.dat")
        if FileManager.default.fileExists(atPath: userURL.path) {
            let f = try TextFile(userURL)
            try f.forEachLine { n, line in
                let v = try fields(f, n, line, "::", count: 5)
                guard let age = Int(v[2]) else { throw f.error(line: n, "age '\(v[2])' is not a number") }
                guard let occ = Int(v[3]), ml1mOccupations.indices.contains(occ) else {
                    throw f.error(line: n, "occupation code '\(v[3])' is not in 0...20")
                }
                try b.addUser(v[0], UserMeta(age: age, gender: v[1], occupation: ml1mOccupations[occ], zip: v[4]), f, n)
            }
        }
        let f = try TextFile(dir.appendingPathComponent("ratings.dat"))
        try f.forEachLine { n, line in
            let v = try fields(f, n, line, "::", count: 4)
            try b.addRating(
                v[0], v[1], Float(number(f, n, v[2], "rating")), Int64(number(f, n, v[3], "timestamp")), f, n)
        }
    }

    // MARK: - GroupLens ml-latest / ml-latest-small

    static func loadLatest(_ dir: URL, into b: inout Builder) throws {
        let itemURL = dir.appendingPathComponent("movies.csv")
        if FileManager.default.fileExists(atPath: itemURL.path) {
            let f = try TextFile(itemURL)
            try f.forEachLine(startingAt: 1) { n, line in
                guard let v = splitCSV(line) else { throw f.error(line: n, "unterminated quote") }
                guard v.count == 3 else { throw f.error(line: n, "expected 3 fields, found \(v.count)") }
                let (title, year) = splitTitleYear(v[1])
                let genres = v[2] == "(no genres listed)" ? [] : v[2].split(separator: "|").map(String.init)
                try b.addItem(v[0], ItemMeta(title: title, year: year, genres: genres), f, n)
            }
        }
        let f = try TextFile(dir.appendingPathComponent("ratings.csv"))
        try f.forEachLine(startingAt: 1) { n, line in
            guard let v = splitCSV(line) else { throw f.error(line: n, "unterminated quote") }
            guard v.count == 4 else { throw f.error(line: n, "expected 4 fields, found \(v.count)") }
            try b.addRating(
                v[0], v[1], Float(number(f, n, v[2], "rating")), Int64(number(f, n, v[3], "timestamp")), f, n)
        }
    }

    // MARK: - helpers

    private static func fields(_ f: TextFile, _ n: Int, _ line: Substring, _ sep: String, count: Int) throws -> [String]
    {
        let v = line.split(separator: sep, omittingEmptySubsequences: false).map(String.init)
        guard v.count == count else {
            throw f.error(line: n, "expected \(count) fields separated by '\(sep)', found \(v.count)")
        }
        return v
    }

    private static func number(_ f: TextFile, _ n: Int, _ s: String, _ what: String) throws -> Double {
        guard let d = Double(s.trimmingCharacters(in: .whitespaces)), d.isFinite else {
            throw f.error(line: n, "\(what) '\(s)' is not a number")
        }
        return d
    }
}

/// Accumulates ids, metadata and ratings while a loader reads.
struct Builder {
    let name: String
    var users = IDMap()
    var items = IDMap()
    var userMeta: [UserMeta] = []
    var itemMeta: [ItemMeta] = []
    var interactions: [Interaction] = []
    var schema = DatasetSchema.movies

    init(name: String) { self.name = name }

    mutating func addItem(_ id: String, _ meta: ItemMeta, _ f: TextFile, _ n: Int) throws {
        guard !id.isEmpty else { throw f.error(line: n, "empty item id") }
        let i = items.intern(id)
        guard Int(i) == itemMeta.count else { throw f.error(line: n, "duplicate item id '\(id)'") }
        itemMeta.append(meta)
    }

    mutating func addUser(_ id: String, _ meta: UserMeta, _ f: TextFile, _ n: Int) throws {
        guard !id.isEmpty else { throw f.error(line: n, "empty user id") }
        let u = users.intern(id)
        guard Int(u) == userMeta.count else { throw f.error(line: n, "duplicate user id '\(id)'") }
        userMeta.append(meta)
    }

    mutating func addRating(
        _ user: String, _ item: String, _ rating: Float, _ ts: Int64, _ f: TextFile, _ n: Int
    ) throws {
        guard !user.isEmpty, !item.isEmpty else { throw f.error(line: n, "empty user or item id") }
        let u = users.intern(user)
        if Int(u) == userMeta.count { userMeta.append(UserMeta()) }
        let i = items.intern(item)
        if Int(i) == itemMeta.count { itemMeta.append(ItemMeta(title: "")) }
        interactions.append(Interaction(user: u, item: i, rating: rating, timestamp: ts))
    }

    func build() -> Dataset {
        Dataset(
            name: name, users: users, items: items, interactions: interactions, itemMeta: itemMeta, userMeta: userMeta,
            schema: schema)
    }
}
