import Foundation

/// Destination-sorted edge groups: edges `offsets[d] ..< offsets[d + 1]` end at node `d`.
public struct Segments: Sendable {
    public let offsets: [Int]
    public init(offsets: [Int]) {
        precondition(!offsets.isEmpty && offsets[0] == 0, "segment offsets must start at 0")
        self.offsets = offsets
    }
    public var count: Int { offsets.count - 1 }
    public var total: Int { offsets.last! }
}

/// A directed edge list in both orders: by destination (the segments attention normalises
/// over) and by source (for race-free parallel gradient scatters).
/// A directed edge list in both orders: by destination (the segments attention normalises
/// over) and by source (for race-free parallel gradient scatters). Destinations are nodes
/// `0 ..< nodeCount`, sources `0 ..< sourceCount` (the same set for a whole graph; for a
/// sampled message-flow block, the block's inputs, whose first `nodeCount` are its outputs).
public struct EdgeIndex: Sendable {
    /// Source node of edge e; edges are sorted by destination.
    public let src: [Int32]
    /// Destination node of edge e.
    public let dst: [Int32]
    public let byDestination: Segments
    /// Edges leaving source s: `sourceEdges[sourceOffsets[s] ..< sourceOffsets[s + 1]]`.
    public let sourceOffsets: [Int]
    public let sourceEdges: [Int32]
    public let sourceCount: Int

    /// `neighbours[d]` are the sources of the edges into node d, in order.
    public init(neighbours: [[Int32]], sourceCount: Int? = nil) {
        var src: [Int32] = [], offsets = [0]
        for ns in neighbours {
            src.append(contentsOf: ns)
            offsets.append(src.count)
        }
        self.init(offsets: offsets, sources: src, sourceCount: sourceCount ?? neighbours.count)
    }

    /// CSR by destination: the sources of the edges into d are `sources[offsets[d] ..< offsets[d + 1]]`.
    public init(offsets: [Int], sources src: [Int32], sourceCount: Int) {
        precondition(offsets.last == src.count, "edge offsets end at \(offsets.last ?? -1), \(src.count) edges")
        let n = offsets.count - 1
        var dst = [Int32](repeating: 0, count: src.count)
        for d in 0..<n { for e in offsets[d]..<offsets[d + 1] { dst[e] = Int32(d) } }
        var counts = [Int](repeating: 0, count: sourceCount + 1)
        for s in src {
            precondition(s >= 0 && Int(s) < sourceCount, "edge source \(s) outside 0..<\(sourceCount)")
            counts[Int(s) + 1] += 1
        }
        for k in 0..<sourceCount { counts[k + 1] += counts[k] }
        var fill = counts, edges = [Int32](repeating: 0, count: src.count)
        for (e, s) in src.enumerated() {
            edges[fill[Int(s)]] = Int32(e)
            fill[Int(s)] += 1
        }
        self.src = src
        self.dst = dst
        byDestination = Segments(offsets: offsets)
        sourceOffsets = counts
        sourceEdges = edges
        self.sourceCount = sourceCount
    }

    /// Destinations.
    public var nodeCount: Int { byDestination.count }
    public var edgeCount: Int { src.count }
}

extension Tape {
    // MARK: - graph operations

    /// Rows `index[0], index[1], ...` of `a`, as |index|×cols. Backward scatter-adds.
    public func gather(_ a: Tensor, _ index: [Int32]) -> Tensor {
        let c = a.cols, n = index.count
        var out = [Float](repeating: 0, count: n * c)
        out.withUnsafeMutableBufferPointer { o in
            a.value.withUnsafeBufferPointer { x in
                nonisolated(unsafe) let (op, xp) = (o.baseAddress!, x.baseAddress!)
                Kernels.parallelRows(n) { range in
                    for r in range {
                        let src = Int(index[r])
                        precondition(src >= 0 && src < a.rows, "gather: row \(src) of \(a.rows)")
                        (op + r * c).update(from: xp + src * c, count: c)
                    }
                }
            }
        }
        return record(n, c, out, [a]) { t in
            a.ensureGrad()
            a.grad.withUnsafeMutableBufferPointer { g in
                t.grad.withUnsafeBufferPointer { tg in
                    for r in 0..<n {
                        let dst = Int(index[r]) * c
                        for j in 0..<c { g[dst + j] += tg[r * c + j] }
                    }
                }
            }
        }
    }

