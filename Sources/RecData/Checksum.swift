import Crypto
import Foundation
import RecCore

/// SHA-256 helpers (swift-crypto) for downloads, bundles and dataset fingerprints.
public enum Checksum {
    public static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The 32 bytes of SHA-256(`data`).
    public static func sha256Digest(_ data: Data) -> Data { Data(SHA256.hash(data: data)) }

    public static func sha256(file url: URL) throws -> String {
        guard let h = FileHandle(forReadingAtPath: url.path) else {
            throw RecError.notFound("cannot open \(url.path)")
        }
        defer { try? h.close() }
        var hasher = SHA256()
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// A source-independent fingerprint of a dataset's ratings: SHA-256 over the sorted lines
    /// `user<TAB>item<TAB>rating<TAB>timestamp` in raw ids. The same ratings give the same
    /// fingerprint whether they came from GroupLens' zip or RecBole's atomic files.
    public static func fingerprint(_ d: Dataset) -> String {
        var lines = d.interactions.map { x -> String in
            let r = x.rating == x.rating.rounded() ? String(Int(x.rating)) : String(x.rating)
            return "\(d.users[x.user])\t\(d.items[x.item])\t\(r)\t\(x.timestamp)\n"
        }
        lines.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var hasher = SHA256()
        for l in lines { hasher.update(data: Data(l.utf8)) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
