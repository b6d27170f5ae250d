/// Selects the `k` best (highest-score) entries without sorting everything.
///
/// O(n log k) with a binary min-heap. Ties are broken by lower index first so results
/// are deterministic. Entries whose `keep` is false or whose score is not finite are skipped.
public enum TopK {
    public struct Entry: Equatable, Sendable {
        public var index: Int32
        public var score: Float
        public init(index: Int32, score: Float) {
            self.index = index
            self.score = score
        }
    }

    /// `true` when `a` ranks before `b`.
    @inline(__always)
    static func better(_ a: Entry, _ b: Entry) -> Bool {
        a.score != b.score ? a.score > b.score : a.index < b.index
    }

    public static func select(_ scores: [Float], k: Int, keep: (Int) -> Bool = { _ in true }) -> [Entry] {
        guard k > 0 else { return [] }
        var heap: [Entry] = []  // min-heap by `better`: heap[0] is the worst kept entry
        heap.reserveCapacity(min(k, scores.count))
        // `keep` (filters, exclude-seen) is asked only of an item that would enter the heap: the
        // same top k as asking every item, at a fraction of the calls on a big catalogue.
        for i in scores.indices where scores[i].isFinite {
            let e = Entry(index: Int32(i), score: scores[i])
            if heap.count < k {
                guard keep(i) else { continue }
                heap.append(e)
                siftUp(&heap, heap.count - 1)
            } else if better(e, heap[0]) {
                guard keep(i) else { continue }
                heap[0] = e
                siftDown(&heap, 0)
            }
        }
        return heap.sorted(by: better)
    }

    /// Fully sorts `entries` best-first (for short candidate lists).
    public static func sorted(_ entries: [Entry]) -> [Entry] { entries.sorted(by: better) }

    private static func siftUp(_ h: inout [Entry], _ i: Int) {
        var c = i
        while c > 0 {
            let p = (c - 1) / 2
            if better(h[p], h[c]) {
                h.swapAt(p, c)
                c = p
            } else {
                return
            }
        }
    }

    private static func siftDown(_ h: inout [Entry], _ i: Int) {
        var p = i
        while true {
            let l = 2 * p + 1, r = l + 1
            var worst = p
            if l < h.count && better(h[worst], h[l]) { worst = l }
            if r < h.count && better(h[worst], h[r]) { worst = r }
            if worst == p { return }
            h.swapAt(p, worst)
            p = worst
        }
    }
}
