import CRecKernels
import Dispatch
import RecCore
import Synchronization

/// An int8 copy of a `DotProductEngine`'s item vectors that bounds every item's score, so
/// Retrieve's exact path reads a quarter of the bytes and scores exactly only the few items
/// that can reach the top k (a guaranteed-exact variant of the "quantise, then re-rank" pass
/// of ScaNN and faiss's scalar quantiser).
///
/// Built from the vectors at load: the mean item vector `μ` is taken out (item vectors that
/// share a large common part, as the GAT's LayerNorm'd states do, would otherwise spend the
/// eight bits on it), then each item's remainder is scaled by its own `s_i` into -127...127:
///
///     v_i = μ + s_i c_i + r_i,   c_i ∈ [-127, 127]^d,   ρ_i ≥ ‖r_i‖ (stored)
///
/// For a user `x`, `A_i = s_i ⟨x, c_i⟩ + ⟨x, μ⟩ + b_i`, and by Cauchy–Schwarz the item's exact
/// `⟨x, v_i⟩ + b_i` lies within `‖x‖ ρ_i` of it, plus a term for the `Float` rounding of both
/// the screen's and the engine's sums (`γ = (d + 8) 2^-23` times the magnitudes summed, twice
/// the worst case of recursive summation). Any item whose upper bound is below the k-th best
/// lower bound among the admitted items cannot be in the top k; the rest are the candidates
/// the engine scores exactly. The result is the full exact pass's, bit for bit.
///
/// The user's vector is rounded to int16 for the pass (`x = t x̂ + δ`), so the int8 × int16
/// sums are exact integers, and `s_i ‖δ‖ 127 √d` joins the bound.
///
/// Cost per request: one pass over `n · d` bytes (items in blocks of 8 for 8-wide integer
/// multiply-adds; on all cores for big catalogues, with AVX2 when the processor has it), a
/// top-k over `n` lower bounds, and exact scores of the candidates — on the 300k-item
/// catalogues of docs/scale.md a few hundred items at k 100.
/// Memory: `n (d + 8)` bytes (d rounded up to even) plus `4 (n + d)` for the biases and the mean.
public final class Int8Screen: ScoreScreen, @unchecked Sendable {
    public let count: Int
    public let dimension: Int
    /// Dimension pairs per item (`dimension` rounded up to even, halved).
    let pairs: Int
    /// Blocks of 8 items (the last zero-padded).
    let blocks: Int
    /// `blocks × pairs × 16` bytes: block b, pair p holds dimensions 2p, 2p+1 of items 8b...8b+7.
    private let codes: UnsafeMutableBufferPointer<Int8>
    /// s_i, then ρ_i + γ (‖v_i‖ + ‖μ‖ + s_i ‖c_i‖) (the bound's coefficient of ‖x‖) and b_i,
    /// each padded to whole blocks (zeros).
    private let scale: [Float]
    private let eps: [Float]
    private let bias: [Float]
    private let mean: [Float]
    let gamma: Float
    /// Largest |x̂_j| of the int16 query, so that |Σ x̂_j c_ij| < 2^31.
    let queryMax: Double
    /// Per-request lower and upper bounds (one per padded item), reused across requests.
    private let scratch = Mutex<[Bounds]>([])

    private final class Bounds: @unchecked Sendable {
        var lo: [Float]
        var hi: [Float]
        init(_ n: Int) {
            lo = [Float](repeating: 0, count: n)
            hi = [Float](repeating: 0, count: n)
        }
    }

    public var memoryBytes: Int { codes.count + 4 * (scale.count + eps.count + bias.count + mean.count) }
    public var summary: String {
        "int8 screen: \(count) items × \(dimension), \(max(1, memoryBytes >> 20)) MB"
            + (rec_q8_uses_avx2() != 0 ? " (avx2)" : "")
    }

    /// Builds over `vectors` (`count × dimension`, row-major) and `biases` (empty or `count`).
    public init(vectors: UnsafeBufferPointer<Float>, count n: Int, dimension d: Int, biases: [Float]) throws {
        guard d > 0, n > 0, vectors.count == n * d else {
            throw RecError.invalidArgument("an int8 screen needs \(n) × \(d) floats, got \(vectors.count)")
        }
        guard biases.isEmpty || biases.count == n else {
            throw RecError.invalidArgument("\(biases.count) biases for \(n) item vectors")
        }
        guard n < Int(Int32.max) - 8, d <= 1 << 16 else {
            throw RecError.resourceExhausted("\(n) items of \(d) dimensions exceed a screen's indices")
        }
        count = n
        dimension = d
        let pairs = (d + 1) / 2
        let blocks = (n + 7) / 8
        self.pairs = pairs
        self.blocks = blocks
        let gamma = Float(d + 8) * 0x1p-23
        self.gamma = gamma
        queryMax = min(32767, (Double(Int32.max) / (127 * Double(2 * pairs))).rounded(.down))
        let padded = blocks * 8
        bias = biases.isEmpty ? [] : biases + [Float](repeating: 0, count: padded - n)
        nonisolated(unsafe) let base = vectors.baseAddress!

        // μ, summed in Double (one pass, on one core: a tenth of the build).
        var total = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { total[j] += Double(base[i * d + j]) }
        }
        guard total.allSatisfy(\.isFinite), biases.allSatisfy(\.isFinite) else {
            throw RecError.invalidArgument("item vectors hold a NaN or an infinity; no screen can be built")
        }
        let mu = total.map { Float($0 / Double(n)) }
        mean = mu
        let muNorm = mu.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()

