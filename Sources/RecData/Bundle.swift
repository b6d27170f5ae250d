import CRecShims
import Foundation
import RecCore

/// `manifest.json` of a model bundle.
public struct BundleManifest: Codable, Sendable, Equatable {
    public struct DatasetRef: Codable, Sendable, Equatable {
        public var name: String
        public var fingerprint: String
        public var users: Int
        public var items: Int
        public var interactions: Int
        /// What the items are and what interactions mean; absent for MovieLens (movies,
        /// explicit ratings), which keeps bundles written before it readable.
        public var schema: DatasetSchema?

        /// The schema, MovieLens' when the manifest names none.
        public var resolvedSchema: DatasetSchema { schema ?? .movies }
    }

    public struct EngineEntry: Codable, Sendable, Equatable {
        /// Name callers select it by.
        public var name: String
        /// Implementation ("popularity", "cooccurrence", ...); the loader dispatches on it.
        public var kind: String
        /// Tensor file relative to the bundle root.
        public var file: String
        public var params: [String: String]
        public var metrics: [String: Double]
        public var fitSeconds: Double
        /// The engine's approximate Retrieve index, when it has one.
        public var index: IndexEntry?

        public init(
            name: String, kind: String, file: String, params: [String: String] = [:],
            metrics: [String: Double] = [:], fitSeconds: Double = 0, index: IndexEntry? = nil
        ) {
            self.name = name
            self.kind = kind
            self.file = file
            self.params = params
            self.metrics = metrics
            self.fitSeconds = fitSeconds
            self.index = index
        }

        enum CodingKeys: String, CodingKey {
            case name, kind, file, params, metrics, index
            case fitSeconds = "fit_seconds"
        }
    }

    /// An approximate-search index file beside an engine's tensors.
    public struct IndexEntry: Codable, Sendable, Equatable {
        /// "hnsw".
        public var kind: String
        /// Relative to the bundle root.
        public var file: String
        /// Build parameters and facts ("m", "ef_construction", "ef_search", "dimension", "bias").
        public var params: [String: String]
        public var buildSeconds: Double

        public init(kind: String, file: String, params: [String: String], buildSeconds: Double) {
            self.kind = kind
            self.file = file
            self.params = params
            self.buildSeconds = buildSeconds
        }

        enum CodingKeys: String, CodingKey {
            case kind, file, params
            case buildSeconds = "build_seconds"
        }
    }

    public static let currentFormat = 1

    public var format: String = "recfuse-bundle"
    public var formatVersion: Int = BundleManifest.currentFormat
    public var name: String
    /// "<name>@<created>-<hash>", unique per build.
    public var version: String
    /// RFC 3339.
    public var created: String
    public var dataset: DatasetRef
    public var defaultEngine: String
    public var fallbackEngine: String
    public var engines: [EngineEntry]
    /// SHA-256 of every other file in the bundle, by relative path.
    public var files: [String: String]

    enum CodingKeys: String, CodingKey {
        case format
        case formatVersion = "format_version"
        case name, version, created, dataset
        case defaultEngine = "default_engine"
        case fallbackEngine = "fallback_engine"
        case engines, files
    }
}

/// One item of `items.jsonl`.
struct ItemRecord: Codable, Sendable {
    var id: String
    var title: String
    var year: Int?
    var genres: [String]
    /// Free-text columns of an imported dataset; absent for MovieLens.
    var fields: [TextField]?
}

/// One user of `users.jsonl`.
struct UserRecord: Codable, Sendable {
    var id: String
    var age: Int?
    var gender: String?
    var occupation: String?
    var zip: String?
    /// Attribute columns of an imported dataset; absent for MovieLens.
    var attributes: [TextField]?
}

/// Writes a bundle atomically: everything goes to a temporary sibling folder, the manifest
/// (with every file's SHA-256) is written last, and the folder is renamed into place. A
/// reader therefore never sees a half-written bundle; a crash leaves only a `.tmp-` folder.
/// Over an existing bundle the last step is an atomic exchange (`renameat2(RENAME_EXCHANGE)`),
/// so the destination always holds a whole bundle, old or new; every file and folder is
/// fsynced before it.
///
/// Layout: `manifest.json`, `items.jsonl`, `users.jsonl`, `interactions.safetensors`
/// (each known user's history, CSR), `engines/<name>.safetensors`.
public final class BundleWriter {
    public let destination: URL
    public let staging: URL
    private var engines: [BundleManifest.EngineEntry] = []
    private let dataset: Dataset

