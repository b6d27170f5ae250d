import Foundation
import RecCore
import RecData
import RecEngineKit
import RecMath
import RecTestSupport
import RecText
import Testing

@testable import RecGAT

/// Two taste groups: users 0..<30 rate 8 of items 0..<20 with 5 and 2 of items 20..<40 with
/// 1 or 2; users 30..<60 the other way round. Group A items are comedies, group B horror.
func plantedDataset(seed: UInt64 = 3) -> Dataset {
    var rng = SplitMix64(seed: seed)
    var uids = IDMap(), iids = IDMap()
    for u in 0..<60 { uids.intern("u\(u)") }
    for i in 0..<40 { iids.intern("i\(i)") }
    var xs: [Interaction] = []
    for u in 0..<60 {
        let own = u < 30 ? 0 : 20, other = u < 30 ? 20 : 0
        var picked = Set<Int>()
        while picked.count < 8 { picked.insert(own + Int(rng.next() % 20)) }
        for (n, i) in picked.sorted().enumerated() {
            xs.append(Interaction(user: Int32(u), item: Int32(i), rating: 5, timestamp: Int64(n)))
        }
        var bad = Set<Int>()
        while bad.count < 2 { bad.insert(other + Int(rng.next() % 20)) }
        for i in bad.sorted() {
            xs.append(Interaction(user: Int32(u), item: Int32(i), rating: Float(1 + rng.next() % 2), timestamp: 50))
        }
    }
    let meta = (0..<40).map { ItemMeta(title: "Film \($0)", year: 1990, genres: [$0 < 20 ? "Comedy" : "Horror"]) }
    return Dataset(
        name: "planted", users: uids, items: iids, interactions: xs, itemMeta: meta,
        userMeta: Array(repeating: UserMeta(age: 30), count: 60))
}

func idOnlyConfig() -> GATConfig {
    var c = GATConfig()
    c.features = .id
    c.batchSize = 64
    c.lr = 0.01
    c.maxEpochs = 25
    c.stopPatience = 25
    c.validationFraction = 0.1
    return c
}

/// The planted data's positive pairs and their message graph (60 users, 40 items).
func plantedMessageGraph() -> (MessageGraph, [(Int32, Int32)]) {
    let g = TrainingGraph(plantedDataset(), positiveMin: 4, negativeMax: 2)
    var pairs: [(Int32, Int32)] = []
    for u in 0..<60 { for i in g.positives[u] { pairs.append((Int32(u), i)) } }
    return (MessageGraph(users: 60, items: 40, pairs: pairs), pairs)
}

/// How many of the 60 planted users score their own group's unseen items higher, on average,
/// than the other group's.
func plantedGroupAgreement(_ e: GATEngine) throws -> Int {
    var agree = 0
    for u in 0..<60 {
        let history = e.users.histories.entries(of: Int32(u))
        let s = try e.score(UserQuery(userIndex: Int32(u), history: history), items: nil)
        let seen = Set(history.map(\.item))
        let own = u < 30 ? 0..<20 : 20..<40, other = u < 30 ? 20..<40 : 0..<20
        let mean = { (r: Range<Int>) in
            r.filter { !seen.contains(Int32($0)) }.map { s[$0] }.reduce(0, +) / Float(r.count)
        }
        if mean(own) > mean(other) { agree += 1 }
    }
    return agree
}

/// One trained id-only engine shared by the tests that only read it.
enum Planted {
    static let engine: GATEngine = try! GATEngine.fit(plantedDataset(), config: idOnlyConfig(), encoder: nil)
}