    /// Per-segment sums of the rows of `a` (|edges|×cols) → segments×cols.
    public func segmentSum(_ a: Tensor, _ seg: Segments) -> Tensor {
        precondition(a.rows == seg.total, "segmentSum: \(a.rows) rows for \(seg.total) edges")
        let c = a.cols, n = seg.count, off = seg.offsets
        var out = [Float](repeating: 0, count: n * c)
        out.withUnsafeMutableBufferPointer { o in
            a.value.withUnsafeBufferPointer { x in
                nonisolated(unsafe) let (op, xp) = (o.baseAddress!, x.baseAddress!)
                Kernels.parallelRows(n) { range in
                    for d in range {
                        let row = op + d * c
                        for e in off[d]..<off[d + 1] { for j in 0..<c { row[j] += xp[e * c + j] } }
                    }
                }
            }
        }
        return record(n, c, out, [a]) { t in
            a.ensureGrad()
            a.grad.withUnsafeMutableBufferPointer { g in
                t.grad.withUnsafeBufferPointer { tg in
                    nonisolated(unsafe) let (gp, tp) = (g.baseAddress!, tg.baseAddress!)
                    Kernels.parallelRows(n) { range in
                        for d in range {
                            for e in off[d]..<off[d + 1] { for j in 0..<c { gp[e * c + j] += tp[d * c + j] } }
                        }
                    }
                }
            }
        }
    }

    /// Softmax of each column over each segment's rows (attention over a node's incoming edges,
    /// one column per head).
    public func segmentSoftmax(_ a: Tensor, _ seg: Segments) -> Tensor {
        precondition(a.rows == seg.total, "segmentSoftmax: \(a.rows) rows for \(seg.total) edges")
        let h = a.cols, off = seg.offsets
        var out = [Float](repeating: 0, count: a.count)
        out.withUnsafeMutableBufferPointer { o in
            a.value.withUnsafeBufferPointer { x in
                nonisolated(unsafe) let (op, xp) = (o.baseAddress!, x.baseAddress!)
                Kernels.parallelRows(seg.count) { range in
                    for d in range where off[d + 1] > off[d] {
                        for k in 0..<h {
                            var m = -Float.infinity
                            for e in off[d]..<off[d + 1] { m = max(m, xp[e * h + k]) }
                            var s: Float = 0
                            for e in off[d]..<off[d + 1] {
                                let v = Foundation.exp(xp[e * h + k] - m)
                                op[e * h + k] = v
                                s += v
                            }
                            for e in off[d]..<off[d + 1] { op[e * h + k] /= s }
                        }
                    }
                }
            }
        }
        return record(a.rows, h, out, [a]) { t in
            a.ensureGrad()
            // dx_e = y_e (dy_e − Σ_e' y_e' dy_e')
            for d in 0..<seg.count where off[d + 1] > off[d] {
                for k in 0..<h {
                    var s: Float = 0
                    for e in off[d]..<off[d + 1] { s += t.value[e * h + k] * t.grad[e * h + k] }
                    for e in off[d]..<off[d + 1] { a.grad[e * h + k] += t.value[e * h + k] * (t.grad[e * h + k] - s) }
                }
            }
        }
    }

    /// Per-head dot products: for x (rows × heads·d) and att (1 × heads·d), out[r, k] = Σ_j
    /// x[r, k·d + j] · att[k·d + j] (GAT attention logits).
    public func headDot(_ x: Tensor, _ att: Tensor, heads: Int) -> Tensor {
        precondition(
            x.cols % heads == 0 && att.count == x.cols,
            "headDot: \(x.cols) columns, \(att.count) attention weights, \(heads) heads")
        let d = x.cols / heads, c = x.cols, n = x.rows
        var out = [Float](repeating: 0, count: n * heads)
        out.withUnsafeMutableBufferPointer { o in
            x.value.withUnsafeBufferPointer { xv in
                nonisolated(unsafe) let (op, xp) = (o.baseAddress!, xv.baseAddress!)
                let av = att.value
                Kernels.parallelRows(n) { range in
                    for r in range {
                        for k in 0..<heads {
                            var s: Float = 0
                            for j in 0..<d { s += xp[r * c + k * d + j] * av[k * d + j] }
                            op[r * heads + k] = s
                        }
                    }
                }
            }
        }
        return record(n, heads, out, [x, att]) { t in
            if x.needsGrad {
                x.ensureGrad()
                for r in 0..<n {
                    for k in 0..<heads {
                        let g = t.grad[r * heads + k]
                        for j in 0..<d { x.grad[r * c + k * d + j] += g * att.value[k * d + j] }
                    }
                }
            }
            if att.needsGrad {
                att.ensureGrad()
                for r in 0..<n {
                    for k in 0..<heads {
                        let g = t.grad[r * heads + k]
                        for j in 0..<d { att.grad[k * d + j] += g * x.value[r * c + k * d + j] }
                    }
                }
            }
        }
    }

