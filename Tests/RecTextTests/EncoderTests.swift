import Foundation
import RecCore
import RecData
import RecTestSupport
import Testing

@testable import RecText

/// One encoder for every test in the process (loading maps 90 MB and checks every weight).
enum SharedEncoder {
    static let encoder: SentenceEncoder? = TestModels.miniLM.flatMap { try? SentenceEncoder(modelDirectory: $0) }
}

@Suite(.enabled(if: TestModels.miniLM != nil, "needs models/all-MiniLM-L6-v2 (recfuse models fetch)"))
struct EncoderTests {
    var encoder: SentenceEncoder { get throws { try #require(SharedEncoder.encoder) } }

    @Test func loadsTheModelsConfiguration() throws {
        let e = try encoder
        #expect(e.config.hidden == 384 && e.config.layers == 6 && e.config.heads == 12 && e.config.intermediate == 1536)
        #expect(e.maxSeqLength == 256)
        #expect(e.dimension == 384)
    }

    /// Within cosine 0.9999 of the float64 numpy reference (Fixtures/embeddings.json).
    @Test(arguments: [1, 7, 32])
    func embeddingsMatchTheReferenceForwardPass(batchSize: Int) throws {
        let e = try encoder
        let lines = try corpusLines()
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture("embeddings.json"))) as! [String: Any]
        let rows = (obj["embeddings"] as! [[Double]])
        try #require(rows.count == lines.count && rows.allSatisfy { $0.count == 384 })
        let ref = rows.flatMap { $0.map(Float.init) }
        let got = e.embed(lines, batchSize: batchSize)
        #expect(got.rows == lines.count)
        var worst = 1.0
        for i in 0..<lines.count {
            let c = cosine(got.data[i * 384..<(i + 1) * 384], ref[i * 384..<(i + 1) * 384])
            worst = min(worst, c)
            #expect(c >= 0.9999, "line \(i) '\(lines[i].prefix(40))': cosine \(c)")
        }
        #expect(worst >= 0.9999)
    }

    @Test func embeddingsHaveUnitLengthAndDoNotDependOnTheBatch() throws {
        let e = try encoder
        let texts = [
            "Star Wars (1977). Genres: Action, Adventure, Romance, Sci-Fi, War.", "", "a",
            String(repeating: "long text ", count: 300), "Fargo (1996). Genres: Crime, Drama, Thriller.",
        ]
        let together = e.embed(texts, batchSize: 32)
        for (i, t) in texts.enumerated() {
            let alone = e.embed(t)
            let row = together.data[i * 384..<(i + 1) * 384]
            let norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
            #expect(cosine(row, alone[...]) > 0.99999)
        }
    }

    @Test func similarTextsAreCloserThanUnrelatedOnes() throws {
        let e = try encoder
        let m = e.embed([
            "a space opera with rebels and starships", "Star Wars (1977). Genres: Action, Sci-Fi, War.",
            "a gentle romantic comedy in Paris",
        ])
        let space = m.data[0..<384], starWars = m.data[384..<768], romance = m.data[768..<1152]
        #expect(cosine(space, starWars) > cosine(romance, starWars))
    }

    @Test func aModelFolderWithoutWeightsOrWithAnotherArchitectureIsRefused() throws {
        let dir = try makeTempDir("rf-model")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect { try SentenceEncoder(modelDirectory: dir) } throws: { "\($0)".contains("recfuse models fetch") }
        let src = TestModels.miniLM!
        for f in ["vocab.txt", "tokenizer.json", "sentence_bert_config.json"] {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        var config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: src.appendingPathComponent("config.json")))
            as! [String: Any]
        config["hidden_act"] = "relu"
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        #expect { try SentenceEncoder(modelDirectory: dir) } throws: { "\($0)".contains("hidden_act relu") }
        config["hidden_act"] = "gelu"
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        // Truncated weights: a clear data-loss error naming the file.
        let weights = try Data(contentsOf: src.appendingPathComponent("model.safetensors"))
        try weights.prefix(weights.count / 2).write(to: dir.appendingPathComponent("model.safetensors"))
        #expect { try SentenceEncoder(modelDirectory: dir) } throws: {
            ($0 as? RecError)?.code == .dataLoss && "\($0)".contains("model.safetensors")
        }
    }
}
