import Foundation
import RecCore

/// `recfuse data import`: a user's own interactions (and, optionally, item and user files) in
/// CSV, TSV or JSON lines, columns chosen by name, rewritten in the one layout every command
/// reads: RecBole atomic files (`<name>.inter`, `<name>.item`, `<name>.user`, tab-separated,
/// typed headers) plus `dataset.json`, which records the schema (the domain noun, explicit or
/// implicit feedback, which item columns are text, the category column and its separator,
/// the user attribute columns) and the counts.
///
/// Streamed: rows are read in chunks and written as they are parsed, so memory holds one
/// chunk and the distinct user and item ids (for the counts), never the rows.
public struct DatasetImport {
    public enum Format: String, Sendable, CaseIterable {
        case csv, tsv, jsonl

        /// By file extension: .csv, .tsv/.tab, .jsonl/.ndjson/.json.
        public static func guess(_ url: URL) -> Format? {
            switch url.pathExtension.lowercased() {
            case "csv": .csv
            case "tsv", "tab": .tsv
            case "jsonl", "ndjson", "json": .jsonl
            default: nil
            }
        }
    }

    public enum TimeFormat: String, Sendable, CaseIterable {
        /// A number is epoch seconds, or epoch milliseconds when above 10^11 (after 5138 AD
        /// in seconds, after 1973 in milliseconds); anything else is parsed as ISO 8601.
        case auto
        case epochSeconds = "epoch-s"
        case epochMillis = "epoch-ms"
        case iso8601 = "iso8601"
    }

    /// One input file.
    public struct Source: Sendable {
        public var url: URL
        public var format: Format?
        public init(_ url: URL, format: Format? = nil) {
            self.url = url
            self.format = format
        }
    }

    public var interactions: Source
    public var userColumn = "user_id"
    public var itemColumn = "item_id"
    /// nil: "rating" when the file has such a column, else implicit feedback.
    public var ratingColumn: String?
    /// Ignore any rating column: every interaction is an implicit positive.
    public var implicit = false
    /// nil: "timestamp" when the file has it, else every interaction at time 0.
    public var timeColumn: String?
    public var timeFormat: TimeFormat = .auto

    public var items: Source?
    /// nil: the interactions' item column name.
    public var itemIDColumn: String?
    /// nil: "title" when the file has it (an item without one is titled by its id).
    public var titleColumn: String?
    /// nil: every column that is not the id, the title or the category column.
    public var textColumns: [String]?
    public var categoryColumn: String?
    /// Between categories within the category column (a JSON array needs none).
    public var categorySeparator = "|"

    public var users: Source?
    /// nil: the interactions' user column name.
    public var userIDColumn: String?
    /// nil: every column but the id.
    public var userColumns: [String]?

    public var name: String
    public var domain = "item"
    public var domainPlural: String?
    /// nil: "Categories".
    public var categoryLabel: String?

    public init(interactions: Source, name: String) {
        self.interactions = interactions
        self.name = name
    }

    /// What an import wrote.
    public struct Summary: Sendable, Equatable {
        public var users: Int
        public var items: Int
        public var interactions: Int
        public var itemsWithMetadata: Int
        public var usersWithMetadata: Int
        public var feedback: DatasetSchema.Feedback
    }

    /// Reads the inputs and writes the canonical dataset into `out` (created; files in it
    /// with the same names are replaced). Every error names the file, the line and the column.
    ///
    /// The files are written into a staging folder inside `out` and moved into place only
    /// when everything has been read, `dataset.json` last: a failed import leaves `out` as it
    /// was, never a partial dataset another command could load.
    public func run(into out: URL) throws -> Summary {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw RecError.invalidArgument("dataset name '\(name)' must be a plain file name")
        }
        let fm = FileManager.default
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        let staging = out.appendingPathComponent(".import-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }
        let summary = try write(into: staging)
        let files = ["\(name).inter", "\(name).item", "\(name).user", DatasetManifest.fileName]
        for f in files {
            let dst = out.appendingPathComponent(f)
            try? fm.removeItem(at: dst)
            let src = staging.appendingPathComponent(f)
            if fm.fileExists(atPath: src.path) {
                do { try fm.moveItem(at: src, to: dst) } catch {
                    throw RecError(.unavailable, "cannot move \(src.path) to \(dst.path): \(error)", cause: error)
                }
            }
        }
        return summary
    }

