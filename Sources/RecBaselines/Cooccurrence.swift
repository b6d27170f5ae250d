import Foundation
import RecCore
import RecData

/// Item–item co-occurrence (item-kNN with cosine normalisation): items consumed by the same
/// users are similar, and a user is recommended the neighbours of their history.
///
///     c(i, j)   = |U(i) ∩ U(j)|                          (users who interacted with both)
///     sim(i, j) = c(i, j) / sqrt(|U(i)| · |U(j)|)        (cosine on binary vectors), i ≠ j
///     score(u, i) = Σ_{j ∈ H(u)} sim(j, i)
///
/// Only each item's `neighbours` most similar items are kept (a sparse CSR matrix), so memory
/// is O(items · neighbours) whatever the catalogue size. Interactions with rating <
/// `minRating` are ignored when counting.
///
/// Cold start: a user with an inline history is scored without retraining; a user with no
/// history at all cannot be scored (the pipeline falls back to popularity).
///
/// Hyper-parameters: `neighbours` (default 100), `minRating` (default 0 = all interactions).
/// Fit is O(Σ_u |H(u)|²), parallel over items. Thread-safe (immutable).
public final class CooccurrenceEngine: Engine {
    public let name: String
    public let offsets: [Int]
    public let neighbours: [Int32]
    public let similarities: [Float]
    public let maxNeighbours: Int
    public let minRating: Float
    public var itemCount: Int { offsets.count - 1 }
    public let summary = "item-item co-occurrence (cosine item-kNN) over the user's history"

    public init(name: String = "cooccurrence", offsets: [Int], neighbours: [Int32], similarities: [Float],
                maxNeighbours: Int, minRating: Float) {
        self.name = name
        self.offsets = offsets
        self.neighbours = neighbours
        self.similarities = similarities
        self.maxNeighbours = maxNeighbours
        self.minRating = minRating
    }

    public static func fit(_ d: Dataset, name: String = "cooccurrence", neighbours k: Int = 100, minRating: Float = 0) -> CooccurrenceEngine {
        let nItems = d.items.count, nUsers = d.users.count
        // Binary user->items and item->users adjacency, deduplicated.
        var pairs = Set<Int64>()
        for x in d.interactions where x.rating >= minRating { pairs.insert(Int64(x.user) << 32 | Int64(x.item)) }
        var userItems = [[Int32]](repeating: [], count: nUsers)
        var itemUsers = [[Int32]](repeating: [], count: nItems)
        for p in pairs.sorted() {
            let u = Int32(p >> 32), i = Int32(truncatingIfNeeded: p)
            userItems[Int(u)].append(i)
            itemUsers[Int(i)].append(u)
        }
        let userItemsC = userItems, itemUsersC = itemUsers
        let rows: [[TopK.Entry]] = Parallel.map(nItems, scratch: { (counts: [Float](repeating: 0, count: nItems), touched: [Int32]()) }) { s, i in
            for u in itemUsersC[i] {
                for j in userItemsC[Int(u)] {
                    if s.counts[Int(j)] == 0 { s.touched.append(j) }
                    s.counts[Int(j)] += 1
                }
            }
            let ni = Float(itemUsersC[i].count)
            var sims: [Float] = [], idx: [Int32] = []
            sims.reserveCapacity(s.touched.count)
            idx.reserveCapacity(s.touched.count)
            for j in s.touched where Int(j) != i {
                sims.append(s.counts[Int(j)] / (ni * Float(itemUsersC[Int(j)].count)).squareRoot())
                idx.append(j)
            }
            for j in s.touched { s.counts[Int(j)] = 0 }
            s.touched.removeAll(keepingCapacity: true)
            return TopK.select(sims, k: k).map { TopK.Entry(index: idx[Int($0.index)], score: $0.score) }
        }
        var offsets = [0], nb: [Int32] = [], sim: [Float] = []
        for r in rows {
            nb.append(contentsOf: r.map(\.index))
            sim.append(contentsOf: r.map(\.score))
            offsets.append(nb.count)
        }
        return CooccurrenceEngine(name: name, offsets: offsets, neighbours: nb, similarities: sim,
                                  maxNeighbours: k, minRating: minRating)
    }

    public func unscorableReason(_ query: UserQuery) -> String? {
        query.history.isEmpty ? "no history (unknown user and no inline items)" : nil
    }

    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        var s = [Float](repeating: 0, count: itemCount)
        for h in query.history {
            let j = Int(h.item)
            for p in offsets[j]..<offsets[j + 1] { s[Int(neighbours[p])] += similarities[p] }
        }
        return gather(s, items)
    }

    /// The history items that contribute most to `item`'s score, strongest first.
    public func evidence(_ query: UserQuery, item: Int32) -> [(item: Int32, similarity: Float)] {
        var out: [(Int32, Float)] = []
        for h in query.history {
            let j = Int(h.item)
            for p in offsets[j]..<offsets[j + 1] where neighbours[p] == item { out.append((h.item, similarities[p])) }
        }
        return out.sorted { $0.1 > $1.1 }
    }

    // MARK: bundle

    public var params: [String: String] { ["neighbours": "\(maxNeighbours)", "min_rating": "\(minRating)"] }

    public func tensors() -> SafetensorsWriter {
        var t = SafetensorsWriter()
        t.add("offsets", offsets.map(Int64.init))
        t.add("neighbours", neighbours)
        t.add("similarities", similarities)
        return t
    }

    public static func load(_ file: SafetensorsFile, entry: BundleManifest.EngineEntry, itemCount: Int) throws -> CooccurrenceEngine {
        let offsets = try file.int64s("offsets", shape: [itemCount + 1]).map(Int.init)
        let nnz = offsets.last ?? 0
        let nb = try file.int32s("neighbours", shape: [nnz])
        let sim = try file.floats("similarities", shape: [nnz])
        guard offsets.first == 0, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw RecError.dataLoss("\(file.path): tensor 'offsets' is not a valid row index")
        }
        if let bad = nb.first(where: { $0 < 0 || Int($0) >= itemCount }) {
            throw RecError.dataLoss("\(file.path): tensor 'neighbours' holds index \(bad) outside the catalogue")
        }
        return CooccurrenceEngine(name: entry.name, offsets: offsets, neighbours: nb, similarities: sim,
                                  maxNeighbours: Int(entry.params["neighbours"] ?? "") ?? 100,
                                  minRating: Float(entry.params["min_rating"] ?? "") ?? 0)
    }
}