@Suite struct GATGraphTests {
    @Test func positivesDislikesAndMessageEdges() {
        let d = plantedDataset()
        let g = TrainingGraph(d, positiveMin: 4, negativeMax: 2)
        for u in 0..<60 {
            #expect(g.positives[u].count == 8)
            #expect(g.dislikes[u].count == 2)
            #expect(Set(g.positives[u]).isDisjoint(with: g.dislikes[u]))
        }
        var pairs: [(Int32, Int32)] = []
        for u in 0..<60 { for i in g.positives[u] { pairs.append((Int32(u), i)) } }
        let m = MessageGraph(users: 60, items: 40, pairs: pairs)
        let e = m.fullBlock
        #expect(e.nodeCount == 100 && e.sourceCount == 100)
        #expect(e.edgeCount == 100 + 2 * 480)  // self loops + both directions of every positive
        for d in 0..<100 {
            let r = e.byDestination.offsets[d]..<e.byDestination.offsets[d + 1]
            #expect(e.src[r.lowerBound] == Int32(d))  // self loop first
        }
        // No dislike is a message edge, nor a permitted negative.
        for u in 0..<60 {
            let r = e.byDestination.offsets[u]..<e.byDestination.offsets[u + 1]
            let items = Set(r.map { e.src[$0] - 60 })
            #expect(items.isDisjoint(with: g.dislikes[u]))
            #expect(g.dislikes[u].allSatisfy { !g.allowed(u, $0) } && g.positives[u].allSatisfy { !g.allowed(u, $0) })
            #expect((0..<40).filter { g.allowed(u, Int32($0)) }.count == 30)
        }
    }

    /// Blocks: outputs are a prefix of inputs, every destination keeps its self loop and at most
    /// `fanout` neighbours, and a batch's own pairs are never message edges.
    @Test func sampledBlocksBoundTheirFanoutAndLeaveTheBatchPairsOut() {
        let (m, pairs) = plantedMessageGraph()
        var rng = SplitMix64(seed: 1)
        for fanouts in [[3, 2, 4], [0, 0, 0]] {
            var sampler = BlockSampler(graph: m, fanouts: fanouts)
            let batch = Array(pairs[0..<5])
            let targets = Array(Set(batch.flatMap { [$0.0, 60 + $0.1] })).sorted()
            let sg = sampler.sample(targets: targets, excluding: batch, rng: &rng)
            #expect(
                sg.blocks.count == 3 && sg.targets == targets.count && Array(sg.nodes.prefix(targets.count)) == targets)
            #expect(sg.blocks[2].nodeCount == targets.count)
            #expect(Set(sg.nodes).count == sg.nodes.count)
            for l in 0..<3 {
                let b = sg.blocks[l]
                #expect(b.sourceCount == (l == 0 ? sg.nodes.count : sg.blocks[l - 1].nodeCount))
                if l > 0 { #expect(sg.blocks[l - 1].nodeCount == b.sourceCount) }
                for dst in 0..<b.nodeCount {
                    let r = b.byDestination.offsets[dst]..<b.byDestination.offsets[dst + 1]
                    #expect(b.src[r.lowerBound] == Int32(dst))
                    let v = Int(sg.nodes[dst])
                    let limit = fanouts[l] == 0 ? m.degree(v) : min(fanouts[l], m.degree(v))
                    #expect(r.count - 1 <= limit)
                    for e in r.dropFirst() {
                        let w = Int(sg.nodes[Int(b.src[e])])
                        let (u, i) = v < 60 ? (v, w - 60) : (w, v - 60)
                        #expect(!batch.contains { Int($0.0) == u && Int($0.1) == i }, "batch pair \(u)-\(i) in a block")
                    }
                    if fanouts[l] == 0 {  // exact: every neighbour but the batch pairs
                        let excluded = batch.filter { Int($0.0) == v || 60 + Int($0.1) == v }.count
                        #expect(r.count - 1 == m.degree(v) - excluded)
                    }
                }
            }
        }
    }

