import Foundation
import RecCore
import RecMath

/// The message graph of a training set: users are nodes 0 ..< U, items U ..< U + I; each
/// message pair (user, item) is an edge both ways. CSR by node, no self loops (the layers add
/// one per destination). Memory O(|E|).
struct MessageGraph: Sendable {
    let users: Int
    let offsets: [Int]
    let neighbours: [Int32]

    var nodes: Int { offsets.count - 1 }

    /// `pairs` are (user, item) with item indices 0 ..< items; each node's neighbours keep the
    /// order of `pairs`.
    init(users: Int, items: Int, pairs: [(Int32, Int32)]) {
        self.users = users
        let n = users + items
        var counts = [Int](repeating: 0, count: n + 1)
        for (u, i) in pairs {
            counts[Int(u) + 1] += 1
            counts[users + Int(i) + 1] += 1
        }
        for k in 0..<n { counts[k + 1] += counts[k] }
        var fill = counts, nb = [Int32](repeating: 0, count: counts[n])
        for (u, i) in pairs {
            nb[fill[Int(u)]] = Int32(users) + i
            fill[Int(u)] += 1
            nb[fill[users + Int(i)]] = u
            fill[users + Int(i)] += 1
        }
        offsets = counts
        neighbours = nb
    }

    func degree(_ v: Int) -> Int { offsets[v + 1] - offsets[v] }

    /// Every node with a self loop and all its neighbours: one full-graph block.
    var fullBlock: EdgeIndex {
        var off = [0], src: [Int32] = []
        off.reserveCapacity(nodes + 1)
        src.reserveCapacity(neighbours.count + nodes)
        for v in 0..<nodes {
            src.append(Int32(v))
            src.append(contentsOf: neighbours[offsets[v]..<offsets[v + 1]])
            off.append(src.count)
        }
        return EdgeIndex(offsets: off, sources: src, sourceCount: nodes)
    }
}

/// The computation graph of one mini-batch (GraphSAGE / PinSage style): per layer, a block
/// whose destinations are the nodes the layer above needs and whose sources are those plus a
/// sample of their neighbours. Nodes carry local ids: `nodes[k]` is local node k's global id;
/// the targets are `nodes[0 ..< targets]`; block l's destinations are `nodes[0 ..<
/// blocks[l].nodeCount]` and its sources `nodes[0 ..< blocks[l].sourceCount]`, so every
/// layer's outputs are a prefix of its inputs. `blocks[0]` is the bottom layer.
struct SampledGraph {
    var nodes: [Int32]
    var targets: Int
    var blocks: [EdgeIndex]

    /// The whole graph, `layers` times: exact full-graph message passing (inference).
    static func full(_ g: MessageGraph, layers: Int) -> SampledGraph {
        let b = g.fullBlock
        return SampledGraph(
            nodes: (0..<Int32(g.nodes)).map { $0 }, targets: g.nodes, blocks: Array(repeating: b, count: layers))
    }
}

/// Samples `SampledGraph`s from a message graph. Each destination keeps its self loop and up
/// to `fanouts[l]` neighbours drawn uniformly without replacement (0: all of them), never
/// an edge that is one of the batch's own supervision pairs. With a node budget for the layer
/// (`budgets[l]` > 0), when the sampled neighbours would bring in more new nodes than that, a
/// subset of `budgets[l]` of them is kept, drawn with probability growing with how many
/// destinations sampled each (Efraimidis–Spirakis weighted sampling), and the edges to the
/// others are dropped (layer-wise sampling, as LADIES does): a step's computation graph then
/// holds at most targets + Σ budgets nodes whatever the graph's size. Cost per batch
/// O(targets · Π fanouts) at most; the scratch arrays are O(nodes), allocated once. Not
/// thread-safe (one per trainer).
struct BlockSampler {
    let graph: MessageGraph
    /// Per layer, bottom first.
    let fanouts: [Int]
    /// New nodes a layer may add, bottom first (0: no bound).
    let budgets: [Int]
    private var local: [Int32]
    private var inBatch: [Bool]
    /// How many destinations sampled each not-yet-included node (layer scratch).
    private var hits: [Int32]

