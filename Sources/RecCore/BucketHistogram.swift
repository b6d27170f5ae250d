/// A Prometheus-style histogram: fixed upper bounds, a count per bucket, the sum and the
/// total (which includes values above the last bound). The server's request durations and
/// the LLM client's call durations are both kept in one.
public struct BucketHistogram: Sendable, Equatable {
    /// Upper bounds, ascending (Prometheus `le`).
    public let bounds: [Double]
    /// `counts[i]`: values ≤ `bounds[i]` and above the bound before.
    public private(set) var counts: [UInt64]
    public private(set) var sum = 0.0
    public private(set) var total: UInt64 = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = [UInt64](repeating: 0, count: bounds.count)
    }

    public mutating func record(_ value: Double) {
        if let i = bounds.firstIndex(where: { value <= $0 }) { counts[i] += 1 }
        sum += value
        total += 1
    }

    /// The exposition samples of this series of histogram `name`, with `labels` (e.g.
    /// `method="Rank"`) on every line: cumulative buckets, `+Inf`, `_sum` and `_count`.
    public func samples(_ name: String, labels: String = "") -> [String] {
        let prefix = labels.isEmpty ? "" : labels + ","
        let own = labels.isEmpty ? "" : "{\(labels)}"
        var out: [String] = []
        var cumulative: UInt64 = 0
        for (i, le) in bounds.enumerated() {
            cumulative += counts[i]
            out.append("\(name)_bucket{\(prefix)le=\"\(le)\"} \(cumulative)")
        }
        out += [
            "\(name)_bucket{\(prefix)le=\"+Inf\"} \(total)", "\(name)_sum\(own) \(sum)", "\(name)_count\(own) \(total)",
        ]
        return out
    }
}
