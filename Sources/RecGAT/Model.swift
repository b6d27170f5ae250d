import Foundation
import RecCore
import RecEngineKit
import RecMath

/// Hyper-parameters of the GAT engine (defaults follow arXiv 2508.01514 where it says, and
/// are marked otherwise).
public struct GATConfig: Sendable, Equatable {
    /// Which node inputs the model uses: the MiniLM profile embedding (projected), a trainable
    /// id embedding, or their sum (the paper's ablation).
    public enum Features: String, Sendable, CaseIterable { case text, id, both }
    /// How the one negative per positive is drawn: uniformly, or the best-scoring of
    /// `hardCandidates` uniform draws under the current embeddings.
    public enum Negatives: String, Sendable, CaseIterable { case uniform, hard }
    /// The embedding scores are taken from: the last layer's states, or the mean of every
    /// layer's (the input included), as LightGCN combines its layers.
    public enum Combine: String, Sendable, CaseIterable { case last, mean }
    /// BPR + alpha · cosine term; a sampled softmax of each positive against the batch's
    /// uniform negatives (shared by every row); or an in-batch softmax, where the other rows'
    /// positives are negatives too. Softmaxes at `temperature`, a user's own known positives
    /// never counted as its negatives.
    public enum Loss: String, Sendable, CaseIterable { case bpr, softmax, inbatch }
    /// Scores are dot products of the embeddings, or of the embeddings scaled to unit length.
    public enum Similarity: String, Sendable, CaseIterable { case dot, cosine }

    public var hidden = 64
    /// Heads per layer: all but the last concatenate (hidden / heads units each); the last averages.
    public var heads = [4, 4, 1]
    public var dropout: Float = 0
    public var features = Features.both
    /// Weight of the cosine term: loss = BPR + alpha · (1 − cos(u, i+)).
    public var alpha: Float = 1
    public var negatives = Negatives.uniform
    public var hardCandidates = 8
    /// 5e-3, not the paper's 1e-3: with the 60 s training budget 1e-3 had not converged
    /// (NDCG@10 0.311 vs 0.330 at 5e-3 and 0.319 at 1e-2 on the random split; docs/gat.md).
    public var lr: Float = 5e-3
    public var weightDecay: Float = 1e-5
    /// Positive pairs per optimiser step (not the paper's; chosen on a validation slice of
    /// ml-100k's training part, docs/gat.md).
    public var batchSize = 1024
    /// Neighbours sampled per node and layer, bottom layer first (0: all of them, exact).
    /// Sampled beat exact full-graph steps on ml-100k's validation slice too (docs/gat.md).
    public var fanouts = [10, 10, 10]
    /// New nodes each layer's sampling may add to a step's computation graph, bottom layer
    /// first (0: no bound); bounds a step's cost on large graphs.
    public var layerNodes = [1024, 1024, 1024]
    /// Validation NDCG@10 after each epoch is taken over at most this many users (seeded).
    public var validationUsers = 2000
    public var combine = Combine.last
    public var loss = Loss.bpr
    public var similarity = Similarity.dot
    /// Softmax temperature (similarities are divided by it).
    public var temperature: Float = 0.1
    /// Sampled negatives per positive pair. Each is a target of the step (its own sampled
    /// computation graph), so a step's cost grows with it: 4 cost 1.7x the time per step on
    /// the 1M-rating synthetic set for +0.005 validation NDCG@10 on ml-100k (docs/gat.md).
    public var negativesPerPositive = 1
    public var maxEpochs = 30
    /// Decay of an exponential moving average of the weights (Polyak averaging): validation,
    /// the kept weights and serving use the average instead of the last step's weights (0 = off).
    public var emaDecay: Float = 0.99
    /// Epochs without a better validation NDCG@10 before the learning rate is multiplied by `lrFactor`.
    public var plateauPatience = 2
    public var lrFactor: Float = 0.5
    /// Epochs without a better validation NDCG@10 before training stops (best weights kept).
    public var stopPatience = 5
    /// Fraction of the positive pairs held out as the validation slice.
    public var validationFraction = 0.05
    public var seed: UInt64 = 42
    /// Ratings at or above are positive edges; at or below `negativeMax` (and > 0) explicit negatives.
    public var positiveMin: Float = 4
    public var negativeMax: Float = 2
    /// Ratings at or above carry messages (edges of the graph). Equal to `positiveMin` by
    /// default (the paper's graph); lower, neutral ratings become message-only edges: never BPR
    /// positives, still never sampled as a user's negative.
    public var messageMin: Float = 4
    public var idInitStd: Float = 0.1
    /// Leave each step's positive pairs out of that step's message edges (supervision edges
    /// disjoint from message edges), so the model predicts edges it cannot see.
    public var disjointEdges = true
    /// LayerNorm after the last layer too (as after the others). Turning it off lets an item's
    /// embedding norm carry its popularity; on ml-100k that lost 0.015 NDCG@10 and most of the
    /// catalogue coverage (docs/gat.md).
    public var finalLayerNorm = true
    /// New users (not in the bundle) are shrunk towards the mean stored user:
    /// z = λ·mean + (1 − λ)·z_pass with λ = k / (k + evidence), k this value, evidence = message
    /// edges + 1 for a preference text. With few edges the single-node pass is far outside what
    /// training saw; the mean user is not (cold-start NDCG@10 at n = 0: 0.016 without, 0.398 with).
    public var coldShrinkage: Float = 3

