import Foundation
import RecCore
import RecMath
import RecText

/// Progress of GAT training: after each epoch (`step == nil`) and, within one, every few steps.
public struct GATProgress: Sendable {
    public var epoch: Int
    public var maxEpochs: Int
    /// Mean training loss (`GATConfig.loss` + alpha · cosine term) over the epoch's steps so far.
    public var loss: Double
    /// NDCG@10 on the validation slice after the epoch (nil within an epoch).
    public var validationNDCG: Double?
    public var learningRate: Float
    public var seconds: Double
    /// Within an epoch: the step just done, of `steps`, at `stepsPerSecond`.
    public var step: Int?
    public var steps: Int
    public var stepsPerSecond: Double
    /// True on the last epoch training runs (early stop or max epochs).
    public var final: Bool
}

/// The user–item graph of a training set: users are nodes 0 ..< U, items U ..< U + I.
/// Ratings ≥ positiveMin, and unrated interactions (rating 0: implicit feedback such as a
/// purchase), are positive edges; ratings ≤ negativeMax are explicit negatives:
/// never message edges, never sampled as negatives-to-push-down either, kept as each user's
/// dislikes. Everything is per-user lists: memory O(|E|), nothing users × items.
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
    /// What a user's sampled negative must not be (positives, dislikes, neutral), sorted.
    let forbidden: [[Int32]]

    init(_ d: Dataset, positiveMin: Float, negativeMax: Float, messageMin: Float? = nil) {
        let messageMin = min(messageMin ?? positiveMin, positiveMin)
        users = d.users.count
        items = d.items.count
        let h = d.userHistories()
        var pos: [[Int32]] = [], neg: [[Int32]] = [], seen: [[Int32]] = [], neutral: [[Int32]] = []
        for u in 0..<users {
            let r = h.range(of: Int32(u))
            pos.append(r.filter { h.ratings[$0] >= positiveMin || h.ratings[$0] == 0 }.map { h.items[$0] })
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
        forbidden = (0..<users).map { u in Array(Set(pos[u] + neg[u] + neutral[u])).sorted() }
    }

    var nodes: Int { users + items }

    /// Whether item `i` may be `u`'s sampled negative (binary search in the sorted list).
    func allowed(_ u: Int, _ i: Int32) -> Bool {
        let f = forbidden[u]
        var lo = 0, hi = f.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if f[mid] < i { lo = mid + 1 } else { hi = mid }
        }
        return lo == f.count || f[lo] != i
    }
}

