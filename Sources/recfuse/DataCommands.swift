import ArgumentParser
import Foundation
import Logging
import RecCore
import RecData

struct Data_: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Datasets.", subcommands: [Fetch.self])

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

func loadDataset(_ spec: String, dataDir: String, log: Logger) throws -> Dataset {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: spec, isDirectory: &isDir), isDir.boolValue {
        return try MovieLens.load(URL(fileURLWithPath: spec))
    }
    let dir = try DatasetFetcher(dataDir: URL(fileURLWithPath: dataDir), log: { log.info("\($0)") }).fetch(spec)
    return try MovieLens.load(dir, name: spec)
}
