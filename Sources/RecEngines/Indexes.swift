import Foundation
import RecANN
import RecCore
import RecData

/// Approximate Retrieve indexes in bundles: which engines get one at train time, and reading
/// them back at load.
public enum Indexes {
    /// What `train` builds.
    public struct Options: Sendable, Equatable {
        /// Catalogue size from which every dot-product engine gets an HNSW index (0: always;
        /// `Int.max`: never).
        public var minItems: Int = 100_000
        /// Everything but the graph, which `graph` sets.
        public var hnsw = HNSWIndex.Params()
        /// The graph every index gets; nil picks per engine (`HNSWIndex.Graph.preferred`).
        public var graph: HNSWIndex.Graph?
        public init(minItems: Int = 100_000, hnsw: HNSWIndex.Params = HNSWIndex.Params(), graph: HNSWIndex.Graph? = nil)
        {
            self.minItems = minItems
            self.hnsw = hnsw
            self.graph = graph
        }
    }

    /// Builds `engine`'s index when `options` say it should have one; nil otherwise.
    static func build(
        _ engine: any Engine, options: Options, log: (String) -> Void
    ) throws -> (index: HNSWIndex, seconds: Double)? {
        guard let dot = engine as? any DotProductEngine, engine.itemCount >= max(1, options.minItems) else {
            return nil
        }
        let t0 = ContinuousClock.now
        var params = options.hnsw
        params.graph =
            options.graph ?? HNSWIndex.Graph.preferred(vectors: dot.itemVectorData, dimension: dot.vectorDimension)
        let index = try HNSWIndex(
            vectors: dot.itemVectorData, biases: dot.itemBiases, dimension: dot.vectorDimension, params: params)
        let secs = (ContinuousClock.now - t0).seconds
        log("built \(engine.name)'s \(index.summary) in \(String(format: "%.2f", secs)) s")
        return (index, secs)
    }

    static func entry(_ index: HNSWIndex, file: String, seconds: Double) -> BundleManifest.IndexEntry {
        BundleManifest.IndexEntry(
            kind: "hnsw", file: file,
            params: [
                "graph": index.params.graph.rawValue, "m": String(index.params.m),
                "ef_construction": String(index.params.efConstruction),
                "ef_search": String(index.params.efSearch), "seed": String(index.params.seed),
                "dimension": String(index.dimension), "bias": String(index.hasBias),
            ], buildSeconds: seconds)
    }

    /// Reads `entry`'s index for `engine`; `efSearch` > 0 overrides the recorded breadth.
    static func load(
        _ entry: BundleManifest.IndexEntry, root: URL, engine: any Engine, efSearch: Int
    ) throws -> HNSWIndex {
        let where_ = "\(root.path)/manifest.json, index of \(engine.name)"
        guard entry.kind == "hnsw" else {
            throw RecError.dataLoss("\(where_): index kind '\(entry.kind)', this build reads hnsw")
        }
        guard let dot = engine as? any DotProductEngine else {
            throw RecError.dataLoss("\(where_): \(engine.name) is not a dot-product engine")
        }
        func int(_ key: String) throws -> Int {
            guard let s = entry.params[key], let v = Int(s), v > 0 else {
                throw RecError.dataLoss("\(where_): parameter \(key) is missing or not a positive integer")
            }
            return v
        }
        let dimension = try int("dimension")
        let bias = entry.params["bias"] == "true"
        guard dimension == dot.vectorDimension, bias == !dot.itemBiases.isEmpty else {
            throw RecError.dataLoss(
                "\(where_): built for \(dimension)-wide vectors (bias \(bias)), the engine has "
                    + "\(dot.vectorDimension) (bias \(!dot.itemBiases.isEmpty))")
        }
        // Bundles from before the choice existed hold inner-product graphs.
        let graphName = entry.params["graph"] ?? HNSWIndex.Graph.innerProduct.rawValue
        guard let graph = HNSWIndex.Graph(rawValue: graphName) else {
            throw RecError.dataLoss("\(where_): graph '\(graphName)', this build reads ip or l2-centred")
        }
        let params = HNSWIndex.Params(
            graph: graph, m: try int("m"), efConstruction: try int("ef_construction"),
            efSearch: efSearch > 0 ? efSearch : try int("ef_search"), seed: UInt64(entry.params["seed"] ?? "") ?? 0)
        return try HNSWIndex(
            contentsOf: root.appendingPathComponent(entry.file), dimension: dimension, hasBias: bias,
            count: engine.itemCount, params: params)
    }
}

/// The HNSW parameters `train` uses unless told otherwise.
public enum HNSWDefaults {
    public static let m = HNSWIndex.Params().m
    public static let efConstruction = HNSWIndex.Params().efConstruction
    public static let efSearch = HNSWIndex.Params().efSearch
}
