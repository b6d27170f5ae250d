import Foundation
import RecCore
import RecData
import RecEngineKit
import RecMath

/// EASE (Steck, *Embarrassingly Shallow Autoencoders for Sparse Data*, WWW 2019): a
/// closed-form item–item model.
///
///     G = XᵀX + λI,  P = G⁻¹,  B_ij = −P_ij / P_jj  (i ≠ j),  B_jj = 0
///     score(u, i) = Σ_{j ∈ H(u)} B_ji
///
/// X is the binary user×item matrix of the training interactions (rating ≥ `minRating`).
/// G is inverted in double precision with LAPACK's Cholesky (dpotrf/dpotri); B is kept as
/// Float, dense items×items (11 MB for ml-100k; 380 MB for a 10k-item catalogue, so this
/// engine suits catalogues up to a few thousand items).
///
/// Hyper-parameters: `lambda` (L2 weight, default 500, Steck's value for ML-20M),
/// `minRating` (default 0 = every interaction is a positive). Cold start: a user with an
/// inline history is scored directly (no user parameters); with no history the pipeline
/// falls back to popularity. Thread-safe (immutable).
public final class EASEEngine: Engine {
    public let name: String
    public let lambda: Double
    public let minRating: Float
    /// items × items, row j = the weights item j gives every item.
    public let b: Matrix
    public var itemCount: Int { b.rows }
    public var summary: String { "EASE (Steck 2019), closed-form item-item, lambda \(lambda)" }

    public init(name: String = "ease", lambda: Double, minRating: Float, b: Matrix) {
        self.name = name
        self.lambda = lambda
        self.minRating = minRating
        self.b = b
    }

    /// Bytes training holds at its peak for `items` items: G and its inverse in place (8 bytes
    /// per item pair) plus B (4): 12 · items². Serving holds B, 4 · items².
    public static func trainingBytes(items n: Int) -> Double { 12 * Double(n) * Double(n) }

    /// `maxMemoryBytes`: training refuses, before allocating anything, a catalogue whose
    /// items × items matrices would need more (nil: no limit).
    public static func fit(
        _ d: Dataset, name: String = "ease", lambda: Double = 500, minRating: Float = 0,
        maxMemoryBytes: Double? = nil
    ) throws -> EASEEngine {
        let n = d.items.count
        let need = trainingBytes(items: n)
        if let maxMemoryBytes, need > maxMemoryBytes {
            throw RecError.resourceExhausted(
                "ease: \(n) items need dense items x items matrices: \(Self.format(bytes: need)) to train "
                    + "(12 bytes per item pair) and \(Self.format(bytes: need / 3)) to serve, over the limit of "
                    + "\(Self.format(bytes: maxMemoryBytes)) (--ease-max-memory-mb); for a catalogue this size use "
                    + "rp3beta or cooccurrence (sparse top-k neighbours)")
        }
        // G = XᵀX from each user's item set (integer counts, exact in Double: the same G the dense
        // product gives), so nothing users × items is ever allocated.
        var g = [Double](repeating: 0, count: n * n)
        let h = d.userHistories()
        for u in 0..<d.users.count {
            let r = h.range(of: Int32(u))
            let items = Array(Set(r.filter { h.ratings[$0] >= minRating }.map { Int(h.items[$0]) })).sorted()
            for (a, i) in items.enumerated() {
                g[i * n + i] += 1
                for j in items[(a + 1)...] {
                    g[i * n + j] += 1
                    g[j * n + i] += 1
                }
            }
        }
        for i in 0..<n { g[i * n + i] += lambda }
        do { try LAPACK.invertSPDInPlace(&g, n: n) } catch {
            throw RecError.wrapping(error, "EASE: cannot invert XᵀX + \(lambda)·I: ")
        }
        let p = g
        var out = [Float](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n where i != j { out[i * n + j] = Float(-p[i * n + j] / p[j * n + j]) }
        }
        return EASEEngine(name: name, lambda: lambda, minRating: minRating, b: Matrix(rows: n, cols: n, data: out))
    }

    static func format(bytes b: Double) -> String {
        b >= 1e12
            ? String(format: "%.1f TB", b / 1e12)
            : b >= 1e9 ? String(format: "%.1f GB", b / 1e9) : String(format: "%.0f MB", b / 1e6)
    }

    public func unscorableReason(_ query: UserQuery) -> String? {
        query.history.isEmpty ? "no history (unknown user and no inline items)" : nil
    }

    /// Retrieve adds the history items' rows of B; Rank sums only its candidates' columns,
    /// O(history · candidates), in the same order (so the same bits: saxpy with alpha 1 rounds
    /// each sum once, as a scalar add does).
    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        let n = itemCount
        let minRating = self.minRating
        let rows = query.history.filter { $0.rating == 0 || $0.rating >= minRating }.map { Int($0.item) * n }
        return b.withUnsafeBufferPointer { bp in
            guard let items else {
                var s = [Float](repeating: 0, count: n)
                for r in rows { BLAS.axpy(1, UnsafeBufferPointer(rebasing: bp[r..<(r + n)]), &s) }
                return s
            }
            return items.map { i in
                var s: Float = 0
                for r in rows { s += bp[r + Int(i)] }
                return s
            }
        }
    }

    public func tensors() -> SafetensorsWriter {
        var t = SafetensorsWriter()
        t.add("b", b.data, shape: [b.rows, b.cols])
        return t
    }
}

/// `ease`: closed-form item-item (dense; for catalogues up to a few thousand items).
public enum EASEKind: EngineKind {
    public static let name = "ease"
    public static let summary = "EASE (Steck 2019): closed-form item-item weights, dense items x items"
    public static let parameters: [ParamSpec] = [
        .double(
            "lambda", 500, in: 1e-6...(.greatestFiniteMagnitude),
            "L2 weight on the item-item matrix"),
        .float("min_rating", 0, "interactions rated below this are not positives (0 = every interaction is)"),
        .int(
            "max_memory_mb", 0,
            "training refuses a catalogue whose items x items matrices need more (12 bytes per item pair); "
                + "0 = half the machine's memory"),
    ]

    public static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine {
        let mb = try params.int("max_memory_mb")
        let limit = mb > 0 ? Double(mb) * 1e6 : Double(ProcessInfo.processInfo.physicalMemory) / 2
        let e = try EASEEngine.fit(
            dataset, lambda: try params.double("lambda"), minRating: try params.float("min_rating"),
            maxMemoryBytes: limit)
        return FittedEngine(engine: e, tensors: e.tensors(), params: params)
    }

    public static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine {
        let n = context.catalog.count
        return EASEEngine(
            name: entry.name, lambda: try params.double("lambda"), minRating: try params.float("min_rating"),
            b: try file.matrix("b", rows: n, cols: n))
    }
}