    private func write(into out: URL) throws -> Summary {
        var seenUsers = Set<String>(), seenItems = Set<String>()
        var itemFields: [String] = [], userFields: [String] = []
        var itemsWithMeta = 0, usersWithMeta = 0
        var categoryField: String?

        // Interactions.
        let r = try TableReader(interactions)
        let uc = try r.column(userColumn, "--user-col")
        let ic = try r.column(itemColumn, "--item-col")
        let rc: Int? =
            implicit ? nil : try ratingColumn.map { try r.column($0, "--rating-col") } ?? r.index(of: "rating")
        let tc: Int? = try timeColumn.map { try r.column($0, "--time-col") } ?? r.index(of: "timestamp")
        let feedback: DatasetSchema.Feedback = rc == nil ? .implicit : .explicit
        var inter = try LineWriter(out.appendingPathComponent("\(name).inter"))
        inter.append(
            "user_id:token\titem_id:token" + (rc == nil ? "" : "\trating:float") + "\ttimestamp:float\n")
        var count = 0
        while let row = try r.next() {
            let user = try row.required(uc), item = try row.required(ic)
            var line = Self.clean(user) + "\t" + Self.clean(item)
            if let rc {
                // An empty rating is an unrated interaction (stored as 0).
                let v = Self.trimmed(row[rc] ?? "")
                if v.isEmpty {
                    line += "\t0"
                } else {
                    guard let x = Double(v), x.isFinite else {
                        throw row.error(rc, "rating '\(v)' is not a finite number")
                    }
                    guard x > 0 else {
                        throw row.error(
                            rc,
                            "rating \(v) is not positive (recfuse stores an unrated interaction as 0: leave it empty, "
                                + "or shift the scale; --implicit ignores ratings)")
                    }
                    line += "\t" + Self.number(x)
                }
            }
            var ts: Int64 = 0
            if let tc, let v = row[tc], !v.isEmpty {
                guard let t = Self.timestamp(v, timeFormat) else {
                    throw row.error(
                        tc,
                        "timestamp '\(v)' is not "
                            + (timeFormat == .auto
                                ? "epoch seconds, epoch milliseconds or ISO 8601" : timeFormat.rawValue)
                    )
                }
                ts = t
            }
            line += "\t\(ts)\n"
            inter.append(line)
            seenUsers.insert(user)
            seenItems.insert(item)
            count += 1
        }
        try inter.close()
        guard count > 0 else { throw RecError.invalidArgument("\(interactions.url.path): no interactions") }

        // Items.
        let itemPath = out.appendingPathComponent("\(name).item")
        try? FileManager.default.removeItem(at: itemPath)
        if let items {
            let r = try TableReader(items)
            let idc = try r.column(itemIDColumn ?? itemColumn, "--item-id-col")
            let titlec = try titleColumn.map { try r.column($0, "--title-col") } ?? r.index(of: "title")
            let catc = try categoryColumn.map { try r.column($0, "--category-col") }
            let textc: [Int] =
                try textColumns.map { try $0.map { try r.column($0, "--text-cols") } }
                ?? r.columns.indices.filter { $0 != idc && $0 != titlec && $0 != catc }
            itemFields = textc.map { Self.fieldName(r.columns[$0]) }
            categoryField = catc.map { _ in "categories" }
            var w = try LineWriter(itemPath)
            w.append(
                (["item_id:token", "title:token_seq"] + itemFields.map { "\($0):token_seq" }
                    + (catc == nil ? [] : ["categories:token_seq"])).joined(separator: "\t") + "\n")
            var ids = Set<String>()
            while let row = try r.next() {
                let id = try row.required(idc)
                guard ids.insert(id).inserted else { throw row.error(idc, "duplicate item id '\(id)'") }
                var f = [Self.clean(id), Self.clean(titlec.flatMap { row[$0] } ?? "")]
                f += textc.map { Self.clean(row[$0] ?? "") }
                if let catc {
                    let raw = row[catc] ?? ""
                    let parts =
                        (row.isList(catc)
                        ? raw.split(separator: TableReader.listSeparator)
                        : raw.split(separator: categorySeparator))
                        .map { Self.clean(String($0)).replacingOccurrences(of: "|", with: "/") }.filter { !$0.isEmpty }
                    f.append(parts.joined(separator: "|"))
                }
                w.append(f.joined(separator: "\t") + "\n")
                seenItems.insert(id)
                itemsWithMeta += 1
            }
            try w.close()
        }

        // Users.
        let userPath = out.appendingPathComponent("\(name).user")
        try? FileManager.default.removeItem(at: userPath)
        if let users {
            let r = try TableReader(users)
            let idc = try r.column(userIDColumn ?? userColumn, "--user-id-col")
            let attrc: [Int] =
                try userColumns.map { try $0.map { try r.column($0, "--user-cols") } }
                ?? r.columns.indices.filter { $0 != idc }
            userFields = attrc.map { Self.fieldName(r.columns[$0]) }
            var w = try LineWriter(userPath)
            w.append((["user_id:token"] + userFields.map { "\($0):token" }).joined(separator: "\t") + "\n")
            var ids = Set<String>()
            while let row = try r.next() {
                let id = try row.required(idc)
                guard ids.insert(id).inserted else { throw row.error(idc, "duplicate user id '\(id)'") }
                w.append(([Self.clean(id)] + attrc.map { Self.clean(row[$0] ?? "") }).joined(separator: "\t") + "\n")
                seenUsers.insert(id)
                usersWithMeta += 1
            }
            try w.close()
        }

        let schema = DatasetSchema(
            domain: domain, domainPlural: domainPlural, feedback: feedback,
            categoryLabel: categoryLabel ?? "Categories")
        let manifest = DatasetManifest(
            name: name, schema: schema, itemTextFields: itemFields, categoryField: categoryField,
            categorySeparator: categoryField == nil ? nil : "|", userFields: userFields,
            counts: .init(users: seenUsers.count, items: seenItems.count, interactions: count),
            sources: [interactions.url.path] + [items?.url.path, users?.url.path].compactMap { $0 })
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileWrite.write(enc.encode(manifest), to: out.appendingPathComponent(DatasetManifest.fileName))
        return Summary(
            users: seenUsers.count, items: seenItems.count, interactions: count, itemsWithMetadata: itemsWithMeta,
            usersWithMetadata: usersWithMeta, feedback: feedback)
    }

