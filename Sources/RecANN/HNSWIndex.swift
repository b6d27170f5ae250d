import CHNSW
import Foundation
import RecCore

/// An HNSW index (hnswlib, Malkov & Yashunin 2016) for maximum-inner-product search over a
/// `DotProductEngine`'s items. The bias is one more coordinate:
///
///     w_i = [v_i, b_i],   q = [x, 1],   ⟨q, w_i⟩ = ⟨x, v_i⟩ + b_i
///
/// Searches always rank by that inner product; the graph's links are chosen one of two ways
/// (`Graph`), because neither works on every engine's vectors (measured at 300k items,
/// docs/scale.md):
///
/// - `.innerProduct` (ip-NSW: Morozov & Babenko, NeurIPS 2018): links by inner product. Right
///   for factors spread round the origin (SVD, SVD++): recall@100 0.95 there, against 0.39 for
///   an L2 graph.
/// - `.centredL2`: links by L2 distance between the centred rows `[v_i − μ, b_i]`, μ the mean
///   item vector. Right when every item shares one big common component (the GAT's states:
///   ‖μ‖² is 99.9 % of the mean ‖v‖²), where an inner-product graph degenerates into a few
///   high-norm hubs and stops at ~0.88 whatever the breadth; the centred L2 graph reaches
///   0.98. Centring moves every score of one query by the same ⟨x, μ⟩, so the ranking is
///   unchanged and μ need not be kept.
///
/// Mapping the items onto the unit sphere (Bachrach et al., RecSys 2014) was measured too and
/// is not offered: 0.40 on SVD++ factors, no better than the centred L2 graph on the GAT's.
///
/// The index only proposes items; the pipeline re-scores them with the engine, so the scores
/// in a reply are exact and bit-identical with Rank's.
///
/// Thread-safe for searches; `ef` is set once, before serving.
public final class HNSWIndex: ApproximateIndex, @unchecked Sendable {
    /// How the graph's links are chosen (searches rank by inner product either way).
    public enum Graph: String, Sendable, Equatable, CaseIterable {
        case innerProduct = "ip"
        case centredL2 = "l2-centred"

        /// The graph for these item vectors: `.centredL2` when the mean vector carries at least
        /// half of the items' mean squared norm (a common component the inner-product graph
        /// cannot see past), `.innerProduct` otherwise.
        public static func preferred(vectors: [Float], dimension: Int) -> Graph {
            commonComponentShare(vectors: vectors, dimension: dimension) >= 0.5 ? .centredL2 : .innerProduct
        }

        /// ‖μ‖² / mean ‖v_i‖², in [0, 1] (0 for an empty or all-zero set).
        public static func commonComponentShare(vectors: [Float], dimension: Int) -> Double {
            guard dimension > 0, vectors.count >= dimension else { return 0 }
            let n = vectors.count / dimension
            let mean = HNSWIndex.mean(vectors, dimension: dimension)
            var norms = 0.0
            for x in vectors { norms += Double(x) * Double(x) }
            let meanNorm = norms / Double(n)
            guard meanNorm > 0 else { return 0 }
            return mean.reduce(0) { $0 + $1 * $1 } / meanNorm
        }
    }

    public struct Params: Sendable, Equatable {
        public var graph = Graph.innerProduct
        /// Links per node (hnswlib's M).
        public var m = 32
        /// Breadth of the insertion search.
        public var efConstruction = 200
        /// Breadth of every query's search (at least k).
        public var efSearch = 512
        public var seed: UInt64 = 100
        public init(
            graph: Graph = .innerProduct, m: Int = 32, efConstruction: Int = 200, efSearch: Int = 512,
            seed: UInt64 = 100
        ) {
            self.graph = graph
            self.m = m
            self.efConstruction = efConstruction
            self.efSearch = efSearch
            self.seed = seed
        }
    }

    private let handle: OpaquePointer
    /// Width of the engine's vectors (the index's rows are one or two wider).
    public let dimension: Int
    public let hasBias: Bool
    public let count: Int
    public let params: Params
    public var path: String { "hnsw" }
    public var searchBreadth: Int { params.efSearch }
    public var summary: String {
        "hnsw: \(count) items, \(params.graph.rawValue) graph, M \(params.m), "
            + "ef_construction \(params.efConstruction), ef_search \(params.efSearch), "
            + "\(memoryBytes >> 20) MB"
    }
    /// Bytes the index holds.
    public var memoryBytes: Int { rec_hnsw_memory_bytes(handle) }

