import Foundation
import RecCore
import SwiftProtobuf

/// The serializer of the three responses that carry a ranked item list (Retrieve, Rank,
/// Rerank): the server's hot path.
///
/// Why not swift-protobuf's `serializedData()`: encoding a 100-item `RankResponse` through it
/// took about 55 of the 83 µs an in-process Rank cost (perf, `Bindings/bench/inproc`). It
/// walks every `RFScoredItem` by value (retain/release per field), sizes every message twice,
/// and encodes each `components` map through generic metadata lookups. Here, the fields of
/// an item that never change while a bundle is served (`item_id`; `title`, `year`,
/// `genres`) are encoded once per catalogue, and a response is those bytes copied in order
/// with the per-call fields (`score`, `rank`, `components`) between them.
///
/// The output is the bytes swift-protobuf writes for the same message, field for field and
/// in field-number order (`ItemListEncoderTests` checks byte equality against the generated
/// code), with one deliberate difference: `components` entries come in the engine's order
/// (the order `ScoredItem.components` holds), where swift-protobuf writes a map in hash
/// order, which changes from process to process. Any protobuf decoder reads both alike.
/// The small parts (`ResponseMeta`, the judge) still go through the generated code.
public final class ItemListEncoder: Sendable {
    /// The catalogue the cached bytes describe; the encoder is only valid for it.
    public let catalog: Catalog
    /// Per item i: `bytes[offsets[2i] ..< offsets[2i+1]]` is field 1 (item_id), key included;
    /// `bytes[offsets[2i+1] ..< offsets[2i+2]]` is fields 4, 5 and 6 (title, year, genres).
    private let bytes: [UInt8]
    private let offsets: [Int]

    public init(catalog: Catalog) {
        self.catalog = catalog
        let w = ProtoWriter(capacity: 64 * catalog.count)
        var offsets = [0]
        offsets.reserveCapacity(2 * catalog.count + 1)
        for i in 0..<catalog.count {
            let m = catalog.meta[i]
            w.string(1, catalog.ids.ids[i])
            offsets.append(w.count)
            w.string(4, m.title)
            w.uint32(5, UInt32(m.year ?? 0))
            for g in m.genres { w.string(6, g, always: true) }
            offsets.append(w.count)
        }
        bytes = w.bytes
        self.offsets = offsets
    }

    /// A `RetrieveResponse`.
    public func retrieve(_ r: Recommendation, bundleVersion: String) throws -> Data {
        let w = ProtoWriter(capacity: estimate(r.items))
        items(r.items, into: w)
        try w.message(2, RFResponseMeta(r, bundleVersion: bundleVersion))
        return w.data()
    }

    /// A `RankResponse`.
    public func rank(_ r: Recommendation, bundleVersion: String) throws -> Data {
        let w = ProtoWriter(capacity: estimate(r.items))
        items(r.items, into: w)
        try w.message(2, RFResponseMeta(r, bundleVersion: bundleVersion))
        for u in r.unknownItems { w.string(3, u, always: true) }
        return w.data()
    }

    /// A `RerankResponse`.
    public func rerank(_ r: Recommendation, judge: RFJudge, bundleVersion: String) throws -> Data {
        let w = ProtoWriter(capacity: estimate(r.items))
        items(r.items, into: w)
        try w.message(2, RFResponseMeta(r, bundleVersion: bundleVersion))
        for u in r.unknownItems { w.string(3, u, always: true) }
        w.uint64(4, UInt64(judge.rawValue))
        return w.data()
    }

    private func estimate(_ items: [ScoredItem]) -> Int {
        items.count * (bytes.count / max(1, catalog.count) + 48) + 256
    }

    /// Field 1, `repeated ScoredItem items`: one length-delimited entry per item, `rank` its
    /// 1-based position.
    private func items(_ items: [ScoredItem], into w: ProtoWriter) {
        bytes.withUnsafeBufferPointer { all in
            for (n, s) in items.enumerated() {
                let i = Int(s.item)
                precondition(i >= 0 && i < catalog.count, "item index \(i) outside a catalogue of \(catalog.count)")
                let id = UnsafeBufferPointer(rebasing: all[offsets[2 * i]..<offsets[2 * i + 1]])
                let rest = UnsafeBufferPointer(rebasing: all[offsets[2 * i + 1]..<offsets[2 * i + 2]])
                let rank = UInt64(n + 1)
                var size = id.count + rest.count + 1 + ProtoWriter.varintSize(rank)
                if s.score.bitPattern != 0 { size += 5 }
                s.forEachComponent { name, _ in
                    let entry = ProtoWriter.mapEntrySize(name)
                    size += 1 + ProtoWriter.varintSize(UInt64(entry)) + entry
                }
                w.key(1, .lengthDelimited)
                w.varint(UInt64(size))
                w.append(id)
                w.float(2, s.score)
                w.uint64(3, rank)
                w.append(rest)
                s.forEachComponent { name, value in w.mapEntry(7, name, value) }
            }
        }
    }
}