    public init(destination: URL, dataset: Dataset) throws {
        self.destination = destination.standardizedFileURL
        self.dataset = dataset
        let parent = self.destination.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let prefix = ".\(self.destination.lastPathComponent).tmp-"
        staging = parent.appendingPathComponent("\(prefix)\(getpid())")
        try? FileManager.default.removeItem(at: staging)
        // Staging folders of runs that were killed: their process is gone.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
            }
        }
        try FileManager.default.createDirectory(
            at: staging.appendingPathComponent("engines"), withIntermediateDirectories: true)
        do { try writeCatalog() } catch {
            abandon()
            throw error
        }
    }

    /// Adds an engine's tensors.
    public func addEngine(_ entry: BundleManifest.EngineEntry, tensors: SafetensorsWriter) throws {
        precondition(!engines.contains { $0.name == entry.name }, "engine \(entry.name) added twice")
        try write(tensors.serialized(), to: staging.appendingPathComponent(entry.file))
        engines.append(entry)
        Failpoint.hit("bundle-after-engine")
    }

    /// Adds a file beside the engines' tensors (an index), written by `write` to the URL it is
    /// given; the manifest checksums it like every other file.
    public func addFile(_ rel: String, _ write: (URL) throws -> Void) throws {
        let url = staging.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try write(url)
    }

    /// Writes the manifest and moves the bundle into place. Returns the manifest.
    @discardableResult
    public func commit(name: String, defaultEngine: String, fallbackEngine: String) throws -> BundleManifest {
        let fm = FileManager.default
        var files: [String: String] = [:]
        let root = staging.path + "/"
        if let e = fm.enumerator(atPath: staging.path) {
            for case let rel as String in e {
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: root + rel, isDirectory: &isDir), !isDir.boolValue {
                    files[rel] = try Checksum.sha256(file: URL(fileURLWithPath: root + rel))
                }
            }
        }
        let created = ISO8601DateFormatter().string(from: Date())
        let digest = Checksum.sha256(
            Data(files.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined().utf8))
        let stamp = created.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        let manifest = BundleManifest(
            name: name, version: "\(name)@\(stamp)-\(digest.prefix(8))", created: created,
            dataset: .init(
                name: dataset.name, fingerprint: Checksum.fingerprint(dataset), users: dataset.users.count,
                items: dataset.items.count, interactions: dataset.interactions.count,
                schema: dataset.schema == .movies ? nil : dataset.schema),
            defaultEngine: defaultEngine, fallbackEngine: fallbackEngine, engines: engines, files: files)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        Failpoint.hit("bundle-before-manifest")
        try write(enc.encode(manifest), to: staging.appendingPathComponent("manifest.json"))
        Failpoint.hit("bundle-after-manifest")
        // Durable before it becomes visible: every file, then the folder.
        for rel in files.keys.sorted() + ["manifest.json"] { try sync(root + rel) }
        try sync(staging.appendingPathComponent("engines").path)
        try sync(staging.path)
        let parent = destination.deletingLastPathComponent()
        if fm.fileExists(atPath: destination.path) {
            // One atomic step: the old bundle and the new one trade places, so at every instant
            // the destination holds a whole bundle (a crash here leaves the old one or the new
            // one, never neither). The old one, now at the staging path, is then removed.
            guard rec_rename_exchange(staging.path, destination.path) == 0 else {
                throw RecError.unavailable(
                    "cannot swap \(staging.path) into \(destination.path): \(String(cString: strerror(errno))) "
                        + "(the old bundle is untouched)")
            }
            Failpoint.hit("bundle-after-swap")
            try sync(parent.path)
            try? fm.removeItem(at: staging)
        } else {
            try fm.moveItem(at: staging, to: destination)
            try sync(parent.path)
        }
        return manifest
    }

    /// `data` to `url`; a failure (a full disk, a file-size limit) names the file and says the
    /// old bundle stands.
    private func write(_ data: Data, to url: URL) throws {
        do { try FileWrite.write(data, to: url) } catch let e as RecError {
            throw RecError(e.code, e.message + "; no bundle was replaced", cause: e)
        }
    }

    private func sync(_ path: String) throws {
        guard rec_fsync_path(path) == 0 else {
            throw RecError.unavailable("cannot fsync \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the staging folder (on failure).
    public func abandon() { try? FileManager.default.removeItem(at: staging) }

    private func writeCatalog() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var items = Data()
        for (i, m) in dataset.itemMeta.enumerated() {
            items.append(
                try enc.encode(
                    ItemRecord(
                        id: dataset.items.ids[i], title: m.title, year: m.year, genres: m.genres,
                        fields: m.fields.isEmpty ? nil : m.fields)))
            items.append(0x0A)
        }
        try write(items, to: staging.appendingPathComponent("items.jsonl"))
        var users = Data()
        for (u, m) in dataset.userMeta.enumerated() {
            users.append(
                try enc.encode(
                    UserRecord(
                        id: dataset.users.ids[u], age: m.age, gender: m.gender,
                        occupation: m.occupation, zip: m.zip,
                        attributes: m.attributes.isEmpty ? nil : m.attributes)))
            users.append(0x0A)
        }
        try write(users, to: staging.appendingPathComponent("users.jsonl"))
        let h = dataset.userHistories()
        var t = SafetensorsWriter()
        t.add("offsets", h.offsets.map(Int64.init))
        t.add("items", h.items)
        t.add("ratings", h.ratings)
        t.add("timestamps", h.timestamps)
        try write(t.serialized(), to: staging.appendingPathComponent("interactions.safetensors"))
        Failpoint.hit("bundle-after-catalog")
    }
}

/// A bundle opened for serving: manifest checked, every file's SHA-256 verified, catalogue
/// and users parsed, histories validated. Engine tensors are opened on demand by the loaders.
/// Any problem is a `DATA_LOSS` / `NOT_FOUND` error naming the file.
public struct BundleReader: Sendable {
    public let root: URL
    public let manifest: BundleManifest
    public let catalog: Catalog
    public let users: UserStore

    public init(_ root: URL) throws {
        self.root = root
        let fm = FileManager.default
        let mURL = root.appendingPathComponent("manifest.json")
        guard fm.fileExists(atPath: mURL.path) else {
            throw RecError.notFound("\(root.path) is not a bundle: no manifest.json")
        }
        let manifest: BundleManifest
        do { manifest = try JSONDecoder().decode(BundleManifest.self, from: Data(contentsOf: mURL)) } catch {
            throw RecError(.dataLoss, "\(mURL.path): invalid manifest (\(error))", cause: error)
        }
        guard manifest.format == "recfuse-bundle", manifest.formatVersion == BundleManifest.currentFormat else {
            throw RecError.dataLoss(
                "\(mURL.path): format \(manifest.format) v\(manifest.formatVersion), this build reads recfuse-bundle "
                    + "v\(BundleManifest.currentFormat)"
            )
        }
        for required in ["items.jsonl", "users.jsonl", "interactions.safetensors"] + manifest.engines.map(\.file)
            + manifest.engines.compactMap(\.index?.file)
        where manifest.files[required] == nil {
            throw RecError.dataLoss("\(mURL.path): no checksum for \(required)")
        }
        // Every file's checksum, on all cores (a file each).
        let checks = manifest.files.sorted(by: { $0.key < $1.key })
        let problems = Parallel.map(checks.count) { i -> String? in
            let (rel, sum) = checks[i]
            let f = root.appendingPathComponent(rel)
            guard FileManager.default.fileExists(atPath: f.path) else { return "\(f.path): missing from the bundle" }
            do {
                let got = try Checksum.sha256(file: f)
                return got == sum
                    ? nil : "\(f.path): sha256 \(got) does not match the manifest (\(sum)); the bundle is corrupt"
            } catch { return "\(f.path): \(error)" }
        }
        if let problem = problems.compactMap({ $0 }).first { throw RecError.dataLoss(problem) }
        self.manifest = manifest

        var ids = IDMap(), meta: [ItemMeta] = []
        let itemsFile = try TextFile(root.appendingPathComponent("items.jsonl"))
        for (n, r) in try itemsFile.decodeLines(ItemRecord.self, "not an item record") {
            guard Int(ids.intern(r.id)) == meta.count else {
                throw itemsFile.error(line: n, "duplicate item id '\(r.id)'")
            }
            meta.append(ItemMeta(title: r.title, year: r.year, genres: r.genres, fields: r.fields ?? []))
        }
        var uids = IDMap(), umeta: [UserMeta] = []
        let usersFile = try TextFile(root.appendingPathComponent("users.jsonl"))
        for (n, r) in try usersFile.decodeLines(UserRecord.self, "not a user record") {
            guard Int(uids.intern(r.id)) == umeta.count else {
                throw usersFile.error(line: n, "duplicate user id '\(r.id)'")
            }
            umeta.append(
                UserMeta(
                    age: r.age, gender: r.gender, occupation: r.occupation, zip: r.zip,
                    attributes: r.attributes ?? []))
        }
        guard ids.count == manifest.dataset.items, uids.count == manifest.dataset.users else {
            throw RecError.dataLoss(
                "\(root.path): catalogue has \(ids.count) items and \(uids.count) users, manifest says "
                    + "\(manifest.dataset.items) and \(manifest.dataset.users)"
            )
        }
        let t = try SafetensorsFile(root.appendingPathComponent("interactions.safetensors"))
        let offsets = try t.int64s("offsets", shape: [uids.count + 1]).map(Int.init)
        let n = manifest.dataset.interactions
        let items = try t.int32s("items", shape: [n])
        let ratings = try t.floats("ratings", shape: [n])
        let timestamps = try t.int64s("timestamps", shape: [n])
        guard offsets.first == 0, offsets.last == n, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw RecError.dataLoss("\(t.path): tensor 'offsets' is not a valid row index")
        }
        if let bad = items.first(where: { $0 < 0 || Int($0) >= ids.count }) {
            throw RecError.dataLoss(
                "\(t.path): tensor 'items' holds index \(bad) outside the \(ids.count)-item catalogue")
        }
        catalog = Catalog(ids: ids, meta: meta, schema: manifest.dataset.resolvedSchema)
        users = UserStore(
            ids: uids, meta: umeta,
            histories: Histories(offsets: offsets, items: items, ratings: ratings, timestamps: timestamps))
    }

    /// Opens an engine's tensor file.
    public func tensors(for entry: BundleManifest.EngineEntry) throws -> SafetensorsFile {
        try SafetensorsFile(root.appendingPathComponent(entry.file))
    }
}
