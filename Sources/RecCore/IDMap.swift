/// A bijection between a dataset's raw string ids and dense `Int32` indices `0..<count`.
///
/// Raw ids are mapped once, at the edge (loaders, the wire); engines only ever see
/// dense indices. Immutable once built, so it is safe to share between threads.
public struct IDMap: Sendable, Equatable {
    public private(set) var ids: [String] = []
    private var index: [String: Int32] = [:]
    /// Ids that are decimal numbers (MovieLens: "1" ... "1682"), looked up without hashing:
    /// `numeric[v]` is index + 1 of the id whose value is v, 0 if none. Invariant: every
    /// decimal id below `numeric.count` is in it; larger (sparse) ones are only in `index`.
    private var numeric: [Int32] = []

    public init() {}

    /// Builds a map whose index order is the order of `ids`. Duplicates are an error.
    public init(ids: [String]) throws {
        self.ids = ids
        index.reserveCapacity(ids.count)
        for (i, id) in ids.enumerated() {
            if index.updateValue(Int32(i), forKey: id) != nil {
                throw RecError.invalidArgument("duplicate id '\(id)'")
            }
        }
        for (i, id) in ids.enumerated() { if let v = Self.decimal(id) { record(v, Int32(i)) } }
    }

    /// Puts decimal id `v` (at index `i`) in the table, growing it (and filling in the ids
    /// already interned that the growth now covers) while the values stay dense.
    private mutating func record(_ v: Int, _ i: Int32) {
        if v < numeric.count {
            numeric[v] = i + 1
            return
        }
        guard v < 4 * ids.count + 1024 else { return }  // sparse: the dictionary has it
        let old = numeric.count
        numeric += [Int32](repeating: 0, count: max(v + 1, 2 * old) - old)
        for (j, id) in ids.enumerated() {
            if let w = Self.decimal(id), w >= old, w < numeric.count { numeric[w] = Int32(j) + 1 }
        }
    }

    /// The value of a canonical decimal id ("0", "17"; not "017", "+1", "1.0"), if small.
    @inline(__always)
    static func decimal(_ id: String) -> Int? {
        let u = id.utf8
        guard let first = u.first, u.count <= 9, first != UInt8(ascii: "0") || u.count == 1 else { return nil }
        var v = 0
        for b in u {
            guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int(b - UInt8(ascii: "0"))
        }
        return v
    }

    public var count: Int { ids.count }

    /// The dense index of `id`, or nil if unknown.
    public func index(of id: String) -> Int32? {
        if !numeric.isEmpty, let v = Self.decimal(id) {  // ~5 ns; the dictionary hashes for ~30
            guard v < numeric.count else { return index[id] }
            let i = numeric[v]
            return i == 0 ? nil : i - 1
        }
        return index[id]
    }

    /// Returns the index of `id`, assigning the next free index if it is new.
    @discardableResult
    public mutating func intern(_ id: String) -> Int32 {
        if let i = index[id] { return i }
        let i = Int32(ids.count)
        ids.append(id)
        index[id] = i
        if let v = Self.decimal(id) { record(v, i) }
        return i
    }

    public subscript(i: Int32) -> String { ids[Int(i)] }

    /// Equal when the ids are, in the same order (the lookup tables follow from them).
    public static func == (a: IDMap, b: IDMap) -> Bool { a.ids == b.ids }
}
