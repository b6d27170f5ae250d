import Foundation
import RecCore
import RecTestSupport
import Testing

@testable import RecData

@Suite struct SafetensorsTests {
    func sample() throws -> Data {
        var w = SafetensorsWriter()
        w.add("w", [1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        w.add("idx", [7, -1] as [Int32])
        w.add("big", [Int64(1) << 40])
        w.metadata = ["format": "pt"]
        return try w.serialized()
    }

    @Test func roundTrip() throws {
        let f = try SafetensorsFile(data: sample(), path: "s.safetensors")
        #expect(try f.floats("w", shape: [2, 3]) == [1, 2, 3, 4, 5, 6])
        #expect(try f.int32s("idx") == [7, -1])
        #expect(try f.int64s("big") == [1 << 40])
        #expect(f.metadata == ["format": "pt"])
        #expect(f.tensors["w"]?.range.lowerBound == 0)
    }

    /// A file on disk is mapped, and `view` reads the mapped bytes in place.
    @Test func mappedFileViewsAreZeroCopyAndOutliveTheFileStruct() throws {
        let dir = try makeTempDir("rf-st")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.safetensors")
        try sample().write(to: url)
        var view: FloatView?
        do {
            let f = try SafetensorsFile(url)
            view = try f.view("w", shape: [2, 3])
            let again = try f.view("w")
            #expect(view!.pointer == again.pointer, "two views of one tensor share the mapped bytes")
        }
        // The file struct is gone; the view keeps the mapping alive.
        #expect(Array(view!.buffer) == [1, 2, 3, 4, 5, 6])
        #expect(view!.shape == [2, 3])
        #expect { try SafetensorsFile(url).view("idx") } throws: { "\($0)".contains("is I32, expected F32") }
        #expect { try SafetensorsFile(dir.appendingPathComponent("none.safetensors")) } throws: {
            ($0 as? RecError)?.code == .notFound
        }
        var nan = SafetensorsWriter()
        nan.add("x", [1, .nan] as [Float])
        try nan.write(to: url)
        #expect { try SafetensorsFile(url).view("x") } throws: { "\($0)".contains("non-finite value at index 1") }
        #expect(try SafetensorsFile(url).view("x", checkFinite: false).count == 2)
    }

    /// Another writer may place an F32 tensor at an offset that is not a multiple of 4: the
    /// view is then an aligned copy of its own, with the same values.
    @Test func anUnalignedTensorIsViewedThroughACopy() throws {
        var header = Data(#"{"pad":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"#.utf8)
        header.append(Data(#""w":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}}"#.utf8))
        while header.count % 8 != 0 { header.append(0x20) }
        var d = Data()
        for i in 0..<8 { d.append(UInt8((header.count >> (8 * i)) & 0xff)) }
        d.append(header)
        d.append(contentsOf: [0, 0])
        for v: Float in [1.5, -2] { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        let f = try SafetensorsFile(data: d, path: "u.safetensors")
        let v = try f.view("w", shape: [2])
        #expect(Array(v.buffer) == [1.5, -2] && Int(bitPattern: v.pointer) % 4 == 0)
        #expect(try f.floats("w") == [1.5, -2])
    }

    @Test func headerIsEightByteAlignedJSON() throws {
        let d = try sample()
        let n = d.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + n) % 8 == 0)
        #expect(try JSONSerialization.jsonObject(with: d[8..<(8 + n)]) is [String: Any])
    }

    @Test func wrongDtypeOrShapeNamesTheTensor() throws {
        let f = try SafetensorsFile(data: sample(), path: "s.safetensors")
        #expect { try f.int32s("w") } throws: { "\($0)".contains("s.safetensors: tensor 'w' is F32, expected I32") }
        #expect { try f.floats("w", shape: [3, 2]) } throws: { "\($0)".contains("tensor 'w' has shape [2, 3]") }
        #expect { try f.floats("missing") } throws: { "\($0)".contains("no tensor 'missing'") }
    }

    @Test func nonFiniteValuesAreRefused() throws {
        var w = SafetensorsWriter()
        w.add("emb", [1, .nan, 3] as [Float])
        let f = try SafetensorsFile(data: w.serialized(), path: "nan.safetensors")
        #expect { try f.floats("emb") } throws: { "\($0)".contains("tensor 'emb' has a non-finite value at index 1") }
    }

    @Test func truncatedAndGarbageFilesAreRefused() throws {
        let d = try sample()
        #expect { _ = try SafetensorsFile(data: d.prefix(d.count - 4), path: "t.safetensors") } throws: {
            ($0 as? RecError)?.code == .dataLoss && "\($0)".contains("t.safetensors") && "\($0)".contains("truncated")
        }
        #expect { _ = try SafetensorsFile(data: Data([1, 2, 3]), path: "g.safetensors") } throws: {
            "\($0)".contains("no header")
        }
        var junk = Data([16, 0, 0, 0, 0, 0, 0, 0])
        junk.append(Data("not json at all!".utf8))
        #expect { _ = try SafetensorsFile(data: junk, path: "j.safetensors") } throws: {
            "\($0)".contains("not a JSON object")
        }
        #expect {
            _ = try SafetensorsFile(data: Data([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1]), path: "h.safetensors")
        } throws: {
            "\($0)".contains("header length")
        }
    }
}

