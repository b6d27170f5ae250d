import Foundation
import RecCore
import RecTestSupport
import Testing
import ZIPFoundation

@testable import RecData

/// The fetcher against a real HTTP server on loopback: a PEP 503 simple index serving a
/// wheel that carries the fixture dataset as RecBole atomic files.
@Suite(.serialized) struct FetchTests {
    struct Site {
        let root: URL
        let server: LoopbackHTTPServer
        let pinned: DatasetFetcher.Pinned
        let wheelSHA: String
    }

    func makeSite() throws -> Site {
        let root = try makeTempDir("rf-site")
        let wheelDir = root.appendingPathComponent("files")
        let indexDir = root.appendingPathComponent("simple/tinyrec")
        try FileManager.default.createDirectory(at: wheelDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: indexDir, withIntermediateDirectories: true)
        let wheelURL = wheelDir.appendingPathComponent("tinyrec-1.0-py3-none-any.whl")
        let archive = try Archive(url: wheelURL, accessMode: .create)
        var files: [String: String] = [:]
        for ext in ["inter", "item", "user"] {
            let data = try Data(contentsOf: fixture("recbole/tiny.\(ext)"))
            files["tiny.\(ext)"] = Checksum.sha256(data)
            try archive.addEntry(
                with: "tinyrec/data/tiny/tiny.\(ext)", type: .file, uncompressedSize: Int64(data.count),
                compressionMethod: .deflate
            ) { pos, size in data.subdata(in: Int(pos)..<Int(pos) + size) }
        }
        let wheelSHA = try Checksum.sha256(file: wheelURL)
        try Data(
            """
            <html><body><a \
            href="../../files/tinyrec-1.0-py3-none-any.whl#sha256=\(wheelSHA)">\
            tinyrec-1.0-py3-none-any.whl</a><br/></body></html>
            """.utf8
        ).write(to: indexDir.appendingPathComponent("index.html"))
        let fp = Checksum.fingerprint(try MovieLens.load(fixture("recbole")))
        let pinned = DatasetFetcher.Pinned(
            fingerprint: fp, interactions: 4,
            wheel: .init(
                project: "tinyrec", file: "tinyrec-1.0-py3-none-any.whl", sha256: wheelSHA,
                prefix: "tinyrec/data/tiny/", files: files))
        return Site(root: root, server: try LoopbackHTTPServer(serving: root), pinned: pinned, wheelSHA: wheelSHA)
    }

    func fetcher(_ site: Site, data: URL, pinned: DatasetFetcher.Pinned? = nil, port: Int? = nil) -> DatasetFetcher {
        var src = DatasetFetcher.Source()
        src.grouplensBase = "http://127.0.0.1:1"  // refused at once: GroupLens "unreachable"
        src.pypiIndex = "http://127.0.0.1:\(port ?? site.server.port)/simple"
        src.connectTimeout = 2
        return DatasetFetcher(dataDir: data, source: src, catalog: ["tiny": pinned ?? site.pinned])
    }

    @Test func fallsBackToTheWheelAndVerifies() throws {
        let site = try makeSite()
        defer {
            site.server.stop()
            try? FileManager.default.removeItem(at: site.root)
        }
        let data = try makeTempDir("rf-data")
        defer { try? FileManager.default.removeItem(at: data) }
        let dir = try fetcher(site, data: data).fetch("tiny")
        #expect(dir.lastPathComponent == "tiny")
        let d = try MovieLens.load(dir)
        #expect(d.interactions.count == 4 && d.items.count == 4)
        #expect(try fetcher(site, data: data).verify(dir) == "")
        let source =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("SOURCE.json")))
            as! [String: Any]
        #expect(source["source"] as? String == "pypi:tinyrec-1.0-py3-none-any.whl")
        // Present and verified: no network needed the second time.
        site.server.stop()
        #expect(try fetcher(site, data: data, port: 1).fetch("tiny").path == dir.path)
        // A tampered file is detected; with the index gone, the re-fetch fails loudly.
        try Data("junk".utf8).write(to: dir.appendingPathComponent("tiny.inter"))
        #expect(try fetcher(site, data: data).verify(dir) == "tiny.inter checksum mismatch")
        #expect { try fetcher(site, data: data, port: 1).fetch("tiny") } throws: {
            ($0 as? RecError)?.code == .unavailable
        }
    }

    @Test func checksumMismatchesAreRefused() throws {
        let site = try makeSite()
        defer {
            site.server.stop()
            try? FileManager.default.removeItem(at: site.root)
        }
        let data = try makeTempDir("rf-data")
        defer { try? FileManager.default.removeItem(at: data) }
        var wrongWheel = site.pinned
        wrongWheel.wheel!.sha256 = String(repeating: "0", count: 64)
        #expect { try fetcher(site, data: data, pinned: wrongWheel).fetch("tiny") } throws: {
            "\($0)".contains("recfuse pins 0000")
        }
        var wrongFile = site.pinned
        wrongFile.wheel!.files["tiny.inter"] = String(repeating: "1", count: 64)
        #expect { try fetcher(site, data: data, pinned: wrongFile).fetch("tiny") } throws: {
            "\($0)".contains("tiny.inter: sha256")
        }
        var wrongContent = site.pinned
        wrongContent.fingerprint = String(repeating: "2", count: 64)
        #expect { try fetcher(site, data: data, pinned: wrongContent).fetch("tiny") } throws: {
            "\($0)".contains("ratings fingerprint")
        }
        // Nothing half-written is left in the data directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: data.path).isEmpty)
        #expect { try fetcher(site, data: data).fetch("nope") } throws: { ($0 as? RecError)?.code == .invalidArgument }
    }
}
