import Foundation
import Logging

/// `--log-format json`: one JSON object per line on stderr, for log shippers. Keys: `time`
/// (RFC 3339, UTC, microseconds), `level`, `message`, `label`, `source`, then the metadata
/// flattened (a request's line carries `method`, `status`, `micros`, `request_id`,
/// `trace_id`, `transport`). A metadata key never overwrites the first five.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        // One write(2) per line, so lines from several threads never interleave.
        var bytes = Array(line.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { break }
            off += n
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let p = metadataProvider { merged.merge(p.get(), uniquingKeysWith: { _, b in b }) }
        if let m = event.metadata { merged.merge(m, uniquingKeysWith: { _, b in b }) }
        var out = "{\"time\":\(Self.quote(Self.timestamp()))"
        out += ",\"level\":\(Self.quote(event.level.rawValue)),\"message\":\(Self.quote(event.message.description))"
        out += ",\"label\":\(Self.quote(label)),\"source\":\(Self.quote(event.source))"
        let reserved: Set<String> = ["time", "level", "message", "label", "source"]
        for (k, v) in merged.sorted(by: { $0.key < $1.key }) where !reserved.contains(k) {
            out += ",\(Self.quote(k)):\(Self.json(v))"
        }
        write(out + "}\n")
    }

    static func json(_ v: Logger.Metadata.Value) -> String {
        switch v {
        case .string(let s): return quote(s)
        case .stringConvertible(let c): return quote(c.description)
        case .array(let a): return "[" + a.map(json).joined(separator: ",") + "]"
        case .dictionary(let d):
            return "{"
                + d.sorted(by: { $0.key < $1.key }).map { "\(quote($0.key)):\(json($0.value))" }.joined(
                    separator: ",") + "}"
        }
    }

    /// A JSON string literal (RFC 8259: quote, backslash and control characters escaped).
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, Int(ts.tv_nsec / 1000))
    }
}