@Suite struct BundleTests {
    func tiny() throws -> Dataset { try MovieLens.load(fixture("recbole")) }

    func write(_ dir: URL) throws -> BundleManifest {
        let w = try BundleWriter(destination: dir, dataset: tiny())
        var t = SafetensorsWriter()
        t.add("scores", [1, 2, 3, 4] as [Float])
        try w.addEngine(.init(name: "pop", kind: "popularity", file: "engines/pop.safetensors"), tensors: t)
        return try w.commit(name: "tiny", defaultEngine: "pop", fallbackEngine: "pop")
    }

    @Test func writeThenReadBack() throws {
        let root = try FileManager.default.url(
            for: .itemReplacementDirectory, in: .userDomainMask,
            appropriateFor: FileManager.default.temporaryDirectory, create: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("b")
        let m = try write(dir)
        #expect(m.version.hasPrefix("tiny@"))
        let fp = Checksum.fingerprint(try tiny())
        #expect(m.dataset.interactions == 4 && m.dataset.fingerprint == fp)
        // Nothing but the bundle is left behind: no staging folder.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["b"])
        let r = try BundleReader(dir)
        #expect(r.manifest == m)
        #expect(r.catalog.ids.ids == ["10", "20", "30", "40"])
        #expect(
            r.catalog.meta[0]
                == ItemMeta(title: "Toy Story", year: 1995, genres: ["Animation", "Children's", "Comedy"]))
        #expect(r.users.meta[1].occupation == "other")
        #expect(r.users.histories.entries(of: 0).map(\.item) == [0, 1])
        #expect(try r.tensors(for: m.engines[0]).floats("scores") == [1, 2, 3, 4])
        // Rewriting replaces the old bundle atomically.
        let m2 = try write(dir)
        #expect(try BundleReader(dir).manifest == m2)
    }

    /// A catalogue file edited by hand (checksum updated): CRLF line ends read the same, and a
    /// bad record is an error naming the file, the line and what is wrong with it.
    @Test func catalogueLinesAreReadWithCRLFAndBadRecordsNamed() throws {
        let root = try makeTempDir("rf-bundle")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("b")
        _ = try write(dir)
        let items = dir.appendingPathComponent("items.jsonl")
        let original = try String(contentsOf: items, encoding: .utf8)
        func rewrite(_ text: String) throws {
            try Data(text.utf8).write(to: items)
            let mURL = dir.appendingPathComponent("manifest.json")
            var m = try JSONDecoder().decode(BundleManifest.self, from: Data(contentsOf: mURL))
            m.files["items.jsonl"] = try Checksum.sha256(file: items)
            try JSONEncoder().encode(m).write(to: mURL)
        }
        try rewrite(original.replacingOccurrences(of: "\n", with: "\r\n"))
        let r = try BundleReader(dir)
        #expect(r.catalog.ids.ids == ["10", "20", "30", "40"] && r.catalog.meta[0].title == "Toy Story")
        var lines = original.split(separator: "\n").map(String.init)
        lines[2] = #"{"id":"30","year":1995,"genres":[]}"#
        try rewrite(lines.joined(separator: "\n") + "\n")
        #expect { _ = try BundleReader(dir) } throws: {
            ($0 as? RecError)?.code == .dataLoss && "\($0)".contains("items.jsonl:3: not an item record (no 'title')")
        }
        lines[2] = "{"
        try rewrite(lines.joined(separator: "\n") + "\n")
        #expect { _ = try BundleReader(dir) } throws: {
            "\($0)".contains("items.jsonl:3: not an item record (not valid JSON)")
        }
    }

    @Test func corruptionIsDetectedAndNamed() throws {
        let root = try FileManager.default.url(
            for: .itemReplacementDirectory, in: .userDomainMask,
            appropriateFor: FileManager.default.temporaryDirectory, create: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("b")
        _ = try write(dir)
        let engine = dir.appendingPathComponent("engines/pop.safetensors")
        var bytes = try Data(contentsOf: engine)
        bytes[bytes.count - 1] ^= 0xff
        try bytes.write(to: engine)
        #expect { _ = try BundleReader(dir) } throws: {
            ($0 as? RecError)?.code == .dataLoss && "\($0)".contains("pop.safetensors") && "\($0)".contains("corrupt")
        }
        try FileManager.default.removeItem(at: engine)
        #expect { _ = try BundleReader(dir) } throws: { "\($0)".contains("missing from the bundle") }
        try Data("{".utf8).write(to: dir.appendingPathComponent("manifest.json"))
        #expect { _ = try BundleReader(dir) } throws: { "\($0)".contains("invalid manifest") }
        #expect { _ = try BundleReader(root.appendingPathComponent("none")) } throws: {
            ($0 as? RecError)?.code == .notFound
        }
    }
}
