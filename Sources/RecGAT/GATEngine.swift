import Foundation
import RecCore
import RecData
import RecEngineKit
import RecMath
import RecText

/// Graph attention recommender (after arXiv 2508.01514): GATv2 layers over the user–item
/// graph whose node inputs are MiniLM embeddings of text profiles (projected) plus trainable
/// id embeddings, trained with BPR + alpha · (1 − cos(u, i+)).
///
/// - Graph: users and items; ratings ≥ 4 are positive edges in both directions, each node has
///   a self loop; ratings ≤ 2 are explicit negatives (no message edges, never sampled).
/// - Node input: LayerNorm(W_t · text + b_t + id) (or one of the two: `GATConfig.Features`).
/// - Layers (default 3, heads 4/4/1, 64 units): GATv2 attention (concatenated heads, the last
///   layer averages), bias, ELU (not on the last), residual connection and LayerNorm.
/// - Score = dot product of the final user and item states (`Kernels.rowDots`: only the
///   rows asked for, each with the same bits whichever rows are asked for).
///
/// Inductive scoring: a user the bundle does not know is scored after one forward pass over
/// their own edges (their positively rated items, whose per-layer states are stored), from a
/// profile-text input and the mean user id embedding; no retraining. `itemVector` does the
/// same for a new item from its metadata and raters. Evidence for Explain comes from the last
/// layer: each history item's exact additive share of the score through its attention-weighted
/// message.
///
/// Immutable after construction; safe to call from many threads.
public final class GATEngine: Engine, Explaining, ItemEmbeddingEngine {
    public let name: String
    public let config: GATConfig
    public let weights: GATWeights
    public let catalog: Catalog
    public let users: UserStore
    /// Node states after the input layer and after each GAT layer, (users + items) × hidden.
    public let states: [Matrix]
    /// Raw MiniLM profile embeddings of the stored users and items (empty for id-only models).
    public let userText: Matrix
    public let itemText: Matrix
    public let encoder: SentenceEncoder?
    public let encoderProblem: String?
    public let modelName: String
    public let modelSHA256: String
    /// Validation NDCG@10 of the kept weights (training only; nil when loaded).
    public let validationNDCG: Double?
    /// How training went (training only; empty when loaded): epochs run, seconds per epoch
    /// (steps and validation), the epoch whose weights were kept.
    public let trainingFigures: [String: Double]

    /// Final item embeddings (`combined` states), items × hidden.
    public let itemEmbeddings: Matrix
    /// Final embeddings of the stored users.
    let userEmbeddings: Matrix
    /// Per layer, every node's state before the layer times the source projection: the
    /// messages a new node's neighbours send (nodes × width).
    let messages: [Matrix]
    /// Positive items per stored user (the user's message edges).
    let positives: [[Int32]]
    /// Mean text projection and mean id embedding of stored users: a new user's stand-ins.
    let meanUserID: [Float]
    let meanUserText: [Float]
    /// Mean final state of the stored users (the prior new users are shrunk towards).
    let meanUserZ: [Float]

    public var itemCount: Int { catalog.count }
    var userCount: Int { users.ids.count }
    public var summary: String {
        let heads = config.heads.map(String.init).joined(separator: "/")
        return "GATv2 over the user-item graph, \(config.heads.count) layers, heads \(heads), \(config.hidden)-d, "
            + "\(config.features.rawValue) node features, BPR + \(config.alpha)·cosine"
            + (config.usesText && encoder == nil
                ? "; encoder unavailable (\(encoderProblem ?? "?")): new users from history only" : "")
    }

