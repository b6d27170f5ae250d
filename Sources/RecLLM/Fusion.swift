import RecCore

/// Score fusion after the judge: both lists are normalised per request, then
/// `fused = a · judge + (1 − a) · base`, with `a = alpha` (0.8 by default: arXiv 2508.01514's
/// 80 % LLM : 20 % GAT) or position-dependent.
public enum Fusion {
    public enum Normalization: String, Sendable, CaseIterable {
        /// (x − min) / (max − min); all equal → 0.5.
        case minMax = "minmax"
        /// 1 for the best, 0 for the worst, linear in between; ties share their mean rank.
        case rank
    }

    public static let defaultAlpha: Float = 0.8
    /// The judge weight by position in the base order when `positionWeights` is on: the
    /// first third of the list 0.9, the middle third 0.7, the last third 0.5 (our reading of
    /// the paper code's 0.9/0.7/0.5: trust the judge most where the base is most confident).
    public static let positionAlphas: [Float] = [0.9, 0.7, 0.5]

    public static func normalise(_ xs: [Float], _ how: Normalization) -> [Float] {
        guard !xs.isEmpty else { return [] }
        switch how {
        case .minMax:
            let lo = xs.min()!, hi = xs.max()!
            guard hi > lo else { return xs.map { _ in 0.5 } }
            return xs.map { ($0 - lo) / (hi - lo) }
        case .rank:
            guard xs.count > 1 else { return [1] }
            let order = xs.indices.sorted { xs[$0] > xs[$1] }
            var out = [Float](repeating: 0, count: xs.count)
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count && xs[order[j + 1]] == xs[order[i]] { j += 1 }
                let meanRank = Float(i + j) / 2
                for t in i...j { out[order[t]] = 1 - meanRank / Float(xs.count - 1) }
                i = j + 1
            }
            return out
        }
    }

    /// Judge weight for each position of a list of `n` in base order.
    public static func alphas(n: Int, alpha: Float, positionWeights: Bool) -> [Float] {
        guard positionWeights else { return [Float](repeating: alpha, count: n) }
        return (0..<n).map { positionAlphas[min(2, $0 * 3 / max(1, n))] }
    }

    /// Fused scores, aligned with `base` (which is in base order, best first).
    public static func fuse(
        base: [Float], judge: [Float], alpha: Float, positionWeights: Bool,
        normalization: Normalization
    ) -> (base: [Float], judge: [Float], fused: [Float]) {
        precondition(base.count == judge.count)
        let b = normalise(base, normalization), j = normalise(judge, normalization)
        let a = alphas(n: base.count, alpha: alpha, positionWeights: positionWeights)
        return (b, j, (0..<base.count).map { a[$0] * j[$0] + (1 - a[$0]) * b[$0] })
    }

    /// Maximal marginal relevance (Carbonell & Goldstein 1998): repeatedly take the item
    /// maximising `(1 − lambda) · relevance − lambda · max cos(item, already taken)`.
    /// `vectors[i]` are unit vectors. The similarity penalty is floored at 0 (an item unlike
    /// everything taken is not rewarded beyond its relevance), so each pick's MMR value never
    /// increases along the list: an item's value can only fall as the taken set grows.
    public static func mmr(
        relevance: [Float], vectors: [[Float]], lambda: Float, k: Int
    ) -> [(index: Int, value: Float)] {
        let n = relevance.count
        var maxSim = [Float](repeating: -.infinity, count: n)
        var taken = [Bool](repeating: false, count: n)
        var out: [(Int, Float)] = []
        for _ in 0..<min(k, n) {
            var best = -1
            var bestValue = -Float.infinity
            for i in 0..<n where !taken[i] {
                let penalty = out.isEmpty ? 0 : max(0, maxSim[i])
                let v = (1 - lambda) * relevance[i] - lambda * penalty
                if v > bestValue || (v == bestValue && best >= 0 && relevance[i] > relevance[best]) {
                    best = i
                    bestValue = v
                }
            }
            guard best >= 0 else { break }
            taken[best] = true
            out.append((best, bestValue))
            for i in 0..<n where !taken[i] {
                var dot: Float = 0
                for (x, y) in zip(vectors[i], vectors[best]) { dot += x * y }
                maxSim[i] = max(maxSim[i], dot)
            }
        }
        return out
    }
}