    /// A node budget bounds what each layer adds; every kept edge is still a graph edge, and
    /// with a budget larger than the graph the blocks are those of no budget (same draws).
    @Test func layerNodeBudgetsBoundEachLayersNewNodes() {
        let (m, pairs) = plantedMessageGraph()
        let batch = Array(pairs[0..<4])
        let targets = Array(Set(batch.flatMap { [$0.0, 60 + $0.1] })).sorted()
        var bounded = BlockSampler(graph: m, fanouts: [5, 5, 5], budgets: [6, 4, 3])
        var rng = SplitMix64(seed: 3)
        let sg = bounded.sample(targets: targets, excluding: batch, rng: &rng)
        // Layer l adds nodes `blocks[l].sourceCount - blocks[l].nodeCount`, at most its budget.
        for (l, budget) in [6, 4, 3].enumerated() {
            let b = sg.blocks[l]
            #expect(b.sourceCount - b.nodeCount == budget, "a budget below the reachable nodes is used up")
            for dst in 0..<b.nodeCount {
                let r = b.byDestination.offsets[dst]..<b.byDestination.offsets[dst + 1]
                #expect(b.src[r.lowerBound] == Int32(dst))
                let v = Int(sg.nodes[dst])
                let nb = Set(m.neighbours[m.offsets[v]..<m.offsets[v + 1]])
                for e in r.dropFirst() { #expect(nb.contains(sg.nodes[Int(b.src[e])])) }
            }
        }
        #expect(sg.nodes.count <= targets.count + 13)
        var loose = BlockSampler(graph: m, fanouts: [5, 5, 5], budgets: [1000, 1000, 1000])
        var free = BlockSampler(graph: m, fanouts: [5, 5, 5])
        var r1 = SplitMix64(seed: 9), r2 = SplitMix64(seed: 9)
        let a = loose.sample(targets: targets, excluding: batch, rng: &r1)
        let b = free.sample(targets: targets, excluding: batch, rng: &r2)
        #expect(a.nodes == b.nodes)
        #expect(zip(a.blocks, b.blocks).allSatisfy { $0.src == $1.src && $0.sourceCount == $1.sourceCount })
    }

    @Test func configRoundTripsAndRejectsMalformedValues() throws {
        var c = GATConfig()
        c.features = .text
        c.heads = [2, 1]
        c.fanouts = [10, 5]
        c.layerNodes = [512, 256]
        c.loss = .inbatch
        c.combine = .mean
        c.similarity = .cosine
        c.alpha = 0.5
        c.negatives = .hard
        #expect(try GATConfig(GATKind.params(c.asStrings)) == c)
        #expect(throws: RecError.self) { try GATConfig(GATKind.params(["heads": "4,x"])) }
        #expect(throws: RecError.self) { try GATConfig(GATKind.params(["features": "pixels"])) }
        #expect(throws: RecError.self) { try GATConfig(GATKind.params(["hidden": "63", "heads": "4,1"])) }
        #expect(throws: RecError.self) { try GATKind.params(["epochs": "3"]) }  // no such parameter
        #expect(throws: RecError.self) { try GATConfig(GATKind.params(["fanouts": "10,10"])) }  // 2 for 3 layers
        #expect(throws: RecError.self) { try GATConfig(GATKind.params(["layer_nodes": "0,0"])) }
        #expect(throws: RecError.self) { try GATConfig(GATKind.params(["loss": "hinge"])) }
    }
}

@Suite struct GATTrainingTests {
    @Test func learnsThePlantedGroups() throws {
        let e = Planted.engine
        let agree = try plantedGroupAgreement(e)
        #expect(agree >= 57, "only \(agree) of 60 users score their own group's unseen items higher")
        #expect(e.validationNDCG ?? 0 > 0.2)
    }

    @Test func trainingIsDeterministicForASeed() throws {
        var c = idOnlyConfig()
        c.maxEpochs = 3
        let a = try GATEngine.fit(plantedDataset(), config: c, encoder: nil)
        let b = try GATEngine.fit(plantedDataset(), config: c, encoder: nil)
        #expect(a.states.last! == b.states.last!)
        c.seed = 43
        let other = try GATEngine.fit(plantedDataset(), config: c, encoder: nil)
        #expect(other.states.last! != a.states.last!)
    }

