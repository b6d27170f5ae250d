import Foundation
import RecCore

/// The safetensors format (https://github.com/huggingface/safetensors), as the MiniLM
/// weights use it: an 8-byte little-endian header length N, N bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`,
/// then the raw little-endian tensor bytes. Readable from Python with `safetensors`.
public enum DType: String, Sendable, Codable {
    case f32 = "F32"
    case f64 = "F64"
    case i32 = "I32"
    case i64 = "I64"
    case u8 = "U8"
    case f16 = "F16"
    case bf16 = "BF16"

    public var size: Int {
        switch self {
        case .f32, .i32: 4
        case .f64, .i64: 8
        case .u8: 1
        case .f16, .bf16: 2
        }
    }
}

public struct TensorInfo: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    /// Byte range within the data section.
    public var range: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// Bytes a `SafetensorsFile` reads from: a read-only private `mmap` of a file (pages come
/// in on first touch and are shared with the page cache), or an owned copy of in-memory
/// data. The address never moves, so views into it stay valid while the storage lives.
public final class ByteStorage: @unchecked Sendable {
    // @unchecked: immutable after init; the memory is read-only for its whole life.
    public let base: UnsafeRawPointer
    public let count: Int
    private let release: () -> Void

    /// Maps `url` read-only. Throws `notFound` if it cannot be opened.
    public init(mapping url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw RecError.notFound("cannot read \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw RecError.notFound("cannot stat \(url.path): \(String(cString: strerror(errno)))")
        }
        let size = Int(st.st_size)
        if size == 0 {
            let p = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16)
            (base, count, release) = (UnsafeRawPointer(p), 0, { p.deallocate() })
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw RecError.notFound("cannot map \(url.path): \(String(cString: strerror(errno)))")
        }
        (base, count, release) = (UnsafeRawPointer(p), size, { munmap(p, size) })
    }

    /// An owned, 16-byte-aligned copy of `data`.
    public init(copying data: Data) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 16)
        data.copyBytes(to: p.assumingMemoryBound(to: UInt8.self), count: data.count)
        (base, count, release) = (UnsafeRawPointer(p), data.count, { p.deallocate() })
    }

    deinit { release() }

    public subscript(i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }
}

/// A zero-copy view of an F32 tensor inside a `SafetensorsFile`'s storage. Holding the
/// view keeps the storage (and its mapping) alive.
public struct FloatView: @unchecked Sendable {
    // @unchecked: the pointer is into immutable storage that `owner` keeps alive.
    public let owner: ByteStorage
    public let buffer: UnsafeBufferPointer<Float>
    public let shape: [Int]
    public var count: Int { buffer.count }
    public var pointer: UnsafePointer<Float> { buffer.baseAddress! }
}

