import Foundation
import RecMath
import RecTestSupport
import Testing

/// Every tape operation's gradient against central finite differences: for an operation f
/// and a fixed random projection R, loss = Σ f(inputs) ⊙ R; the analytic gradient of each
/// input entry must match (loss(x + ε) − loss(x − ε)) / 2ε.
@Suite struct AutogradTests {
    static func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        GradientCheck.random(n, seed: seed, scale: scale)
    }

    static func check(
        _ shapes: [(Int, Int)], scale: Float = 1, eps: Float = 1e-2, tolerance: Float = 2e-2,
        sourceLocation: SourceLocation = #_sourceLocation, _ build: @escaping (Tape, [Tensor]) -> Tensor
    ) {
        GradientCheck.check(shapes, scale: scale, eps: eps, tolerance: tolerance, sourceLocation: sourceLocation, build)
    }

    @Test func matmul() {
        Self.check([(3, 4), (4, 5)]) { t, x in t.matmul(x[0], x[1]) }
        Self.check([(3, 4), (5, 4)]) { t, x in t.matmul(x[0], x[1], transposeB: true) }
    }

    @Test func elementwise() {
        Self.check([(3, 4), (3, 4)]) { t, x in t.add(x[0], x[1]) }
        Self.check([(3, 4), (1, 4)]) { t, x in t.add(x[0], x[1]) }
        Self.check([(3, 4), (3, 4)]) { t, x in t.sub(x[0], x[1]) }
        Self.check([(3, 4), (3, 4)]) { t, x in t.mul(x[0], x[1]) }
        Self.check([(2, 3)]) { t, x in t.shift(t.scale(x[0], -2.5), 0.3) }
        Self.check([(4, 5)]) { t, x in t.leakyReLU(x[0], slope: 0.2) }
        Self.check([(4, 5)]) { t, x in t.elu(x[0]) }
        Self.check([(4, 5)], scale: 6) { t, x in t.logSigmoid(x[0]) }
    }

    @Test func dropoutUsesItsMask() {
        // Same seed in every evaluation: the mask is fixed, so the gradient is mask / keep.
        Self.check([(6, 7)]) { t, x in
            var rng = GradientCheck.LCG(state: 5)
            return t.dropout(x[0], p: 0.3, rng: &rng)
        }
        let tape = Tape()
        var rng = GradientCheck.LCG(state: 1)
        let x = tape.constant([Float](repeating: 1, count: 10_000), rows: 100, cols: 100)
        let y = tape.dropout(x, p: 0.25, rng: &rng)
        let kept = y.value.filter { $0 != 0 }
        #expect(abs(Double(kept.count) / 10_000 - 0.75) < 0.03)
        #expect(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
    }

    @Test func reductions() {
        Self.check([(3, 4)]) { t, x in t.sum(x[0]) }
        Self.check([(3, 4)]) { t, x in t.mean(x[0]) }
        Self.check([(3, 4)]) { t, x in t.sumSquares(x[0]) }
        Self.check([(5, 6), (5, 6)]) { t, x in t.rowDot(x[0], x[1]) }
        Self.check([(5, 6), (5, 6)]) { t, x in t.rowCosine(x[0], x[1]) }
    }

    @Test func layerNorm() {
        Self.check([(4, 8), (1, 8), (1, 8)]) { t, x in t.layerNorm(x[0], gain: x[1], bias: x[2]) }
        // Values: each row has mean bias and (for unit gain) variance ≈ 1.
        let tape = Tape()
        let x = tape.constant(Self.random(64, seed: 3, scale: 5), rows: 4, cols: 16)
        let y = tape.layerNorm(
            x, gain: tape.constant([Float](repeating: 1, count: 16), rows: 1, cols: 16),
            bias: tape.constant([Float](repeating: 0, count: 16), rows: 1, cols: 16))
        for r in 0..<4 {
            let row = y.value[(r * 16)..<(r * 16 + 16)]
            let mean = row.reduce(0, +) / 16
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 16
            #expect(abs(mean) < 1e-5)
            #expect(abs(variance - 1) < 1e-3)
        }
    }

    @Test func graphOperations() {
        // Edges into 4 nodes: 2, 0, 3, 1 incoming; node 1 has none.
        let seg = Segments(offsets: [0, 2, 2, 5, 6])
        let src: [Int32] = [1, 3, 0, 0, 2, 3]  // row 0 gathered twice
        Self.check([(4, 3)]) { t, x in t.gather(x[0], src) }
        Self.check([(6, 3)]) { t, x in t.segmentSum(x[0], seg) }
        Self.check([(6, 2)], scale: 3) { t, x in t.segmentSoftmax(x[0], seg) }
        Self.check([(6, 8), (1, 8)]) { t, x in t.headDot(x[0], x[1], heads: 2) }
        Self.check([(6, 8), (6, 2)]) { t, x in t.headScale(x[0], x[1]) }
        // Softmax values sum to one over each non-empty segment, per head.
        let tape = Tape()
        let a = tape.segmentSoftmax(tape.constant(Self.random(12, seed: 4, scale: 4), rows: 6, cols: 2), seg)
        for (lo, hi) in [(0, 2), (2, 5), (5, 6)] {
            for k in 0..<2 { #expect(abs((lo..<hi).reduce(Float(0)) { $0 + a.value[$1 * 2 + k] } - 1) < 1e-5) }
        }
    }

    /// A whole GATv2 layer composed from the operations, with residual and LayerNorm.
    @Test func gatLayerComposition() {
        let seg = Segments(offsets: [0, 3, 5, 7, 9])
        let src: [Int32] = [0, 1, 2, 1, 3, 2, 0, 3, 1]
        let dst: [Int32] = [0, 0, 0, 1, 1, 2, 2, 3, 3]
        Self.check([(4, 6), (6, 8), (6, 8), (1, 8), (1, 8), (8, 6)], scale: 0.8) { t, x in
            let xl = t.matmul(x[0], x[1]), xr = t.matmul(x[0], x[2])
            let el = t.gather(xl, src)
            let logits = t.headDot(t.leakyReLU(t.add(el, t.gather(xr, dst))), x[3], heads: 2)
            let alpha = t.segmentSoftmax(logits, seg)
            let h = t.add(t.segmentSum(t.headScale(el, alpha), seg), x[4])
            let ln1 = t.constant([Float](repeating: 1, count: 6), rows: 1, cols: 6)
            let ln0 = t.constant([Float](repeating: 0, count: 6), rows: 1, cols: 6)
            return t.layerNorm(t.add(x[0], t.elu(t.matmul(h, x[5]))), gain: ln1, bias: ln0)
        }
    }

    /// Large inputs take the multi-threaded paths; they must give the same values and gradients
    /// as the same computation done row by row.
    @Test func parallelPathsMatchSerial() {
        let n = 5000, c = 8
        var offsets = [0]
        var src: [Int32] = []
        for d in 0..<n {
            for j in 0..<(d % 3) { src.append(Int32((d * 7 + j) % n)) }
            offsets.append(src.count)
        }
        let seg = Segments(offsets: offsets)
        let p = Parameter("x", rows: n, cols: c, value: Self.random(n * c, seed: 11))
        let tape = Tape()
        let x = tape.param(p)
        let g = tape.gather(x, src)
        let s = tape.segmentSum(g, seg)
        let sm = tape.segmentSoftmax(g, seg)
        let loss = tape.add(tape.sumSquares(s), tape.sumSquares(sm))
        tape.backward(loss)
        var expectS = [Float](repeating: 0, count: n * c)
        for d in 0..<n {
            for e in offsets[d]..<offsets[d + 1] {
                for j in 0..<c { expectS[d * c + j] += p.value[Int(src[e]) * c + j] }
            }
        }
        #expect(s.value == expectS)
        #expect(p.grad.allSatisfy { $0.isFinite })
        #expect(p.grad.contains { $0 != 0 })
    }

    @Test func adamWMatchesTheReferenceUpdate() {
        // One step by hand (PyTorch AdamW): p ← p − lr·wd·p; m = (1−β1)g; v = (1−β2)g²;
        // p ← p − lr · (m / (1−β1)) / (sqrt(v / (1−β2)) + ε) = p − lr · sign(g) (to ~ε).
        let p = Parameter("w", rows: 1, cols: 3, value: [1, -2, 0.5])
        p.grad = [0.3, -0.1, 0]
        var opt = AdamW(lr: 0.1, weightDecay: 0.01)
        opt.step([p])
        let expected: [Float] = [1 - 0.001 - 0.1, -2 + 0.002 + 0.1, 0.5 - 0.0005]
        for (a, b) in zip(p.value, expected) { #expect(abs(a - b) < 1e-5) }
        #expect(p.grad == [0, 0, 0])
        // It minimises a quadratic: ||W x − y||² from a random start.
        let w = Parameter("W", rows: 3, cols: 2, value: Self.random(6, seed: 2))
        let xs = Self.random(2 * 16, seed: 3), target: [Float] = [1, 2, -1, 0.5, 0, 3]
        var adam = AdamW(lr: 0.05, weightDecay: 0)
        var last: Float = .infinity
        for _ in 0..<400 {
            let tape = Tape()
            let x = tape.constant(xs, rows: 16, cols: 2)
            let y = tape.matmul(x, tape.param(w), transposeB: true)
            let yTrue = tape.matmul(x, tape.constant(target, rows: 3, cols: 2), transposeB: true)
            let l = tape.sumSquares(tape.sub(y, yTrue))
            tape.backward(l)
            adam.step([w])
            last = l.scalar
        }
        #expect(last < 1e-3)
        for (a, b) in zip(w.value, target) { #expect(abs(a - b) < 0.02) }
    }
}

@Suite struct LossOpsTests {
    @Test func rowNormalizeAndSoftmaxCrossEntropyGradients() {
        AutogradTests.check([(4, 5)]) { t, x in t.rowNormalize(x[0]) }
        AutogradTests.check([(3, 6)], scale: 2) { t, x in
            t.softmaxCrossEntropy(x[0], targets: [2, 0, 5], masked: [(0, 1), (1, 0), (2, 3)])
        }
    }

    @Test func softmaxCrossEntropyByHand() {
        let t = Tape()
        let l = t.softmaxCrossEntropy(t.constant([0, 0, 1, 5], rows: 2, cols: 2), targets: [0, 1])
        // Row 0: log 2; row 1: −log(e^5 / (e + e^5)).
        let want = (log(2.0) + -log(exp(5.0) / (exp(1.0) + exp(5.0)))) / 2
        #expect(abs(Double(l.scalar) - want) < 1e-6)
        let masked = t.softmaxCrossEntropy(t.constant([3, 9, 1], rows: 1, cols: 3), targets: [0], masked: [(0, 1)])
        #expect(abs(Double(masked.scalar) - -log(exp(3.0) / (exp(3.0) + exp(1.0)))) < 1e-6)
    }
}
