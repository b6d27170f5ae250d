import Foundation
import Synchronization
import Testing

@testable import RecText

struct EmbeddingCacheTests {
    static func temporaryFile() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("emb-\(UUID().uuidString)/cache.emb")
    }

    static func row(_ seed: Float, _ h: Int = 4) -> [Float] { (0..<h).map { seed + Float($0) * 0.25 } }

    @Test func keepsEmbeddingsAcrossInstancesBitForBit() throws {
        let f = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: f.deletingLastPathComponent()) }
        let a = EmbeddingCache(file: f, hidden: 4)
        #expect(a.lookup(["x", "y"]) == [nil, nil])
        let odd: [Float] = [.pi, -0.0, 1e-38, -123.456]
        #expect(a.store(["x", "y"], rows: [odd, Self.row(2)]) == nil)
        #expect(a.lookup(["y", "z", "x"]) == [Self.row(2), nil, odd])
        // A second process (a fresh instance) reads the same bits from the file.
        let b = EmbeddingCache(file: f, hidden: 4)
        let got = b.lookup(["x"])[0]
        #expect(got?.map(\.bitPattern) == odd.map(\.bitPattern))
        // Storing what is already there appends nothing.
        let size = try FileManager.default.attributesOfItem(atPath: f.path)[.size] as? Int
        b.store(["x"], rows: [odd])
        #expect(try FileManager.default.attributesOfItem(atPath: f.path)[.size] as? Int == size)
    }

    @Test func ignoresATornOrCorruptRecordAndKeepsTheRest() throws {
        let f = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: f.deletingLastPathComponent()) }
        let a = EmbeddingCache(file: f, hidden: 4)
        a.store(["a", "b", "c"], rows: [Self.row(1), Self.row(2), Self.row(3)])
        var bytes = try Data(contentsOf: f)
        let header = EmbeddingCache.magic.count, n = a.recordBytes
        // Flip one bit in b's embedding; cut c's record short (a crash mid-append).
        bytes[header + n + 40] ^= 0x10
        bytes.removeLast(5)
        try bytes.write(to: f)
        let b = EmbeddingCache(file: f, hidden: 4)
        #expect(b.lookup(["a", "b", "c"]) == [Self.row(1), nil, nil])
        // Appending after the torn record cuts it first, so the new records stay aligned.
        b.store(["b", "d"], rows: [Self.row(2), Self.row(4)])
        let c = EmbeddingCache(file: f, hidden: 4)
        #expect(c.lookup(["a", "b", "c", "d"]) == [Self.row(1), Self.row(2), nil, Self.row(4)])
    }

    @Test func aFileOfAnotherFormatIsNotRead() throws {
        let f = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: f.deletingLastPathComponent()) }
        try FileManager.default.createDirectory(at: f.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(repeating: 7, count: 1000).write(to: f)
        #expect(EmbeddingCache(file: f, hidden: 4).lookup(["a"]) == [nil])
    }

    @Test func anUnwritableFolderWarnsOnceAndWorksInMemory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("emb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("not a folder".utf8).write(to: dir)  // a file where the folder should be
        let warnings = Mutex<[String]>([])
        let a = EmbeddingCache(file: dir.appendingPathComponent("x.emb"), hidden: 4) { m in
            warnings.withLock { $0.append(m) }
        }
        #expect(a.store(["a"], rows: [Self.row(1)]) != nil)
        #expect(a.store(["b"], rows: [Self.row(2)]) != nil)
        #expect(a.lookup(["a", "b"]) == [Self.row(1), Self.row(2)])
        #expect(warnings.withLock { $0.count } == 1)
    }

    @Test(.enabled(if: SharedEncoder.encoder != nil, "needs models/all-MiniLM-L6-v2"))
    func theEncoderReadsWhatAnEarlierRunEmbedded() throws {
        let e = try #require(SharedEncoder.encoder)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("emb-\(UUID().uuidString)")
        defer {
            e.useDiskCache(nil)
            try? FileManager.default.removeItem(at: dir)
        }
        let texts = ["a comedy about a dog \(UUID())", "a slow drama \(UUID())"]
        let cache = EmbeddingCache(directory: dir, encoder: e)
        e.useDiskCache(cache)
        let first = e.embedMemoised(texts)
        #expect(first.rows == 2 && first.data.contains { $0 != 0 })
        // A new cache on the same file (the next run) holds both rows, bit for bit as the
        // encoder produced them.
        let next = EmbeddingCache(directory: dir, encoder: e)
        let rows = next.lookup(texts)
        #expect(rows.compactMap { $0 }.flatMap { $0 }.map(\.bitPattern) == first.data.map(\.bitPattern))
    }
}
