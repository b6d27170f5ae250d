import Foundation
import RecCore
import RecMath
import RecText

/// One finished epoch of GAT training.
public struct GATProgress: Sendable {
    public var epoch: Int
    public var maxEpochs: Int
    /// Mean training loss (BPR + alpha · cosine term) over the epoch's steps.
    public var loss: Double
    /// NDCG@10 on the validation slice after the epoch.
    public var validationNDCG: Double
    public var learningRate: Float
    public var seconds: Double
    /// True on the last epoch training runs (early stop or max epochs).
    public var final: Bool
}

/// The user–item graph of a training set: users are nodes 0 ..< U, items U ..< U + I.
/// Ratings ≥ positiveMin are positive edges (both directions, plus a self loop on every node);
/// ratings ≤ negativeMax are explicit negatives: never message edges, never sampled as
/// negatives-to-push-down either (the rule), kept as each user's dislikes.
struct TrainingGraph {
    let users: Int
    let items: Int
    /// Positive items per user (training + validation), in history order.
    let positives: [[Int32]]
    let dislikes: [[Int32]]
    /// Message-only items per user: rated at or above messageMin but below positiveMin.
    let neutral: [[Int32]]
    /// Every item each user rated in the training data.
    let seen: [[Int32]]

    init(_ d: Dataset, positiveMin: Float, negativeMax: Float, messageMin: Float? = nil) {
        let messageMin = min(messageMin ?? positiveMin, positiveMin)
        users = d.users.count
        items = d.items.count
        let h = d.userHistories()
        var pos: [[Int32]] = [], neg: [[Int32]] = [], seen: [[Int32]] = [], neutral: [[Int32]] = []
        for u in 0..<users {
            let r = h.range(of: Int32(u))
            pos.append(r.filter { h.ratings[$0] >= positiveMin }.map { h.items[$0] })
            neg.append(r.filter { h.ratings[$0] > 0 && h.ratings[$0] <= negativeMax }.map { h.items[$0] })
            seen.append(r.map { h.items[$0] })
            neutral.append(
                r.filter { h.ratings[$0] >= messageMin && h.ratings[$0] < positiveMin && h.ratings[$0] > negativeMax }
                    .map { h.items[$0] })
        }
        self.neutral = neutral
        positives = pos
        dislikes = neg
        self.seen = seen
    }

    var nodes: Int { users + items }

    /// Message edges for the positive pairs `pairs` (user, item): self loop first, then
    /// neighbours, per destination; pairs in `excluding` (keys `user << 32 | item`) are left out.
    func edges(_ pairs: [(Int32, Int32)], excluding: Set<Int64> = []) -> EdgeIndex {
        var nbrs = (0..<nodes).map { [Int32($0)] }
        for (u, i) in pairs where excluding.isEmpty || !excluding.contains(Int64(u) << 32 | Int64(i)) {
            nbrs[Int(u)].append(Int32(users) + i)
            nbrs[users + Int(i)].append(u)
        }
        return EdgeIndex(neighbours: nbrs)
    }
}