    /// The softmax losses with mean-of-layers cosine embeddings learn the planted groups too,
    /// and what serving scores is the same combination training optimised (a stored user's
    /// single-node pass reproduces its served embedding).
    @Test(arguments: [GATConfig.Loss.softmax, .inbatch, .bpr])
    func softmaxLossesAndLayerMeansLearnThePlantedGroups(loss: GATConfig.Loss) throws {
        var c = idOnlyConfig()
        c.loss = loss
        c.alpha = 0
        c.combine = .mean
        c.similarity = .cosine
        c.fanouts = [0, 0, 0]
        c.maxEpochs = 12
        let e = try GATEngine.fit(plantedDataset(), config: c, encoder: nil)
        let agree = try plantedGroupAgreement(e)
        #expect(agree >= 54, "\(loss): only \(agree) of 60 users score their own group's unseen items higher")
        // Unit length, and a stored user's single-node pass gives the embedding served.
        let h = c.hidden
        for u in 0..<60 {
            let z = e.userEmbeddings.data[(u * h)..<(u * h + h)]
            #expect(abs(z.reduce(0) { $0 + $1 * $1 } - 1) < 1e-3)
            let nbrs = e.positives[u].map { Int32(60) + $0 }
            let p = e.pass(h0: Array(e.states[0].data[(u * h)..<(u * h + h)]), neighbours: nbrs)
            #expect(zip(p.z, z).allSatisfy { abs($0 - $1) < 1e-3 }, "user \(u)")
        }
    }

    @Test func harderNegativesAndBPROnlyAlsoTrain() throws {
        var c = idOnlyConfig()
        c.maxEpochs = 3
        c.negatives = .hard
        c.alpha = 0
        var losses: [Double] = []
        _ = try GATEngine.fit(plantedDataset(), config: c, encoder: nil) { losses.append($0.loss) }
        #expect(losses.count == 3)
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(losses.last! < losses.first!)
    }
}

@Suite struct GATInductiveTests {
    /// The single-node pass used for new users, run for a stored user over their stored edges,
    /// must reproduce the full-graph forward pass's embedding.
    @Test func inductivePassReproducesStoredEmbeddings() throws {
        let e = Planted.engine
        let h = e.config.hidden
        for u in 0..<60 {
            let nbrs = e.positives[u].map { Int32(60) + $0 }
            let p = e.pass(h0: Array(e.states[0].data[(u * h)..<(u * h + h)]), neighbours: nbrs)
            let stored = e.states.last!.data[(u * h)..<(u * h + h)]
            #expect(zip(p.z, stored).allSatisfy { abs($0 - $1) < 1e-3 }, "user \(u)")
        }
    }

    @Test func newUserWithAHistoryIsScoredWithoutRetraining() throws {
        let e = Planted.engine
        let q = UserQuery(history: [
            HistoryEntry(item: 2, rating: 5, timestamp: 0), HistoryEntry(item: 7, rating: 4, timestamp: 1),
            HistoryEntry(item: 11, rating: 5, timestamp: 2),
        ])
        #expect(e.unscorableReason(q) == nil)
        let s = try e.score(q, items: nil)
        let top = TopK.select(s, k: 10) { ![2, 7, 11].contains($0) }.map(\.index)
        #expect(top.filter { $0 < 20 }.count >= 8, "top 10 \(top)")
        // A live session: a known user plus inline items moves their embedding.
        var known = UserQuery(userIndex: 40, history: e.users.histories.entries(of: 40))
        let before = try e.userVector(known)
        known.history += [HistoryEntry(item: 3, rating: 5, timestamp: 99)]
        #expect(try e.userVector(known) != before)
    }