    public init(
        name: String, config: GATConfig, weights: GATWeights, catalog: Catalog, users: UserStore, states: [Matrix],
        userText: Matrix, itemText: Matrix, encoder: SentenceEncoder?, encoderProblem: String?,
        modelName: String, modelSHA256: String, validationNDCG: Double? = nil, trainingFigures: [String: Double] = [:]
    ) throws {
        let nU = users.ids.count, nI = catalog.count, h = config.hidden
        guard states.count == config.heads.count + 1, states.allSatisfy({ $0.rows == nU + nI && $0.cols == h }) else {
            throw RecError.dataLoss("gat: expected \(config.heads.count + 1) states of \(nU + nI)x\(h)")
        }
        guard weights.layers.count == config.heads.count, weights.nodeCount == nU + nI else {
            throw RecError.dataLoss(
                "gat: weights for \(weights.layers.count) layers and \(weights.nodeCount) nodes, expected "
                    + "\(config.heads.count) and \(nU + nI)"
            )
        }
        if config.usesText {
            guard userText.rows == nU, itemText.rows == nI, userText.cols == weights.textDim,
                itemText.cols == weights.textDim
            else {
                throw RecError.dataLoss(
                    "gat: text features \(userText.rows)x\(userText.cols) / \(itemText.rows)x\(itemText.cols) do not "
                        + "match \(nU) users, \(nI) items, \(weights.textDim)-d"
                )
            }
        }
        for s in states where !s.withUnsafeBufferPointer({ $0.allSatisfy { $0.isFinite } }) {
            throw RecError.dataLoss("gat: node states contain NaN or infinity")
        }
        self.name = name
        self.config = config
        self.weights = weights
        self.catalog = catalog
        self.users = users
        self.states = states
        self.userText = userText
        self.itemText = itemText
        self.encoder = encoder
        self.encoderProblem = encoderProblem
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
        self.validationNDCG = validationNDCG
        self.trainingFigures = trainingFigures
        let z = Self.embeddings(states, config)
        itemEmbeddings = z.rows(nU..<(nU + nI))
        userEmbeddings = z.rows(0..<nU)
        messages = weights.layers.enumerated().map { l, layer in
            BLAS.gemm(states[l], Matrix(rows: h, cols: layer.width, data: layer.wSrc))
        }
        let hist = users.histories
        positives = (0..<nU).map { u in
            hist.range(of: Int32(u)).filter { Self.isMessageEdge(hist.ratings[$0], config) }.map { hist.items[$0] }
        }
        meanUserID = Self.meanRow(weights.idEmbedding, rows: 0..<nU, cols: h)
        meanUserText = userText.withUnsafeBufferPointer { Self.meanRow($0, rows: 0..<nU, cols: weights.textDim) }
        meanUserZ = z.withUnsafeBufferPointer { Self.meanRow($0, rows: 0..<nU, cols: h) }
    }

    /// The embedding scores are dot products of, from a node's states after the input layer
    /// and after each layer: the last state, or the mean of all of them (`combine`), scaled to
    /// unit length for cosine similarity. Training's loss and serving combine the same way.
    static func combined(_ layerStates: [ArraySlice<Float>], _ c: GATConfig) -> (z: [Float], scale: Float) {
        var z: [Float]
        var scale: Float = 1
        switch c.combine {
        case .last: z = Array(layerStates.last!)
        case .mean:
            z = Array(layerStates[0])
            for s in layerStates.dropFirst() { for (k, v) in s.enumerated() { z[k] += v } }
            scale = 1 / Float(layerStates.count)
            for k in z.indices { z[k] *= scale }
        }
        if c.similarity == .cosine {
            var ss: Float = 0
            for v in z { ss += v * v }
            let inv = 1 / max(ss.squareRoot(), 1e-8)
            for k in z.indices { z[k] *= inv }
            scale *= inv
        }
        return (z, scale)
    }

    /// `combined` for every node of `states` (nodes × hidden each).
    static func embeddings(_ states: [Matrix], _ c: GATConfig) -> Matrix {
        let last = states.last!
        if c.combine == .last && c.similarity == .dot { return last }
        let h = last.cols
        var out = [Float](repeating: 0, count: last.rows * h)
        for r in 0..<last.rows {
            let (z, _) = combined(states.map { $0.row(r)[...] }, c)
            for k in 0..<h { out[r * h + k] = z[k] }
        }
        return Matrix(rows: last.rows, cols: h, data: out)
    }

