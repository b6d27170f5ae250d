/// A bijection between a dataset's raw string ids and dense `Int32` indices `0..<count`.
///
/// Raw ids are mapped once, at the edge (loaders, the wire); engines only ever see
/// dense indices. Immutable once built, so it is safe to share between threads.
public struct IDMap: Sendable, Equatable {
    public private(set) var ids: [String] = []
    private var index: [String: Int32] = [:]

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
    }

    public var count: Int { ids.count }

    /// The dense index of `id`, or nil if unknown.
    public func index(of id: String) -> Int32? { index[id] }

    /// Returns the index of `id`, assigning the next free index if it is new.
    @discardableResult
    public mutating func intern(_ id: String) -> Int32 {
        if let i = index[id] { return i }
        let i = Int32(ids.count)
        ids.append(id)
        index[id] = i
        return i
    }

    public subscript(i: Int32) -> String { ids[Int(i)] }
}
