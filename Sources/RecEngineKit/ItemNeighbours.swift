import Foundation
import RecCore
import RecData

/// A sparse item–item weight matrix W holding each item's `k` strongest neighbours (CSR by
/// source item): the model of the item-kNN engines (co-occurrence, RP3beta). A user is scored
///
///     score(u, i) = Σ_{j ∈ H(u)} w(j) · W_ji
///
/// with w(j) the history entry's weight (1, or its rating). Memory is O(items · k) whatever
/// the catalogue size; building is one parallel pass over the items, each with a dense
/// accumulator of catalogue width per worker. Immutable, thread-safe.
public struct ItemNeighbours: Sendable {
    /// Row j's neighbours are `neighbours[offsets[j] ..< offsets[j + 1]]`, strongest first.
    public let offsets: [Int]
    public let neighbours: [Int32]
    public let weights: [Float]
    public var itemCount: Int { offsets.count - 1 }
    /// Scratch for scoring candidate subsets (`scores(_:weight:items:)`).
    let slots: ItemSlotsPool

    public init(offsets: [Int], neighbours: [Int32], weights: [Float]) {
        self.offsets = offsets
        self.neighbours = neighbours
        self.weights = weights
        slots = ItemSlotsPool(count: offsets.count - 1)
    }

    /// One item's row while it is built: a dense accumulator plus the items it touched.
    public struct Row {
        var values: [Float]
        var listed: [Bool]
        var touched: [Int32] = []

        init(count: Int) {
            values = [Float](repeating: 0, count: count)
            listed = [Bool](repeating: false, count: count)
        }

        /// Adds `v` to column `j`.
        @inline(__always)
        public mutating func add(_ j: Int32, _ v: Float) {
            if !listed[Int(j)] {
                listed[Int(j)] = true
                touched.append(j)
            }
            values[Int(j)] += v
        }

        /// Replaces every touched value v of column j by `f(j, v)`.
        public mutating func transform(_ f: (Int32, Float) -> Float) {
            for j in touched { values[Int(j)] = f(j, values[Int(j)]) }
        }
    }

    /// Builds the matrix row by row: `fill(i, &row)` accumulates item i's weights to every
    /// other item; the diagonal, zero and non-finite weights are dropped and the `k` largest
    /// kept (ties to the lower index).
    public static func build(items n: Int, k: Int, fill: @Sendable (Int, inout Row) -> Void) -> ItemNeighbours {
        let rows: [[TopK.Entry]] = Parallel.map(n, scratch: { Row(count: n) }) { row, i in
            fill(i, &row)
            var w: [Float] = [], idx: [Int32] = []
            w.reserveCapacity(row.touched.count)
            idx.reserveCapacity(row.touched.count)
            for j in row.touched where Int(j) != i {
                let v = row.values[Int(j)]
                if v != 0 && v.isFinite {
                    w.append(v)
                    idx.append(j)
                }
            }
            for j in row.touched {
                row.values[Int(j)] = 0
                row.listed[Int(j)] = false
            }
            row.touched.removeAll(keepingCapacity: true)
            return TopK.select(w, k: k).map { TopK.Entry(index: idx[Int($0.index)], score: $0.score) }
        }
        var offsets = [0], nb: [Int32] = [], ws: [Float] = []
        offsets.reserveCapacity(n + 1)
        for r in rows {
            for e in r {
                nb.append(e.index)
                ws.append(e.score)
            }
            offsets.append(nb.count)
        }
        return ItemNeighbours(offsets: offsets, neighbours: nb, weights: ws)
    }

    /// Σ_j weight(j) · W_j· over `history`: one score per catalogue item.
    public func scores(_ history: [HistoryEntry], weight: (HistoryEntry) -> Float = { _ in 1 }) -> [Float] {
        var s = [Float](repeating: 0, count: itemCount)
        for h in history {
            let w = weight(h)
            guard w != 0 else { continue }
            let j = Int(h.item)
            for p in offsets[j]..<offsets[j + 1] { s[Int(neighbours[p])] += w * weights[p] }
        }
        return s
    }

