import Foundation
import RecCore
import RecTestSupport
import Testing

@testable import RecText

func fixture(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
}

/// The corpus lines exactly as `recfuse embed` reads them (LF-separated, final newline optional).
func corpusLines() throws -> [String] {
    var lines = String(decoding: try Data(contentsOf: fixture("corpus.txt")), as: UTF8.self)
        .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// The tokenizer's rules on a small hand-made vocabulary (no model needed).
@Suite struct TokenizerRuleTests {
    static let vocab = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "play", "##ing", "cafe",
        "!", ",", "日", "本", "a", "##b", "hello", "world", "ab", "x", "##x",
    ]
    let tok = try! WordPieceTokenizer(vocabulary: vocab)
    func pieces(_ s: String, _ max: Int = 256) -> [String] { tok.tokens(tok.encode(s, maxLength: max)) }

    @Test func greedyLongestMatchWithContinuationPieces() {
        #expect(pieces("unaffable playing") == ["[CLS]", "un", "##aff", "##able", "play", "##ing", "[SEP]"])
        // "ab" is in the vocabulary whole, so it wins over "a" "##b".
        #expect(pieces("ab") == ["[CLS]", "ab", "[SEP]"])
    }

    @Test func aWordWithAnUnmatchablePartIsOneUnknown() {
        #expect(pieces("unaffz hello") == ["[CLS]", "[UNK]", "hello", "[SEP]"])
    }

    @Test func lowercasesStripsAccentsAndSplitsPunctuation() {
        #expect(pieces("HELLO, Wörld!") == ["[CLS]", "hello", ",", "world", "!", "[SEP]"])
        #expect(pieces("CAFÉ") == ["[CLS]", "cafe", "[SEP]"])
        // e + combining acute (already decomposed) strips the same way.
        #expect(pieces("cafe\u{301}") == ["[CLS]", "cafe", "[SEP]"])
    }

    @Test func cjkIdeographsAreWordsOfTheirOwn() {
        #expect(pieces("hello日本world") == ["[CLS]", "hello", "日", "本", "world", "[SEP]"])
    }

    @Test func controlCharactersVanishAndWhitespaceSplits() {
        #expect(pieces("hel\u{7}lo\tworld\u{200B}\u{FEFF}") == ["[CLS]", "hello", "world", "[SEP]"])
        #expect(pieces("hello\u{3000}world\u{A0}hello") == ["[CLS]", "hello", "world", "hello", "[SEP]"])
    }

    @Test func emptyAndBlankTextGiveOnlyTheSpecialTokens() {
        #expect(pieces("") == ["[CLS]", "[SEP]"])
        #expect(pieces(" \t \u{0} ") == ["[CLS]", "[SEP]"])
    }

    @Test func wordsOverTheCharacterLimitAreUnknown() {
        #expect(
            pieces(String(repeating: "x", count: 100)) == ["[CLS]", "x"] + Array(repeating: "##x", count: 99) + [
                "[SEP]"
            ])
        #expect(pieces(String(repeating: "x", count: 101)) == ["[CLS]", "[UNK]", "[SEP]"])
    }

    @Test func truncatesToTheMaximumLengthKeepingSpecialTokens() {
        let ids = tok.encode(String(repeating: "hello ", count: 50), maxLength: 8)
        #expect(tok.tokens(ids) == ["[CLS]"] + Array(repeating: "hello", count: 6) + ["[SEP]"])
        // A word cut in the middle of its pieces is cut, as the reference does.
        #expect(pieces("unaffable", 4) == ["[CLS]", "un", "##aff", "[SEP]"])
    }

    @Test func addedTokensInTheRawTextStandForThemselves() {
        #expect(pieces("hello[MASK]world [SEP]") == ["[CLS]", "hello", "[MASK]", "world", "[SEP]", "[SEP]"])
        // Matched verbatim, before lower-casing: "[mask]" is ordinary punctuation and words.
        #expect(pieces("[mask]") == ["[CLS]", "[UNK]", "[UNK]", "[UNK]", "[SEP]"])
    }

    @Test func aVocabularyWithoutSpecialTokensIsRefused() {
        #expect(throws: RecError.self) { try WordPieceTokenizer(vocabulary: ["a", "b"]) }
    }

    @Test func unsupportedTokenizerJSONIsRefusedWithTheReason() throws {
        let json = Data(#"{"normalizer": {"type": "NFKC"}, "model": {"type": "WordPiece"}}"#.utf8)
        #expect { try WordPieceTokenizer.options(fromTokenizerJSON: json, path: "t.json", vocabularySize: 3) } throws: {
            "\($0)".contains("not BertNormalizer")
        }
        let bpe = Data(#"{"model": {"type": "BPE"}}"#.utf8)
        #expect { try WordPieceTokenizer.options(fromTokenizerJSON: bpe, path: "t.json", vocabularySize: 3) } throws: {
            "\($0)".contains("not WordPiece")
        }
    }
}

/// Token ids against the reference (`tokenizers` on the model's tokenizer.json), committed
/// in Fixtures/tokens.json by scripts/reference/minilm.py.
@Suite(.enabled(if: TestModels.miniLM != nil, "needs models/all-MiniLM-L6-v2 (recfuse models fetch)"))
struct TokenizerReferenceTests {
    @Test func idsMatchTheReferenceTokenizerOnTheCorpus() throws {
        let tok = try WordPieceTokenizer(modelDirectory: TestModels.miniLM!)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture("tokens.json"))) as! [String: Any]
        let expected = (obj["ids"] as! [[Int]]).map { $0.map(Int32.init) }
        let maxLen = obj["max_seq_length"] as! Int
        let lines = try corpusLines()
        try #require(lines.count == expected.count)
        for (line, want) in zip(lines, expected) {
            let got = tok.encode(line, maxLength: maxLen)
            #expect(got == want, "\(line.prefix(60)): \(tok.tokens(got).prefix(20)) vs \(tok.tokens(want).prefix(20))")
        }
        #expect(expected.contains { $0.count == maxLen }, "the corpus should exercise truncation")
    }
}

@Test func theModelIsPresentWhenTheTestRunRequiresIt() {
    if TestModels.required {
        #expect(
            TestModels.miniLM != nil,
            "RECFUSE_REQUIRE_MODELS=1 but \(TestModels.modelsDir.path)/all-MiniLM-L6-v2 is missing")
    }
}