        let codes = UnsafeMutableBufferPointer<Int8>.allocate(capacity: blocks * pairs * 16)
        codes.initialize(repeating: 0)
        self.codes = codes
        var scale = [Float](repeating: 0, count: padded)
        var eps = [Float](repeating: 0, count: padded)
        let g = Double(gamma)
        let chunks = Kernels8.chunks(n, work: n * d)
        nonisolated(unsafe) let out = codes.baseAddress!
        scale.withUnsafeMutableBufferPointer { sp in
            eps.withUnsafeMutableBufferPointer { ep in
                nonisolated(unsafe) let (sOut, eOut) = (sp.baseAddress!, ep.baseAddress!)
                Kernels8.forEach(chunks) { c in
                    var w = [Double](repeating: 0, count: d)
                    for i in Kernels8.range(c, of: chunks, n) {
                        let row = base + i * d
                        var m = 0.0, vNorm = 0.0
                        for j in 0..<d {
                            let v = Double(row[j])
                            w[j] = v - Double(mu[j])
                            m = max(m, abs(w[j]))
                            vNorm += v * v
                        }
                        let s = Float(m / 127)
                        var r2 = 0.0, c2 = 0.0
                        let group = out + (i / 8) * pairs * 16 + (i % 8) * 2
                        for j in 0..<d {
                            let q = s > 0 ? max(-127, min(127, (w[j] / Double(s)).rounded())) : 0
                            group[(j / 2) * 16 + j % 2] = Int8(q)
                            let r = w[j] - Double(s) * q
                            r2 += r * r
                            c2 += q * q
                        }
                        sOut[i] = s
                        // ρ_i rounded up: the Double sums, then the cast to Float.
                        let bound =
                            r2.squareRoot() * (1 + 1e-9) + g
                            * (vNorm.squareRoot() + muNorm + Double(s) * c2.squareRoot())
                        eOut[i] = Float(bound).nextUp
                    }
                }
            }
        }
        self.scale = scale
        self.eps = eps
    }

    deinit { codes.deallocate() }

    /// The int16 query and the per-query terms of the bound, or nil for a non-finite user.
    private struct Query {
        var pairs: [Int32]
        var t: Float, xnorm: Float, dq: Float, base: Float, absc: Float
    }

    private func prepare(_ user: UserVector) -> Query? {
        let x = user.x
        guard x.count == dimension, user.offset.isFinite, x.allSatisfy(\.isFinite) else { return nil }
        // x = t x̂ + δ with x̂ in int16: the int8 × int16 sums are exact, and
        // |Σ δ_j s_i c_ij| ≤ s_i ‖δ‖ 127 √d joins the bound.
        let top = x.reduce(0) { max($0, abs($1)) }
        let t = top > 0 ? Float(Double(top) / queryMax) : 1
        var xPairs = [Int32](repeating: 0, count: pairs)
        var norm2 = 0.0, delta2 = 0.0
        var base: Float = 0
        for j in 0..<dimension {
            let q = max(-queryMax, min(queryMax, (Double(x[j]) / Double(t)).rounded()))
            let r = Double(x[j]) - Double(t) * q
            delta2 += r * r
            norm2 += Double(x[j]) * Double(x[j])
            base += x[j] * mean[j]
            let half = UInt32(UInt16(bitPattern: Int16(q)))
            xPairs[j / 2] |= Int32(bitPattern: j % 2 == 0 ? half : half << 16)
        }
        let xnorm = Float(norm2.squareRoot()) * (1 + gamma)
        let dq = Float(delta2.squareRoot() * 127 * Double(dimension).squareRoot() * (1 + 1e-9)).nextUp
        guard xnorm.isFinite, base.isFinite, t.isFinite else { return nil }
        return Query(pairs: xPairs, t: t, xnorm: xnorm, dq: dq, base: base, absc: abs(user.offset))
    }

    /// Every item's bounds on `⟨x, v_i⟩ + b_i` (tests).
    func bounds(_ user: UserVector) -> (lo: [Float], hi: [Float])? {
        guard let q = prepare(user) else { return nil }
        let b = Bounds(blocks * 8)
        _ = fill(b, q, lower: true, gather: 0)
        return (Array(b.lo[0..<count]), Array(b.hi[0..<count]))
    }

    /// `μ + s_i c_i`, the item's vector as the screen holds it (tests).
    func reconstruction(_ i: Int) -> [Double] {
        (0..<dimension).map { j in
            Double(mean[j]) + Double(scale[i])
                * Double(codes[(i / 8) * pairs * 16 + (j / 2) * 16 + (i % 8) * 2 + j % 2])
        }
    }

    public func candidates(_ user: UserVector, k: Int, fetch: Int, keep: (Int32) -> Bool) -> [Int32]? {
        guard k > 0 else { return [] }
        guard let q = prepare(user) else { return nil }
        let b = scratch.withLock { $0.popLast() } ?? Bounds(blocks * 8)
        defer { scratch.withLock { $0.append(b) } }
        let gather = min(count, max(k, fetch))
        let best = fill(b, q, lower: false, gather: gather)

        // The k-th best lower bound among admitted items. The gathered lower bounds are the
        // catalogue's best, so when k of them are admitted, the k-th of those is it; otherwise
        // (a selective filter) a second pass keeps every lower bound for a full top-k. No k-th
        // (fewer than k admitted): every admitted item is a candidate.
        var threshold = -Float.infinity
        var admitted = 0
        for e in best where keep(e.index) {
            admitted += 1
            if admitted == k {
                threshold = e.score
                break
            }
        }
        if admitted < k && best.count == gather && gather < count {
            _ = fill(b, q, lower: true, gather: 0)
            for i in count..<(blocks * 8) { b.lo[i] = -.infinity }  // padding: never selected
            let all = TopK.select(b.lo, k: k) { keep(Int32($0)) }
            threshold = all.count == k ? all[k - 1].score : -Float.infinity
        }
        var found = [Int32](repeating: 0, count: 4 * gather + 64)
        var n = 0
        while true {
            n = b.hi.withUnsafeBufferPointer { hi in
                found.withUnsafeMutableBufferPointer {
                    rec_collect_at_least(hi.baseAddress!, 0, count, threshold, $0.baseAddress!, $0.count)
                }
            }
            if n <= found.count { break }
            found = [Int32](repeating: 0, count: n)
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        for i in found[0..<n] where keep(i) { out.append(i) }
        return out
    }

    /// `rec_q8_screen` over every block, on all cores when the pass is big enough: the upper
    /// bounds (and the lower ones when `lower`) into `b`, and the `gather` best lower bounds,
    /// best first (ties by index).
    private func fill(_ b: Bounds, _ q: Query, lower: Bool, gather: Int) -> [TopK.Entry] {
        let x = q.pairs
        let (xscale, xnorm, dq, base, absc) = (q.t, q.xnorm, q.dq, q.base, q.absc)
        let (blocks, count) = (self.blocks, self.count)
        let chunks = Kernels8.chunks(blocks, work: count * dimension, perCore: 1)
        var idx = [Int32](repeating: 0, count: max(1, chunks * gather))
        var val = [Float](repeating: 0, count: max(1, chunks * gather))
        var found = [Int](repeating: 0, count: chunks)
        b.lo.withUnsafeMutableBufferPointer { lo in
            b.hi.withUnsafeMutableBufferPointer { hi in
                x.withUnsafeBufferPointer { xp in
                    scale.withUnsafeBufferPointer { sp in
                        eps.withUnsafeBufferPointer { ep in
                            bias.withUnsafeBufferPointer { bp in
                                idx.withUnsafeMutableBufferPointer { ip in
                                    val.withUnsafeMutableBufferPointer { vp in
                                        found.withUnsafeMutableBufferPointer { fp in
                                            nonisolated(unsafe) let p = (
                                                lower ? lo.baseAddress : nil, hi.baseAddress!, xp.baseAddress!,
                                                sp.baseAddress!, ep.baseAddress!, bias.isEmpty ? nil : bp.baseAddress,
                                                UnsafePointer(codes.baseAddress!), ip.baseAddress!, vp.baseAddress!,
                                                fp.baseAddress!
                                            )
                                            let (pairs, gamma) = (self.pairs, self.gamma)
                                            Kernels8.forEach(chunks) { c in
                                                let r = Kernels8.range(c, of: chunks, blocks)
                                                p.9[c] = rec_q8_screen(
                                                    p.6, pairs, r.lowerBound, r.upperBound, count, p.3, p.4, p.5, p.2,
                                                    xscale, xnorm, dq, base, gamma, absc, p.0, p.1, gather,
                                                    p.7 + c * gather, p.8 + c * gather)
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
        var entries: [TopK.Entry] = []
        entries.reserveCapacity(found.reduce(0, +))
        for c in 0..<chunks {
            for j in 0..<found[c] { entries.append(.init(index: idx[c * gather + j], score: val[c * gather + j])) }
        }
        var sorted = TopK.sorted(entries)
        if sorted.count > gather { sorted.removeLast(sorted.count - gather) }
        return sorted
    }
}

/// Chunking over items for the screen's build and pass.
enum Kernels8 {
    /// Work (multiply-adds) above which a pass is split over the cores.
    static let parallelWork = 1 << 21

    static func chunks(_ n: Int, work: Int, perCore: Int = 4) -> Int {
        let cores = Parallel.activeCores
        guard cores > 1, work >= parallelWork else { return 1 }
        return max(1, min(n, cores * perCore))
    }

    static func range(_ c: Int, of chunks: Int, _ n: Int) -> Range<Int> { (n * c / chunks)..<(n * (c + 1) / chunks) }

    static func forEach(_ chunks: Int, _ body: @Sendable (Int) -> Void) {
        if chunks == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: body) }
    }
}