    /// The mean of rows `rows` of a row-major matrix with `cols` columns (zeros when the
    /// matrix is empty, as for a model without that input).
    static func meanRow(_ data: [Float], rows: Range<Int>, cols: Int) -> [Float] {
        data.withUnsafeBufferPointer { meanRow($0, rows: rows, cols: cols) }
    }

    static func meanRow(_ data: UnsafeBufferPointer<Float>, rows: Range<Int>, cols: Int) -> [Float] {
        var m = [Float](repeating: 0, count: cols)
        guard !rows.isEmpty, data.count >= rows.upperBound * cols else { return m }
        for r in rows { for k in 0..<cols { m[k] += data[r * cols + k] } }
        return m.map { $0 / Float(rows.count) }
    }

    /// Whether a rating makes a message edge (as in training): positive, neutral, or unrated
    /// (implicit feedback).
    func isMessageEdge(_ r: Float) -> Bool { Self.isMessageEdge(r, config) }

    static func isMessageEdge(_ r: Float, _ c: GATConfig) -> Bool {
        r == 0 || (r >= min(c.messageMin, c.positiveMin) && (r >= c.positiveMin || r > c.negativeMax))
    }

    // MARK: - inductive forward pass for one node

    /// What one node's pass produced: its final state, and the last layer's attention and
    /// pre-normalisation statistics (for evidence).
    struct NodePass {
        var z: [Float]
        /// Neighbours (node indices) in attention order; the self loop is not listed.
        var neighbours: [Int32]
        /// Last layer: per neighbour, its message (hidden-d, attention applied, heads combined).
        var lastMessages: [[Float]]
        /// Per neighbour, attention averaged over heads.
        var lastAttention: [Float]
        /// Last layer's LayerNorm input standard deviation.
        var lastSigma: Float
        /// What the last layer's output is multiplied by in `z` (layer mean, unit length).
        var lastScale: Float = 1
    }

    /// Runs the layers for one node from its input state `h0`, with edges from `neighbours`
    /// (stored nodes) and a self loop: the training forward pass restricted to it, through the
    /// same attention kernel (`GATv2.attend`).
    func pass(h0: [Float], neighbours: [Int32]) -> NodePass {
        let h = config.hidden
        var x = h0
        var layerStates = [h0[...]]
        var result = NodePass(z: [], neighbours: neighbours, lastMessages: [], lastAttention: [], lastSigma: 1)
        let edges = neighbours.count + 1
        for (l, layer) in weights.layers.enumerated() {
            let w = layer.width, heads = layer.heads, hc = w / heads
            let selfMsg = matvec(x, layer.wSrc, rows: h, cols: w), xr = matvec(x, layer.wDst, rows: h, cols: w)
            var alpha = [Float](repeating: 0, count: edges * heads)
            var att = [Float](repeating: 0, count: w)
            selfMsg.withUnsafeBufferPointer { sp in
                messages[l].withUnsafeBufferPointer { mp in
                    xr.withUnsafeBufferPointer { rp in
                        layer.att.withUnsafeBufferPointer { ap in
                            GATv2.attend(
                                edges: edges, heads: heads, width: w, slope: 0.2,
                                source: { $0 == 0 ? sp.baseAddress! : mp.baseAddress! + Int(neighbours[$0 - 1]) * w },
                                target: rp.baseAddress!, att: ap.baseAddress!, alpha: &alpha, out: &att)
                        }
                    }
                }
            }
            // Heads concatenated (width = hidden) or averaged (the last layer).
            var out = layer.averages ? [Float](repeating: 0, count: h) : att
            if layer.averages { GATv2.headMean(att, heads: heads, d: h, into: &out) }
            let isLast = l == weights.layers.count - 1
            if isLast {
                // Each neighbour's share of `out`: its attention-weighted message, heads combined the same way.
                result.lastMessages = (1..<edges).map { e in
                    var m = [Float](repeating: 0, count: w)
                    messages[l].withRow(Int(neighbours[e - 1])) { msg in
                        for k in 0..<heads {
                            for j in (k * hc)..<((k + 1) * hc) { m[j] = alpha[e * heads + k] * msg[j] }
                        }
                    }
                    guard layer.averages else { return m }
                    var avg = [Float](repeating: 0, count: h)
                    GATv2.headMean(m, heads: heads, d: h, into: &avg)
                    return avg
                }
                result.lastAttention = (1..<edges).map { e in
                    (0..<heads).reduce(Float(0)) { $0 + alpha[e * heads + $1] } / Float(heads)
                }
            }
            for j in 0..<h { out[j] += layer.bias[j] }
            if !isLast { out = out.map { $0 > 0 ? $0 : Foundation.expm1($0) } }
            var pre = [Float](repeating: 0, count: h)
            for j in 0..<h { pre[j] = x[j] + out[j] }
            if !isLast || config.finalLayerNorm {
                let (y, sigma) = Self.layerNorm(pre, gain: layer.lnGain, bias: layer.lnBias)
                x = y
                if isLast { result.lastSigma = sigma }
            } else {
                x = pre
            }
            layerStates.append(x[...])
        }
        (result.z, result.lastScale) = Self.combined(layerStates, config)
        return result
    }