    public init() {}

    /// Every hyper-parameter by manifest key (the GAT kind's table; `recfuse train --gat-<key>`).
    static let fields = ParamFields<GATConfig>([
        .int("hidden", \.hidden, in: 1...Int.max, "units of every layer's output"),
        .ints(
            "heads", \.heads, in: 1...Int.max,
            "attention heads per layer; all but the last concatenate, the last averages"),
        .float("dropout", \.dropout, in: 0...0.99, "dropout on each layer's input"),
        .choice("features", \.features, "node inputs: MiniLM profile text, trainable id embeddings, or both"),
        .float(
            "alpha", \.alpha, in: 0...(.greatestFiniteMagnitude),
            "weight of the cosine term in BPR + alpha * (1 - cos) (0 = BPR only)"),
        .choice("negatives", \.negatives, "negative sampling: uniform, or the best of hard_candidates uniform draws"),
        .int("hard_candidates", \.hardCandidates, in: 1...Int.max, "uniform draws a hard negative is chosen from"),
        .float("lr", \.lr, in: 0...1, "AdamW learning rate"),
        .float("weight_decay", \.weightDecay, in: 0...1, "AdamW decoupled weight decay"),
        .int("batch_size", \.batchSize, in: 1...Int.max, "positive pairs per step"),
        .ints("fanouts", \.fanouts, in: 0...Int.max, "neighbours sampled per node and layer, bottom first (0 = all)"),
        .ints(
            "layer_nodes", \.layerNodes, in: 0...Int.max,
            "new nodes each layer's sampling may add to a step, bottom first (0 = no bound)"),
        .int(
            "validation_users", \.validationUsers, in: 1...Int.max,
            "users the per-epoch validation NDCG@10 is taken over"),
        .choice("combine", \.combine, "embedding scored: the last layer's, or the mean of every layer's (LightGCN)"),
        .choice(
            "loss", \.loss,
            "bpr (+ alpha cosine term), softmax over the batch's shared negatives, or inbatch (+ other rows' positives)"
        ),
        .choice("similarity", \.similarity, "score: dot product, or cosine (unit-length embeddings)"),
        .float("temperature", \.temperature, in: 0.001...10, "softmax temperature"),
        .int("negatives_per_positive", \.negativesPerPositive, in: 1...1024, "sampled negatives per positive pair"),
        .float("ema_decay", \.emaDecay, in: 0...0.99999, "decay of the weights' moving average (0 = off)"),
        .int(
            "max_epochs", \.maxEpochs, in: 1...Int.max,
            "epochs at most (training stops earlier on validation NDCG@10)"),
        .int(
            "plateau_patience", \.plateauPatience, in: 1...Int.max,
            "epochs without a better validation NDCG@10 before the lr drops"),
        .float("lr_factor", \.lrFactor, in: 0...1, "what the lr is multiplied by on a plateau"),
        .int(
            "stop_patience", \.stopPatience, in: 1...Int.max,
            "epochs without a better validation NDCG@10 before training stops"),
        .double(
            "validation_fraction", \.validationFraction, in: 0...0.49, "positive pairs held out for early stopping"),
        .uint64("seed", \.seed, "random seed"),
        .float("positive_min", \.positiveMin, "ratings at or above are positive edges"),
        .float("negative_max", \.negativeMax, "ratings at or below (and > 0) are explicit negatives, never sampled"),
        .float(
            "message_min", \.messageMin, "ratings at or above carry messages (below positive_min: message-only edges)"),
        .float(
            "id_init_std", \.idInitStd, in: 0...(.greatestFiniteMagnitude), "std of the id embeddings' initialisation"),
        .bool("disjoint_edges", \.disjointEdges, "leave each step's supervision pairs out of its message edges"),
        .bool("final_layer_norm", \.finalLayerNorm, "LayerNorm after the last layer too"),
        .float(
            "cold_shrinkage", \.coldShrinkage, in: 0...(.greatestFiniteMagnitude),
            "new users shrink towards the mean user by k / (k + edges) (0 = off)"),
    ])