extension RFReply {
    /// The same bytes as `serializedData()` (`ItemListEncoderTests` checks), written in one
    /// pass: the generated code sizes the message first, then copies the payload in, and
    /// the payload is every reply's bulk.
    func encoded() -> Data {
        let w = ProtoWriter(capacity: payload.count + requestID.utf8.count + bundleVersion.utf8.count + 64)
        if hasStatus {
            let code = UInt64(status.code.rawValue)
            let message = status.message.utf8.count
            let size =
                (code == 0 ? 0 : 1 + ProtoWriter.varintSize(code))
                + (message == 0 ? 0 : 1 + ProtoWriter.varintSize(UInt64(message)) + message)
            w.key(1, .lengthDelimited)
            w.varint(UInt64(size))
            w.uint64(1, code)
            w.string(2, status.message)
        }
        w.bytesField(2, payload)
        w.string(3, requestID)
        w.string(4, bundleVersion)
        w.uint64(5, serverMicros)
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) {
            let (kn, vn) = (k.utf8.count, v.utf8.count)
            let size =
                (kn == 0 ? 0 : 1 + ProtoWriter.varintSize(UInt64(kn)) + kn)
                + (vn == 0 ? 0 : 1 + ProtoWriter.varintSize(UInt64(vn)) + vn)
            w.key(6, .lengthDelimited)
            w.varint(UInt64(size))
            w.string(1, k)
            w.string(2, v)
        }
        return w.data()
    }
}

/// Appends protobuf binary encoding to a growing malloc'd buffer, with proto3's rules for
/// scalar fields: a field at its default value is not written unless `always` is set
/// (repeated elements). `data()` hands the buffer to a `Data` without copying it.
final class ProtoWriter {
    enum WireType: UInt64 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 256) {
        self.capacity = max(64, capacity)
        base = malloc(self.capacity)!.assumingMemoryBound(to: UInt8.self)
    }

    deinit { if capacity > 0 { free(base) } }

    /// The bytes written, as a `Data` that takes over the buffer. The writer is spent.
    func data() -> Data {
        precondition(capacity > 0, "ProtoWriter.data() called twice")
        guard count > 0 else { return Data() }
        capacity = 0  // the Data frees the buffer now
        return Data(bytesNoCopy: base, count: count, deallocator: .free)
    }

    /// A copy of the bytes written.
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inline(__always)
    private func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        precondition(capacity > 0, "ProtoWriter written to after data()")
        capacity = max(capacity * 2, count + n)
        base = realloc(base, capacity)!.assumingMemoryBound(to: UInt8.self)
    }

    static func varintSize(_ v: UInt64) -> Int { v == 0 ? 1 : (64 - v.leadingZeroBitCount + 6) / 7 }

    /// The size of one `map<string, float>` entry's content: key (field 1) and value (field 2),
    /// both always written, as swift-protobuf does.
    static func mapEntrySize(_ key: String) -> Int {
        let n = key.utf8.count
        return 1 + varintSize(UInt64(n)) + n + 5
    }

    func varint(_ v: UInt64) {
        reserve(10)
        var v = v
        while v >= 0x80 {
            base[count] = UInt8(truncatingIfNeeded: v) | 0x80
            count += 1
            v >>= 7
        }
        base[count] = UInt8(v)
        count += 1
    }

    func key(_ field: Int, _ type: WireType) { varint(UInt64(field) << 3 | type.rawValue) }

    func append(_ b: UnsafeBufferPointer<UInt8>) {
        guard let src = b.baseAddress, b.count > 0 else { return }
        reserve(b.count)
        (base + count).update(from: src, count: b.count)
        count += b.count
    }

    func string(_ field: Int, _ s: String, always: Bool = false) {
        guard always || !s.isEmpty else { return }
        key(field, .lengthDelimited)
        var s = s
        s.withUTF8 { u in
            varint(UInt64(u.count))
            append(u)
        }
    }

    func bytesField(_ field: Int, _ d: Data) {
        guard !d.isEmpty else { return }
        key(field, .lengthDelimited)
        varint(UInt64(d.count))
        d.withUnsafeBytes { append($0.bindMemory(to: UInt8.self)) }
    }

    func uint32(_ field: Int, _ v: UInt32) { uint64(field, UInt64(v)) }

    func uint64(_ field: Int, _ v: UInt64) {
        guard v != 0 else { return }
        key(field, .varint)
        varint(v)
    }

    /// proto3 leaves out a float whose bit pattern is zero (+0.0), like the generated code.
    func float(_ field: Int, _ f: Float, always: Bool = false) {
        guard always || f.bitPattern != 0 else { return }
        key(field, .fixed32)
        reserve(4)
        let b = f.bitPattern.littleEndian
        for i in 0..<4 { base[count + i] = UInt8(truncatingIfNeeded: b >> (8 * UInt32(i))) }
        count += 4
    }

    /// One entry of a `map<string, float>` field.
    func mapEntry(_ field: Int, _ name: String, _ value: Float) {
        key(field, .lengthDelimited)
        varint(UInt64(Self.mapEntrySize(name)))
        string(1, name, always: true)
        float(2, value, always: true)
    }

    /// A singular message field, always written (the generated code writes a message field
    /// that was set, even when it is empty).
    func message(_ field: Int, _ m: some SwiftProtobuf.Message) throws {
        let encoded: [UInt8] = try m.serializedBytes()
        key(field, .lengthDelimited)
        varint(UInt64(encoded.count))
        encoded.withUnsafeBufferPointer { append($0) }
    }
}
