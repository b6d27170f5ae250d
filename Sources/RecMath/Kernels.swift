import Foundation

/// Row-wise neural-network kernels on raw row-major buffers, shared by the sentence
/// encoder and the GAT. Single-threaded; callers parallelise over row blocks.
public enum Kernels {
    /// x[r, :] += bias for each of `rows` rows of width `cols` (row stride `ld`).
    @inline(__always)
    public static func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * ld
            for c in 0..<cols { row[c] += bias[c] }
        }
    }

    /// In-place LayerNorm over each row: (x - mean) / sqrt(var + eps) * gamma + beta, with
    /// the biased variance (as PyTorch). Accumulates in Double for stability.
    public static func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                                 gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float) {
        for r in 0..<rows {
            let row = x + r * cols
            var sum = 0.0
            for c in 0..<cols { sum += Double(row[c]) }
            let mean = sum / Double(cols)
            var sq = 0.0
            for c in 0..<cols { let d = Double(row[c]) - mean; sq += d * d }
            let inv = Float(1 / (sq / Double(cols) + Double(eps)).squareRoot())
            let m = Float(mean)
            for c in 0..<cols { row[c] = (row[c] - m) * inv * gamma[c] + beta[c] }
        }
    }

    /// In-place exact GELU: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let k: Float = 0.70710678118654752
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + erff(v * k))
        }
    }

    /// In-place softmax over each row of a rows×cols block with row stride `ld`.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int) {
        for r in 0..<rows {
            let row = x + r * ld
            var mx = -Float.infinity
            for c in 0..<cols where row[c] > mx { mx = row[c] }
            var sum: Float = 0
            for c in 0..<cols { let e = expf(row[c] - mx); row[c] = e; sum += e }
            let inv = 1 / sum
            for c in 0..<cols { row[c] *= inv }
        }
    }
}
