import Foundation
import RecMath
import RecTestSupport
import Testing

@testable import RecGAT

/// The fused GATv2 attention op and the kernel it shares with serving.
@Suite struct AttentionTests {
    static func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        GradientCheck.random(n, seed: seed, scale: scale)
    }

    static func check(
        _ shapes: [(Int, Int)], scale: Float = 1, sourceLocation: SourceLocation = #_sourceLocation,
        _ build: @escaping (Tape, [Tensor]) -> Tensor
    ) {
        GradientCheck.check(shapes, scale: scale, sourceLocation: sourceLocation, build)
    }

    @Test func headMeanGradient() {
        Self.check([(6, 8)]) { t, x in t.headMean(x[0], heads: 4) }
    }

    static let smallGraph = EdgeIndex(neighbours: [[0, 1, 2], [1, 3], [2, 0], [3, 1], []])

    @Test func fusedGATv2() {
        let g = Self.smallGraph
        // 8-wide SIMD kernels (per-head width a multiple of 8) ...
        Self.check([(5, 16), (5, 16), (1, 16)]) { t, x in t.gatv2(x[0], x[1], att: x[2], heads: 2, edges: g) }
        Self.check([(5, 8), (5, 8), (1, 8)]) { t, x in t.gatv2(x[0], x[1], att: x[2], heads: 1, edges: g) }
        // ... and the composed fallback for other widths.
        Self.check([(5, 8), (5, 8), (1, 8)]) { t, x in t.gatv2(x[0], x[1], att: x[2], heads: 2, edges: g) }
    }

    /// The fused op equals the composition of the primitive ops, values and gradients, on a
    /// graph big enough for the parallel paths.
    @Test func fusedGATv2MatchesComposition() {
        let n = 3000, w = 32, heads = 4
        var nbrs: [[Int32]] = []
        for d in 0..<n { nbrs.append([Int32(d)] + (0..<(d % 5)).map { Int32((d * 31 + $0 * 17 + 1) % n) }) }
        let g = EdgeIndex(neighbours: nbrs)
        func run(_ fused: Bool) -> ([Float], [[Float]]) {
            let ps = [(n, w), (n, w), (1, w)].enumerated().map { i, s in
                Parameter("p\(i)", rows: s.0, cols: s.1, value: Self.random(s.0 * s.1, seed: UInt64(i + 5)))
            }
            let t = Tape()
            let (xl, xr, att) = (t.param(ps[0]), t.param(ps[1]), t.param(ps[2]))
            let out: Tensor
            if fused {
                out = t.gatv2(xl, xr, att: att, heads: heads, edges: g)
            } else {
                let el = t.gather(xl, g.src)
                let logits = t.headDot(t.leakyReLU(t.add(el, t.gather(xr, g.dst))), att, heads: heads)
                out = t.segmentSum(t.headScale(el, t.segmentSoftmax(logits, g.byDestination)), g.byDestination)
            }
            t.backward(t.sum(t.mul(out, t.constant(Self.random(out.count, seed: 9), rows: out.rows, cols: out.cols))))
            return (out.value, ps.map(\.grad))
        }
        let (a, ga) = run(true), (b, gb) = run(false)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-4 })
        for (x, y) in zip(ga, gb) { #expect(zip(x, y).allSatisfy { abs($0 - $1) < 1e-3 }) }
    }
}

@Suite struct AttentionKernelTests {
    /// One destination through the kernel equals that node's row of the whole-graph op (the
    /// same arithmetic: bit for bit) and of the composed primitive ops (within float noise),
    /// for SIMD (per-head width 8) and scalar (width 6) heads.
    @Test(arguments: [(2, 16), (3, 18)])
    func oneNodeEqualsTheGraphOp(heads: Int, width w: Int) {
        let g = AttentionTests.smallGraph, n = g.nodeCount
        let xl = AttentionTests.random(n * w, seed: 1), xr = AttentionTests.random(n * w, seed: 2)
        let att = AttentionTests.random(w, seed: 3)
        let t = Tape()
        let (l, r, a) = (
            t.constant(xl, rows: n, cols: w), t.constant(xr, rows: n, cols: w), t.constant(att, rows: 1, cols: w)
        )
        let graph = t.gatv2(l, r, att: a, heads: heads, edges: g)
        let el = t.gather(l, g.src)
        let composed = t.segmentSum(
            t.headScale(
                el,
                t.segmentSoftmax(
                    t.headDot(t.leakyReLU(t.add(el, t.gather(r, g.dst))), a, heads: heads),
                    g.byDestination)), g.byDestination)
        for d in 0..<n {
            let (lo, hi) = (g.byDestination.offsets[d], g.byDestination.offsets[d + 1])
            var out = [Float](repeating: 0, count: w), alpha = [Float](repeating: 0, count: max(1, hi - lo) * heads)
            xl.withUnsafeBufferPointer { lp in
                xr.withUnsafeBufferPointer { rp in
                    att.withUnsafeBufferPointer { ap in
                        GATv2.attend(
                            edges: hi - lo, heads: heads, width: w, slope: 0.2,
                            source: { lp.baseAddress! + Int(g.src[lo + $0]) * w },
                            target: rp.baseAddress! + d * w, att: ap.baseAddress!, alpha: &alpha, out: &out)
                    }
                }
            }
            let row = Array(graph.value[(d * w)..<(d * w + w)]), want = Array(composed.value[(d * w)..<(d * w + w)])
            if w / heads % 8 == 0 { #expect(out == row) }
            #expect(zip(out, want).allSatisfy { abs($0 - $1) < 1e-5 }, "node \(d)")
            for k in 0..<heads where hi > lo {
                #expect(abs((0..<(hi - lo)).reduce(Float(0)) { $0 + alpha[$1 * heads + k] } - 1) < 1e-5)
            }
        }
    }
}