    /// A value as one TSV field: tabs and line breaks become spaces, ends trimmed.
    static func clean(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 9 || $0 == 10 || $0 == 13 }) else { return trimmed(s) }
        return String(s.map { $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
            .trimmingCharacters(in: .whitespaces)
    }

    /// `s` without leading and trailing spaces and tabs; `s` itself (no copy, no Foundation
    /// call) in the usual case of a value with none.
    static func trimmed(_ s: String) -> String {
        guard let f = s.utf8.first, let l = s.utf8.last else { return s }
        guard f == 32 || f == 9 || l == 32 || l == 9 else { return s }
        return s.trimmingCharacters(in: .whitespaces)
    }

    /// A column name as a RecBole field name: letters, digits and '_' only.
    static func fieldName(_ s: String) -> String {
        let t = String(s.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        return t.isEmpty ? "field" : t
    }

    static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }

    /// Epoch seconds of `s` read as `format`, nil when it is not one.
    public static func timestamp(_ s: String, _ format: TimeFormat) -> Int64? {
        let t = trimmed(s)
        func num() -> Double? { Double(t).flatMap { $0.isFinite ? $0 : nil } }
        switch format {
        case .epochSeconds: return num().map { Int64($0.rounded(.down)) }
        case .epochMillis: return num().map { Int64(($0 / 1000).rounded(.down)) }
        case .iso8601: return ISO8601.seconds(t)
        case .auto:
            if let x = num() { return Int64((abs(x) > 1e11 ? x / 1000 : x).rounded(.down)) }
            return ISO8601.seconds(t)
        }
    }
}

