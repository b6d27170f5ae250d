import Foundation

/// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, as PyTorch's
/// `torch.optim.AdamW` (bias-corrected moments; decay p ← p − lr·wd·p before the step).
/// A `sparse` parameter (an embedding table) is updated lazily: only the rows its gradient
/// reached this step, with their own moments (as TensorFlow's LazyAdam), so a step costs
/// O(rows used) however large the table.
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
            if p.sparse {
                let c = p.cols
                let rows = p.takeTouched()
                p.value.withUnsafeMutableBufferPointer { x in
                    p.grad.withUnsafeMutableBufferPointer { g in
                        p.m.withUnsafeMutableBufferPointer { m in
                            p.v.withUnsafeMutableBufferPointer { v in
                                for r in rows {
                                    for i in (Int(r) * c)..<(Int(r) * c + c) {
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
                continue
            }
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

/// An exponential moving average of parameters' values (Polyak averaging):
/// `average = decay · average + (1 − decay) · value` after every optimiser step. For a sparse
/// parameter (an embedding table whose untouched rows the step leaves alone) the average of a
/// row is brought up to date only when the row is updated, and by `averaged`: a row whose value
/// stayed `x` for `k` steps moves to `x + decay^k (average − x)`, what `k` dense updates give.
/// So a step costs O(rows it touched), whatever the table's size.
public struct WeightAverage {
    public let decay: Float
    private var average: [[Float]]
    /// Per parameter: the step each row's average was last brought up to (sparse ones only).
    private var current: [[Int32]]
    private var steps: Int32 = 0
    private var pending: [[Int32]] = []

    public init(_ params: [Parameter], decay: Float) {
        self.decay = decay
        average = params.map(\.value)
        current = params.map { $0.sparse ? [Int32](repeating: 0, count: $0.rows) : [] }
    }

    /// Call before the optimiser step: the rows it is about to update catch up under their
    /// present values.
    public mutating func prepare(_ params: [Parameter]) {
        pending = params.map { $0.sparse ? $0.pendingRows : [] }
        for (k, p) in params.enumerated() where p.sparse {
            for r in pending[k] { catchUp(k, p, Int(r), to: steps) }
        }
    }

    /// Call after the optimiser step.
    public mutating func update(_ params: [Parameter]) {
        steps += 1
        let d = decay
        for (k, p) in params.enumerated() {
            if p.sparse {
                let c = p.cols
                for r in pending[k] {
                    for i in (Int(r) * c)..<(Int(r) * c + c) {
                        average[k][i] = d * average[k][i] + (1 - d) * p.value[i]
                    }
                    current[k][Int(r)] = steps
                }
                continue
            }
            average[k].withUnsafeMutableBufferPointer { e in
                p.value.withUnsafeBufferPointer { x in
                    for i in e.indices { e[i] = d * e[i] + (1 - d) * x[i] }
                }
            }
        }
    }

    /// Every parameter's average, every row brought up to the last step.
    public mutating func averaged(_ params: [Parameter]) -> [[Float]] {
        for (k, p) in params.enumerated() where p.sparse {
            for r in 0..<p.rows { catchUp(k, p, r, to: steps) }
        }
        return average
    }

    private mutating func catchUp(_ k: Int, _ p: Parameter, _ r: Int, to step: Int32) {
        let gap = step - current[k][r]
        guard gap > 0 else { return }
        let f = Foundation.pow(decay, Float(gap)), c = p.cols
        for i in (r * c)..<(r * c + c) { average[k][i] = p.value[i] + f * (average[k][i] - p.value[i]) }
        current[k][r] = step
    }
}
