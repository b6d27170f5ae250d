import Foundation
import RecCore
import RecData

/// Profile embeddings kept on disk between runs: training, evaluation and retraining embed the
/// same thousands of profiles every time, and on a 2-core machine that is most of a small
/// dataset's training time (ml-100k's 2,625 profiles take about a minute; the GAT itself less).
///
/// One file per encoder (its weights' SHA-256 and maximum sequence length are in the name):
/// a header, then records of SHA-256(text) (32 bytes), the embedding (hidden × Float32, little
/// endian) and an FNV-1a checksum of both (4 bytes). New embeddings are appended, one `write`
/// per batch of records; a torn or corrupt record (a crash mid-append, two writers, a bad
/// disk) fails its checksum and is ignored, and is encoded again the next time it is asked
/// for. The cache returns exactly the floats the encoder produced when it first embedded the
/// text. Safe to delete at any time.
public final class EmbeddingCache: @unchecked Sendable {
    public let file: URL
    let hidden: Int
    private let lock = NSLock()
    private var table: [Data: [Float]]?
    private let warn: (String) -> Void
    private var warned = false
    /// Bytes of one record.
    var recordBytes: Int { 32 + hidden * 4 + 4 }
    static let magic = Data("recfuse-embeddings-v1\n".utf8)

    /// The cache of `encoder`'s embeddings under `directory` (created when first written).
    /// `warn` hears, once, that the file could not be written (the cache then works in memory).
    public convenience init(directory: URL, encoder: SentenceEncoder, warn: @escaping (String) -> Void = { _ in }) {
        let sha = encoder.weightsSHA256.map { String($0.prefix(16)) } ?? "unknown-weights"
        self.init(
            file: directory.appendingPathComponent(
                "\(encoder.name)-\(sha)-len\(encoder.maxSeqLength)-d\(encoder.dimension).emb"),
            hidden: encoder.dimension, warn: warn)
    }

    init(file: URL, hidden: Int, warn: @escaping (String) -> Void = { _ in }) {
        self.file = file
        self.hidden = hidden
        self.warn = warn
    }

    static func key(_ text: String) -> Data { Checksum.sha256Digest(Data(text.utf8)) }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes {
            h ^= UInt32(b)
            h = h &* 16_777_619
        }
        return h
    }

    /// The embeddings the file holds (loaded on first use), keyed by text digest.
    private func loaded() -> [Data: [Float]] {
        if let table { return table }
        var t: [Data: [Float]] = [:]
        if let d = try? Data(contentsOf: file, options: .alwaysMapped), d.starts(with: Self.magic) {
            let n = recordBytes
            var at = Self.magic.count
            d.withUnsafeBytes { raw in
                while at + n <= raw.count {
                    let rec = UnsafeRawBufferPointer(rebasing: raw[at..<(at + n)])
                    let body = UnsafeRawBufferPointer(rebasing: rec[0..<(n - 4)])
                    let stored = rec.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
                    if UInt32(littleEndian: stored) == Self.checksum(body) {
                        let v = (0..<hidden).map {
                            Float(
                                bitPattern: UInt32(
                                    littleEndian: rec.loadUnaligned(fromByteOffset: 32 + $0 * 4, as: UInt32.self)))
                        }
                        t[Data(rec[0..<32])] = v
                    }
                    at += n
                }
            }
        }
        table = t
        return t
    }

    /// The cached embedding of each text, nil where there is none.
    public func lookup(_ texts: [String]) -> [[Float]?] {
        lock.lock()
        defer { lock.unlock() }
        let t = loaded()
        return texts.map { t[Self.key($0)] }
    }

    /// Remembers `rows` (one embedding per text, `hidden` wide) in memory and on disk. A
    /// directory or file that cannot be written leaves the cache in memory only (said once
    /// through `warn`) and returns the error.
    @discardableResult
    public func store(_ texts: [String], rows: [[Float]]) -> Error? {
        precondition(texts.count == rows.count, "EmbeddingCache.store: one row per text")
        lock.lock()
        defer { lock.unlock() }
        var t = loaded()
        var out = Data()
        out.reserveCapacity(texts.count * recordBytes)
        for (text, row) in zip(texts, rows) {
            precondition(row.count == hidden, "EmbeddingCache.store: rows must be \(hidden) wide")
            let k = Self.key(text)
            if t[k] != nil { continue }
            t[k] = row
            var rec = k
            for x in row { withUnsafeBytes(of: x.bitPattern.littleEndian) { rec.append(contentsOf: $0) } }
            let sum = rec.withUnsafeBytes { Self.checksum($0) }
            withUnsafeBytes(of: sum.littleEndian) { rec.append(contentsOf: $0) }
            out.append(rec)
        }
        table = t
        guard !out.isEmpty else { return nil }
        do {
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            let fd = open(file.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw RecError.unavailable("cannot open \(file.path): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            var st = stat()
            if fstat(fd, &st) == 0 {
                let size = Int(st.st_size), header = Self.magic.count
                if size == 0 {
                    out.insert(contentsOf: Self.magic, at: 0)
                } else if size > header && (size - header) % recordBytes != 0 {
                    // A torn last record (a crash mid-append): cut it, or every record
                    // appended after it would be read misaligned.
                    _ = ftruncate(fd, off_t(header + (size - header) / recordBytes * recordBytes))
                }
            }
            try out.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let w = write(fd, raw.baseAddress! + done, raw.count - done)
                    if w < 0 {
                        if errno == EINTR { continue }
                        throw RecError.unavailable("cannot write \(file.path): \(String(cString: strerror(errno)))")
                    }
                    done += w
                }
            }
            return nil
        } catch {
            if !warned {
                warned = true
                warn("embedding cache \(file.path) not written (\(error)); profiles are embedded again next run")
            }
            return error
        }
    }

    /// `$RECFUSE_CACHE_DIR`, else `$XDG_CACHE_HOME/recfuse`, else `~/.cache/recfuse`.
    public static var defaultDirectory: URL {
        let env = ProcessInfo.processInfo.environment
        if let d = env["RECFUSE_CACHE_DIR"], !d.isEmpty { return URL(fileURLWithPath: d) }
        if let d = env["XDG_CACHE_HOME"], !d.isEmpty {
            return URL(fileURLWithPath: d).appendingPathComponent("recfuse")
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/recfuse")
    }
}
