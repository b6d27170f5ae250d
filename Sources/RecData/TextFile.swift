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
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines = lines.map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        if lines.last?.isEmpty == true { lines.removeLast() }
        self.lines = lines
    }

    /// An error naming this file and a 1-based line number.
    func error(line: Int, _ message: String) -> RecError {
        RecError.dataLoss("\(path):\(line): \(message)")
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