    /// LayerNorm as the tape computes it (the same kernel, eps 1e-5); also returns σ.
    static func layerNorm(_ x: [Float], gain: [Float], bias: [Float]) -> ([Float], Float) {
        var y = x, inv: Float = 1
        y.withUnsafeMutableBufferPointer { yp in
            Kernels.layerNorm(yp.baseAddress!, rows: 1, cols: x.count, gamma: gain, beta: bias, eps: 1e-5, invStd: &inv)
        }
        return (y, 1 / inv)
    }

    /// xᵀ M for a row-major rows × cols weight matrix M (x has rows entries).
    func matvec(_ x: [Float], _ m: [Float], rows: Int, cols: Int) -> [Float] {
        BLAS.gemv(Matrix(rows: rows, cols: cols, data: m), x, transpose: true)
    }

    /// Input state from a text vector (raw encoder space) and an id vector.
    func inputState(text: [Float]?, id: [Float]?) -> [Float] {
        let h = config.hidden
        var x = [Float](repeating: 0, count: h)
        if config.usesText, let text {
            x = matvec(text, weights.textW, rows: weights.textDim, cols: h)
            for j in 0..<h { x[j] += weights.textB[j] }
        }
        if config.usesID, let id { for j in 0..<h { x[j] += id[j] } }
        return Self.layerNorm(x, gain: weights.ln0Gain, bias: weights.ln0Bias).0
    }

    // MARK: - users

    private enum Plan {
        case stored(Int32)
        case inductive(known: Int32?, neighbours: [Int32], text: TextSource)
        case unscorable(String)
    }

    private enum TextSource {
        case none
        case stored(Int32)
        case encode([String])
        case mean
    }

    private func plan(_ q: UserQuery) -> Plan {
        let pref = q.preference.trimmingCharacters(in: .whitespacesAndNewlines)
        // Sorted and deduplicated without a Set (a Set cost more than scoring 100 candidates).
        var nbrs = q.history.compactMap {
            isMessageEdge($0.rating) || $0.rating == 0 ? Int32(userCount) + $0.item : nil
        }
        nbrs.sort()
        nbrs = nbrs.enumerated().compactMap { n, x in n > 0 && nbrs[n - 1] == x ? nil : x }
        if let u = q.userIndex, Int(u) < userCount {
            let storedItems = positives[Int(u)]
            // The same set: equal counts, and the stored items (duplicate-free then) sorted are nbrs.
            let same =
                nbrs.count == storedItems.count
                && zip(storedItems.sorted(), nbrs).allSatisfy { Int32(userCount) + $0 == $1 }
            if same && pref.isEmpty { return .stored(u) }
            if !config.usesText || pref.isEmpty { return .inductive(known: u, neighbours: nbrs, text: .stored(u)) }
            guard encoder != nil else { return .inductive(known: u, neighbours: nbrs, text: .stored(u)) }
            return .inductive(known: u, neighbours: nbrs, text: .encode([pref]))
        }
        var texts: [String] = []
        if config.usesText && encoder != nil {
            if !pref.isEmpty { texts.append(pref) }
            let profile = Profiles.user(id: q.rawID, history: q.history, meta: q.meta, catalog: catalog)
            if !profile.isEmpty { texts.append(profile.text) }
        }
        if nbrs.isEmpty && texts.isEmpty {
            if config.usesText && encoder == nil && (!pref.isEmpty || !q.history.isEmpty) {
                return .unscorable(
                    "no positively rated history and the text encoder is unavailable "
                        + "(\(encoderProblem ?? "not loaded"))"
                )
            }
            return .unscorable(
                config.usesText
                    ? "unknown user with no positively rated history, preference or demographics"
                    : "unknown user with no positively rated history")
        }
        return .inductive(
            known: nil, neighbours: nbrs, text: texts.isEmpty ? (config.usesText ? .mean : .none) : .encode(texts))
    }

