import Dispatch
import Foundation

/// A small reverse-mode automatic differentiation tape over row-major `Float` matrices, with
/// the operations a graph neural network needs: BLAS products, row gathers and segment sums
/// over edge lists, softmax within each destination's incoming edges, per-head attention
/// products, LeakyReLU/ELU, LayerNorm, dropout, row dot products and cosines, log-sigmoid.
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
    public internal(set) var value: [Float]
    /// d loss / d self, allocated when the backward pass first reaches this tensor.
    public internal(set) var grad: [Float] = []
    public let needsGrad: Bool
    var backwardFn: (() -> Void)?

    init(rows: Int, cols: Int, value: [Float], needsGrad: Bool) {
        precondition(value.count == rows * cols, "tensor value has \(value.count) entries, expected \(rows)x\(cols)")
        self.rows = rows
        self.cols = cols
        self.value = value
        self.needsGrad = needsGrad
    }

    public var count: Int { rows * cols }
    /// The single value of a 1×1 tensor.
    public var scalar: Float { value[0] }

    func ensureGrad() {
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

    public init(_ name: String, rows: Int, cols: Int, value: [Float], decay: Bool = true) {
        precondition(value.count == rows * cols, "parameter \(name) has \(value.count) values, expected \(rows)x\(cols)")
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

    /// Records the result of an operation on `inputs`; `back` runs when the backward pass reaches it.
    private func record(_ rows: Int, _ cols: Int, _ value: [Float], _ inputs: [Tensor],
                        _ back: @escaping (Tensor) -> Void) -> Tensor {
        let t = Tensor(rows: rows, cols: cols, value: value, needsGrad: inputs.contains { $0.needsGrad })
        if t.needsGrad { t.backwardFn = { [unowned t] in back(t) } }
        nodes.append(t)
        return t
    }

    // MARK: - products

    /// a · b (a is n×k, b is k×m), or a · bᵀ when `transposeB` (b is m×k).
    public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
        let n = a.rows, k = a.cols, m = transposeB ? b.rows : b.cols
        precondition(k == (transposeB ? b.cols : b.rows), "matmul: \(a.rows)x\(a.cols) times \(b.rows)x\(b.cols)\(transposeB ? "ᵀ" : "")")
        var out = [Float](repeating: 0, count: n * m)
        a.value.withUnsafeBufferPointer { ap in
            b.value.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op in
                    BLAS.sgemm(.none, transposeB ? .transpose : .none, m: n, n: m, k: k, a: ap.baseAddress!, lda: k,
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
                            BLAS.sgemm(.none, transposeB ? .none : .transpose, m: n, n: k, k: m, a: gp.baseAddress!, lda: m,
                                       b: bp.baseAddress!, ldb: transposeB ? k : m, beta: 1, c: ag.baseAddress!, ldc: k)
                        }
                    }
                }
                if b.needsGrad {
                    b.ensureGrad()
                    a.value.withUnsafeBufferPointer { ap in
                        b.grad.withUnsafeMutableBufferPointer { bg in
                            if transposeB {  // dB (m×k) = dCᵀ · A
                                BLAS.sgemm(.transpose, .none, m: m, n: k, k: n, a: gp.baseAddress!, lda: m,
                                           b: ap.baseAddress!, ldb: k, beta: 1, c: bg.baseAddress!, ldc: k)
                            } else {  // dB (k×m) = Aᵀ · dC
                                BLAS.sgemm(.transpose, .none, m: k, n: m, k: n, a: ap.baseAddress!, lda: k,
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
        precondition(a.cols == b.cols && (a.rows == b.rows || rowBroadcast), "add: \(a.rows)x\(a.cols) + \(b.rows)x\(b.cols)")
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
                    for r in 0..<a.rows { for j in 0..<c { b.grad[j] += t.grad[r * c + j] } }
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
            if a.needsGrad { a.ensureGrad(); for i in 0..<a.count { a.grad[i] += t.grad[i] * b.value[i] } }
            if b.needsGrad { b.ensureGrad(); for i in 0..<a.count { b.grad[i] += t.grad[i] * a.value[i] } }
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
        let out = a.value.map { $0 > 0 ? $0 : Foundation.expm1($0) }
        return record(a.rows, a.cols, out, [a]) { t in
            a.ensureGrad()
            for i in 0..<a.count { a.grad[i] += t.grad[i] * (a.value[i] > 0 ? 1 : t.value[i] + 1) }
        }
    }

    /// log σ(x), computed stably.
    public func logSigmoid(_ a: Tensor) -> Tensor {
        let out = a.value.map { x -> Float in x >= 0 ? -Foundation.log1p(Foundation.exp(-x)) : x - Foundation.log1p(Foundation.exp(x)) }
        return record(a.rows, a.cols, out, [a]) { t in
            a.ensureGrad()
            for i in 0..<a.count {
                let x = a.value[i]
                let sigNeg = x >= 0 ? Foundation.exp(-x) / (1 + Foundation.exp(-x)) : 1 / (1 + Foundation.exp(x))  // σ(−x)
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
            if a.needsGrad { a.ensureGrad(); for r in 0..<a.rows { for j in 0..<c { a.grad[r * c + j] += t.grad[r] * b.value[r * c + j] } } }
            if b.needsGrad { b.ensureGrad(); for r in 0..<a.rows { for j in 0..<c { b.grad[r * c + j] += t.grad[r] * a.value[r * c + j] } } }
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
                ab += x * y; aa += x * x; bb += y * y
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
                    for j in 0..<c { a.grad[r * c + j] += g * (b.value[r * c + j] / (na[r] * nb[r]) - cs * a.value[r * c + j] / (na[r] * na[r])) }
                }
                if b.needsGrad {
                    b.ensureGrad()
                    for j in 0..<c { b.grad[r * c + j] += g * (a.value[r * c + j] / (na[r] * nb[r]) - cs * b.value[r * c + j] / (nb[r] * nb[r])) }
                }
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
                            nonisolated(unsafe) let (xh, o, iv, g, b) = (xhb.baseAddress!, ob.baseAddress!, ivb.baseAddress!, gb.baseAddress!, bb.baseAddress!)
                            Kernels.parallelRows(n) { range in
                                Kernels.layerNorm(o + range.lowerBound * c, rows: range.count, cols: c, gamma: g, beta: b, eps: eps,
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
                gain.ensureGrad(); bias.ensureGrad()
                for r in 0..<n {
                    for j in 0..<c {
                        gain.grad[j] += t.grad[r * c + j] * xhatC[r * c + j]
                        bias.grad[j] += t.grad[r * c + j]
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
                            for e in off[d]..<off[d + 1] { let v = Foundation.exp(xp[e * h + k] - m); op[e * h + k] = v; s += v }
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
        precondition(x.cols % heads == 0 && att.count == x.cols, "headDot: \(x.cols) columns, \(att.count) attention weights, \(heads) heads")
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
                for r in 0..<n { for k in 0..<heads { let g = t.grad[r * heads + k]; for j in 0..<d { x.grad[r * c + k * d + j] += g * att.value[k * d + j] } } }
            }
            if att.needsGrad {
                att.ensureGrad()
                for r in 0..<n { for k in 0..<heads { let g = t.grad[r * heads + k]; for j in 0..<d { att.grad[k * d + j] += g * x.value[r * c + k * d + j] } } }
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
        for r in 0..<n { for k in 0..<heads { let s = w.value[r * heads + k]; for j in 0..<d { out[r * c + k * d + j] = x.value[r * c + k * d + j] * s } } }
        return record(n, c, out, [x, w]) { t in
            if x.needsGrad {
                x.ensureGrad()
                for r in 0..<n { for k in 0..<heads { let s = w.value[r * heads + k]; for j in 0..<d { x.grad[r * c + k * d + j] += t.grad[r * c + k * d + j] * s } } }
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

    /// Mean over heads: x (rows × heads·d) → rows × d.
    public func headMean(_ x: Tensor, heads: Int) -> Tensor {
        guard heads > 1 else { return x }
        precondition(x.cols % heads == 0, "headMean: \(x.cols) columns for \(heads) heads")
        let d = x.cols / heads, c = x.cols, n = x.rows, inv = 1 / Float(heads)
        var out = [Float](repeating: 0, count: n * d)
        for r in 0..<n { for k in 0..<heads { for j in 0..<d { out[r * d + j] += x.value[r * c + k * d + j] * inv } } }
        return record(n, d, out, [x]) { t in
            x.ensureGrad()
            for r in 0..<n { for k in 0..<heads { for j in 0..<d { x.grad[r * c + k * d + j] += t.grad[r * d + j] * inv } } }
        }
    }

    // MARK: - helpers

    static func accumulate(_ a: Tensor, _ g: [Float]) {
        a.ensureGrad()
        a.grad.withUnsafeMutableBufferPointer { ag in
            g.withUnsafeBufferPointer { gp in for i in ag.indices { ag[i] += gp[i] } }
        }
    }
}

/// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, as PyTorch's
/// `torch.optim.AdamW` (bias-corrected moments; decay p ← p − lr·wd·p before the step).
public struct AdamW: Sendable {
    public var lr: Float
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float
    public private(set) var steps = 0

    public init(lr: Float = 1e-3, weightDecay: Float = 1e-5) {
        self.lr = lr
        self.weightDecay = weightDecay
    }

    /// One update of every parameter from its `grad`, which is then zeroed.
    public mutating func step(_ params: [Parameter]) {
        steps += 1
        let c1 = 1 - Foundation.pow(beta1, Float(steps)), c2 = 1 - Foundation.pow(beta2, Float(steps))
        let (lr, b1, b2, eps) = (lr, beta1, beta2, eps)
        for p in params {
            let wd = p.decay ? weightDecay : 0
            p.value.withUnsafeMutableBufferPointer { x in
                p.grad.withUnsafeMutableBufferPointer { g in
                    p.m.withUnsafeMutableBufferPointer { m in
                        p.v.withUnsafeMutableBufferPointer { v in
                            for i in x.indices {
                                x[i] -= lr * wd * x[i]
                                m[i] = b1 * m[i] + (1 - b1) * g[i]
                                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                                x[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
                                g[i] = 0
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A directed edge list in both orders: by destination (the segments attention normalises
/// over) and by source (for race-free parallel gradient scatters).
public struct EdgeIndex: Sendable {
    /// Source node of edge e; edges are sorted by destination.
    public let src: [Int32]
    /// Destination node of edge e.
    public let dst: [Int32]
    public let byDestination: Segments
    /// Edges leaving node s: `sourceEdges[sourceOffsets[s] ..< sourceOffsets[s + 1]]`.
    public let sourceOffsets: [Int]
    public let sourceEdges: [Int32]

    /// `neighbours[d]` are the sources of the edges into node d, in order.
    public init(neighbours: [[Int32]]) {
        var src: [Int32] = [], dst: [Int32] = [], offsets = [0]
        for (d, ns) in neighbours.enumerated() {
            for s in ns { src.append(s); dst.append(Int32(d)) }
            offsets.append(src.count)
        }
        var counts = [Int](repeating: 0, count: neighbours.count + 1)
        for s in src { counts[Int(s) + 1] += 1 }
        for n in 0..<neighbours.count { counts[n + 1] += counts[n] }
        var fill = counts, edges = [Int32](repeating: 0, count: src.count)
        for (e, s) in src.enumerated() { edges[fill[Int(s)]] = Int32(e); fill[Int(s)] += 1 }
        self.src = src
        self.dst = dst
        byDestination = Segments(offsets: offsets)
        sourceOffsets = counts
        sourceEdges = edges
    }

    public var nodeCount: Int { byDestination.count }
    public var edgeCount: Int { src.count }
}

extension Tape {
    /// One GATv2 attention step (Brody, Alon & Yahav 2022), fused: for every node d and edge
    /// s → d, logit = attᵀ LeakyReLU(xl[s] + xr[d]) per head, α = softmax over d's incoming
    /// edges, out[d] = Σ α · xl[s] (per head). xl, xr are nodes × heads·c; att is 1 × heads·c.
    /// Equal to composing gather, add, leakyReLU, headDot, segmentSoftmax, headScale and
    /// segmentSum (tested), but keeps only the attention weights (edges × heads) instead of
    /// five edges × heads·c intermediates, runs 8-wide SIMD, and runs forward and backward on
    /// all cores. Per-head widths that are not a multiple of 8 use that composition instead.
    public func gatv2(_ xl: Tensor, _ xr: Tensor, att: Tensor, heads: Int, edges g: EdgeIndex,
                      slope: Float = 0.2) -> Tensor {
        let n = g.nodeCount, w = xl.cols, hc = w / heads
        precondition(xl.rows == n && xr.rows == n && xr.cols == w && att.count == w && w % heads == 0,
                     "gatv2: xl \(xl.rows)x\(xl.cols), xr \(xr.rows)x\(xr.cols), att \(att.count), \(heads) heads, \(n) nodes")
        guard hc % 8 == 0 else {
            let el = gather(xl, g.src)
            let alpha = segmentSoftmax(headDot(leakyReLU(add(el, gather(xr, g.dst)), slope: slope), att, heads: heads), g.byDestination)
            return segmentSum(headScale(el, alpha), g.byDestination)
        }
        typealias V = SIMD8<Float>
        let chunksPerHead = hc / 8, vw = w / 8
        let off = g.byDestination.offsets, src = g.src
        let slopeV = V(repeating: slope)
        var out = [Float](repeating: 0, count: n * w)
        var alpha = [Float](repeating: 0, count: g.edgeCount * heads)
        out.withUnsafeMutableBufferPointer { ob in
            alpha.withUnsafeMutableBufferPointer { ab in
                xl.value.withUnsafeBufferPointer { lb in
                    xr.value.withUnsafeBufferPointer { rb in
                        att.value.withUnsafeBufferPointer { atb in
                            nonisolated(unsafe) let a = ab.baseAddress!
                            nonisolated(unsafe) let o = UnsafeMutableRawPointer(ob.baseAddress!).assumingMemoryBound(to: V.self)
                            nonisolated(unsafe) let l = UnsafeRawPointer(lb.baseAddress!).assumingMemoryBound(to: V.self)
                            nonisolated(unsafe) let r = UnsafeRawPointer(rb.baseAddress!).assumingMemoryBound(to: V.self)
                            nonisolated(unsafe) let av = UnsafeRawPointer(atb.baseAddress!).assumingMemoryBound(to: V.self)
                            Kernels.parallelRows(n, grain: 64) { range in
                                for d in range where off[d + 1] > off[d] {
                                    let xd = r + d * vw
                                    for e in off[d]..<off[d + 1] {
                                        let xs = l + Int(src[e]) * vw
                                        for k in 0..<heads {
                                            var acc = V()
                                            for c in (k * chunksPerHead)..<((k + 1) * chunksPerHead) {
                                                let v = xs[c] + xd[c]
                                                acc += av[c] * v.replacing(with: v * slopeV, where: v .< 0)
                                            }
                                            a[e * heads + k] = acc.sum()
                                        }
                                    }
                                    for k in 0..<heads {
                                        var m = -Float.infinity
                                        for e in off[d]..<off[d + 1] { m = max(m, a[e * heads + k]) }
                                        var z: Float = 0
                                        for e in off[d]..<off[d + 1] { let v = Foundation.exp(a[e * heads + k] - m); a[e * heads + k] = v; z += v }
                                        let inv = 1 / z
                                        for e in off[d]..<off[d + 1] { a[e * heads + k] *= inv }
                                    }
                                    let od = o + d * vw
                                    for e in off[d]..<off[d + 1] {
                                        let xs = l + Int(src[e]) * vw
                                        for k in 0..<heads {
                                            let c0 = V(repeating: a[e * heads + k])
                                            for c in (k * chunksPerHead)..<((k + 1) * chunksPerHead) { od[c] += c0 * xs[c] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let alphaC = alpha
        let result = record(n, w, out, [xl, xr, att]) { t in
            // Per edge: dα = dout[d]·xl[s] (per head); dlogit = α (dα − Σ_d α dα);
            // dv = dlogit · att ⊙ LeakyReLU'(v), v = xl[s] + xr[d];
            // dxl[s] += α dout[d] + dv;  dxr[d] += dv;  datt += dlogit · LeakyReLU(v).
            var dlogit = [Float](repeating: 0, count: g.edgeCount * heads)
            var dxr = [Float](repeating: 0, count: n * w)
            let chunks = Kernels.chunkCount(n, grain: 64)
            var dattParts = [Float](repeating: 0, count: chunks * w)
            var dxl = [Float](repeating: 0, count: n * w)
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
                                                nonisolated(unsafe) let (dr, dp, dx) = (vec(drb.baseAddress!), vec(dpb.baseAddress!), vec(dlxb.baseAddress!))
                                                nonisolated(unsafe) let (l, r, go, av) = (vec(lb.baseAddress!), vec(rb.baseAddress!), vec(gb.baseAddress!), vec(atb.baseAddress!))
                                                let one = V(repeating: 1)
                                                // Pass 1, by destination: dlogit, dxr, datt (per task).
                                                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                                                    let dattC = dp + chunk * vw
                                                    for d in (n * chunk / chunks)..<(n * (chunk + 1) / chunks) where off[d + 1] > off[d] {
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
                                                                    drd[c] += dzv * av[c] * one.replacing(with: slopeV, where: neg)
                                                                    dattC[c] += dzv * v.replacing(with: v * slopeV, where: v .< 0)
                                                                }
                                                            }
                                                        }
                                                    }
                                                }
                                                // Pass 2, by source: dxl.
                                                let so = g.sourceOffsets, se = g.sourceEdges, dstA = g.dst
                                                Kernels.parallelRows(n, grain: 64) { range in
                                                    for s in range {
                                                        let xs = l + s * vw, ds = dx + s * vw
                                                        for q in so[s]..<so[s + 1] {
                                                            let e = Int(se[q]), d = Int(dstA[e])
                                                            let xd = r + d * vw, gd = go + d * vw
                                                            for k in 0..<heads {
                                                                let cv = V(repeating: a[e * heads + k]), dzv = V(repeating: dl[e * heads + k])
                                                                for c in (k * chunksPerHead)..<((k + 1) * chunksPerHead) {
                                                                    let v = xs[c] + xd[c]
                                                                    ds[c] += cv * gd[c] + dzv * av[c] * one.replacing(with: slopeV, where: v .<= 0)
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
}
