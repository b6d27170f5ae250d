import Foundation
import RecCore

/// The BERT uncased WordPiece tokenizer, exactly as a Hugging Face `tokenizer.json` with a
/// `BertNormalizer`, `BertPreTokenizer`, `WordPiece` model and `[CLS] A [SEP]` template
/// defines it (the `tokenizers` library's behaviour, which is the reference in the tests):
///
/// 1. Normalise, in this order: drop U+0000, U+FFFD and control characters (categories
///    Cc, Cf, Co, Cs other than tab, CR, LF) and map every white-space character to a space;
///    put spaces around CJK ideographs; NFD and drop non-spacing marks (accent stripping,
///    on when lower-casing unless `strip_accents` says otherwise); lower-case (full mapping).
/// 2. Pre-tokenise: split on white space; every punctuation character (ASCII punctuation
///    or a Unicode P* category) is a word of its own.
/// 3. WordPiece: greedy longest-match-first against the vocabulary, continuation pieces
///    prefixed "##"; a word longer than `max_input_chars_per_word` characters, or one with
///    a part no piece matches, becomes a single [UNK].
/// 4. Truncate the pieces to `maxLength - 2` and add [CLS] … [SEP].
///
/// Before all that, the added tokens of tokenizer.json ([CLS], [SEP], [UNK], [PAD], [MASK])
/// are found in the raw text, leftmost-longest, and stand for themselves: "[MASK]" typed in
/// a text is the mask token, as in the reference.
///
/// "Characters" are Unicode scalars, as in Rust. Vocabulary lookups compare UTF-8 bytes,
/// never Swift's canonical string equivalence. Immutable; safe from any thread.
public struct WordPieceTokenizer: Sendable {
    public struct Options: Sendable, Equatable {
        public var cleanText = true
        public var handleChineseChars = true
        public var lowercase = true
        /// nil = follow `lowercase`, as BertNormalizer does.
        public var stripAccents: Bool? = nil
        public var maxInputCharsPerWord = 100
        public var continuingPrefix = "##"
        public var unk = "[UNK]"
        public var cls = "[CLS]"
        public var sep = "[SEP]"
        public var pad = "[PAD]"
        /// Matched verbatim in the raw text before normalisation (tokenizer.json's
        /// `added_tokens` with `normalized: false`).
        public var addedTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        public init() {}
    }

    public let options: Options
    public let vocabulary: [String]
    private let ids: [[UInt8]: Int32]
    public let unkID: Int32
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32
    private let added: [(bytes: [UInt8], id: Int32)]

    public var vocabularySize: Int { vocabulary.count }

    /// A tokenizer over `vocabulary` (token i has id i).
    public init(vocabulary: [String], options: Options = Options()) throws {
        var ids: [[UInt8]: Int32] = [:]
        ids.reserveCapacity(vocabulary.count)
        for (i, t) in vocabulary.enumerated() where ids[Array(t.utf8)] == nil { ids[Array(t.utf8)] = Int32(i) }
        func id(_ t: String) throws -> Int32 {
            guard let i = ids[Array(t.utf8)] else { throw RecError.dataLoss("vocabulary lacks the special token \(t)") }
            return i
        }
        self.options = options
        self.vocabulary = vocabulary
        self.ids = ids
        unkID = try id(options.unk)
        clsID = try id(options.cls)
        sepID = try id(options.sep)
        padID = try id(options.pad)
        added = try options.addedTokens.filter { !$0.isEmpty }.map { (Array($0.utf8), try id($0)) }
            .sorted { $0.0.count > $1.0.count }  // longest first: leftmost-longest matching
    }