    public func unscorableReason(_ query: UserQuery) -> String? {
        if case .unscorable(let why) = plan(query) { return why }
        return nil
    }

    private func userPass(_ query: UserQuery, plan: Plan? = nil) throws -> (z: [Float], pass: NodePass?) {
        let h = config.hidden
        switch plan ?? self.plan(query) {
        case .unscorable(let why): throw RecError.failedPrecondition("\(name): \(why)")
        case .stored(let u):
            return (userEmbeddings.row(Int(u)), nil)
        case .inductive(let known, let nbrs, let source):
            var text: [Float]?
            switch source {
            case .none: text = nil
            case .mean: text = meanUserText
            case .stored(let u): text = userText.row(Int(u))
            case .encode(let texts):
                text = encoder!.embedQuery(texts).normalisedRowSum(
                    plus: known.map { userText.row(Int($0))[...] })
            }
            let id =
                known.map { u in
                    weights.idEmbedding.isEmpty ? [] : Array(weights.idEmbedding[(Int(u) * h)..<(Int(u) * h + h)])
                } ?? meanUserID
            let h0: [Float]
            if let known, case .stored = source {
                h0 = states[0].row(Int(known))
            } else {
                h0 = inputState(text: text, id: id)
            }
            var p = pass(h0: h0, neighbours: nbrs)
            if known == nil, config.coldShrinkage > 0 {
                // A stated preference counts as one edge's worth of evidence; demographics do not.
                let hasPreference = !query.preference.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
                let evidence = Float(nbrs.count) + (hasPreference ? 1 : 0)
                let lambda = config.coldShrinkage / (config.coldShrinkage + evidence)
                for k in 0..<h { p.z[k] = lambda * meanUserZ[k] + (1 - lambda) * p.z[k] }
            }
            return (p.z, p)
        }
    }

    /// The final embedding the engine scores `query` with.
    public func userVector(_ query: UserQuery) throws -> [Float] { try userPass(query).z }