/// A read-only safetensors file, memory-mapped. Validated on open: header JSON, dtypes,
/// shapes against byte ranges, ranges inside the file and not overlapping. Every error
/// names the file (and the tensor). Immutable, shareable between threads.
///
/// `floats` copies a tensor into an array (and checks every value is finite); `view`
/// hands out the mapped bytes themselves, which is how the 90 MB MiniLM weights are used
/// without a second copy in memory.
public struct SafetensorsFile: Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let storage: ByteStorage
    private let dataStart: Int

    public init(_ url: URL) throws {
        try self.init(storage: ByteStorage(mapping: url), path: url.path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        try self.init(storage: ByteStorage(copying: data), path: path)
    }

    private init(storage: ByteStorage, path: String) throws {
        self.path = path
        self.storage = storage
        func fail(_ m: String) -> RecError { RecError.dataLoss("\(path): \(m)") }
        let size = storage.count
        guard size >= 8 else { throw fail("truncated: \(size) bytes, no header") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(storage[i]) << (8 * UInt64(i)) }
        guard n > 0, n <= UInt64(size - 8), n <= 100 << 20 else {
            throw fail("header length \(n) does not fit a \(size)-byte file")
        }
        dataStart = 8 + Int(n)
        let headerBytes = Data(bytes: storage.base + 8, count: Int(n))
        guard let obj = try? JSONSerialization.jsonObject(with: headerBytes), let header = obj as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        var meta: [String: String] = [:]
        let dataLen = size - dataStart
        for (name, value) in header {
            if name == "__metadata__" {
                meta = (value as? [String: String]) ?? [:]
                continue
            }
            guard let t = value as? [String: Any], let ds = t["dtype"] as? String,
                let shape = t["shape"] as? [Int], let off = t["data_offsets"] as? [Int], off.count == 2
            else {
                throw fail("tensor '\(name)': malformed header entry")
            }
            guard let dtype = DType(rawValue: ds) else { throw fail("tensor '\(name)': unsupported dtype \(ds)") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(name)': negative dimension in \(shape)") }
            guard off[0] >= 0, off[0] <= off[1], off[1] <= dataLen else {
                throw fail(
                    "tensor '\(name)': data_offsets \(off) outside the \(dataLen)-byte data section (truncated file?)")
            }
            let count = shape.reduce(1, *)
            guard count * dtype.size == off[1] - off[0] else {
                throw fail(
                    "tensor '\(name)': shape \(shape) of \(ds) needs \(count * dtype.size) bytes, offsets give "
                        + "\(off[1] - off[0])"
                )
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, range: off[0]..<off[1])
        }
        let sorted = tensors.sorted { $0.value.range.lowerBound < $1.value.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.value.range.overlaps(b.value.range) {
            throw fail("tensors '\(a.key)' and '\(b.key)' overlap")
        }
        self.tensors = tensors
        self.metadata = meta
    }

    public func info(_ name: String) throws -> TensorInfo {
        guard let t = tensors[name] else { throw RecError.dataLoss("\(path): no tensor '\(name)'") }
        return t
    }

    /// The tensor's values; throws if the dtype differs or (for floats) a value is not finite.
    public func floats(_ name: String, shape expected: [Int]? = nil) throws -> [Float] {
        let values: [Float] = try read(name, .f32, shape: expected)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw RecError.dataLoss("\(path): tensor '\(name)' has a non-finite value at index \(bad)")
        }
        return values
    }

    /// The F32 tensor in place, without copying: a view into the mapped file (or the
    /// in-memory bytes) that keeps them alive. With `checkFinite` every value is checked
    /// (which touches every page once). A tensor that is not 4-byte aligned in the file
    /// (recfuse writes 8-byte aligned ones; another writer may not) is copied into aligned
    /// memory of its own first, so every well-formed file can be viewed.
    public func view(_ name: String, shape expected: [Int]? = nil, checkFinite: Bool = true) throws -> FloatView {
        let t = try check(name, .f32, expected)
        let offset = dataStart + t.range.lowerBound
        let aligned = offset % MemoryLayout<Float>.alignment == 0
        let owner = aligned ? storage : ByteStorage(copying: Data(bytes: storage.base + offset, count: t.range.count))
        let p = (owner.base + (aligned ? offset : 0)).assumingMemoryBound(to: Float.self)
        let buffer = UnsafeBufferPointer(start: p, count: t.elementCount)
        if checkFinite, let bad = buffer.firstIndex(where: { !$0.isFinite }) {
            throw RecError.dataLoss("\(path): tensor '\(name)' has a non-finite value at index \(bad)")
        }
        return FloatView(owner: owner, buffer: buffer, shape: t.shape)
    }

    public func int32s(_ name: String, shape expected: [Int]? = nil) throws -> [Int32] {
        try read(name, .i32, shape: expected)
    }
    public func int64s(_ name: String, shape expected: [Int]? = nil) throws -> [Int64] {
        try read(name, .i64, shape: expected)
    }

    private func read<T: FixedWidthInteger & Sendable>(_ name: String, _ dtype: DType, shape: [Int]?) throws -> [T] {
        let t = try check(name, dtype, shape)
        return [T](unsafeUninitializedCapacity: t.elementCount) { buf, n in
            UnsafeMutableRawBufferPointer(buf).copyMemory(
                from: UnsafeRawBufferPointer(start: storage.base + dataStart + t.range.lowerBound, count: t.range.count)
            )
            for i in 0..<t.elementCount { buf[i] = T(littleEndian: buf[i]) }
            n = t.elementCount
        }
    }

    private func read(_ name: String, _ dtype: DType, shape: [Int]?) throws -> [Float] {
        let bits: [UInt32] = try read(name, dtype, shape: shape)
        return bits.map(Float.init(bitPattern:))
    }

    private func check(_ name: String, _ dtype: DType, _ shape: [Int]?) throws -> TensorInfo {
        let t = try info(name)
        guard t.dtype == dtype else {
            throw RecError.dataLoss("\(path): tensor '\(name)' is \(t.dtype.rawValue), expected \(dtype.rawValue)")
        }
        if let shape, shape != t.shape {
            throw RecError.dataLoss("\(path): tensor '\(name)' has shape \(t.shape), expected \(shape)")
        }
        return t
    }
}

/// Builds a safetensors file in memory; tensors are laid out in insertion order, 8-byte aligned.
public struct SafetensorsWriter {
    private var entries: [(String, DType, [Int], Data)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, _ values: [Float], shape: [Int]? = nil) {
        add(name, .f32, shape ?? [values.count], values.map { $0.bitPattern.littleEndian })
    }
    public mutating func add(_ name: String, _ values: [Int32], shape: [Int]? = nil) {
        add(name, .i32, shape ?? [values.count], values.map { $0.littleEndian })
    }
    public mutating func add(_ name: String, _ values: [Int64], shape: [Int]? = nil) {
        add(name, .i64, shape ?? [values.count], values.map { $0.littleEndian })
    }

    private mutating func add<T>(_ name: String, _ dtype: DType, _ shape: [Int], _ values: [T]) {
        precondition(shape.reduce(1, *) == values.count, "tensor \(name): shape \(shape) vs \(values.count) values")
        precondition(!entries.contains { $0.0 == name }, "tensor \(name) added twice")
        entries.append((name, dtype, shape, values.withUnsafeBytes { Data($0) }))
    }

    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, dtype, shape, bytes) in entries {
            header[name] = ["dtype": dtype.rawValue, "shape": shape, "data_offsets": [offset, offset + bytes.count]]
            offset += bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(0x20) }  // pad with spaces, as the reference does
        var out = Data()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries { out.append(e.3) }
        return out
    }

    public func write(to url: URL) throws {
        try serialized().write(to: url, options: .atomic)
    }
}
