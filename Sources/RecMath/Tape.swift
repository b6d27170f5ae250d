import Dispatch
import Foundation

/// A small reverse-mode automatic differentiation tape over row-major `Float` matrices: BLAS
/// products, elementwise ops (LeakyReLU/ELU, log-sigmoid, dropout), reductions, row dot
/// products and cosines, LayerNorm. Graph operations (gathers, segment sums and softmax over
/// edge lists, per-head products) are in GraphOps.swift; AdamW in Optimiser.swift; ops that
/// only one model uses live with that model (the fused GATv2 attention is in RecGAT).
///
/// Usage: create a `Tape` per training step, bring in `Parameter`s with `param(_:)` and fixed
/// inputs with `constant`, compose operations, call `backward(loss)` on a 1×1 result: every
/// parameter's `grad` then holds d loss / d parameter (accumulated, so zero them between
/// steps; `AdamW.step` does). Every operation's gradient is checked against central finite
/// differences in `RecMathTests/AutogradTests`.
///
/// Edge lists are CSR by destination (`Segments`): rows of an edge tensor that belong to
/// one destination node are contiguous, so segment softmax and segment sums run in parallel
/// over destinations with no atomics. Large elementwise and per-row operations run on all
/// cores; products go to OpenBLAS.
public final class Tensor: @unchecked Sendable {  // one tape, one thread; parallel kernels only read
    public let rows: Int
    public let cols: Int
    public package(set) var value: [Float]
    /// d loss / d self, allocated when the backward pass first reaches this tensor.
    public package(set) var grad: [Float] = []
    public let needsGrad: Bool
    package var backwardFn: (() -> Void)?

    package init(rows: Int, cols: Int, value: [Float], needsGrad: Bool) {
        precondition(value.count == rows * cols, "tensor value has \(value.count) entries, expected \(rows)x\(cols)")
        self.rows = rows
        self.cols = cols
        self.value = value
        self.needsGrad = needsGrad
    }

    public var count: Int { rows * cols }
    /// The single value of a 1×1 tensor.
    public var scalar: Float { value[0] }

    package func ensureGrad() {
        if grad.isEmpty { grad = [Float](repeating: 0, count: count) }
    }
}

/// A trainable matrix with its gradient and AdamW moments.
public final class Parameter {
    public let name: String
    public let rows: Int
    public let cols: Int
    public var value: [Float]
    public var grad: [Float]
    var m: [Float]
    var v: [Float]
    /// Whether AdamW applies weight decay (not to biases and LayerNorm parameters, by convention).
    public var decay: Bool

    /// Whether the optimiser updates only the rows the backward pass reached since its last
    /// step (an embedding table looked up with `Tape.rows(of:)`, never used whole in training).
    public var sparse = false
    /// Rows reached since the last step (a mask and the list of the marked ones).
    private var touchedMask: [Bool] = []
    private var touchedRows: [Int32] = []

    /// Marks `rows` touched (called by `Tape.rows(of:)`'s backward pass).
    func touch(_ rows: [Int32]) {
        if touchedMask.isEmpty { touchedMask = [Bool](repeating: false, count: self.rows) }
        for r in rows where !touchedMask[Int(r)] {
            touchedMask[Int(r)] = true
            touchedRows.append(r)
        }
    }

    /// The rows touched since the last step (the rows the next optimiser step will update).
    public var pendingRows: [Int32] { touchedRows }

    /// The rows touched since the last step, and forgets them.
    func takeTouched() -> [Int32] {
        for r in touchedRows { touchedMask[Int(r)] = false }
        defer { touchedRows.removeAll(keepingCapacity: true) }
        return touchedRows
    }

    public init(_ name: String, rows: Int, cols: Int, value: [Float], decay: Bool = true) {
        precondition(
            value.count == rows * cols, "parameter \(name) has \(value.count) values, expected \(rows)x\(cols)")
        self.name = name
        self.rows = rows
        self.cols = cols
        self.value = value
        self.decay = decay
        grad = [Float](repeating: 0, count: value.count)
        m = grad
        v = grad
    }