    /// Loads a model folder's tokenizer: the vocabulary from `vocab.txt` (one token per line,
    /// id = line number) and the normaliser and WordPiece settings from `tokenizer.json`.
    /// Settings recfuse cannot reproduce (another normaliser or model type) are refused.
    public init(modelDirectory dir: URL) throws {
        let vocabURL = dir.appendingPathComponent("vocab.txt")
        guard let data = try? Data(contentsOf: vocabURL) else {
            throw RecError.notFound("cannot read \(vocabURL.path)")
        }
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> String in
            var l = line
            if l.last == 0x0D { l = l.dropLast() }
            return String(decoding: l, as: UTF8.self)
        }
        if lines.last == "" { lines.removeLast() }
        var options = Options()
        let tjURL = dir.appendingPathComponent("tokenizer.json")
        if let tj = try? Data(contentsOf: tjURL) {
            options = try Self.options(fromTokenizerJSON: tj, path: tjURL.path, vocabularySize: lines.count)
        }
        try self.init(vocabulary: lines, options: options)
    }

    static func options(fromTokenizerJSON data: Data, path: String, vocabularySize: Int) throws -> Options {
        func fail(_ m: String) -> RecError { RecError.failedPrecondition("\(path): \(m)") }
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        var o = Options()
        if let n = obj["normalizer"] as? [String: Any] {
            guard n["type"] as? String == "BertNormalizer" else {
                throw fail("normalizer \(n["type"] ?? "?") is not BertNormalizer")
            }
            o.cleanText = n["clean_text"] as? Bool ?? true
            o.handleChineseChars = n["handle_chinese_chars"] as? Bool ?? true
            o.lowercase = n["lowercase"] as? Bool ?? true
            o.stripAccents = n["strip_accents"] as? Bool
        }
        if let p = obj["pre_tokenizer"] as? [String: Any], p["type"] as? String != "BertPreTokenizer" {
            throw fail("pre-tokenizer \(p["type"] ?? "?") is not BertPreTokenizer")
        }
        guard let m = obj["model"] as? [String: Any], m["type"] as? String == "WordPiece" else {
            throw fail("model is not WordPiece")
        }
        o.unk = m["unk_token"] as? String ?? o.unk
        o.continuingPrefix = m["continuing_subword_prefix"] as? String ?? o.continuingPrefix
        o.maxInputCharsPerWord = m["max_input_chars_per_word"] as? Int ?? o.maxInputCharsPerWord
        if let list = obj["added_tokens"] as? [[String: Any]] {
            o.addedTokens = []
            for t in list {
                guard let content = t["content"] as? String else { throw fail("added token without content") }
                let flags = ["single_word", "lstrip", "rstrip", "normalized"].filter { t[$0] as? Bool == true }
                guard flags.isEmpty else {
                    throw fail("added token \(content) sets \(flags), which recfuse does not implement")
                }
                o.addedTokens.append(content)
            }
        }
        if let v = m["vocab"] as? [String: Any], v.count != vocabularySize {
            throw fail("vocabulary has \(v.count) entries, vocab.txt has \(vocabularySize)")
        }
        return o
    }

    // MARK: - encoding

    /// Token ids for one sequence: [CLS] pieces [SEP], at most `maxLength` ids in all.
    public func encode(_ text: String, maxLength: Int = 256) -> [Int32] {
        precondition(maxLength >= 2, "maxLength must leave room for [CLS] and [SEP]")
        var out: [Int32] = [clsID]
        let budget = maxLength - 2
        segments: for (segment, special) in splitAddedTokens(text) {
            if let special {
                out.append(special)
                continue
            }
            for word in words(segment) {
                if out.count - 1 >= budget { break segments }
                wordPiece(word, into: &out)
            }
        }
        if out.count - 1 > budget { out.removeLast(out.count - 1 - budget) }
        out.append(sepID)
        return out
    }

    /// The text cut around added tokens: plain segments (nil id) and added tokens (their id).
    func splitAddedTokens(_ text: String) -> [(String, Int32?)] {
        guard !added.isEmpty, text.utf8.contains(where: { b in added.contains { $0.bytes.first == b } }) else {
            return [(text, nil)]
        }
        let bytes = Array(text.utf8)
        var out: [(String, Int32?)] = []
        var segmentStart = 0, i = 0
        while i < bytes.count {
            var match: (len: Int, id: Int32)?
            for t in added where t.bytes.count <= bytes.count - i && bytes[i] == t.bytes[0] {
                if bytes[i..<(i + t.bytes.count)].elementsEqual(t.bytes) {
                    match = (t.bytes.count, t.id)
                    break
                }
            }
            guard let m = match else {
                i += 1
                continue
            }
            if segmentStart < i { out.append((String(decoding: bytes[segmentStart..<i], as: UTF8.self), nil)) }
            out.append(("", m.id))
            i += m.len
            segmentStart = i
        }
        if segmentStart < bytes.count { out.append((String(decoding: bytes[segmentStart...], as: UTF8.self), nil)) }
        return out
    }

    /// The pieces as strings (for debugging and `recfuse tokenize`).
    public func tokens(_ ids: [Int32]) -> [String] { ids.map { vocabulary[Int($0)] } }

    /// Normalised text, as BertNormalizer leaves it.
    public func normalize(_ text: String) -> String {
        var cleaned = String.UnicodeScalarView()
        var ascii = true
        for s in text.unicodeScalars {
            if options.cleanText {
                if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
                if Self.isWhitespace(s) {
                    cleaned.append(" ")
                    continue
                }
            }
            if options.handleChineseChars && Self.isChinese(s) {
                cleaned.append(" ")
                cleaned.append(s)
                cleaned.append(" ")
                ascii = false
                continue
            }
            if s.value >= 0x80 { ascii = false }
            cleaned.append(s)
        }
        var result = String(cleaned)
        if options.stripAccents ?? options.lowercase, !ascii {
            var stripped = String.UnicodeScalarView()
            for s in result.decomposedStringWithCanonicalMapping.unicodeScalars
            where Self.category(s) != .nonspacingMark {
                stripped.append(s)
            }
            result = String(stripped)
        }
        if options.lowercase {
            if ascii {
                result = String(
                    decoding: result.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
            } else {
                var lower = String.UnicodeScalarView()
                for s in result.unicodeScalars {
                    if s.value < 0x80 {
                        lower.append((0x41...0x5A).contains(s.value) ? Unicode.Scalar(s.value | 0x20)! : s)
                    } else {
                        lower.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                    }
                }
                result = String(lower)
            }
        }
        return result
    }

    /// Normalised and pre-tokenised words, each as its scalars.
    public func words(_ text: String) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for s in normalize(text).unicodeScalars {
            if Self.isWhitespace(s) {
                if !current.isEmpty {
                    words.append(current)
                    current.removeAll(keepingCapacity: true)
                }
            } else if Self.isPunctuation(s) {
                if !current.isEmpty {
                    words.append(current)
                    current.removeAll(keepingCapacity: true)
                }
                words.append([s])
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    private func wordPiece(_ word: [Unicode.Scalar], into out: inout [Int32]) {
        if word.count > options.maxInputCharsPerWord {
            out.append(unkID)
            return
        }
        // UTF-8 of the word and the byte offset where each scalar starts.
        var bytes: [UInt8] = []
        var offsets: [Int] = []
        offsets.reserveCapacity(word.count + 1)
        for s in word {
            offsets.append(bytes.count)
            bytes.append(contentsOf: String(s).utf8)
        }
        offsets.append(bytes.count)
        let prefix = Array(options.continuingPrefix.utf8)
        var pieces: [Int32] = []
        var start = 0
        var key: [UInt8] = []
        while start < word.count {
            var end = word.count
            var found: Int32?
            while start < end {
                key.removeAll(keepingCapacity: true)
                if start > 0 { key.append(contentsOf: prefix) }
                key.append(contentsOf: bytes[offsets[start]..<offsets[end]])
                if let id = ids[key] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                out.append(unkID)
                return
            }
            pieces.append(id)
            start = end
        }
        out.append(contentsOf: pieces)
    }

    // MARK: - character classes (as in the `tokenizers` crate)

    /// The general category the reference sees. The `tokenizers` crate classifies characters
    /// with Unicode 8.0 tables (its `unicode_categories` dependency), so a character assigned
    /// later is "unassigned" there — neither punctuation, nor a mark, nor a control — and the
    /// seven characters whose category changed since 8.0 keep their 8.0 category. Found by
    /// comparing every code point below U+30000 with the reference (scripts/reference/test_minilm.py).
    static func category(_ s: Unicode.Scalar) -> Unicode.GeneralCategory {
        switch s.value {
        case 0x166D, 0x111C9: return .otherPunctuation  // So, Mn today
        case 0x1734, 0x1171E: return .nonspacingMark  // Mc today
        case 0x1885, 0x1886: return .otherLetter  // Mn today
        case 0xA9BD: return .spacingMark  // Mn today
        default: break
        }
        guard let age = s.properties.age, age.major < 9 else { return .unassigned }
        return s.properties.generalCategory
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || (s.value >= 0x80 && s.properties.isWhitespace)
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        if s.value >= 0x20 && s.value < 0x7F { return false }
        switch category(s) {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v)
                || (0x7B...0x7E).contains(v)
        }
        switch category(s) {
        case .connectorPunctuation, .dashPunctuation, .closePunctuation, .finalPunctuation, .initialPunctuation,
            .otherPunctuation, .openPunctuation:
            return true
        default: return false
        }
    }

    /// The CJK blocks BertNormalizer pads with spaces. The `tokenizers` crate lists
    /// U+2B920–U+2CEAF where BERT's Python lists U+2B820–U+2CEAF; we follow the crate.
    static func isChinese(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }
}