    /// New users are shrunk towards the mean stored user by k / (k + edges).
    @Test func newUsersShrinkTowardsTheMeanUser() throws {
        let e = Planted.engine
        let k = e.config.coldShrinkage
        #expect(k > 0)
        let q = UserQuery(history: [HistoryEntry(item: 4, rating: 5, timestamp: 0)])
        let raw = e.pass(h0: e.inputState(text: nil, id: e.meanUserID), neighbours: [60 + 4]).z
        let lambda = k / (k + 1)
        let want = (0..<raw.count).map { lambda * e.meanUserZ[$0] + (1 - lambda) * raw[$0] }
        #expect(zip(try e.userVector(q), want).allSatisfy { abs($0 - $1) < 1e-5 })
        // Stored users are not shrunk.
        let u = UserQuery(userIndex: 2, history: e.users.histories.entries(of: 2))
        #expect(try e.userVector(u) == Array(e.states.last!.data[(2 * e.config.hidden)..<(3 * e.config.hidden)]))
    }

    @Test func unscorableUsersSayWhy() throws {
        let e = Planted.engine
        #expect(e.unscorableReason(UserQuery()) != nil)
        // Only dislikes: no positive edge to pass messages over, and no text in an id-only model.
        #expect(e.unscorableReason(UserQuery(history: [HistoryEntry(item: 25, rating: 1, timestamp: 0)])) != nil)
        #expect(throws: RecError.self) { try e.score(UserQuery(), items: nil) }
    }

    @Test func newItemFromItsRaters() throws {
        let e = Planted.engine
        let z = try e.itemVector(
            meta: ItemMeta(title: "New comedy", genres: ["Comedy"]), positiveUsers: [0, 1, 2, 3, 4])
        let zu = try e.userVector(UserQuery(userIndex: 5, history: e.users.histories.entries(of: 5)))
        let zv = try e.userVector(UserQuery(userIndex: 45, history: e.users.histories.entries(of: 45)))
        // Liked by group A users: group A users score it higher than group B users do.
        #expect(BLAS.dot(z, zu) > BLAS.dot(z, zv))
    }

    @Test func evidenceComesFromTheUsersPositiveHistory() throws {
        let e = Planted.engine
        let u: Int32 = 3
        let q = UserQuery(userIndex: u, history: e.users.histories.entries(of: u))
        let (score, ev) = try e.explain(q, item: 5, limit: 3)
        #expect(score == (try e.score(q, items: [5]))[0])
        let history = ev.filter { $0.kind == "history_item" }
        #expect(!history.isEmpty && history.count <= 3)
        #expect(history.allSatisfy { e.positives[Int(u)].contains($0.item!) && $0.weight > 0 })
        #expect(history.map(\.weight) == history.map(\.weight).sorted(by: >))
    }
}

@Suite struct GATBundleTests {
    func roundTrip(_ e: GATEngine, edit: (inout [String: String]) -> Void = { _ in }) throws -> GATEngine {
        var given = try GATKind.params(of: e).values
        edit(&given)
        return try load(e, given)
    }

    @Test func savesAndLoadsTheSameScores() throws {
        let e = Planted.engine
        let back = try roundTrip(e)
        // Node states and the item table are read in place from the tensor file, not copied.
        #expect(back.states.allSatisfy(\.isBorrowed) && back.itemEmbeddings.isBorrowed)
        #expect(back.states == e.states && back.itemEmbeddings == e.itemEmbeddings)
        for u: Int32 in [0, 17, 44] {
            let q = UserQuery(userIndex: u, history: e.users.histories.entries(of: u))
            #expect(try back.score(q, items: nil) == e.score(q, items: nil))
        }
        // A new user's single-node pass runs small OpenBLAS products, whose last bits depend on
        // the library's thread count; concurrent tests change it (BLAS.withThreads), so the two
        // passes agree to float precision here, not always to the bit.
        let cold = UserQuery(history: [HistoryEntry(item: 30, rating: 5, timestamp: 0)])
        let (a, b) = (try back.score(cold, items: nil), try e.score(cold, items: nil))
        #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    /// A NaN in a stored node state is refused at load (the engine checks every state; the
    /// loader maps them without a check of its own).
    @Test func aNonFiniteStateIsRefusedAtLoad() throws {
        let e = Planted.engine
        var bytes = try e.tensors().serialized()
        let header = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let at = 8 + header + (try SafetensorsFile(data: bytes).info("state1").range.lowerBound) + 4 * 17
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange(at..<(at + 4), with: $0) }
        let params = try GATKind.params(GATKind.params(of: e).values, code: .dataLoss)
        #expect {
            try GATKind.load(
                SafetensorsFile(data: bytes), entry: .init(name: "gat", kind: "gat", file: "", params: [:]),
                params: params,
                context: LoadContext(catalog: e.catalog, users: e.users, modelsDir: TestModels.modelsDir))
        } throws: { ($0 as? RecError)?.code == .dataLoss && "\($0)".contains("node states contain NaN") }
    }

