import Dispatch
import Foundation

/// Row-wise neural-network kernels on raw row-major buffers, shared by the sentence
/// encoder and the GAT. Single-threaded; callers parallelise over row blocks.
public enum Kernels {
    /// Runs `body` over row ranges covering 0..<n, on all cores when there are at least two
    /// tasks' worth (`grain` rows each) of rows; inline otherwise.
    public static func parallelRows(_ n: Int, grain: Int = 1024, _ body: @Sendable (Range<Int>) -> Void) {
        let chunks = chunkCount(n, grain: grain)
        guard chunks > 1 else {
            body(0..<n)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            body((n * c / chunks)..<(n * (c + 1) / chunks))
        }
    }

    /// Tasks `parallelRows` splits n rows into.
    public static func chunkCount(_ n: Int, grain: Int) -> Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard cores > 1, n >= 2 * grain else { return 1 }
        return min(cores * 4, n / grain)
    }

    /// Dot products of `x` with the rows of `a` (all of them, or those listed in `rows`, in
    /// that order). Each row is summed in one fixed order (two SIMD8 accumulators, then their
    /// lanes, then the tail), so a row's result has the same bits whichever subset it is
    /// computed in: Rank can score 100 candidates and agree exactly with Retrieve's scores of
    /// the whole catalogue, without touching the other rows (`sgemv` gives no such promise).
    public static func rowDots(_ a: Matrix, _ x: [Float], rows: [Int32]? = nil) -> [Float] {
        precondition(x.count == a.cols, "rowDots: x has \(x.count) entries, the matrix \(a.cols) columns")
        let n = rows?.count ?? a.rows
        return [Float](unsafeUninitializedCapacity: n) { out, count in
            a.withUnsafeBufferPointer { ap in
                x.withUnsafeBufferPointer { xp in
                    let cols = a.cols
                    // A whole big catalogue (Retrieve over 10^5+ rows): split over the cores. Each
                    // row is still one `dot`, so the bits do not depend on the split.
                    let cores = ProcessInfo.processInfo.activeProcessorCount
                    if rows == nil && n * cols >= Self.parallelWork && cores > 1 {
                        let shared = Shared(out: out.baseAddress!, a: ap.baseAddress!, x: xp.baseAddress!)
                        let per = (n + cores - 1) / cores
                        DispatchQueue.concurrentPerform(iterations: cores) { c in
                            for k in (c * per)..<min(n, (c + 1) * per) {
                                shared.out[k] = dot(shared.a + k * cols, shared.x, cols)
                            }
                        }
                    } else {
                        for k in 0..<n {
                            let r = rows.map { Int($0[k]) } ?? k
                            precondition(r >= 0 && r < a.rows, "rowDots: row \(r) of \(a.rows)")
                            out[k] = dot(ap.baseAddress! + r * cols, xp.baseAddress!, cols)
                        }
                    }
                }
            }
            count = n
        }
    }

    /// Multiply-adds above which a whole-matrix `rowDots` is split over the cores (2M: about
    /// a millisecond on one core; 100,000 rows of 20 factors).
    public static let parallelWork = 1 << 21

    private struct Shared: @unchecked Sendable {
        let out: UnsafeMutablePointer<Float>
        let a: UnsafePointer<Float>
        let x: UnsafePointer<Float>
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            s0 +=
                UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            s1 +=
                UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self)
                * UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float>.self)
            i += 16
        }
        var total = (s0 + s1).sum()
        while i < n {
            total += a[i] * b[i]
            i += 1
        }
        return total
    }

    /// x[r, :] += bias for each of `rows` rows of width `cols` (row stride `ld`).
    @inline(__always)
    public static func addBias(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, bias: UnsafePointer<Float>
    ) {
        for r in 0..<rows {
            let row = x + r * ld
            for c in 0..<cols { row[c] += bias[c] }
        }
    }

    /// In-place LayerNorm over each row: (x - mean) / sqrt(var + eps) * gamma + beta, with
    /// the biased variance (as PyTorch). Accumulates in Double for stability. When given,
    /// `normalized` receives x̂ = (x - mean) / sqrt(var + eps) (rows × cols) and `invStd` each
    /// row's 1 / sqrt(var + eps), which a backward pass needs.
    public static func layerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
        normalized: UnsafeMutablePointer<Float>? = nil, invStd: UnsafeMutablePointer<Float>? = nil
    ) {
        for r in 0..<rows {
            let row = x + r * cols
            var sum = 0.0
            for c in 0..<cols { sum += Double(row[c]) }
            let mean = sum / Double(cols)
            var sq = 0.0
            for c in 0..<cols {
                let d = Double(row[c]) - mean
                sq += d * d
            }
            let inv = Float(1 / (sq / Double(cols) + Double(eps)).squareRoot())
            let m = Float(mean)
            invStd?[r] = inv
            if let xh = normalized.map({ $0 + r * cols }) {
                for c in 0..<cols {
                    let h = (row[c] - m) * inv
                    xh[c] = h
                    row[c] = h * gamma[c] + beta[c]
                }
            } else {
                for c in 0..<cols { row[c] = (row[c] - m) * inv * gamma[c] + beta[c] }
            }
        }
    }

    /// In-place exact GELU: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)), with `erf` below.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let k: Float = 0.70710678118654752
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let r = 0.5 * v * (1 + erf8(v * k))
            UnsafeMutableRawPointer(x + i).storeBytes(of: r, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + erf(v * k))
            i += 1
        }
    }

    /// erf(x) in single precision without a libm call: the rational approximation Eigen and
    /// XLA use (odd degree-13 numerator over even degree-8 denominator on [-4, 4]; erf is
    /// ±1 in Float beyond). Absolute error below 1e-6 against libm's erf (tested); about 20×
    /// faster than `erff`, which matters: GELU runs on every one of 1,536 × tokens × layers values.
    @inline(__always)
    public static func erf8(_ a: SIMD8<Float>) -> SIMD8<Float> {
        let x = a.clamped(lowerBound: SIMD8(repeating: -4), upperBound: SIMD8(repeating: 4))
        let x2 = x * x
        var p = x2 * -2.72614225801306e-10 + 2.77068142495902e-08
        p = x2 * p + -2.10102402082508e-06
        p = x2 * p + -5.69250639462346e-05
        p = x2 * p + -7.34990630326855e-04
        p = x2 * p + -2.95459980854025e-03
        p = x2 * p + -1.60960333262415e-02
        p = x * p
        var q = x2 * -1.45660718464996e-05 + -2.13374055278905e-04
        q = x2 * q + -1.68282697438203e-03
        q = x2 * q + -7.37332916720468e-03
        q = x2 * q + -1.42647390514189e-02
        return p / q
    }

    /// Scalar form of `erf8`.
    @inline(__always)
    public static func erf(_ a: Float) -> Float { erf8(SIMD8(repeating: a))[0] }

    /// In-place softmax over each row of a rows×cols block with row stride `ld`.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int) {
        for r in 0..<rows {
            let row = x + r * ld
            var mx = -Float.infinity
            for c in 0..<cols where row[c] > mx { mx = row[c] }
            var sum: Float = 0
            for c in 0..<cols {
                let e = expf(row[c] - mx)
                row[c] = e
                sum += e
            }
            let inv = 1 / sum
            for c in 0..<cols { row[c] *= inv }
        }
    }
}