    /// Plans the user once, for both the decision and the scores.
    public func answer(_ query: UserQuery, items: [Int32]?) throws -> EngineAnswer {
        let p = plan(query)
        if case .unscorable(let why) = p { return .declined(why) }
        return .scores(Kernels.rowDots(itemEmbeddings, try userPass(query, plan: p).z, rows: items))
    }

    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        Kernels.rowDots(itemEmbeddings, try userVector(query), rows: items)
    }

    // MARK: - inner-product view (approximate Retrieve; the rest is ItemEmbeddingEngine's)

    public func userVector(for query: UserQuery) throws -> UserVectorAnswer {
        let p = plan(query)
        if case .unscorable(let why) = p { return .declined(why) }
        return .vector(UserVector(x: try userPass(query, plan: p).z))
    }

    /// A final embedding for an item the bundle does not know, from its metadata and the
    /// stored users who rated it positively (either may be empty). Needs the encoder for text models.
    public func itemVector(meta: ItemMeta, positiveUsers: [Int32]) throws -> [Float] {
        var text: [Float]?
        if config.usesText {
            guard let encoder else {
                throw RecError.failedPrecondition(
                    "\(name): the text encoder is unavailable (\(encoderProblem ?? "not loaded"))")
            }
            let c = Catalog(ids: try IDMap(ids: ["new"]), meta: [meta], schema: catalog.schema)
            text = encoder.embed(Profiles.item(0, catalog: c).text)
        }
        let h = config.hidden, nU = userCount
        let id = Self.meanRow(weights.idEmbedding, rows: nU..<(nU + catalog.count), cols: h)
        let nbrs = Array(Set(positiveUsers.filter { $0 >= 0 && Int($0) < nU })).sorted()
        return pass(h0: inputState(text: text, id: id), neighbours: nbrs).z
    }

    // MARK: - evidence

    /// History items ranked by their additive share of score(user, item) through the last
    /// layer: share_j = m_j · z_i, where m_j is neighbour j's attention-weighted message (with a
    /// final LayerNorm: Σ_c g_c (m_jc − mean(m_j)) z_ic / σ, g its gain, σ its input's deviation).
    /// Plus the cosine between the user's and the item's profile embeddings, when known.
    public func explain(_ query: UserQuery, item: Int32, limit: Int) throws -> (score: Float, evidence: [Evidence]) {
        let h = config.hidden, nU = userCount
        let (z, firstPass) = try userPass(query)
        var pass = firstPass
        let score = Kernels.rowDots(itemEmbeddings, z, rows: [item])[0]  // bit-identical to `score`
        if pass == nil, let u = query.userIndex {  // stored user: rerun the pass to see the attention
            pass = self.pass(
                h0: states[0].row(Int(u)),
                neighbours: positives[Int(u)].map { Int32(nU) + $0 })
        }
        var out: [Evidence] = []
        if let p = pass {
            let zi = itemEmbeddings.row(Int(item))
            let normed = config.finalLayerNorm
            let gain = normed ? weights.layers.last!.lnGain : [Float](repeating: 1, count: h)
            var shares: [(Int32, Float, Float)] = []
            for (n, m) in p.lastMessages.enumerated() {
                let node = p.neighbours[n]
                guard Int(node) >= nU else { continue }
                let mean = normed ? m.reduce(0, +) / Float(h) : 0
                var s: Float = 0
                for c in 0..<h { s += gain[c] * (m[c] - mean) * zi[c] }
                shares.append((node - Int32(nU), s / p.lastSigma * p.lastScale, p.lastAttention[n]))
            }
            shares.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            for (i, share, att) in shares.prefix(limit) where share > 0 {
                out.append(
                    Evidence(
                        kind: "history_item", item: i, weight: share,
                        detail: String(format: "attention %.3f, share of the score %.3f", att, share)))
            }
        }
        if config.usesText, let u = query.userIndex, Int(u) < nU, userText.rows > 0 {
            let d = weights.textDim
            var s: Float = 0
            userText.withRow(Int(u)) { ut in itemText.withRow(Int(item)) { it in for c in 0..<d { s += ut[c] * it[c] } }
            }
            out.append(
                Evidence(
                    kind: "profile_similarity", item: item, weight: s,
                    detail: String(format: "cosine %.2f between your profile and the item's profile (%@)", s, modelName)
                ))
        }
        return (score, out)
    }

    // MARK: - bundle

    public func tensors() -> SafetensorsWriter {
        var t = SafetensorsWriter()
        for (name, v, shape) in weights.named { t.add(name, v, shape: shape) }
        for (l, s) in states.enumerated() { t.add("state\(l)", s.data, shape: [s.rows, s.cols]) }
        if config.usesText {
            t.add("user_text", userText.data, shape: [userText.rows, userText.cols])
            t.add("item_text", itemText.data, shape: [itemText.rows, itemText.cols])
        }
        return t
    }
}

extension GATEngine: NewItemScoring {
    /// One inductive pass for the item node, from its metadata and the bundle's users who gave it
    /// a positive (or unrated) interaction, as `itemVector` does.
    public func newItemModel(_ meta: ItemMeta, raters: [NewItemRater]) throws -> NewItemModel {
        let users = raters.compactMap { r in r.user.flatMap { isMessageEdge(r.rating) ? $0 : nil } }
        return .vector(try itemVector(meta: meta, positiveUsers: users), bias: 0)
    }
}