    public func zeroGrad() {
        grad.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] = 0 } }
    }
}

public final class Tape {
    private var nodes: [Tensor] = []
    public init() {}

    /// The parameter as a tape input; its gradient flows into `p.grad`.
    public func param(_ p: Parameter) -> Tensor {
        let t = Tensor(rows: p.rows, cols: p.cols, value: p.value, needsGrad: true)
        t.backwardFn = { [unowned t] in
            p.grad.withUnsafeMutableBufferPointer { g in
                t.grad.withUnsafeBufferPointer { tg in for i in g.indices { g[i] += tg[i] } }
            }
        }
        nodes.append(t)
        return t
    }

    /// A fixed input (no gradient).
    public func constant(_ value: [Float], rows: Int, cols: Int) -> Tensor {
        let t = Tensor(rows: rows, cols: cols, value: value, needsGrad: false)
        nodes.append(t)
        return t
    }

    /// A 1×1 constant.
    public func scalar(_ v: Float) -> Tensor { constant([v], rows: 1, cols: 1) }

    /// Runs the backward pass from a 1×1 `loss` (seeded with 1).
    public func backward(_ loss: Tensor) {
        precondition(loss.count == 1, "backward needs a 1x1 loss, got \(loss.rows)x\(loss.cols)")
        loss.ensureGrad()
        loss.grad[0] = 1
        for t in nodes.reversed() where t.needsGrad && !t.grad.isEmpty {
            t.backwardFn?()
        }
    }

    /// Adds a tensor made outside `record` (an op with its own backward closure).
    package func append(_ t: Tensor) { nodes.append(t) }

    /// Records the result of an operation on `inputs`; `back` runs when the backward pass reaches it.
    package func record(
        _ rows: Int, _ cols: Int, _ value: [Float], _ inputs: [Tensor],
        _ back: @escaping (Tensor) -> Void
    ) -> Tensor {
        let t = Tensor(rows: rows, cols: cols, value: value, needsGrad: inputs.contains { $0.needsGrad })
        if t.needsGrad { t.backwardFn = { [unowned t] in back(t) } }
        nodes.append(t)
        return t
    }

    // MARK: - products