    /// Builds over `vectors` (`count × dimension`, row-major) and `biases` (empty or `count`),
    /// inserting on `threads` threads.
    public convenience init(
        vectors: [Float], biases: [Float], dimension: Int, params: Params = Params(),
        threads: Int = Parallel.activeCores
    ) throws {
        guard dimension > 0, !vectors.isEmpty, vectors.count % dimension == 0 else {
            throw RecError.invalidArgument("an HNSW index needs count × \(dimension) floats, got \(vectors.count)")
        }
        let n = vectors.count / dimension
        guard biases.isEmpty || biases.count == n else {
            throw RecError.invalidArgument("\(biases.count) biases for \(n) item vectors")
        }
        guard n < Int(Int32.max) else { throw RecError.resourceExhausted("\(n) items exceed an index's labels") }
        guard vectors.allSatisfy(\.isFinite), biases.allSatisfy(\.isFinite) else {
            throw RecError.invalidArgument("item vectors hold a NaN or an infinity; no index can be built")
        }
        let hasBias = !biases.isEmpty
        let width = dimension + (hasBias ? 1 : 0)
        let centre = params.graph == .centredL2
        var rows: [Float]
        if hasBias || centre {
            let mu = centre ? Self.mean(vectors, dimension: dimension).map { Float($0) } : []
            rows = [Float](repeating: 0, count: n * width)
            for i in 0..<n {
                for k in 0..<dimension {
                    rows[i * width + k] = vectors[i * dimension + k] - (centre ? mu[k] : 0)
                }
                if hasBias { rows[i * width + dimension] = biases[i] }
            }
        } else {
            rows = vectors
        }
        var error = [CChar](repeating: 0, count: 256)
        guard
            let h = rec_hnsw_build(
                rows, n, width, params.m, params.efConstruction, params.seed, Int32(max(1, threads)),
                centre ? 1 : 0, &error, error.count)
        else {
            throw RecError.internal("hnsw build failed: \(Self.message(error))")
        }
        self.init(handle: h, dimension: dimension, hasBias: hasBias, count: n, params: params)
    }

    /// Reads an index `save` wrote, for an engine of `dimension`-wide vectors over `count` items.
    public convenience init(contentsOf url: URL, dimension: Int, hasBias: Bool, count: Int, params: Params) throws {
        var error = [CChar](repeating: 0, count: 256)
        guard let h = rec_hnsw_load(url.path, dimension + (hasBias ? 1 : 0), &error, error.count) else {
            throw RecError.dataLoss("\(url.path): not a readable HNSW index (\(Self.message(error)))")
        }
        guard rec_hnsw_count(h) == count else {
            let got = rec_hnsw_count(h)
            rec_hnsw_free(h)
            throw RecError.dataLoss("\(url.path): the index holds \(got) items, the catalogue \(count)")
        }
        self.init(handle: h, dimension: dimension, hasBias: hasBias, count: count, params: params)
    }

    /// Takes ownership of `handle` and sets its search breadth.
    private init(handle: OpaquePointer, dimension: Int, hasBias: Bool, count: Int, params: Params) {
        self.handle = handle
        self.dimension = dimension
        self.hasBias = hasBias
        self.count = count
        self.params = params
        rec_hnsw_set_ef(handle, params.efSearch)
    }

    deinit { rec_hnsw_free(handle) }

    /// The mean of `count × dimension` row-major vectors, summed in Double.
    static func mean(_ vectors: [Float], dimension: Int) -> [Double] {
        let n = vectors.count / dimension
        var mu = [Double](repeating: 0, count: dimension)
        guard n > 0 else { return mu }
        for i in 0..<n {
            for k in 0..<dimension { mu[k] += Double(vectors[i * dimension + k]) }
        }
        return mu.map { $0 / Double(n) }
    }

    /// The NUL-terminated message a `rec_hnsw_*` call wrote.
    private static func message(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func save(to url: URL) throws {
        var error = [CChar](repeating: 0, count: 256)
        guard rec_hnsw_save(handle, url.path, &error, error.count) == 0 else {
            throw RecError.unavailable("cannot write the HNSW index to \(url.path): \(Self.message(error))")
        }
    }

    public func search(_ x: [Float], k: Int) -> [Int32] {
        precondition(x.count == dimension, "hnsw search: query has \(x.count) floats, the index \(dimension)")
        guard k > 0 else { return [] }
        var q = x
        if hasBias { q.append(1) }
        let want = min(k, count)
        var labels = [Int32](repeating: 0, count: want)
        let n = labels.withUnsafeMutableBufferPointer { rec_hnsw_search(handle, q, want, $0.baseAddress!) }
        guard n > 0 else { return [] }
        labels.removeLast(want - n)
        return labels.filter { $0 >= 0 && Int($0) < count }
    }
}