/// ISO 8601 dates and times without Foundation's formatters (a few hundred nanoseconds a
/// value, where `ISO8601DateFormatter` takes microseconds): `2024-01-02`,
/// `2024-01-02T03:04:05`, with optional fractional seconds, `Z` or a `±hh:mm` / `±hhmm`
/// offset, and a space in place of the `T`. No offset means UTC.
enum ISO8601 {
    static func seconds(_ s: String) -> Int64? {
        var b = Array(s.utf8)[...]
        func digits(_ n: Int) -> Int? {
            guard b.count >= n else { return nil }
            var v = 0
            for c in b.prefix(n) {
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            b = b.dropFirst(n)
            return v
        }
        func take(_ c: UInt8) -> Bool {
            guard b.first == c else { return false }
            b = b.dropFirst()
            return true
        }
        guard let y = digits(4), take(45), let mo = digits(2), take(45), let d = digits(2),
            (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var secs = 0
        if take(84) || take(116) || take(32) {  // T, t or a space
            guard let h = digits(2), take(58), let mi = digits(2), h < 24, mi < 60 else { return nil }
            secs = h * 3600 + mi * 60
            if take(58) {
                guard let sec = digits(2), sec <= 60 else { return nil }
                secs += sec
                if take(46) || take(44) {  // fractional seconds: dropped
                    guard let first = b.first, first >= 48, first <= 57 else { return nil }
                    while let c = b.first, c >= 48, c <= 57 { b = b.dropFirst() }
                }
            }
            if take(90) || take(122) {  // Z
            } else if let sign = b.first, sign == 43 || sign == 45 {
                b = b.dropFirst()
                guard let oh = digits(2), oh < 24 else { return nil }
                _ = take(58)
                let om = digits(2) ?? 0
                let off = (oh * 3600 + om * 60) * (sign == 43 ? 1 : -1)
                secs -= off
            }
        }
        guard b.isEmpty else { return nil }
        return Int64(daysFromCivil(y, mo, d)) * 86400 + Int64(secs)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}

/// `dataset.json`: the schema and counts of an imported dataset, beside its atomic files.
public struct DatasetManifest: Codable, Sendable, Equatable {
    public static let fileName = "dataset.json"
    public struct Counts: Codable, Sendable, Equatable {
        public var users: Int
        public var items: Int
        public var interactions: Int
    }

    public var format = "recfuse-dataset"
    public var formatVersion = 1
    public var name: String
    public var schema: DatasetSchema
    /// Columns of `<name>.item` that are free text, in order (beside `title`).
    public var itemTextFields: [String]
    /// The multi-valued category column of `<name>.item`, if any, and what separates its values.
    public var categoryField: String?
    public var categorySeparator: String?
    /// Columns of `<name>.user` beside `user_id`.
    public var userFields: [String]
    public var counts: Counts
    /// The files it was imported from.
    public var sources: [String]

    enum CodingKeys: String, CodingKey {
        case format
        case formatVersion = "format_version"
        case name, schema
        case itemTextFields = "item_text_fields"
        case categoryField = "category_field"
        case categorySeparator = "category_separator"
        case userFields = "user_fields"
        case counts, sources
    }

    public static func read(_ dir: URL) throws -> DatasetManifest? {
        let url = dir.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let m = try JSONDecoder().decode(DatasetManifest.self, from: Data(contentsOf: url))
            guard m.format == "recfuse-dataset", m.formatVersion == 1 else {
                throw RecError.dataLoss(
                    "\(url.path): format \(m.format) v\(m.formatVersion), expected recfuse-dataset v1")
            }
            return m
        } catch let e as RecError { throw e } catch {
            throw RecError(.dataLoss, "\(url.path): not a dataset manifest (\(TextFile.reason(error)))", cause: error)
        }
    }
}

/// Appends text to a file through a 1 MiB buffer.
struct LineWriter {
    let path: String
    private let handle: FileHandle
    private var buffer = Data()

    init(_ url: URL) throws {
        path = url.path
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw RecError.unavailable("cannot create \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
        buffer.reserveCapacity(1 << 20)
    }

    mutating func append(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 20 { flush() }
    }

    private mutating func flush() {
        handle.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func close() throws {
        flush()
        do {
            try handle.synchronize()
            try handle.close()
        } catch { throw RecError(.unavailable, "cannot write \(path): \(error.localizedDescription)", cause: error) }
    }
}

/// A CSV (RFC 4180 quoting, a quoted field may span lines), TSV or JSON-lines file read in
/// chunks, row by row, with its column names (the header; for JSON lines, the keys of the
/// first object, sorted).
final class TableReader {
    /// Joins the elements of a JSON array value (a category list) in `Row` values.
    static let listSeparator: Character = "\u{1F}"

    struct Row {
        let reader: TableReader
        let line: Int
        let values: [String?]
        /// Columns whose value came from a JSON array.
        let lists: Set<Int>

        subscript(_ c: Int) -> String? { values[c] }
        func isList(_ c: Int) -> Bool { lists.contains(c) }

        func required(_ c: Int) throws -> String {
            guard let v = values[c].map(DatasetImport.trimmed), !v.isEmpty else {
                throw error(c, "empty \(reader.columns[c])")
            }
            return v
        }

        func error(_ c: Int, _ message: String) -> RecError {
            RecError.invalidArgument("\(reader.path):\(line): column '\(reader.columns[c])': \(message)")
        }
    }

    let path: String
    let format: DatasetImport.Format
    private(set) var columns: [String] = []
    private let handle: FileHandle
    private var pending: [UInt8] = []
    private var position = 0
    private var eof = false
    private var lineNumber = 0
    private var firstObject: [String: Any]?
    private var firstObjectLine = 0

    init(_ source: DatasetImport.Source) throws {
        path = source.url.path
        guard let f = source.format ?? DatasetImport.Format.guess(source.url) else {
            throw RecError.invalidArgument(
                "\(path): cannot tell the format from the extension; say --format csv|tsv|jsonl")
        }
        format = f
        do { handle = try FileHandle(forReadingFrom: source.url) } catch {
            throw RecError(.notFound, "cannot read \(path): \(error.localizedDescription)", cause: error)
        }
        switch f {
        case .csv, .tsv:
            guard let (n, header) = try record() else { throw RecError.invalidArgument("\(path): empty file") }
            columns = header.map { $0.trimmingCharacters(in: .whitespaces) }
            if let first = columns.first, first.hasPrefix("\u{FEFF}") { columns[0] = String(first.dropFirst()) }
            var seen = Set<String>()
            for c in columns where !seen.insert(c).inserted {
                throw RecError.invalidArgument("\(path):\(n): the header names column '\(c)' twice")
            }
        case .jsonl:
            guard let (n, obj) = try object() else { throw RecError.invalidArgument("\(path): empty file") }
            firstObject = obj
            firstObjectLine = n
            columns = obj.keys.sorted()
        }
    }

    deinit { try? handle.close() }

    func index(of name: String) -> Int? { columns.firstIndex(of: name) }

    /// The index of the column a flag names; an error listing the columns there are.
    func column(_ name: String, _ flag: String) throws -> Int {
        guard let i = index(of: name) else {
            throw RecError.invalidArgument(
                "\(path): no column '\(name)' (\(flag)); the file has "
                    + columns.map { "'\($0)'" }.joined(separator: ", ")
            )
        }
        return i
    }

    func next() throws -> Row? {
        switch format {
        case .csv, .tsv:
            guard let (n, v) = try record() else { return nil }
            guard v.count == columns.count else {
                throw RecError.invalidArgument(
                    "\(path):\(n): \(v.count) field\(v.count == 1 ? "" : "s") where the header has \(columns.count) "
                        + "(\(columns.joined(separator: ", ")))")
            }
            return Row(reader: self, line: n, values: v, lists: [])
        case .jsonl:
            let n: Int, obj: [String: Any]
            if let first = firstObject {
                (n, obj) = (firstObjectLine, first)
                firstObject = nil
            } else {
                guard let next = try object() else { return nil }
                (n, obj) = next
            }
            var lists = Set<Int>()
            let values = columns.enumerated().map { i, c -> String? in
                switch obj[c] {
                case nil, is NSNull: return nil
                case let s as String: return s
                case let a as [Any]:
                    lists.insert(i)
                    return a.map { "\($0)" }.joined(separator: String(Self.listSeparator))
                case let x as NSNumber: return x.stringValue
                case let other?: return "\(other)"
                }
            }
            return Row(reader: self, line: n, values: values, lists: lists)
        }
    }

    // MARK: lines

    /// The next line (without its line break) and its 1-based number; nil at the end.
    private func line() throws -> (Int, String)? {
        while true {
            if let nl = pending[position...].firstIndex(of: 10) {
                var end = nl
                if end > position, pending[end - 1] == 13 { end -= 1 }
                let bytes = pending[position..<end]
                position = nl + 1
                lineNumber += 1
                return (lineNumber, Self.decode(bytes))
            }
            if eof {
                guard position < pending.count else { return nil }
                let bytes = pending[position...]
                position = pending.count
                lineNumber += 1
                return (lineNumber, Self.decode(bytes.last == 13 ? bytes.dropLast() : bytes))
            }
            pending.removeFirst(position)
            position = 0
            let chunk = handle.readData(ofLength: 4 << 20)
            if chunk.isEmpty { eof = true } else { pending.append(contentsOf: chunk) }
        }
    }

    /// UTF-8, or ISO-8859-1 when a line is not valid UTF-8 (every byte is then a code point).
    private static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        String(validating: bytes, as: UTF8.self)
            ?? String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// Whether a line holds only spaces, tabs and carriage returns.
    private static func blank(_ s: String) -> Bool { s.utf8.allSatisfy { $0 == 32 || $0 == 9 || $0 == 13 } }

    /// The next non-empty CSV/TSV record; a quoted CSV field may run over several lines.
    private func record() throws -> (Int, [String])? {
        while let (n, text) = try line() {
            if Self.blank(text) { continue }
            if format == .tsv {
                return (
                    n,
                    text.utf8.split(separator: 9, omittingEmptySubsequences: false).map {
                        String(decoding: $0, as: UTF8.self)
                    }
                )
            }
            // Most lines quote nothing: split them on the byte.
            if !text.utf8.contains(34) {
                return (
                    n,
                    text.utf8.split(separator: 44, omittingEmptySubsequences: false).map {
                        String(decoding: $0, as: UTF8.self)
                    }
                )
            }
            var joined = text
            while true {
                if let v = splitCSV(Substring(joined)) { return (n, v) }
                guard joined.utf8.count < 1 << 20, let (_, more) = try line() else {
                    throw RecError.invalidArgument("\(path):\(n): a quoted field is never closed")
                }
                joined += "\n" + more
            }
        }
        return nil
    }

    private func object() throws -> (Int, [String: Any])? {
        while let (n, text) = try line() {
            if Self.blank(text) { continue }
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                throw RecError.invalidArgument("\(path):\(n): not a JSON object")
            }
            return (n, obj)
        }
        return nil
    }
}