    /// The hyper-parameters as manifest text.
    public var asStrings: [String: String] { Self.fields.strings(self) }

    /// Reads the GAT kind's parameters over the defaults, then checks the combination.
    public init(_ p: EngineParams) throws {
        self = try Self.fields.read(p, over: GATConfig())
        try validate()
    }

    public func validate() throws {
        guard hidden > 0, !heads.isEmpty, heads.allSatisfy({ $0 > 0 }) else {
            throw RecError.invalidArgument("gat: hidden and every head count must be positive")
        }
        guard layerNodes.count == heads.count else {
            throw RecError.invalidArgument(
                "gat: \(layerNodes.count) layer_nodes for \(heads.count) layers (one per layer, bottom first)")
        }
        guard fanouts.count == heads.count else {
            throw RecError.invalidArgument(
                "gat: \(fanouts.count) fanouts for \(heads.count) layers (one per layer, bottom first)")
        }
        for h in heads.dropLast() where hidden % h != 0 {
            throw RecError.invalidArgument(
                "gat: hidden (\(hidden)) must be divisible by every concatenating layer's heads (\(h))")
        }
        guard (0..<1).contains(dropout), batchSize > 0, maxEpochs > 0, lr > 0, hardCandidates > 0,
            (0..<0.5).contains(validationFraction)
        else {
            throw RecError.invalidArgument(
                "gat: dropout in [0,1), batch size, epochs, lr and hard candidates positive, validation fraction in "
                    + "[0, 0.5)"
            )
        }
    }

    public var usesText: Bool { features != .id }
    public var usesID: Bool { features != .text }
}

/// The GAT's weights as plain arrays (what the bundle stores and serving uses). Names are the
/// tensor names in the bundle.
public struct GATWeights: Sendable {
    public struct Layer: Sendable {
        /// Heads and output width (heads · per-head units) of the attention.
        public var heads: Int
        public var width: Int
        /// The last layer averages its heads; the others concatenate them.
        public var averages: Bool
        /// hidden × width each: source (message) and destination projections.
        public var wSrc: [Float]
        public var wDst: [Float]
        public var att: [Float]
        /// Output bias, hidden.
        public var bias: [Float]
        public var lnGain: [Float]
        public var lnBias: [Float]
    }

    public var hidden: Int
    public var textDim: Int
    public var nodeCount: Int
    /// textDim × hidden and hidden, or empty when the model does not use text.
    public var textW: [Float]
    public var textB: [Float]
    /// nodeCount × hidden, or empty when the model does not use ids.
    public var idEmbedding: [Float]
    public var ln0Gain: [Float]
    public var ln0Bias: [Float]
    public var layers: [Layer]

    /// Glorot-uniform projections, N(0, idInitStd²) ids, zero biases, unit LayerNorm gains.
    public static func initial(_ c: GATConfig, textDim: Int, nodeCount: Int, rng: inout SplitMix64) -> GATWeights {
        func glorot(_ fanIn: Int, _ fanOut: Int) -> [Float] {
            let a = (6 / Double(fanIn + fanOut)).squareRoot()
            return (0..<(fanIn * fanOut)).map { _ in Float((rng.nextDouble() * 2 - 1) * a) }
        }
        let h = c.hidden
        var w = GATWeights(
            hidden: h, textDim: c.usesText ? textDim : 0, nodeCount: nodeCount,
            textW: c.usesText ? glorot(textDim, h) : [], textB: c.usesText ? [Float](repeating: 0, count: h) : [],
            idEmbedding: [], ln0Gain: [Float](repeating: 1, count: h), ln0Bias: [Float](repeating: 0, count: h),
            layers: [])
        if c.usesID { w.idEmbedding = (0..<(nodeCount * h)).map { _ in Float(rng.nextGaussian()) * c.idInitStd } }
        for (l, heads) in c.heads.enumerated() {
            let last = l == c.heads.count - 1
            let averages = last && heads > 1
            let width = averages ? heads * h : h
            let perHead = width / heads
            w.layers.append(
                Layer(
                    heads: heads, width: width, averages: averages, wSrc: glorot(h, width), wDst: glorot(h, width),
                    att: (0..<heads).flatMap { _ in glorot(perHead, 1) },
                    bias: [Float](repeating: 0, count: h), lnGain: [Float](repeating: 1, count: h),
                    lnBias: [Float](repeating: 0, count: h)))
        }
        return w
    }

