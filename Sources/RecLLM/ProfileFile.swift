import Foundation
import RecCore
import RecText

/// The JSON-lines file `recfuse profiles` writes and `recfuse train --profiles` reads: one
/// object per line with "kind" (item | user), the profile's fields, its "text" (what the
/// encoder embeds) and, for LLM-enriched users, a "preference" sentence.
public enum ProfileFile {
    /// One line for `profile`.
    public static func line<P: Encodable>(
        _ kind: String, _ profile: P, _ text: String,
        extra: [String: String] = [:]
    ) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var obj = try JSONSerialization.jsonObject(with: enc.encode(profile)) as? [String: Any] else {
            throw RecError.internal("a \(kind) profile did not encode as a JSON object")
        }
        obj["kind"] = kind
        obj["text"] = text
        for (k, v) in extra { obj[k] = v }
        var data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(0x0A)
        return data
    }

    /// Every template profile of `catalog` and `users` (`kind`: items, users or all), as lines.
    public static func templates(_ catalog: Catalog, _ users: UserStore, kind: String) throws -> Data {
        var out = Data()
        if kind != "users" { for p in Profiles.items(catalog) { out.append(try line("item", p, p.text)) } }
        if kind != "items" {
            for p in Profiles.users(users, catalog: catalog) { out.append(try line("user", p, p.text)) }
        }
        return out
    }

    /// What an LLM enrichment run did.
    public struct Summary: Sendable {
        public var items = ProfileWriter.Stats()
        public var users = ProfileWriter.Stats()
        public var failed: Int { items.failed + users.failed }
    }

    /// Enriches the profiles `kind` selects with `writer`, appending to `url` and resuming
    /// from it: ids already in the file count as done, and a torn last line (a killed run) is
    /// dropped first. Profiles whose calls failed are left out, so the next run retries them.
    public static func enrich(
        _ url: URL, catalog: Catalog, users: UserStore, kind: String, writer: ProfileWriter,
        log: (String) -> Void
    ) throws -> Summary {
        let done = try resume(url)
        log(
            "\(url.path): \(done["item", default: []].count) items and \(done["user", default: []].count) users "
                + "already done"
        )
        let fh = try FileHandle(forWritingTo: url)
        defer { try? fh.close() }
        try fh.seekToEnd()
        /// Appends whole lines; a failure (a full disk, a file-size limit) names the file and
        /// says what is kept. A crash mid-append leaves a torn last line, which `resume` drops.
        func append(_ data: Data) throws {
            if Failpoint.armed == "profiles-mid-write" {
                try? fh.write(contentsOf: data.prefix(data.count / 2))
                Failpoint.hit("profiles-mid-write")
            }
            var failed: Int32 = 0
            data.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let w = Foundation.write(fh.fileDescriptor, raw.baseAddress! + done, raw.count - done)
                    if w < 0 {
                        if errno == EINTR { continue }
                        failed = errno
                        return
                    }
                    done += w
                }
            }
            if failed != 0 {
                throw RecError(
                    failed == ENOSPC || failed == EFBIG ? .resourceExhausted : .unavailable,
                    "cannot append to \(url.path): \(String(cString: strerror(failed))); the profiles written "
                        + "before are kept, and a run once there is room resumes after them")
            }
        }
        var s = Summary()
        if kind != "users" {
            s.items = try writer.items(
                catalog, done: done["item", default: []],
                emit: { ps in
                    try append(ps.reduce(into: Data()) { $0.append(try line("item", $1, $1.text)) })
                }, progress: { n, total in log("items: \(n)/\(total)") })
        }
        if kind != "items" {
            s.users = try writer.users(
                users, catalog: catalog, done: done["user", default: []],
                emit: { rs in
                    try append(
                        rs.reduce(into: Data()) {
                            let extra = $1.preference.isEmpty ? [:] : ["preference": $1.preference]
                            $0.append(try line("user", $1.profile, $1.profile.text, extra: extra))
                        })
                }, progress: { n, total in log("users: \(n)/\(total)") })
        }
        return s
    }

    /// The ids by kind already in `url`, creating it if it does not exist and rewriting it
    /// without any line that is not a complete profile.
    public static func resume(_ url: URL) throws -> [String: Set<String>] {
        var done: [String: Set<String>] = ["item": [], "user": []]
        guard FileManager.default.fileExists(atPath: url.path) else {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw RecError.invalidArgument("cannot create \(url.path)")
            }
            return done
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        var kept = ""
        for line in text.split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let k = obj["kind"] as? String, let id = obj["id"] as? String
            else { continue }
            done[k, default: []].insert(id)
            kept += line + "\n"
        }
        if kept.utf8.count != text.utf8.count { try kept.write(to: url, atomically: true, encoding: .utf8) }
        return done
    }
}
