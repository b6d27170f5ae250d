import Foundation

/// Ranking and rating metrics. Pure functions over one user's ranked list; the evaluator
/// averages them over users. Definitions (binary relevance):
///
///     P@K    = |R ∩ top_K| / K
///     R@K    = |R ∩ top_K| / |R|
///     NDCG@K = Σ_{i≤K} rel_i / log2(i + 1)  ÷  Σ_{i≤min(|R|,K)} 1 / log2(i + 1)
///     AP@K   = Σ_{i≤K} P@i · rel_i  ÷  min(|R|, K)          (MAP@K is its mean)
///     HR@K   = 1 if R ∩ top_K ≠ ∅ else 0
///
/// Users with no relevant test item are left out of the ranking averages.
public enum Metrics {
    public struct Ranking: Sendable, Equatable {
        public var precision: Double
        public var recall: Double
        public var ndcg: Double
        public var ap: Double
        public var hit: Double
    }

    /// Metrics of `ranked` (best first; only the first `k` count) against `relevant`.
    public static func ranking(_ ranked: [Int32], relevant: Set<Int32>, k: Int) -> Ranking {
        precondition(k > 0 && !relevant.isEmpty)
        var hits = 0
        var dcg = 0.0, apSum = 0.0
        for (i, item) in ranked.prefix(k).enumerated() where relevant.contains(item) {
            hits += 1
            dcg += 1 / log2(Double(i + 2))
            apSum += Double(hits) / Double(i + 1)
        }
        let ideal = (0..<min(relevant.count, k)).reduce(0.0) { $0 + 1 / log2(Double($1 + 2)) }
        return Ranking(
            precision: Double(hits) / Double(k), recall: Double(hits) / Double(relevant.count),
            ndcg: dcg / ideal, ap: apSum / Double(min(relevant.count, k)), hit: hits > 0 ? 1 : 0)
    }

    /// Root mean squared and mean absolute error.
    public static func errors(_ predicted: [Float], _ actual: [Float]) -> (rmse: Double, mae: Double) {
        precondition(predicted.count == actual.count && !actual.isEmpty)
        var se = 0.0, ae = 0.0
        for (p, a) in zip(predicted, actual) {
            let d = Double(p - a)
            se += d * d
            ae += abs(d)
        }
        let n = Double(actual.count)
        return ((se / n).squareRoot(), ae / n)
    }
}
