import RecMath
import Testing

/// Tape operations' gradients against central finite differences: for an operation f and a
/// fixed random projection R, loss = Σ f(inputs) ⊙ R; the analytic gradient of each input
/// entry must match (loss(x + ε) − loss(x − ε)) / 2ε.
public enum GradientCheck {
    public struct LCG: RandomNumberGenerator {
        public var state: UInt64
        public init(state: UInt64) { self.state = state }
        public mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state
        }
    }

    public static func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var g = LCG(state: seed)
        return (0..<n).map { _ in (Float(Double(g.next() >> 11) * 0x1.0p-53) * 2 - 1) * scale }
    }

    /// Checks d loss / d input for every input entry. `build` maps the inputs' tensors to an output.
    public static func check(
        _ shapes: [(Int, Int)], scale: Float = 1, eps: Float = 1e-2, tolerance: Float = 2e-2,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ build: @escaping (Tape, [Tensor]) -> Tensor
    ) {
        let params = shapes.enumerated().map { n, s in
            Parameter("p\(n)", rows: s.0, cols: s.1, value: random(s.0 * s.1, seed: UInt64(n + 1) * 7919, scale: scale))
        }
        func loss(_ backward: Bool) -> Float {
            let tape = Tape()
            let out = build(tape, params.map { tape.param($0) })
            let r = tape.constant(random(out.count, seed: 99), rows: out.rows, cols: out.cols)
            let l = tape.sum(tape.mul(out, r))
            if backward { tape.backward(l) }
            return l.scalar
        }
        _ = loss(true)
        var worst: Float = 0
        for p in params {
            let analytic = p.grad
            for i in p.value.indices {
                let x = p.value[i]
                p.value[i] = x + eps
                let up = loss(false)
                p.value[i] = x - eps
                let down = loss(false)
                p.value[i] = x
                let numeric = (up - down) / (2 * eps)
                let err = abs(numeric - analytic[i]) / max(1, abs(numeric))
                worst = max(worst, err)
                if err > tolerance {
                    Issue.record(
                        "\(p.name)[\(i)]: analytic \(analytic[i]), numeric \(numeric)", sourceLocation: sourceLocation)
                    return
                }
            }
        }
        #expect(worst <= tolerance, sourceLocation: sourceLocation)
    }
}
