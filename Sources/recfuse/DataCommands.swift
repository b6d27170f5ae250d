import ArgumentParser
import Foundation
import Logging
import RecCore
import RecData

struct Data_: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Datasets.", subcommands: [Fetch.self, Import.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a MovieLens dataset into the data directory, verified by SHA-256.",
            discussion:
                "Tries GroupLens first; for ml-100k falls back to the RecBole 1.2.1 wheel on PyPI (PIP_INDEX_URL is "
                + "honoured)."
        )
        @Argument(help: "Dataset: \(DatasetFetcher.knownNames.joined(separator: ", ")).") var name: String
        @Option(help: "Data directory.") var dataDir: String = "data"
        @Flag(help: "Download again even if a verified copy exists.") var force = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let log = global.bootstrap()
            do {
                let dir = try DatasetFetcher(dataDir: URL(fileURLWithPath: dataDir), log: { log.info("\($0)") }).fetch(
                    name, force: force)
                print(dir.path)
            } catch { fail(error) }
        }
    }
}

extension Data_ {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import your own interactions (and optional item and user files) into a dataset folder.",
            discussion: """
                Reads CSV, TSV or JSON lines (by extension, or --format), columns chosen by name, and writes \
                RecBole atomic files plus dataset.json (the schema: domain noun, explicit or implicit feedback, \
                text and category columns) into --out. Every command that takes a dataset takes that folder: \
                recfuse train --dataset OUT. Without a rating column the feedback is implicit (every interaction \
                is a positive; SVD/SVD++ refuse it, the ranking engines train on it). Streamed: memory holds a \
                chunk of rows and the distinct ids, never the rows.
                """)

        @Option(help: "Interactions file (.csv, .tsv, .jsonl).") var interactions: String
        @Option(help: "Folder to write the dataset into (created).") var out: String
        @Option(help: "Dataset name (file prefix in the folder); default: the folder's name.") var name: String?
        @Option(help: "Format of every input file: csv, tsv or jsonl; default: by extension.") var format: String?
        @Option(help: "User id column of the interactions.") var userCol = "user_id"
        @Option(help: "Item id column of the interactions.") var itemCol = "item_id"
        @Option(help: "Rating column; default 'rating' when the file has one, else implicit feedback.")
        var ratingCol: String?
        @Flag(help: "Ignore any rating column: every interaction is an implicit positive.") var implicit = false
        @Option(help: "Time column; default 'timestamp' when the file has one, else time 0.") var timeCol: String?
        @Option(help: "Time format: auto (epoch seconds, epoch milliseconds or ISO 8601), epoch-s, epoch-ms, iso8601.")
        var timeFormat = "auto"
        @Option(help: "Items file: an id column, a title, text columns, a category column.") var items: String?
        @Option(help: "Item id column of the items file; default: --item-col.") var itemIdCol: String?
        @Option(help: "Title column of the items file; default 'title' when present.") var titleCol: String?
        @Option(help: "Comma-separated free-text columns of the items file; default: every other column.")
        var textCols: String?
        @Option(help: "Multi-valued category column of the items file (genre-like).") var categoryCol: String?
        @Option(help: "Separator between categories in that column (a JSON array needs none).")
        var categorySep = "|"
        @Option(help: "Users file: an id column and any attribute columns.") var users: String?
        @Option(help: "User id column of the users file; default: --user-col.") var userIdCol: String?
        @Option(help: "Comma-separated attribute columns of the users file; default: every other column.")
        var userCols: String?
        @Option(help: "What one item is, singular: product, song, article, movie.") var domain = "item"
        @Option(help: "Its plural, when adding 's' is wrong.") var domainPlural: String?
        @Option(help: "How profiles name the category list (default: Categories).") var categoryLabel: String?
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let log = global.bootstrap()
            do {
                var fmt: DatasetImport.Format?
                if let format {
                    guard let f = DatasetImport.Format(rawValue: format) else {
                        throw RecError.invalidArgument("--format must be csv, tsv or jsonl, got '\(format)'")
                    }
                    fmt = f
                }
                guard let tf = DatasetImport.TimeFormat(rawValue: timeFormat) else {
                    let known = DatasetImport.TimeFormat.allCases.map(\.rawValue).joined(separator: ", ")
                    throw RecError.invalidArgument(
                        "--time-format must be \(known), "
                            + "got '\(timeFormat)'")
                }
                let outURL = URL(fileURLWithPath: out)
                func list(_ s: String?) -> [String]? {
                    s.map {
                        $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    }
                }
                var job = DatasetImport(
                    interactions: .init(URL(fileURLWithPath: interactions), format: fmt),
                    name: name ?? outURL.standardizedFileURL.lastPathComponent)
                job.userColumn = userCol
                job.itemColumn = itemCol
                job.ratingColumn = ratingCol
                job.implicit = implicit
                job.timeColumn = timeCol
                job.timeFormat = tf
                job.items = items.map { .init(URL(fileURLWithPath: $0), format: fmt) }
                job.itemIDColumn = itemIdCol
                job.titleColumn = titleCol
                job.textColumns = list(textCols)
                job.categoryColumn = categoryCol
                job.categorySeparator = categorySep
                job.users = users.map { .init(URL(fileURLWithPath: $0), format: fmt) }
                job.userIDColumn = userIdCol
                job.userColumns = list(userCols)
                job.domain = domain
                job.domainPlural = domainPlural
                job.categoryLabel = categoryLabel
                let start = ContinuousClock.now
                let s = try job.run(into: outURL)
                let secs = (ContinuousClock.now - start) / .seconds(1)
                log.info(
                    Logger.Message(
                        stringLiteral:
                            "imported \(s.interactions) \(s.feedback.rawValue) interactions, \(s.users) users, "
                            + "\(s.items) items "
                            + "(\(s.itemsWithMetadata) with metadata) in \(String(format: "%.1f", secs)) s"))
                print(outURL.path)
            } catch { fail(error) }
        }
    }
}

func loadDataset(_ spec: String, dataDir: String, log: Logger) throws -> Dataset {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: spec, isDirectory: &isDir), isDir.boolValue {
        return try MovieLens.load(URL(fileURLWithPath: spec))
    }
    let dir = try DatasetFetcher(dataDir: URL(fileURLWithPath: dataDir), log: { log.info("\($0)") }).fetch(spec)
    return try MovieLens.load(dir, name: spec)
}
