import Foundation
import RecMath

/// GATv2 attention (Brody, Alon & Yahav, *How attentive are graph attention networks?*,
/// ICLR 2022) for one destination node: the one kernel both training (`Tape.gatv2`, every node
/// of the graph) and serving (`GATEngine.pass`, one new node) run.
///
///     logit_e,k = att_kᵀ LeakyReLU(x_src(e),k + x_dst,k)      per edge e into the node, head k
///     α_e,k = softmax_e(logit_e,k)
///     out_k = Σ_e α_e,k · x_src(e),k
///
/// Rows are `width` = heads · per-head wide; heads are concatenated in `out`. 8-wide SIMD when
/// the per-head width is a multiple of 8, scalar otherwise.
enum GATv2 {
    /// - Parameters:
    ///   - source: edge e's source row (its message, `width` floats).
    ///   - target: the destination's row of the other projection (`width` floats).
    ///   - alpha: receives α, edges × heads.
    ///   - out: `width` floats the attention-weighted messages are added to.
    @inline(__always)
    static func attend(
        edges: Int, heads: Int, width w: Int, slope: Float, source: (Int) -> UnsafePointer<Float>,
        target xr: UnsafePointer<Float>, att: UnsafePointer<Float>, alpha a: UnsafeMutablePointer<Float>,
        out o: UnsafeMutablePointer<Float>
    ) {
        guard edges > 0 else { return }
        let hc = w / heads
        if hc % 8 == 0 {
            typealias V = SIMD8<Float>
            let chunksPerHead = hc / 8, slopeV = V(repeating: slope)
            let xd = UnsafeRawPointer(xr).assumingMemoryBound(to: V.self)
            let av = UnsafeRawPointer(att).assumingMemoryBound(to: V.self)
            let od = UnsafeMutableRawPointer(o).assumingMemoryBound(to: V.self)
            for e in 0..<edges {
                let xs = UnsafeRawPointer(source(e)).assumingMemoryBound(to: V.self)
                for k in 0..<heads {
                    var acc = V()
                    for c in (k * chunksPerHead)..<((k + 1) * chunksPerHead) {
                        let v = xs[c] + xd[c]
                        acc += av[c] * v.replacing(with: v * slopeV, where: v .< 0)
                    }
                    a[e * heads + k] = acc.sum()
                }
            }
            softmax(a, edges: edges, heads: heads)
            for e in 0..<edges {
                let xs = UnsafeRawPointer(source(e)).assumingMemoryBound(to: V.self)
                for k in 0..<heads {
                    let c0 = V(repeating: a[e * heads + k])
                    for c in (k * chunksPerHead)..<((k + 1) * chunksPerHead) { od[c] += c0 * xs[c] }
                }
            }
        } else {
            for e in 0..<edges {
                let xs = source(e)
                for k in 0..<heads {
                    var s: Float = 0
                    for j in (k * hc)..<((k + 1) * hc) {
                        let v = xs[j] + xr[j]
                        s += att[j] * (v < 0 ? slope * v : v)
                    }
                    a[e * heads + k] = s
                }
            }
            softmax(a, edges: edges, heads: heads)
            for e in 0..<edges {
                let xs = source(e)
                for k in 0..<heads {
                    let c0 = a[e * heads + k]
                    for j in (k * hc)..<((k + 1) * hc) { o[j] += c0 * xs[j] }
                }
            }
        }
    }

    /// Softmax of each head's column over the edges, in place (max-shifted).
    @inline(__always)
    static func softmax(_ a: UnsafeMutablePointer<Float>, edges: Int, heads: Int) {
        for k in 0..<heads {
            var m = -Float.infinity
            for e in 0..<edges { m = max(m, a[e * heads + k]) }
            var z: Float = 0
            for e in 0..<edges {
                let v = Foundation.exp(a[e * heads + k] - m)
                a[e * heads + k] = v
                z += v
            }
            let inv = 1 / z
            for e in 0..<edges { a[e * heads + k] *= inv }
        }
    }

    /// Per-head rows (heads · d) averaged into d: out[j] += Σ_k x[k·d + j] / heads, in the
    /// order the tape's `headMean` sums.
    @inline(__always)
    static func headMean(_ x: UnsafePointer<Float>, heads: Int, d: Int, into out: UnsafeMutablePointer<Float>) {
        let inv = 1 / Float(heads)
        for k in 0..<heads { for j in 0..<d { out[j] += x[k * d + j] * inv } }
    }
}