    @Test func corruptParametersAreRejected() throws {
        let e = Planted.engine
        #expect(throws: RecError.self) { try roundTrip(e) { $0["heads"] = "4,4" } }  // two layers, three stored
        #expect(throws: RecError.self) { try roundTrip(e) { $0["hidden"] = "32" } }
        #expect(throws: RecError.self) { try roundTrip(e) { $0["features"] = "both" } }  // no text tensors
    }
}

/// With the real MiniLM weights: text node features and cold users described by text alone.
@Suite struct GATTextTests {
    @Test(
        .enabled(if: TestModels.miniLM != nil, "needs models/all-MiniLM-L6-v2 (checked under RECFUSE_REQUIRE_MODELS=1)")
    )
    func textFeaturesServeColdUsersFromDemographicsOrPreference() throws {
        let dir = try #require(TestModels.miniLM)
        let encoder = try SentenceEncoder.shared(dir)
        var c = idOnlyConfig()
        c.features = .both
        c.maxEpochs = 4
        let e = try GATEngine.fit(plantedDataset(), config: c, encoder: encoder)
        #expect(e.userText.rows == 60 && e.itemText.rows == 40 && e.userText.cols == 384)
        let byText = UserQuery(preference: "silly comedies that make me laugh")
        #expect(e.unscorableReason(byText) == nil)
        #expect(try e.score(byText, items: nil).allSatisfy { $0.isFinite })
        let byMeta = UserQuery(meta: UserMeta(age: 25, gender: "F", occupation: "writer"))
        #expect(e.unscorableReason(byMeta) == nil)
        #expect(try e.score(byMeta, items: nil) != e.score(byText, items: nil))
        // Stored users still reproduce their full-graph embedding through the single-node pass.
        let h = c.hidden
        let p = e.pass(h0: Array(e.states[0].data[0..<h]), neighbours: e.positives[0].map { 60 + $0 })
        #expect(zip(p.z, e.states.last!.data[0..<h]).allSatisfy { abs($0 - $1) < 1e-3 })
        // Without the encoder a text model still scores users with a positive history.
        var given = try GATKind.params(of: e).values
        given["model"] = "not-there"  // the loader finds no such model: no encoder
        let loaded = try load(e, given)
        #expect(loaded.unscorableReason(byText) != nil)
        #expect(loaded.unscorableReason(UserQuery(history: [HistoryEntry(item: 1, rating: 5, timestamp: 0)])) == nil)
    }
}

/// `e` through its tensors and the given manifest params, as a bundle loads it (models from
/// the test models folder).
func load(_ e: GATEngine, _ given: [String: String]) throws -> GATEngine {
    let file = try SafetensorsFile(data: e.tensors().serialized())
    let params = try GATKind.params(given, code: .dataLoss)
    let context = LoadContext(catalog: e.catalog, users: e.users, modelsDir: TestModels.modelsDir)
    return try #require(
        try GATKind.load(
            file, entry: .init(name: "gat", kind: "gat", file: "", params: given), params: params,
            context: context) as? GATEngine)
}