extension GATEngine {
    /// Trains on every interaction of `d` (see `GATEngine` for the model). `encoder` embeds the
    /// profiles when the configuration uses text features (it may be nil for id-only).
    /// `profiles` lays LLM-enriched profiles over the template ones for the text features.
    public static func fit(
        _ d: Dataset, config c: GATConfig = GATConfig(), encoder: SentenceEncoder?, name: String = "gat",
        profiles: ProfileOverrides? = nil, progress: (GATProgress) -> Void = { _ in }
    ) throws -> GATEngine {
        try c.validate()
        let started = ContinuousClock.now
        let catalog = Catalog(ids: d.items, meta: d.itemMeta)
        let store = UserStore(ids: d.users, meta: d.userMeta, histories: d.userHistories())
        let g = TrainingGraph(d, positiveMin: c.positiveMin, negativeMax: c.negativeMax, messageMin: c.messageMin)
        let nU = g.users, nI = g.items, h = c.hidden

        // Node text features: MiniLM embeddings of the user and item profiles (users first).
        var userText = Matrix(rows: 0, cols: 0), itemText = Matrix(rows: 0, cols: 0)
        var textDim = 0
        if c.usesText {
            guard let encoder else {
                throw RecError.failedPrecondition("gat: features '\(c.features.rawValue)' need the sentence encoder")
            }
            let o = profiles ?? ProfileOverrides()
            itemText = encoder.embedMemoised(o.itemTexts(catalog))
            userText = encoder.embedMemoised(o.userTexts(store, catalog: catalog))
            textDim = encoder.dimension
        }
        let textAll = userText.data + itemText.data

        // Positive pairs; a validation slice carved from them (never from a user's last positive).
        var rng = SplitMix64(seed: c.seed)
        var pairs: [(Int32, Int32)] = []
        for u in 0..<nU { for i in g.positives[u] { pairs.append((Int32(u), i)) } }
        var order = Array(pairs.indices)
        rng.shuffle(&order)
        var remaining = g.positives.map(\.count)
        var isVal = [Bool](repeating: false, count: pairs.count)
        var valCount = 0
        let wantVal = Int(Double(pairs.count) * c.validationFraction)
        for p in order where valCount < wantVal {
            let u = Int(pairs[p].0)
            if remaining[u] > 1 {
                isVal[p] = true
                remaining[u] -= 1
                valCount += 1
            }
        }
        let trainPairs = pairs.indices.filter { !isVal[$0] }.map { pairs[$0] }
        var valItems: [Int32: Set<Int32>] = [:]
        for p in pairs.indices where isVal[p] { valItems[pairs[p].0, default: []].insert(pairs[p].1) }
        var neutralPairs: [(Int32, Int32)] = []
        for u in 0..<nU { for i in g.neutral[u] { neutralPairs.append((Int32(u), i)) } }
        let messagePairs = trainPairs + neutralPairs
        let trainEdges = g.edges(messagePairs), fullEdges = g.edges(pairs + neutralPairs)

        // Items a user's sampled negative must avoid: positives (any) and explicit negatives.
        var forbidden = [UInt64](repeating: 0, count: (nU * nI + 63) / 64)
        for u in 0..<nU {
            for i in g.positives[u] + g.dislikes[u] + g.neutral[u] {
                let b = u * nI + Int(i)
                forbidden[b >> 6] |= 1 << UInt64(b & 63)
            }
        }
        func allowed(_ u: Int, _ i: Int) -> Bool {
            let b = u * nI + i
            return forbidden[b >> 6] & (1 << UInt64(b & 63)) == 0
        }

        let params = GATParameters(GATWeights.initial(c, textDim: textDim, nodeCount: nU + nI, rng: &rng))
        var adam = AdamW(lr: c.lr, weightDecay: c.weightDecay)
        var best = -1.0, bestWeights = params.weights, sinceBest = 0
        var batchOrder = Array(trainPairs.indices)

        func validate() -> Double {
            let t = Tape()
            var r = rng
            let text = c.usesText ? t.constant(textAll, rows: nU + nI, cols: textDim) : nil
            let z = params.forward(
                t, edges: trainEdges, text: text, dropout: 0, finalLayerNorm: c.finalLayerNorm, rng: &r
            ).last!
            return validationNDCG(z.value, hidden: h, users: nU, items: nI, valItems: valItems, seen: g.seen)
        }

        // The products are small (nodes × 64): OpenBLAS's own threads would spin-wait between
        // them; the tape's kernels use the cores instead.
        BLAS.withThreads(1) {
            for epoch in 1...c.maxEpochs {
                rng.shuffle(&batchOrder)
                var lossSum = 0.0, steps = 0
                var start = 0
                while start < batchOrder.count {
                    let batch = batchOrder[start..<min(start + c.batchSize, batchOrder.count)]
                    start += c.batchSize
                    let t = Tape()
                    let text = c.usesText ? t.constant(textAll, rows: nU + nI, cols: textDim) : nil
                    // The pairs being scored are not message edges in their own step: otherwise
                    // the user's state already contains the positive item's message and BPR learns
                    // to recognise edges instead of predicting them.
                    let stepEdges =
                        c.disjointEdges
                        ? g.edges(
                            messagePairs,
                            excluding: Set(batch.map { Int64(trainPairs[$0].0) << 32 | Int64(trainPairs[$0].1) }))
                        : trainEdges
                    let z = params.forward(
                        t, edges: stepEdges, text: text, dropout: c.dropout, finalLayerNorm: c.finalLayerNorm, rng: &rng
                    ).last!
                    var us: [Int32] = [], ps: [Int32] = [], ns: [Int32] = []
                    us.reserveCapacity(batch.count)
                    for p in batch {
                        let (u, i) = trainPairs[p]
                        var j = -1
                        if c.negatives == .uniform {
                            repeat { j = Int(rng.next() % UInt64(nI)) } while !allowed(Int(u), j)
                        } else {
                            var bestScore = -Float.infinity
                            for _ in 0..<c.hardCandidates {
                                var k: Int
                                repeat { k = Int(rng.next() % UInt64(nI)) } while !allowed(Int(u), k)
                                var s: Float = 0
                                let zu = Int(u) * h, zk = (nU + k) * h
                                for x in 0..<h { s += z.value[zu + x] * z.value[zk + x] }
                                if s > bestScore {
                                    bestScore = s
                                    j = k
                                }
                            }
                        }
                        us.append(u)
                        ps.append(Int32(nU) + i)
                        ns.append(Int32(nU + j))
                    }
                    let zu = t.gather(z, us), zp = t.gather(z, ps), zn = t.gather(z, ns)
                    let bpr = t.scale(t.mean(t.logSigmoid(t.sub(t.rowDot(zu, zp), t.rowDot(zu, zn)))), -1)
                    var loss = bpr
                    if c.alpha != 0 {
                        loss = t.add(loss, t.scale(t.mean(t.shift(t.scale(t.rowCosine(zu, zp), -1), 1)), c.alpha))
                    }
                    t.backward(loss)
                    adam.step(params.all)
                    lossSum += Double(loss.scalar)
                    steps += 1
                }
                let ndcg = valItems.isEmpty ? 0 : validate()
                if ndcg > best {
                    best = ndcg
                    bestWeights = params.weights
                    sinceBest = 0
                } else {
                    sinceBest += 1
                    if sinceBest % c.plateauPatience == 0 { adam.lr *= c.lrFactor }
                }
                let stopping = sinceBest >= c.stopPatience || epoch == c.maxEpochs
                progress(
                    GATProgress(
                        epoch: epoch, maxEpochs: c.maxEpochs, loss: lossSum / Double(max(1, steps)),
                        validationNDCG: ndcg, learningRate: adam.lr, seconds: (ContinuousClock.now - started).seconds,
                        final: stopping))
                if stopping { break }
            }
        }

        // The best weights, run once more over every positive edge (validation pairs included).
        let final = GATParameters(bestWeights)
        let t = Tape()
        var r = rng
        let text = c.usesText ? t.constant(textAll, rows: nU + nI, cols: textDim) : nil
        // Under the same single-threaded BLAS as training: OpenBLAS's thread count (which a
        // concurrent caller may be holding at 1) can change the last bits of a product.
        let states = BLAS.withThreads(1) {
            final.forward(t, edges: fullEdges, text: text, dropout: 0, finalLayerNorm: c.finalLayerNorm, rng: &r)
        }
        return try GATEngine(
            name: name, config: c, weights: bestWeights, catalog: catalog, users: store,
            states: states.map { Matrix(rows: nU + nI, cols: h, data: $0.value) },
            userText: userText, itemText: itemText, encoder: encoder, encoderProblem: nil,
            modelName: encoder?.name ?? "", modelSHA256: encoder?.weightsSHA256 ?? "",
            validationNDCG: best)
    }

    /// NDCG@10 of the validation items among each validation user's unseen items.
    static func validationNDCG(
        _ z: [Float], hidden h: Int, users nU: Int, items nI: Int,
        valItems: [Int32: Set<Int32>], seen: [[Int32]]
    ) -> Double {
        let items = Matrix(rows: nI, cols: h, data: Array(z[(nU * h)...]))
        let valUsers = valItems.keys.sorted()
        let per: [Double] = Parallel.map(valUsers.count) { n in
            let u = valUsers[n], rel = valItems[u]!
            var s = Kernels.rowDots(items, Array(z[(Int(u) * h)..<(Int(u) * h + h)]))  // as serving scores
            for i in seen[Int(u)] where !rel.contains(i) { s[Int(i)] = -.infinity }
            let top = TopK.select(s, k: 10) { _ in true }
            var dcg = 0.0, idcg = 0.0
            for (r, e) in top.enumerated() where rel.contains(e.index) { dcg += 1 / log2(Double(r + 2)) }
            for r in 0..<min(10, rel.count) { idcg += 1 / log2(Double(r + 2)) }
            return dcg / idcg
        }
        return per.reduce(0, +) / Double(max(1, per.count))
    }
}