extension Tape {
    /// One GATv2 attention step (Brody, Alon & Yahav 2022), fused: for every node d and edge
    /// s → d, logit = attᵀ LeakyReLU(xl[s] + xr[d]) per head, α = softmax over d's incoming
    /// edges, out[d] = Σ α · xl[s] (per head). xl is sources × heads·c, xr destinations × heads·c
    /// (the same nodes for a whole graph; a sampled block's inputs and outputs); att is 1 × heads·c.
    /// Equal to composing gather, add, leakyReLU, headDot, segmentSoftmax, headScale and
    /// segmentSum (tested), but keeps only the attention weights (edges × heads) instead of
    /// five edges × heads·c intermediates, runs 8-wide SIMD, and runs forward and backward on
    /// all cores. The forward pass is `GATv2.attend`, the kernel serving runs too. Per-head
    /// widths that are not a multiple of 8 use the composition instead.
    func gatv2(
        _ xl: Tensor, _ xr: Tensor, att: Tensor, heads: Int, edges g: EdgeIndex,
        slope: Float = 0.2
    ) -> Tensor {
        let n = g.nodeCount, ns = g.sourceCount, w = xl.cols, hc = w / heads
        precondition(
            xl.rows == ns && xr.rows == n && xr.cols == w && att.count == w && w % heads == 0,
            "gatv2: xl \(xl.rows)x\(xl.cols), xr \(xr.rows)x\(xr.cols), att \(att.count), \(heads) heads, "
                + "\(ns) sources, \(n) destinations")
        guard hc % 8 == 0 else {
            let el = gather(xl, g.src)
            let alpha = segmentSoftmax(
                headDot(leakyReLU(add(el, gather(xr, g.dst)), slope: slope), att, heads: heads), g.byDestination)
            return segmentSum(headScale(el, alpha), g.byDestination)
        }
        let off = g.byDestination.offsets, src = g.src
        var out = [Float](repeating: 0, count: n * w)
        var alpha = [Float](repeating: 0, count: g.edgeCount * heads)
        out.withUnsafeMutableBufferPointer { ob in
            alpha.withUnsafeMutableBufferPointer { ab in
                xl.value.withUnsafeBufferPointer { lb in
                    xr.value.withUnsafeBufferPointer { rb in
                        att.value.withUnsafeBufferPointer { atb in
                            nonisolated(unsafe) let (o, a, l, r, av) = (
                                ob.baseAddress!, ab.baseAddress!, lb.baseAddress!, rb.baseAddress!,
                                atb.baseAddress!
                            )
                            Kernels.parallelRows(n, grain: 64) { range in
                                for d in range {
                                    let first = off[d]
                                    GATv2.attend(
                                        edges: off[d + 1] - first, heads: heads, width: w, slope: slope,
                                        source: { l + Int(src[first + $0]) * w }, target: r + d * w, att: av,
                                        alpha: a + first * heads, out: o + d * w)
                                }
                            }
                        }
                    }
                }
            }
        }
        let alphaC = alpha
        typealias V = SIMD8<Float>
        let chunksPerHead = hc / 8, vw = w / 8
        let slopeV = V(repeating: slope)
        let result = record(n, w, out, [xl, xr, att]) { t in
            // Per edge: dα = dout[d]·xl[s] (per head); dlogit = α (dα − Σ_d α dα);
            // dv = dlogit · att ⊙ LeakyReLU'(v), v = xl[s] + xr[d];
            // dxl[s] += α dout[d] + dv;  dxr[d] += dv;  datt += dlogit · LeakyReLU(v).
            var dlogit = [Float](repeating: 0, count: g.edgeCount * heads)
            var dxr = [Float](repeating: 0, count: n * w)
            let chunks = Kernels.chunkCount(n, grain: 64)
            var dattParts = [Float](repeating: 0, count: chunks * w)
            var dxl = [Float](repeating: 0, count: ns * w)
            dlogit.withUnsafeMutableBufferPointer { dlb in
                dxr.withUnsafeMutableBufferPointer { drb in
                    dattParts.withUnsafeMutableBufferPointer { dpb in
                        dxl.withUnsafeMutableBufferPointer { dlxb in
                            xl.value.withUnsafeBufferPointer { lb in
                                xr.value.withUnsafeBufferPointer { rb in
                                    t.grad.withUnsafeBufferPointer { gb in
                                        att.value.withUnsafeBufferPointer { atb in
                                            alphaC.withUnsafeBufferPointer { alb in
                                                func vec(_ p: UnsafePointer<Float>) -> UnsafePointer<V> {
                                                    UnsafeRawPointer(p).assumingMemoryBound(to: V.self)
                                                }
                                                func vec(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<V> {
                                                    UnsafeMutableRawPointer(p).assumingMemoryBound(to: V.self)
                                                }
                                                nonisolated(unsafe) let (dl, a) = (dlb.baseAddress!, alb.baseAddress!)
                                                nonisolated(unsafe) let (dr, dp, dx) = (
                                                    vec(drb.baseAddress!), vec(dpb.baseAddress!), vec(dlxb.baseAddress!)
                                                )
                                                nonisolated(unsafe) let (l, r, go, av) = (
                                                    vec(lb.baseAddress!), vec(rb.baseAddress!), vec(gb.baseAddress!),
                                                    vec(atb.baseAddress!)
                                                )
                                                let one = V(repeating: 1)
                                                // Pass 1, by destination: dlogit, dxr, datt (per task).
                                                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                                                    let dattC = dp + chunk * vw
                                                    for d in (n * chunk / chunks)..<(n * (chunk + 1) / chunks)
                                                    where off[d + 1] > off[d] {
                                                        let xd = r + d * vw, gd = go + d * vw, drd = dr + d * vw
                                                        for k in 0..<heads {
                                                            let cs = (k * chunksPerHead)..<((k + 1) * chunksPerHead)
                                                            var sum: Float = 0
                                                            for e in off[d]..<off[d + 1] {
                                                                let xs = l + Int(src[e]) * vw
                                                                var acc = V()
                                                                for c in cs { acc += gd[c] * xs[c] }
                                                                let da = acc.sum()
                                                                dl[e * heads + k] = da
                                                                sum += a[e * heads + k] * da
                                                            }
                                                            for e in off[d]..<off[d + 1] {
                                                                let dz = a[e * heads + k] * (dl[e * heads + k] - sum)
                                                                dl[e * heads + k] = dz
                                                                let dzv = V(repeating: dz)
                                                                let xs = l + Int(src[e]) * vw
                                                                for c in cs {
                                                                    let v = xs[c] + xd[c]
                                                                    let neg = v .<= 0
                                                                    drd[c] +=
                                                                        dzv * av[c]
                                                                        * one.replacing(with: slopeV, where: neg)
                                                                    dattC[c] +=
                                                                        dzv
                                                                        * v.replacing(with: v * slopeV, where: v .< 0)
                                                                }
                                                            }
                                                        }
                                                    }
                                                }
                                                // Pass 2, by source: dxl.
                                                let so = g.sourceOffsets, se = g.sourceEdges, dstA = g.dst
                                                Kernels.parallelRows(ns, grain: 64) { range in
                                                    for s in range {
                                                        let xs = l + s * vw, ds = dx + s * vw
                                                        for q in so[s]..<so[s + 1] {
                                                            let e = Int(se[q]), d = Int(dstA[e])
                                                            let xd = r + d * vw, gd = go + d * vw
                                                            for k in 0..<heads {
                                                                let cv = V(repeating: a[e * heads + k]),
                                                                    dzv = V(repeating: dl[e * heads + k])
                                                                for c in (k * chunksPerHead)..<((k + 1) * chunksPerHead)
                                                                {
                                                                    let v = xs[c] + xd[c]
                                                                    ds[c] +=
                                                                        cv * gd[c] + dzv * av[c]
                                                                        * one.replacing(with: slopeV, where: v .<= 0)
                                                                }
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if xl.needsGrad { Tape.accumulate(xl, dxl) }
            if xr.needsGrad { Tape.accumulate(xr, dxr) }
            if att.needsGrad {
                att.ensureGrad()
                for c in 0..<chunks { for j in 0..<w { att.grad[j] += dattParts[c * w + j] } }
            }
        }
        return result
    }

    /// Mean over heads: x (rows × heads·d) → rows × d.
    func headMean(_ x: Tensor, heads: Int) -> Tensor {
        guard heads > 1 else { return x }
        precondition(x.cols % heads == 0, "headMean: \(x.cols) columns for \(heads) heads")
        let d = x.cols / heads, c = x.cols, n = x.rows, inv = 1 / Float(heads)
        var out = [Float](repeating: 0, count: n * d)
        out.withUnsafeMutableBufferPointer { o in
            x.value.withUnsafeBufferPointer { xv in
                for r in 0..<n {
                    GATv2.headMean(xv.baseAddress! + r * c, heads: heads, d: d, into: o.baseAddress! + r * d)
                }
            }
        }
        return record(n, d, out, [x]) { t in
            x.ensureGrad()
            for r in 0..<n {
                for k in 0..<heads { for j in 0..<d { x.grad[r * c + k * d + j] += t.grad[r * d + j] * inv } }
            }
        }
    }
}