    /// a · b (a is n×k, b is k×m), or a · bᵀ when `transposeB` (b is m×k).
    public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
        let n = a.rows, k = a.cols, m = transposeB ? b.rows : b.cols
        precondition(
            k == (transposeB ? b.cols : b.rows),
            "matmul: \(a.rows)x\(a.cols) times \(b.rows)x\(b.cols)\(transposeB ? "ᵀ" : "")")
        var out = [Float](repeating: 0, count: n * m)
        a.value.withUnsafeBufferPointer { ap in
            b.value.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op in
                    BLAS.sgemm(
                        .none, transposeB ? .transpose : .none, m: n, n: m, k: k, a: ap.baseAddress!, lda: k,
                        b: bp.baseAddress!, ldb: transposeB ? k : m, c: op.baseAddress!, ldc: m)
                }
            }
        }
        return record(n, m, out, [a, b]) { t in
            t.grad.withUnsafeBufferPointer { gp in
                if a.needsGrad {
                    a.ensureGrad()
                    // dA = dC · op(B)ᵀ
                    b.value.withUnsafeBufferPointer { bp in
                        a.grad.withUnsafeMutableBufferPointer { ag in
                            BLAS.sgemm(
                                .none, transposeB ? .none : .transpose, m: n, n: k, k: m, a: gp.baseAddress!, lda: m,
                                b: bp.baseAddress!, ldb: transposeB ? k : m, beta: 1, c: ag.baseAddress!, ldc: k)
                        }
                    }
                }
                if b.needsGrad {
                    b.ensureGrad()
                    a.value.withUnsafeBufferPointer { ap in
                        b.grad.withUnsafeMutableBufferPointer { bg in
                            if transposeB {  // dB (m×k) = dCᵀ · A
                                BLAS.sgemm(
                                    .transpose, .none, m: m, n: k, k: n, a: gp.baseAddress!, lda: m,
                                    b: ap.baseAddress!, ldb: k, beta: 1, c: bg.baseAddress!, ldc: k)
                            } else {  // dB (k×m) = Aᵀ · dC
                                BLAS.sgemm(
                                    .transpose, .none, m: k, n: m, k: n, a: ap.baseAddress!, lda: k,
                                    b: gp.baseAddress!, ldb: m, beta: 1, c: bg.baseAddress!, ldc: m)
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - elementwise and broadcasting

    /// a + b (same shape), or a + b broadcast over rows when b is 1×cols.
    public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        let rowBroadcast = b.rows == 1 && a.rows != 1
        precondition(
            a.cols == b.cols && (a.rows == b.rows || rowBroadcast), "add: \(a.rows)x\(a.cols) + \(b.rows)x\(b.cols)")
        var out = a.value
        let c = a.cols
        b.value.withUnsafeBufferPointer { bp in
            out.withUnsafeMutableBufferPointer { o in
                if rowBroadcast {
                    for r in 0..<a.rows { for j in 0..<c { o[r * c + j] += bp[j] } }
                } else {
                    for i in o.indices { o[i] += bp[i] }
                }
            }
        }
        return record(a.rows, c, out, [a, b]) { t in
            if a.needsGrad { Tape.accumulate(a, t.grad) }
            if b.needsGrad {
                if rowBroadcast {
                    b.ensureGrad()
                    b.grad.withUnsafeMutableBufferPointer { bg in
                        t.grad.withUnsafeBufferPointer { tg in
                            for r in 0..<a.rows { for j in 0..<c { bg[j] += tg[r * c + j] } }
                        }
                    }
                } else {
                    Tape.accumulate(b, t.grad)
                }
            }
        }
    }

    /// a − b (same shape).
    public func sub(_ a: Tensor, _ b: Tensor) -> Tensor { add(a, scale(b, -1)) }

    /// a ⊙ b (same shape).
    public func mul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.rows == b.rows && a.cols == b.cols, "mul: \(a.rows)x\(a.cols) vs \(b.rows)x\(b.cols)")
        var out = a.value
        for i in out.indices { out[i] *= b.value[i] }
        return record(a.rows, a.cols, out, [a, b]) { t in
            if a.needsGrad {
                a.ensureGrad()
                for i in 0..<a.count { a.grad[i] += t.grad[i] * b.value[i] }
            }
            if b.needsGrad {
                b.ensureGrad()
                for i in 0..<a.count { b.grad[i] += t.grad[i] * a.value[i] }
            }
        }
    }

    /// s · a.
    public func scale(_ a: Tensor, _ s: Float) -> Tensor {
        let out = a.value.map { $0 * s }
        return record(a.rows, a.cols, out, [a]) { t in
            a.ensureGrad()
            for i in 0..<a.count { a.grad[i] += s * t.grad[i] }
        }
    }

    /// a + s elementwise.
    public func shift(_ a: Tensor, _ s: Float) -> Tensor {
        record(a.rows, a.cols, a.value.map { $0 + s }, [a]) { t in Tape.accumulate(a, t.grad) }
    }

    public func leakyReLU(_ a: Tensor, slope: Float = 0.2) -> Tensor {
        let out = a.value.map { $0 > 0 ? $0 : slope * $0 }
        return record(a.rows, a.cols, out, [a]) { t in
            a.ensureGrad()
            a.value.withUnsafeBufferPointer { x in
                a.grad.withUnsafeMutableBufferPointer { g in
                    t.grad.withUnsafeBufferPointer { tg in
                        for i in g.indices { g[i] += x[i] > 0 ? tg[i] : slope * tg[i] }
                    }
                }
            }
        }
    }

    /// ELU(x) = x for x > 0, eˣ − 1 otherwise.
    public func elu(_ a: Tensor) -> Tensor {
        var out = a.value
        let n = a.count
        out.withUnsafeMutableBufferPointer { o in
            nonisolated(unsafe) let op = o.baseAddress!
            Kernels.parallelRows(n, grain: 16_384) { range in
                for i in range where op[i] <= 0 { op[i] = Foundation.expm1(op[i]) }
            }
        }
        return record(a.rows, a.cols, out, [a]) { t in
            a.ensureGrad()
            a.grad.withUnsafeMutableBufferPointer { g in
                t.grad.withUnsafeBufferPointer { tg in
                    a.value.withUnsafeBufferPointer { x in
                        t.value.withUnsafeBufferPointer { y in
                            for i in 0..<n { g[i] += tg[i] * (x[i] > 0 ? 1 : y[i] + 1) }
                        }
                    }
                }
            }
        }
    }

    /// log σ(x), computed stably.
    public func logSigmoid(_ a: Tensor) -> Tensor {
        let out = a.value.map { x -> Float in
            x >= 0 ? -Foundation.log1p(Foundation.exp(-x)) : x - Foundation.log1p(Foundation.exp(x))
        }
        return record(a.rows, a.cols, out, [a]) { t in
            a.ensureGrad()
            for i in 0..<a.count {
                let x = a.value[i]
                // σ(−x)
                let sigNeg = x >= 0 ? Foundation.exp(-x) / (1 + Foundation.exp(-x)) : 1 / (1 + Foundation.exp(x))
                a.grad[i] += t.grad[i] * sigNeg
            }
        }
    }

    /// Inverted dropout with keep probability 1 − p; the mask comes from `rng`, so a seeded
    /// generator gives the same masks every run. The identity when p == 0.
    public func dropout<G: RandomNumberGenerator>(_ a: Tensor, p: Float, rng: inout G) -> Tensor {
        guard p > 0 else { return a }
        let keep = 1 - p, inv = 1 / keep
        var mask = [Float](repeating: 0, count: a.count)
        for i in mask.indices where Float(Double(rng.next() >> 40) * 0x1.0p-24) < keep { mask[i] = inv }
        var out = a.value
        for i in out.indices { out[i] *= mask[i] }
        return record(a.rows, a.cols, out, [a]) { t in
            a.ensureGrad()
            for i in 0..<a.count { a.grad[i] += t.grad[i] * mask[i] }
        }
    }

    // MARK: - reductions

    /// Σ of all entries, as 1×1.
    public func sum(_ a: Tensor) -> Tensor {
        var s = 0.0
        for v in a.value { s += Double(v) }
        return record(1, 1, [Float(s)], [a]) { t in
            a.ensureGrad()
            let g = t.grad[0]
            for i in 0..<a.count { a.grad[i] += g }
        }
    }

    /// Mean of all entries, as 1×1.
    public func mean(_ a: Tensor) -> Tensor { scale(sum(a), 1 / Float(max(1, a.count))) }

    /// Σ x², as 1×1 (an L2 penalty).
    public func sumSquares(_ a: Tensor) -> Tensor {
        var s = 0.0
        for v in a.value { s += Double(v) * Double(v) }
        return record(1, 1, [Float(s)], [a]) { t in
            a.ensureGrad()
            let g = t.grad[0]
            for i in 0..<a.count { a.grad[i] += 2 * g * a.value[i] }
        }
    }

    /// Per-row dot products of two n×c tensors, as n×1.
    public func rowDot(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.rows == b.rows && a.cols == b.cols, "rowDot: \(a.rows)x\(a.cols) vs \(b.rows)x\(b.cols)")
        let c = a.cols
        var out = [Float](repeating: 0, count: a.rows)
        for r in 0..<a.rows {
            var s: Float = 0
            for j in 0..<c { s += a.value[r * c + j] * b.value[r * c + j] }
            out[r] = s
        }
        return record(a.rows, 1, out, [a, b]) { t in
            if a.needsGrad {
                a.ensureGrad()
                for r in 0..<a.rows { for j in 0..<c { a.grad[r * c + j] += t.grad[r] * b.value[r * c + j] } }
            }
            if b.needsGrad {
                b.ensureGrad()
                for r in 0..<a.rows { for j in 0..<c { b.grad[r * c + j] += t.grad[r] * a.value[r * c + j] } }
            }
        }
    }

    /// Per-row cosine similarity of two n×c tensors, as n×1 (norms floored at 1e-8).
    public func rowCosine(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.rows == b.rows && a.cols == b.cols, "rowCosine: \(a.rows)x\(a.cols) vs \(b.rows)x\(b.cols)")
        let c = a.cols, n = a.rows
        var out = [Float](repeating: 0, count: n), na = out, nb = out
        for r in 0..<n {
            var ab: Float = 0, aa: Float = 0, bb: Float = 0
            for j in 0..<c {
                let x = a.value[r * c + j], y = b.value[r * c + j]
                ab += x * y
                aa += x * x
                bb += y * y
            }
            na[r] = max(aa.squareRoot(), 1e-8)
            nb[r] = max(bb.squareRoot(), 1e-8)
            out[r] = ab / (na[r] * nb[r])
        }
        return record(n, 1, out, [a, b]) { t in
            // d cos / d a = b / (|a||b|) − cos · a / |a|²
            for r in 0..<n {
                let g = t.grad[r], cs = out[r]
                if a.needsGrad {
                    a.ensureGrad()
                    for j in 0..<c {
                        a.grad[r * c + j] +=
                            g * (b.value[r * c + j] / (na[r] * nb[r]) - cs * a.value[r * c + j] / (na[r] * na[r]))
                    }
                }
                if b.needsGrad {
                    b.ensureGrad()
                    for j in 0..<c {
                        b.grad[r * c + j] +=
                            g * (a.value[r * c + j] / (na[r] * nb[r]) - cs * b.value[r * c + j] / (nb[r] * nb[r]))
                    }
                }
            }
        }
    }

    /// Each row of `a` scaled to unit length (norms floored at 1e-8).
    public func rowNormalize(_ a: Tensor) -> Tensor {
        let n = a.rows, c = a.cols
        var out = a.value
        var inv = [Float](repeating: 0, count: n)
        for r in 0..<n {
            var ss: Float = 0
            for j in 0..<c { ss += a.value[r * c + j] * a.value[r * c + j] }
            inv[r] = 1 / max(ss.squareRoot(), 1e-8)
            for j in 0..<c { out[r * c + j] *= inv[r] }
        }
        let y = out
        return record(n, c, out, [a]) { t in
            a.ensureGrad()
            // dx = (dy − y (y · dy)) / |x|
            for r in 0..<n {
                var dot: Float = 0
                for j in 0..<c { dot += y[r * c + j] * t.grad[r * c + j] }
                for j in 0..<c { a.grad[r * c + j] += (t.grad[r * c + j] - y[r * c + j] * dot) * inv[r] }
            }
        }
    }

    /// Mean cross-entropy of each row's softmax against its target column: −(1/n) Σ_r
    /// log softmax(logits_r)[target_r], as 1×1. Entries of `masked` (row, column) are left out
    /// of their row's softmax (known positives that are not the target).
    public func softmaxCrossEntropy(_ logits: Tensor, targets: [Int], masked: [(Int, Int)] = []) -> Tensor {
        let n = logits.rows, c = logits.cols
        precondition(targets.count == n, "softmaxCrossEntropy: \(targets.count) targets for \(n) rows")
        var x = logits.value
        for (r, j) in masked where j != targets[r] { x[r * c + j] = -.infinity }
        var p = [Float](repeating: 0, count: n * c)
        var loss = 0.0
        for r in 0..<n {
            var m = -Float.infinity
            for j in 0..<c { m = max(m, x[r * c + j]) }
            var z: Float = 0
            for j in 0..<c {
                let e = Foundation.exp(x[r * c + j] - m)
                p[r * c + j] = e
                z += e
            }
            for j in 0..<c { p[r * c + j] /= z }
            loss -= Double(x[r * c + targets[r]] - m - Foundation.log(z))
        }
        let probs = p
        return record(1, 1, [Float(loss / Double(max(1, n)))], [logits]) { t in
            logits.ensureGrad()
            let g = t.grad[0] / Float(max(1, n))
            for r in 0..<n {
                for j in 0..<c { logits.grad[r * c + j] += g * probs[r * c + j] }
                logits.grad[r * c + targets[r]] -= g
            }
        }
    }

    // MARK: - normalisation

    /// LayerNorm over each row with gain and bias (1×cols each), biased variance.
    public func layerNorm(_ a: Tensor, gain: Tensor, bias: Tensor, eps: Float = 1e-5) -> Tensor {
        let n = a.rows, c = a.cols
        precondition(gain.count == c && bias.count == c, "layerNorm: gain/bias must have \(c) entries")
        var xhat = [Float](repeating: 0, count: n * c), out = a.value
        var inv = [Float](repeating: 0, count: n)
        xhat.withUnsafeMutableBufferPointer { xhb in
            out.withUnsafeMutableBufferPointer { ob in
                inv.withUnsafeMutableBufferPointer { ivb in
                    gain.value.withUnsafeBufferPointer { gb in
                        bias.value.withUnsafeBufferPointer { bb in
                            nonisolated(unsafe) let (xh, o, iv, g, b) = (
                                xhb.baseAddress!, ob.baseAddress!, ivb.baseAddress!, gb.baseAddress!, bb.baseAddress!
                            )
                            Kernels.parallelRows(n) { range in
                                Kernels.layerNorm(
                                    o + range.lowerBound * c, rows: range.count, cols: c, gamma: g, beta: b, eps: eps,
                                    normalized: xh + range.lowerBound * c, invStd: iv + range.lowerBound)
                            }
                        }
                    }
                }
            }
        }
        let (xhatC, invC) = (xhat, inv)
        return record(n, c, out, [a, gain, bias]) { t in
            if gain.needsGrad || bias.needsGrad {
                gain.ensureGrad()
                bias.ensureGrad()
                gain.grad.withUnsafeMutableBufferPointer { gg in
                    bias.grad.withUnsafeMutableBufferPointer { bg in
                        t.grad.withUnsafeBufferPointer { tg in
                            xhatC.withUnsafeBufferPointer { xh in
                                for r in 0..<n {
                                    for j in 0..<c {
                                        gg[j] += tg[r * c + j] * xh[r * c + j]
                                        bg[j] += tg[r * c + j]
                                    }
                                }
                            }
                        }
                    }
                }
            }
            guard a.needsGrad else { return }
            a.ensureGrad()
            // dx = inv/c · (c·dŷ − Σdŷ − x̂ Σ(dŷ·x̂)), dŷ = dy ⊙ gain
            a.grad.withUnsafeMutableBufferPointer { agb in
                t.grad.withUnsafeBufferPointer { gb in
                    nonisolated(unsafe) let (ag, g) = (agb.baseAddress!, gb.baseAddress!)
                    let gv = gain.value
                    Kernels.parallelRows(n) { range in
                        for r in range {
                            var s1: Float = 0, s2: Float = 0
                            for j in 0..<c {
                                let d = g[r * c + j] * gv[j]
                                s1 += d
                                s2 += d * xhatC[r * c + j]
                            }
                            let k = invC[r] / Float(c)
                            for j in 0..<c {
                                let d = g[r * c + j] * gv[j]
                                ag[r * c + j] += k * (Float(c) * d - s1 - xhatC[r * c + j] * s2)
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - helpers

    package static func accumulate(_ a: Tensor, _ g: [Float]) {
        a.ensureGrad()
        a.grad.withUnsafeMutableBufferPointer { ag in
            g.withUnsafeBufferPointer { gp in for i in ag.indices { ag[i] += gp[i] } }
        }
    }
}
