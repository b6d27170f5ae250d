import CHNSW
import Foundation
import RecCore

/// An HNSW index (hnswlib, Malkov & Yashunin 2016) for maximum-inner-product search over a
/// `DotProductEngine`'s items, searched on the raw inner products (ip-NSW: Morozov & Babenko,
/// *Non-metric similarity graphs for maximum inner product search*, NeurIPS 2018). The bias is
/// one more coordinate:
///
///     w_i = [v_i, b_i],   q = [x, 1],   ⟨q, w_i⟩ = ⟨x, v_i⟩ + b_i
///
/// Mapping the items onto the unit sphere first (Bachrach et al., RecSys 2014) makes the
/// space metric but, measured on SVD++ factors of a 300k-item catalogue, cut recall@100 from
/// 0.87 to 0.40 at the same breadth (docs/scale.md): the items of small norm crowd round one
/// pole, where the graph cannot tell them apart.
///
/// The index only proposes items; the pipeline re-scores them with the engine, so the scores
/// in a reply are exact and bit-identical with Rank's.
///
/// Thread-safe for searches; `ef` is set once, before serving.
public final class HNSWIndex: ApproximateIndex, @unchecked Sendable {
    public struct Params: Sendable, Equatable {
        /// Links per node (hnswlib's M).
        public var m = 32
        /// Breadth of the insertion search.
        public var efConstruction = 200
        /// Breadth of every query's search (at least k).
        public var efSearch = 512
        public var seed: UInt64 = 100
        public init(m: Int = 32, efConstruction: Int = 200, efSearch: Int = 512, seed: UInt64 = 100) {
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
        "hnsw: \(count) items, M \(params.m), ef_construction \(params.efConstruction), ef_search \(params.efSearch), "
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
        var rows: [Float]
        if hasBias {
            rows = [Float](repeating: 0, count: n * width)
            for i in 0..<n {
                for k in 0..<dimension { rows[i * width + k] = vectors[i * dimension + k] }
                rows[i * width + dimension] = biases[i]
            }
        } else {
            rows = vectors
        }
        var error = [CChar](repeating: 0, count: 256)
        guard
            let h = rec_hnsw_build(
                rows, n, width, params.m, params.efConstruction, params.seed, Int32(max(1, threads)), &error,
                error.count)
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
