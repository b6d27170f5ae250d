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
