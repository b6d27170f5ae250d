import Foundation
import RecCore

extension Splits {
    /// Reads an external split: TSV lines `train|test <TAB> user <TAB> item <TAB> rating <TAB> timestamp`
    /// in the dataset's raw ids. Ids the dataset does not know are an error naming the line.
    public static func fromFile(_ url: URL, dataset d: Dataset) throws -> Split {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw RecError(.notFound, "cannot read split file \(url.path): \(error.localizedDescription)", cause: error)
        }
        var train: [Interaction] = [], test: [Interaction] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty
        {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            func fail(_ m: String) -> RecError { RecError.invalidArgument("\(url.path):\(n + 1): \(m)") }
            guard f.count == 5 else { throw fail("expected 5 tab-separated fields, found \(f.count)") }
            guard let u = d.users.index(of: String(f[1])) else { throw fail("unknown user '\(f[1])'") }
            guard let i = d.items.index(of: String(f[2])) else { throw fail("unknown item '\(f[2])'") }
            guard let r = Float(f[3]), r.isFinite else { throw fail("rating '\(f[3])' is not a number") }
            guard let t = Int64(f[4]) ?? Double(f[4]).map({ Int64($0) }) else {
                throw fail("timestamp '\(f[4])' is not a number")
            }
            let x = Interaction(user: u, item: i, rating: r, timestamp: t)
            switch f[0] {
            case "train": train.append(x)
            case "test": test.append(x)
            default: throw fail("first field is '\(f[0])', expected train or test")
            }
        }
        return Split(protocolName: "split-file", train: with(d, train), test: test)
    }

    /// Writes `split` in the split-file format (raw ids), for other libraries to run on.
    public static func write(_ split: Split, to url: URL) throws {
        let d = split.train
        var out = ""
        out.reserveCapacity((d.interactions.count + split.test.count) * 24)
        func line(_ tag: String, _ x: Interaction) {
            let r = x.rating == x.rating.rounded() ? String(Int(x.rating)) : String(x.rating)
            out += "\(tag)\t\(d.users[x.user])\t\(d.items[x.item])\t\(r)\t\(x.timestamp)\n"
        }
        for x in d.interactions { line("train", x) }
        for x in split.test { line("test", x) }
        try out.write(to: url, atomically: true, encoding: .utf8)
    }
}