extension GATEngine {
    /// Trains on every interaction of `d` (see `GATEngine` for the model). `encoder` embeds the
    /// profiles when the configuration uses text features (it may be nil for id-only).
    /// `profiles` lays LLM-enriched profiles over the template ones for the text features.
    ///
    /// Mini-batch training over sampled computation graphs (Hamilton et al. 2017's GraphSAGE;
    /// Ying et al. 2018's PinSage): each step takes `batchSize` positive pairs with one sampled
    /// negative each, samples every layer's neighbours of the nodes the loss needs (per-layer
    /// `fanouts`, 0 = all) leaving the batch's own pairs out of its message edges, and runs
    /// forward and backward on those blocks only. A step costs O(batch · Π fanouts) whatever the
    /// graph's size, so an epoch is O(|E|); memory is O(|E| + nodes · d). With every fanout 0 a
    /// step computes exactly what a full-graph pass would for its targets. Validation (each
    /// epoch) and the final node states run the whole graph layer by layer, O(|E|).
    public static func fit(
        _ d: Dataset, config c: GATConfig = GATConfig(), encoder: SentenceEncoder?, name: String = "gat",
        profiles: ProfileOverrides? = nil, progress: (GATProgress) -> Void = { _ in }
    ) throws -> GATEngine {
        try c.validate()
        let started = ContinuousClock.now
        let catalog = d.makeCatalog()
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
        let text = c.usesText ? Matrix(rows: nU + nI, cols: textDim, data: userText.data + itemText.data) : nil

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
        // Validation NDCG over at most `validationUsers` users (seeded), so an epoch's check stays bounded.
        var valUsers = valItems.keys.sorted()
        if valUsers.count > c.validationUsers {
            rng.shuffle(&valUsers)
            valUsers = Array(valUsers.prefix(c.validationUsers)).sorted()
        }
        var neutralPairs: [(Int32, Int32)] = []
        for u in 0..<nU { for i in g.neutral[u] { neutralPairs.append((Int32(u), i)) } }
        let trainGraph = MessageGraph(users: nU, items: nI, pairs: trainPairs + neutralPairs)
        var sampler = BlockSampler(graph: trainGraph, fanouts: c.fanouts, budgets: c.layerNodes)
        let layers = c.heads.count

        let params = GATParameters(GATWeights.initial(c, textDim: textDim, nodeCount: nU + nI, rng: &rng))
        var adam = AdamW(lr: c.lr, weightDecay: c.weightDecay)
        var best = -1.0, bestWeights = params.weights, sinceBest = 0, bestEpoch = 0, epochsRun = 0
        var trainSeconds = 0.0
        var batchOrder = Array(trainPairs.indices)
        // Final states under the weights of the last validation: the scorer of hard negatives.
        var lastStates: [Float]?

        /// Final states of every node over `graph` (the whole graph), as a flat array.
        func allStates(_ p: GATParameters, _ graph: MessageGraph) -> [Tensor] {
            let t = Tape()
            var r = rng
            return p.forward(
                t, graph: .full(graph, layers: layers), text: text, dropout: 0, finalLayerNorm: c.finalLayerNorm,
                rng: &r)
        }

        // The weights' moving average (empty when off).
        var ema = c.emaDecay > 0 ? WeightAverage(params.all, decay: c.emaDecay) : nil
        let steps = (batchOrder.count + c.batchSize - 1) / c.batchSize
        var slot = [Int32](repeating: -1, count: nU + nI)
        // The products are small (nodes × 64): OpenBLAS's own threads would spin-wait between
        // them; the tape's kernels use the cores instead.
        BLAS.withThreads(1) {
            for epoch in 1...c.maxEpochs {
                rng.shuffle(&batchOrder)
                var lossSum = 0.0
                let epochStart = ContinuousClock.now
                var lastReport = epochStart
                for step in 0..<steps {
                    let batch = batchOrder[(step * c.batchSize)..<min((step + 1) * c.batchSize, batchOrder.count)]
                    var us: [Int32] = [], ps: [Int32] = [], ns: [Int32] = []
                    us.reserveCapacity(batch.count)
                    var batchPairs: [(Int32, Int32)] = []
                    batchPairs.reserveCapacity(batch.count)
                    for p in batch {
                        let (u, i) = trainPairs[p]
                        us.append(u)
                        ps.append(Int32(nU) + i)
                        batchPairs.append((u, i))
                        for _ in 0..<c.negativesPerPositive {
                            var j: Int32 = -1
                            if c.negatives == .hard, let z = lastStates {
                                var bestScore = -Float.infinity
                                for _ in 0..<c.hardCandidates {
                                    var k: Int32
                                    repeat { k = Int32(rng.next() % UInt64(nI)) } while !g.allowed(Int(u), k)
                                    var s: Float = 0
                                    let zu = Int(u) * h, zk = (nU + Int(k)) * h
                                    for x in 0..<h { s += z[zu + x] * z[zk + x] }
                                    if s > bestScore { (bestScore, j) = (s, k) }
                                }
                            } else {
                                repeat { j = Int32(rng.next() % UInt64(nI)) } while !g.allowed(Int(u), j)
                            }
                            ns.append(Int32(nU) + j)
                        }
                    }
                    // The targets: every distinct node the loss reads, and where each sits.
                    var targets: [Int32] = []
                    targets.reserveCapacity(batch.count * 3)
                    func position(_ v: Int32) -> Int32 {
                        if slot[Int(v)] < 0 {
                            slot[Int(v)] = Int32(targets.count)
                            targets.append(v)
                        }
                        return slot[Int(v)]
                    }
                    let (lu, lp, ln) = (us.map(position), ps.map(position), ns.map(position))
                    for v in targets { slot[Int(v)] = -1 }
                    // The pairs being scored are not message edges in their own step: otherwise
                    // the user's state already contains the positive item's message and BPR learns
                    // to recognise edges instead of predicting them.
                    let graph = sampler.sample(
                        targets: targets, excluding: c.disjointEdges ? batchPairs : [], rng: &rng)
                    let t = Tape()
                    let states = params.forward(
                        t, graph: graph, text: text, dropout: c.dropout, finalLayerNorm: c.finalLayerNorm, rng: &rng)
                    let zt = embedding(t, states, targets: graph.targets, c)
                    let loss = self.loss(t, zt, users: lu, positives: lp, negatives: ln, nodes: targets, graph: g, c)
                    t.backward(loss)
                    ema?.prepare(params.all)
                    adam.step(params.all)
                    ema?.update(params.all)
                    lossSum += Double(loss.scalar)
                    let now = ContinuousClock.now
                    if (now - lastReport).seconds >= 1 && step + 1 < steps {
                        lastReport = now
                        progress(
                            GATProgress(
                                epoch: epoch, maxEpochs: c.maxEpochs, loss: lossSum / Double(step + 1),
                                validationNDCG: nil,
                                learningRate: adam.lr, seconds: (now - started).seconds, step: step + 1, steps: steps,
                                stepsPerSecond: Double(step + 1) / (now - epochStart).seconds, final: false))
                    }
                }
                let epochSeconds = (ContinuousClock.now - epochStart).seconds
                // Validated (and kept) under the moving average, when there is one; training
                // goes on from the last step's weights.
                var trained: [[Float]]?
                if let averaged = ema?.averaged(params.all) {
                    trained = params.all.map(\.value)
                    for (k, p) in params.all.enumerated() { p.value = averaged[k] }
                }
                defer { if let trained { for (k, p) in params.all.enumerated() { p.value = trained[k] } } }
                var ndcg = 0.0
                if !valUsers.isEmpty {
                    let all = allStates(params, trainGraph).map { Matrix(rows: nU + nI, cols: h, data: $0.value) }
                    let z = GATEngine.embeddings(all, c).data
                    ndcg = validationNDCG(
                        z, hidden: h, users: nU, items: nI, valUsers: valUsers, valItems: valItems, seen: g.seen)
                    if c.negatives == .hard { lastStates = z }
                }
                epochsRun = epoch
                trainSeconds += (ContinuousClock.now - epochStart).seconds
                if ndcg > best {
                    best = ndcg
                    bestWeights = params.weights
                    sinceBest = 0
                    bestEpoch = epoch
                } else {
                    sinceBest += 1
                    if sinceBest % c.plateauPatience == 0 { adam.lr *= c.lrFactor }
                }
                let stopping = sinceBest >= c.stopPatience || epoch == c.maxEpochs
                progress(
                    GATProgress(
                        epoch: epoch, maxEpochs: c.maxEpochs, loss: lossSum / Double(max(1, steps)),
                        validationNDCG: ndcg,
                        learningRate: adam.lr, seconds: (ContinuousClock.now - started).seconds, step: nil,
                        steps: steps,
                        stepsPerSecond: Double(steps) / max(epochSeconds, 1e-9), final: stopping))
                if stopping { break }
            }
        }

        // The best weights, run once more over every message edge (validation pairs included).
        let fullGraph = MessageGraph(users: nU, items: nI, pairs: pairs + neutralPairs)
        // Under the same single-threaded BLAS as training: OpenBLAS's thread count (which a
        // concurrent caller may be holding at 1) can change the last bits of a product.
        let states = BLAS.withThreads(1) { allStates(GATParameters(bestWeights), fullGraph) }
        let figures = [
            "epochs": Double(epochsRun), "best_epoch": Double(bestEpoch),
            "seconds_per_epoch": trainSeconds / Double(max(1, epochsRun)), "steps_per_epoch": Double(steps),
            "seconds_total": (ContinuousClock.now - started).seconds,
        ]
        return try GATEngine(
            name: name, config: c, weights: bestWeights, catalog: catalog, users: store,
            states: states.map { Matrix(rows: nU + nI, cols: h, data: $0.value) },
            userText: userText, itemText: itemText, encoder: encoder, encoderProblem: nil,
            modelName: encoder?.name ?? "", modelSHA256: encoder?.weightsSHA256 ?? "",
            validationNDCG: best, trainingFigures: figures)
    }