    /// Every tensor by bundle name with its shape.
    public var named: [(String, [Float], [Int])] {
        var out: [(String, [Float], [Int])] = []
        if !textW.isEmpty { out += [("text_w", textW, [textDim, hidden]), ("text_b", textB, [hidden])] }
        if !idEmbedding.isEmpty { out.append(("id_embedding", idEmbedding, [nodeCount, hidden])) }
        out += [("ln0_gain", ln0Gain, [hidden]), ("ln0_bias", ln0Bias, [hidden])]
        for (l, x) in layers.enumerated() {
            out += [
                ("layer\(l).w_src", x.wSrc, [hidden, x.width]), ("layer\(l).w_dst", x.wDst, [hidden, x.width]),
                ("layer\(l).att", x.att, [x.width]), ("layer\(l).bias", x.bias, [hidden]),
                ("layer\(l).ln_gain", x.lnGain, [hidden]), ("layer\(l).ln_bias", x.lnBias, [hidden]),
            ]
        }
        return out
    }

    /// Reads weights shaped for `c` through `tensor(name, shape)`.
    public static func load(
        _ c: GATConfig, textDim: Int, nodeCount: Int,
        tensor: (String, [Int]) throws -> [Float]
    ) throws -> GATWeights {
        let h = c.hidden
        var w = GATWeights(
            hidden: h, textDim: c.usesText ? textDim : 0, nodeCount: nodeCount, textW: [], textB: [],
            idEmbedding: [], ln0Gain: try tensor("ln0_gain", [h]), ln0Bias: try tensor("ln0_bias", [h]), layers: [])
        if c.usesText {
            w.textW = try tensor("text_w", [textDim, h])
            w.textB = try tensor("text_b", [h])
        }
        if c.usesID { w.idEmbedding = try tensor("id_embedding", [nodeCount, h]) }
        for (l, heads) in c.heads.enumerated() {
            let averages = l == c.heads.count - 1 && heads > 1
            let width = averages ? heads * h : h
            w.layers.append(
                Layer(
                    heads: heads, width: width, averages: averages,
                    wSrc: try tensor("layer\(l).w_src", [h, width]), wDst: try tensor("layer\(l).w_dst", [h, width]),
                    att: try tensor("layer\(l).att", [width]), bias: try tensor("layer\(l).bias", [h]),
                    lnGain: try tensor("layer\(l).ln_gain", [h]), lnBias: try tensor("layer\(l).ln_bias", [h])))
        }
        return w
    }
}

/// The weights as tape parameters, for training: `forward` runs the whole graph.
final class GATParameters {
    let textW, textB, idEmbedding: Parameter?
    let ln0Gain, ln0Bias: Parameter
    struct Layer {
        let heads: Int, width: Int, averages: Bool
        let wSrc, wDst, att, bias, lnGain, lnBias: Parameter
    }
    let layers: [Layer]
    let hidden: Int, textDim: Int, nodeCount: Int
    let all: [Parameter]