    /// `scores(history, weight:)` for `items` only, aligned with it: O(Σ neighbours of the
    /// history + items), nothing of catalogue size allocated. Each score is summed in the same
    /// order as the full pass, so the two agree bit for bit.
    public func scores(
        _ history: [HistoryEntry], weight: (HistoryEntry) -> Float = { _ in 1 }, items: [Int32]
    ) -> [Float] {
        var out = [Float](repeating: 0, count: items.count)
        slots.with { slots in
            for (k, i) in items.enumerated() { slots.set(i, Int32(k)) }
            for h in history {
                let w = weight(h)
                guard w != 0 else { continue }
                let j = Int(h.item)
                for p in offsets[j]..<offsets[j + 1] {
                    let k = slots.slot(neighbours[p])
                    if k >= 0 { out[Int(k)] += w * weights[p] }
                }
            }
            // A repeated item took the last slot: its earlier places copy that score.
            for (k, i) in items.enumerated() {
                let s = Int(slots.slot(i))
                if s != k { out[k] = out[s] }
            }
        }
        return out
    }

    /// The history items that add to `item`'s score, with what each adds, largest first.
    public func contributions(
        _ history: [HistoryEntry], to item: Int32,
        weight: (HistoryEntry) -> Float = { _ in 1 }
    ) -> [(item: Int32, share: Float)] {
        var out: [(item: Int32, share: Float)] = []
        for h in history {
            let j = Int(h.item)
            for p in offsets[j]..<offsets[j + 1] where neighbours[p] == item {
                let s = weight(h) * weights[p]
                if s != 0 { out.append((h.item, s)) }
            }
        }
        return out.sorted { $0.share != $1.share ? $0.share > $1.share : $0.item < $1.item }
    }

    /// Evidence for Explain: each contributing history item with its share of the score.
    public func evidence(
        _ history: [HistoryEntry], to item: Int32, limit: Int,
        weight: (HistoryEntry) -> Float = { _ in 1 }
    ) -> [Evidence] {
        contributions(history, to: item, weight: weight).prefix(limit).map { c in
            Evidence(
                kind: "history_item", item: c.item, weight: c.share,
                detail: String(format: "item-item weight %.4f, its share of the score", c.share))
        }
    }

    /// The matrix as tensors: `offsets` (I64), `neighbours` (I32), `similarities` (F32).
    public var tensors: SafetensorsWriter {
        var t = SafetensorsWriter()
        t.add("offsets", offsets.map(Int64.init))
        t.add("neighbours", neighbours)
        t.add("similarities", weights)
        return t
    }

    /// Reads what `tensors` holds, checking the row index and every neighbour's range.
    public static func load(_ file: SafetensorsFile, itemCount: Int) throws -> ItemNeighbours {
        let offsets = try file.int64s("offsets", shape: [itemCount + 1]).map(Int.init)
        guard offsets.first == 0, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw RecError.dataLoss("\(file.path): tensor 'offsets' is not a valid row index")
        }
        let nnz = offsets.last ?? 0
        let nb = try file.int32s("neighbours", shape: [nnz])
        let w = try file.floats("similarities", shape: [nnz])
        if let bad = nb.first(where: { $0 < 0 || Int($0) >= itemCount }) {
            throw RecError.dataLoss("\(file.path): tensor 'neighbours' holds index \(bad) outside the catalogue")
        }
        return ItemNeighbours(offsets: offsets, neighbours: nb, weights: w)
    }
}

/// A dataset's binary interaction structure, deduplicated: items per user and users per item
/// (both sorted), over the interactions rated at least `minRating`.
public struct Adjacency: Sendable {
    public let userItems: [[Int32]]
    public let itemUsers: [[Int32]]
    /// Each user's rating of the items in `userItems` (the last one given, for repeats).
    public let userRatings: [[Float]]

    public init(_ d: Dataset, minRating: Float = 0) {
        var last: [Int64: Float] = [:]
        for x in d.interactions where x.rating >= minRating { last[Int64(x.user) << 32 | Int64(x.item)] = x.rating }
        var ui = [[Int32]](repeating: [], count: d.users.count), ur = [[Float]](repeating: [], count: d.users.count)
        var iu = [[Int32]](repeating: [], count: d.items.count)
        for (p, r) in last.sorted(by: { $0.key < $1.key }) {
            let u = Int32(p >> 32), i = Int32(truncatingIfNeeded: p)
            ui[Int(u)].append(i)
            ur[Int(u)].append(r)
            iu[Int(i)].append(u)
        }
        userItems = ui
        itemUsers = iu
        userRatings = ur
    }
}