    init(graph: MessageGraph, fanouts: [Int], budgets: [Int]? = nil) {
        self.graph = graph
        self.fanouts = fanouts
        self.budgets = budgets ?? Array(repeating: 0, count: fanouts.count)
        precondition(self.budgets.count == fanouts.count, "BlockSampler: one budget per layer")
        local = [Int32](repeating: -1, count: graph.nodes)
        inBatch = [Bool](repeating: false, count: graph.nodes)
        hits = [Int32](repeating: 0, count: graph.nodes)
    }

    /// The blocks for `targets` (distinct global node ids), leaving out the edges of `pairs`
    /// ((user, item) with item indices, the batch's positives).
    mutating func sample(targets: [Int32], excluding pairs: [(Int32, Int32)], rng: inout SplitMix64) -> SampledGraph {
        let users = graph.users
        var excluded = Set<Int64>(minimumCapacity: pairs.count)
        for (u, i) in pairs {
            excluded.insert(Int64(u) << 32 | Int64(i))
            inBatch[Int(u)] = true
            inBatch[users + Int(i)] = true
        }
        var nodes = targets
        nodes.reserveCapacity(targets.count * 4)
        for (k, v) in targets.enumerated() { local[Int(v)] = Int32(k) }
        var blocks: [EdgeIndex] = []
        var dstCount = targets.count
        var chosen: [Int] = []
        // One layer's sampled edges before the budget: destination's local id, global source.
        var picked: [(Int32, Int32)] = []
        var fresh: [Int32] = []
        for l in stride(from: fanouts.count - 1, through: 0, by: -1) {
            let f = fanouts[l]
            picked.removeAll(keepingCapacity: true)
            fresh.removeAll(keepingCapacity: true)
            for d in 0..<dstCount {
                let v = Int(nodes[d])
                let lo = graph.offsets[v], deg = graph.offsets[v + 1] - lo
                func take(_ p: Int) {
                    let w = graph.neighbours[lo + p]
                    if inBatch[v] && inBatch[Int(w)] {
                        let (u, i) = v < users ? (v, Int(w) - users) : (Int(w), v - users)
                        if excluded.contains(Int64(u) << 32 | Int64(i)) { return }
                    }
                    if local[Int(w)] < 0 {
                        if hits[Int(w)] == 0 { fresh.append(w) }
                        hits[Int(w)] += 1
                    }
                    picked.append((Int32(d), w))
                }
                if f == 0 || deg <= f {
                    for p in 0..<deg { take(p) }
                } else {
                    // Floyd's algorithm: f distinct positions of 0 ..< deg.
                    chosen.removeAll(keepingCapacity: true)
                    for j in (deg - f)..<deg {
                        let t = Int(rng.next() % UInt64(j + 1))
                        chosen.append(chosen.contains(t) ? j : t)
                    }
                    for p in chosen { take(p) }
                }
            }
            // The new nodes this layer brings in: all of them in the order first sampled, or
            // the budget's worth by weighted sampling without replacement, kept in that order.
            let budget = budgets[l]
            if budget > 0 && fresh.count > budget {
                var keyed = fresh.map { w -> (Double, Int32) in
                    let u = Double(rng.next() >> 11) * 0x1p-53
                    return (Foundation.log(max(u, 1e-300)) / Double(hits[Int(w)]), w)
                }
                keyed.sort { $0.0 > $1.0 }
                var keep = Set(keyed.prefix(budget).map(\.1))
                for w in fresh where keep.remove(w) != nil {
                    local[Int(w)] = Int32(nodes.count)
                    nodes.append(w)
                }
            } else {
                for w in fresh {
                    local[Int(w)] = Int32(nodes.count)
                    nodes.append(w)
                }
            }
            for w in fresh { hits[Int(w)] = 0 }
            var off = [0], src: [Int32] = []
            off.reserveCapacity(dstCount + 1)
            src.reserveCapacity(picked.count + dstCount)
            var next = 0
            for d in 0..<dstCount {
                src.append(Int32(d))  // self loop first, as in the full graph
                while next < picked.count && Int(picked[next].0) == d {
                    let k = local[Int(picked[next].1)]
                    if k >= 0 { src.append(k) }
                    next += 1
                }
                off.append(src.count)
            }
            blocks.append(EdgeIndex(offsets: off, sources: src, sourceCount: nodes.count))
            dstCount = nodes.count
        }
        for v in nodes { local[Int(v)] = -1 }
        for (u, i) in pairs {
            inBatch[Int(u)] = false
            inBatch[users + Int(i)] = false
        }
        return SampledGraph(nodes: nodes, targets: targets.count, blocks: blocks.reversed())
    }
}