    init(_ w: GATWeights) {
        let h = w.hidden
        hidden = h
        textDim = w.textDim
        nodeCount = w.nodeCount
        textW = w.textW.isEmpty ? nil : Parameter("text_w", rows: w.textDim, cols: h, value: w.textW)
        textB = w.textB.isEmpty ? nil : Parameter("text_b", rows: 1, cols: h, value: w.textB, decay: false)
        idEmbedding =
            w.idEmbedding.isEmpty ? nil : Parameter("id_embedding", rows: w.nodeCount, cols: h, value: w.idEmbedding)
        idEmbedding?.sparse = true
        ln0Gain = Parameter("ln0_gain", rows: 1, cols: h, value: w.ln0Gain, decay: false)
        ln0Bias = Parameter("ln0_bias", rows: 1, cols: h, value: w.ln0Bias, decay: false)
        layers = w.layers.enumerated().map { l, x in
            Layer(
                heads: x.heads, width: x.width, averages: x.averages,
                wSrc: Parameter("layer\(l).w_src", rows: h, cols: x.width, value: x.wSrc),
                wDst: Parameter("layer\(l).w_dst", rows: h, cols: x.width, value: x.wDst),
                att: Parameter("layer\(l).att", rows: 1, cols: x.width, value: x.att),
                bias: Parameter("layer\(l).bias", rows: 1, cols: h, value: x.bias, decay: false),
                lnGain: Parameter("layer\(l).ln_gain", rows: 1, cols: h, value: x.lnGain, decay: false),
                lnBias: Parameter("layer\(l).ln_bias", rows: 1, cols: h, value: x.lnBias, decay: false))
        }
        var all = [textW, textB, idEmbedding].compactMap { $0 } + [ln0Gain, ln0Bias]
        for l in layers { all += [l.wSrc, l.wDst, l.att, l.bias, l.lnGain, l.lnBias] }
        self.all = all
    }

    var weights: GATWeights {
        GATWeights(
            hidden: hidden, textDim: textDim, nodeCount: nodeCount, textW: textW?.value ?? [],
            textB: textB?.value ?? [],
            idEmbedding: idEmbedding?.value ?? [], ln0Gain: ln0Gain.value, ln0Bias: ln0Bias.value,
            layers: layers.map { l in
                GATWeights.Layer(
                    heads: l.heads, width: l.width, averages: l.averages, wSrc: l.wSrc.value, wDst: l.wDst.value,
                    att: l.att.value, bias: l.bias.value, lnGain: l.lnGain.value, lnBias: l.lnBias.value)
            })
    }

    /// States after the input layer and after each GAT layer over `graph`: state 0 has a row per
    /// node of `graph.nodes`, state l one per destination of block l (a prefix of state l−1's
    /// rows), so the targets are the first `graph.targets` rows of every state. `text` is the
    /// text features of every node of the whole graph (nodes × textDim; nil for id-only models);
    /// the id embedding is looked up by row, so a step touches only the rows it uses.
    func forward(
        _ t: Tape, graph: SampledGraph, text: Matrix?, dropout: Float, finalLayerNorm: Bool,
        rng: inout SplitMix64
    ) -> [Tensor] {
        var h: Tensor?
        if let textW, let textB, let text {
            let rows = graph.nodes.count, d = text.cols
            var x = [Float](repeating: 0, count: rows * d)
            x.withUnsafeMutableBufferPointer { xp in
                text.withUnsafeBufferPointer { tp in
                    for (r, v) in graph.nodes.enumerated() {
                        (xp.baseAddress! + r * d).update(from: tp.baseAddress! + Int(v) * d, count: d)
                    }
                }
            }
            h = t.add(t.matmul(t.constant(x, rows: rows, cols: d), t.param(textW)), t.param(textB))
        }
        if let idEmbedding {
            let ids = t.rows(of: idEmbedding, graph.nodes)
            h = h.map { t.add($0, ids) } ?? ids
        }
        var x = t.layerNorm(h!, gain: t.param(ln0Gain), bias: t.param(ln0Bias))
        var states = [x]
        for (l, layer) in layers.enumerated() {
            let block = graph.blocks[l]
            let input = t.dropout(x, p: dropout, rng: &rng)
            let xl = t.matmul(input, t.param(layer.wSrc))
            let xr = t.matmul(t.prefixRows(input, block.nodeCount), t.param(layer.wDst))
            var out = t.gatv2(xl, xr, att: t.param(layer.att), heads: layer.heads, edges: block)
            if layer.averages { out = t.headMean(out, heads: layer.heads) }
            out = t.add(out, t.param(layer.bias))
            if l < layers.count - 1 { out = t.elu(out) }
            let residual = t.add(t.prefixRows(x, block.nodeCount), out)
            x =
                l < layers.count - 1 || finalLayerNorm
                ? t.layerNorm(residual, gain: t.param(layer.lnGain), bias: t.param(layer.lnBias)) : residual
            states.append(x)
        }
        return states
    }
}