    /// Scales each head's block of x (rows × heads·d) by w (rows × heads): out[r, k·d + j] =
    /// x[r, k·d + j] · w[r, k] (attention-weighted messages).
    public func headScale(_ x: Tensor, _ w: Tensor) -> Tensor {
        let heads = w.cols, n = x.rows, c = x.cols
        precondition(w.rows == n && c % heads == 0, "headScale: \(x.rows)x\(x.cols) by \(w.rows)x\(w.cols)")
        let d = c / heads
        var out = [Float](repeating: 0, count: n * c)
        for r in 0..<n {
            for k in 0..<heads {
                let s = w.value[r * heads + k]
                for j in 0..<d { out[r * c + k * d + j] = x.value[r * c + k * d + j] * s }
            }
        }
        return record(n, c, out, [x, w]) { t in
            if x.needsGrad {
                x.ensureGrad()
                for r in 0..<n {
                    for k in 0..<heads {
                        let s = w.value[r * heads + k]
                        for j in 0..<d { x.grad[r * c + k * d + j] += t.grad[r * c + k * d + j] * s }
                    }
                }
            }
            if w.needsGrad {
                w.ensureGrad()
                for r in 0..<n {
                    for k in 0..<heads {
                        var s: Float = 0
                        for j in 0..<d { s += t.grad[r * c + k * d + j] * x.value[r * c + k * d + j] }
                        w.grad[r * heads + k] += s
                    }
                }
            }
        }
    }

    /// The first `n` rows of `a` (a block's outputs among its inputs); `a` itself when n is all of them.
    public func prefixRows(_ a: Tensor, _ n: Int) -> Tensor {
        precondition(n >= 0 && n <= a.rows, "prefixRows: \(n) of \(a.rows) rows")
        guard n < a.rows else { return a }
        let c = a.cols
        return record(n, c, Array(a.value[0..<(n * c)]), [a]) { t in
            a.ensureGrad()
            a.grad.withUnsafeMutableBufferPointer { g in
                t.grad.withUnsafeBufferPointer { tg in for i in 0..<(n * c) { g[i] += tg[i] } }
            }
        }
    }

    /// Rows `index` of parameter `p`, without bringing the whole parameter onto the tape: the
    /// backward pass adds into those rows of `p.grad` only and marks them touched, so a sparse
    /// optimiser step (`AdamW.step`) updates only them. An embedding table's lookup.
    public func rows(of p: Parameter, _ index: [Int32]) -> Tensor {
        let c = p.cols, n = index.count, limit = p.rows
        var out = [Float](repeating: 0, count: n * c)
        out.withUnsafeMutableBufferPointer { o in
            p.value.withUnsafeBufferPointer { x in
                nonisolated(unsafe) let (op, xp) = (o.baseAddress!, x.baseAddress!)
                Kernels.parallelRows(n) { range in
                    for r in range {
                        let src = Int(index[r])
                        precondition(src >= 0 && src < limit, "rows(of:): row \(src) of \(limit)")
                        (op + r * c).update(from: xp + src * c, count: c)
                    }
                }
            }
        }
        let t = Tensor(rows: n, cols: c, value: out, needsGrad: true)
        t.backwardFn = { [unowned t] in
            p.touch(index)
            p.grad.withUnsafeMutableBufferPointer { g in
                t.grad.withUnsafeBufferPointer { tg in
                    for r in 0..<n {
                        let dst = Int(index[r]) * c
                        for j in 0..<c { g[dst + j] += tg[r * c + j] }
                    }
                }
            }
        }
        append(t)
        return t
    }
}
