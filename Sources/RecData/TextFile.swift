import Foundation
import RecCore

/// A text file read whole and split into lines, remembering its name for errors.
/// Decodes UTF-8, falling back to ISO-8859-1 (the GroupLens files predate UTF-8).
struct TextFile {
    let path: String
    let lines: [Substring]

    init(_ url: URL) throws {
        path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw RecError(.notFound, "cannot read \(url.path): \(error.localizedDescription)", cause: error)
        }
        let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) ?? ""
        // Split on the byte, not the Character: "\r\n" is one Character, and comparing
        // graphemes costs several times more than the bytes.
        var lines = text.utf8.split(separator: 10, omittingEmptySubsequences: false).map { line in
            Substring(line.last == 13 ? line.dropLast() : line)
        }
        if lines.last?.isEmpty == true { lines.removeLast() }
        self.lines = lines
    }

    /// An error naming this file and a 1-based line number.
    func error(line: Int, _ message: String) -> RecError {
        RecError.dataLoss("\(path):\(line): \(message)")
    }

    /// Every non-empty line decoded as one JSON value (JSON lines), on all cores, with its
    /// 1-based line number, in file order. The first line that does not decode is an error
    /// naming it: `message` and the decoder's reason.
    func decodeLines<T: Decodable & Sendable>(_ type: T.Type, _ message: String) throws -> [(Int, T)] {
        let numbers = lines.indices.filter { !lines[$0].isEmpty }
        let all = lines
        let decoded = Parallel.map(numbers.count, chunks: Parallel.activeCores * 4, scratch: { JSONDecoder() }) {
            dec, k -> Result<T, Error> in
            Result { try dec.decode(T.self, from: Data(all[numbers[k]].utf8)) }
        }
        return try zip(numbers, decoded).map { n, r in
            switch r {
            case .success(let v): return (n + 1, v)
            case .failure(let e): throw error(line: n + 1, "\(message) (\(Self.reason(e)))")
            }
        }
    }

    /// A decoding error's reason in a few words, without Swift's type dump.
    static func reason(_ e: Error) -> String {
        switch e {
        case DecodingError.keyNotFound(let key, _): "no '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            "'\(c.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case DecodingError.dataCorrupted: "not valid JSON"
        default: "\(e)"
        }
    }

    /// Iterates non-empty lines with their 1-based numbers.
    func forEachLine(startingAt first: Int = 0, _ body: (Int, Substring) throws -> Void) rethrows {
        for n in first..<lines.count where !lines[n].isEmpty { try body(n + 1, lines[n]) }
    }
}

/// Splits one CSV record (RFC 4180 quoting: "a, b" and "" for a quote). Returns nil on an
/// unterminated quote.
func splitCSV(_ line: Substring) -> [String]? {
    var fields: [String] = []
    var cur = ""
    var inQuotes = false
    var it = line.makeIterator()
    var pending: Character? = nil
    while let c = pending ?? it.next() {
        pending = nil
        if inQuotes {
            if c == "\"" {
                if let n = it.next() {
                    if n == "\"" {
                        cur.append("\"")
                    } else {
                        inQuotes = false
                        pending = n
                    }
                } else {
                    inQuotes = false
                }
            } else {
                cur.append(c)
            }
        } else if c == "\"" {
            inQuotes = true
        } else if c == "," {
            fields.append(cur)
            cur = ""
        } else {
            cur.append(c)
        }
    }
    if inQuotes { return nil }
    fields.append(cur)
    return fields
}

/// "Toy Story (1995)" -> ("Toy Story", 1995); titles without a trailing year are kept whole.
func splitTitleYear(_ raw: String) -> (String, Int?) {
    let t = raw.trimmingCharacters(in: .whitespaces)
    guard t.hasSuffix(")"), let open = t.lastIndex(of: "(") else { return (t, nil) }
    let inner = t[t.index(after: open)..<t.index(before: t.endIndex)]
    let digits = inner.prefix(4)
    guard digits.count == 4, digits.allSatisfy(\.isNumber), let y = Int(digits),
        inner.count == 4 || !inner.dropFirst(4).contains(where: \.isLetter)
    else { return (t, nil) }
    return (t[..<open].trimmingCharacters(in: .whitespaces), y)
}