    /// The targets' embeddings on the tape, combined as serving combines them (`combined`).
    static func embedding(_ t: Tape, _ states: [Tensor], targets n: Int, _ c: GATConfig) -> Tensor {
        var z: Tensor
        switch c.combine {
        case .last: z = t.prefixRows(states.last!, n)
        case .mean:
            z = t.prefixRows(states[0], n)
            for s in states.dropFirst() { z = t.add(z, t.prefixRows(s, n)) }
            z = t.scale(z, 1 / Float(states.count))
        }
        return c.similarity == .cosine ? t.rowNormalize(z) : z
    }

    /// The training loss of one batch over the targets' embeddings `z` (rows by local index):
    /// BPR over each (user, positive, negative) — `negatives` holds `negativesPerPositive` per
    /// user — or a softmax of each positive at `temperature` against the batch's negatives
    /// (`softmax`) or against its negatives and the other rows' positives (`inbatch`), the
    /// user's own known positives never counted as negatives; plus `alpha` times the cosine
    /// term 1 − cos(u, i+).
    static func loss(
        _ t: Tape, _ z: Tensor, users lu: [Int32], positives lp: [Int32], negatives ln: [Int32], nodes: [Int32],
        graph g: TrainingGraph, _ c: GATConfig
    ) -> Tensor {
        let zu = t.gather(z, lu), zp = t.gather(z, lp)
        var loss: Tensor
        switch c.loss {
        case .bpr:
            let k = c.negativesPerPositive
            let zuk = k == 1 ? zu : t.gather(z, lu.flatMap { Array(repeating: $0, count: k) })
            let zpk = k == 1 ? zp : t.gather(z, lp.flatMap { Array(repeating: $0, count: k) })
            let zn = t.gather(z, ln)
            loss = t.scale(t.mean(t.logSigmoid(t.sub(t.rowDot(zuk, zpk), t.rowDot(zuk, zn)))), -1)
        case .softmax, .inbatch:
            // The candidate items: every distinct negative of the batch, shared by all its rows
            // (a sampled softmax), then the positives. `softmax` lets each row see only its own
            // positive among them; `inbatch` lets it see all, so other users' positives are
            // negatives too (popularity-sampled: they push popular items down).
            var column = [Int32: Int](), items: [Int32] = []
            for v in ln where column[v] == nil {
                column[v] = items.count
                items.append(v)
            }
            let negativeColumns = items.count  // columns 0 ..< this are negatives
            for v in lp where column[v] == nil {
                column[v] = items.count
                items.append(v)
            }
            let logits = t.scale(t.matmul(zu, t.gather(z, items), transposeB: true), 1 / c.temperature)
            let nU = g.users
            var masked: [(Int, Int)] = []
            for (r, u) in lu.enumerated() {
                let user = Int(nodes[Int(u)]), own = column[lp[r]]!
                for (col, v) in items.enumerated() where col != own {
                    if c.loss == .softmax && col >= negativeColumns {
                        masked.append((r, col))
                    } else if !g.allowed(user, nodes[Int(v)] - Int32(nU)) {
                        masked.append((r, col))
                    }
                }
            }
            loss = t.softmaxCrossEntropy(logits, targets: lp.map { column[$0]! }, masked: masked)
        }
        if c.alpha != 0 {
            loss = t.add(loss, t.scale(t.mean(t.shift(t.scale(t.rowCosine(zu, zp), -1), 1)), c.alpha))
        }
        return loss
    }

    /// NDCG@10 of the validation items among each validation user's unseen items.
    static func validationNDCG(
        _ z: [Float], hidden h: Int, users nU: Int, items nI: Int, valUsers: [Int32],
        valItems: [Int32: Set<Int32>], seen: [[Int32]]
    ) -> Double {
        let items = Matrix(rows: nI, cols: h, data: Array(z[(nU * h)...]))
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
