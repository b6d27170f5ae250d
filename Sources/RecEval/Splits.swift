import RecCore

/// A train/test split of a dataset. `train` keeps the full dataset's id maps and metadata, so
/// dense indices mean the same in both halves; only interactions differ.
public struct Split: Sendable {
    public var protocolName: String
    public var train: Dataset
    /// Held-out interactions (dense indices of `train`'s id maps).
    public var test: [Interaction]
    /// Leave-one-out with sampled negatives: per test user, the candidates to rank (the held-out
    /// item first, then the negatives). Empty for full-ranking protocols.
    public var candidates: [Int32: [Int32]] = [:]
    /// Cold-start protocol: per test user, the history revealed at test time.
    public var revealed: [Int32: [HistoryEntry]] = [:]
    /// Cold-start protocol: users held out of training.
    public var coldUsers: Set<Int32> = []
}

/// Deterministic splitters. Every random choice comes from a SplitMix64 stream seeded by `seed`,
/// so the same dataset and seed always give the same split on every machine.
public enum Splits {
    /// What counts as relevant in `d` when nothing says otherwise: ratings at least 80 % of
    /// the top of the scale (4 on MovieLens' 1-5 stars), or any interaction when the data has
    /// no scale (every rating 0 or 1).
    public static func relevanceThreshold(_ d: Dataset) -> Float {
        let top = d.interactions.reduce(Float(0)) { max($0, $1.rating) }
        return top > 1 ? 0.8 * top : 0
    }

    /// Random hold-out of a fraction of all interactions (default 20 %).
    public static func random(_ d: Dataset, testFraction: Double = 0.2, seed: UInt64 = 42) -> Split {
        var rng = SplitMix64(seed: seed)
        var order = Array(d.interactions.indices)
        rng.shuffle(&order)
        let nTest = Int((Double(order.count) * testFraction).rounded())
        let testSet = Set(order.prefix(nTest))
        return make("random", d, isTest: { testSet.contains($0) })
    }

    /// Per user, the last interaction by time (ties: highest item index) is the test item.
    /// Users with a single interaction stay entirely in training.
    public static func temporalLeaveLastOut(_ d: Dataset) -> Split {
        let last = lastPerUser(d)
        return make("temporal-loo", d, isTest: { last.contains($0) })
    }

    /// Leave-one-out ranked against `negatives` sampled items the user never interacted with
    /// (the NCF protocol; He et al. 2017: N = 99).
    public static func leaveOneOut(_ d: Dataset, negatives: Int = 99, seed: UInt64 = 42) -> Split {
        let last = lastPerUser(d)
        var s = make("loo-\(negatives)neg", d, isTest: { last.contains($0) })
        var rng = SplitMix64(seed: seed)
        var seen = [Set<Int32>](repeating: [], count: d.users.count)
        for x in d.interactions { seen[Int(x.user)].insert(x.item) }
        for x in s.test.sorted(by: { $0.user < $1.user }) {
            var c: [Int32] = [x.item]
            var picked = Set<Int32>()
            let available = d.items.count - seen[Int(x.user)].count
            while picked.count < min(negatives, available) {
                let j = Int32(rng.next() % UInt64(d.items.count))
                if !seen[Int(x.user)].contains(j), picked.insert(j).inserted { c.append(j) }
            }
            s.candidates[x.user] = c
        }
        return s
    }

    /// Cold-start users: a fraction of users is removed from training; at test time the first
    /// `reveal` interactions of each (by time) are given as history and the rest are the test set.
    public static func coldStart(_ d: Dataset, userFraction: Double = 0.1, reveal: Int, seed: UInt64 = 42) -> Split {
        var rng = SplitMix64(seed: seed)
        var users = Array(0..<Int32(d.users.count))
        rng.shuffle(&users)
        let cold = Set(users.prefix(Int((Double(users.count) * userFraction).rounded())))
        let h = d.userHistories()
        var revealed: [Int32: [HistoryEntry]] = [:]
        var revealedKeys = Set<Int64>()
        for u in cold {
            let entries = h.entries(of: u)
            revealed[u] = Array(entries.prefix(reveal))
            for e in entries.prefix(reveal) { revealedKeys.insert(Int64(u) << 32 | Int64(e.item)) }
        }
        var train: [Interaction] = [], test: [Interaction] = []
        for x in d.interactions {
            if !cold.contains(x.user) {
                train.append(x)
            } else if !revealedKeys.contains(Int64(x.user) << 32 | Int64(x.item)) {
                test.append(x)
            }
        }
        var s = Split(protocolName: "coldstart-\(reveal)", train: with(d, train), test: test)
        s.revealed = revealed
        s.coldUsers = cold
        return s
    }

    static func lastPerUser(_ d: Dataset) -> Set<Int> {
        var best: [Int32: Int] = [:]
        var count = [Int32: Int]()
        for (n, x) in d.interactions.enumerated() {
            count[x.user, default: 0] += 1
            if let b = best[x.user] {
                let y = d.interactions[b]
                if (x.timestamp, x.item) > (y.timestamp, y.item) { best[x.user] = n }
            } else {
                best[x.user] = n
            }
        }
        return Set(best.filter { count[$0.key]! > 1 }.values)
    }

    static func make(_ name: String, _ d: Dataset, isTest: (Int) -> Bool) -> Split {
        var train: [Interaction] = [], test: [Interaction] = []
        for (n, x) in d.interactions.enumerated() {
            if isTest(n) { test.append(x) } else { train.append(x) }
        }
        return Split(protocolName: name, train: with(d, train), test: test)
    }

    static func with(_ d: Dataset, _ interactions: [Interaction]) -> Dataset {
        Dataset(
            name: d.name, users: d.users, items: d.items, interactions: interactions, itemMeta: d.itemMeta,
            userMeta: d.userMeta, schema: d.schema)
    }
}
