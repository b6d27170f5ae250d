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

    public static func fit(
        _ d: Dataset, name: String = "ease", lambda: Double = 500, minRating: Float = 0
    ) throws -> EASEEngine {
        let nU = d.users.count, n = d.items.count
        var x = [Double](repeating: 0, count: nU * n)
        for r in d.interactions where r.rating >= minRating { x[Int(r.user) * n + Int(r.item)] = 1 }
        var g = LAPACK.gram(x, rows: nU, cols: n)
        for i in 0..<n { g[i * n + i] += lambda }
        let p: [Double]
        do { p = try LAPACK.inverseSPD(g, n: n) } catch {
            throw RecError.wrapping(error, "EASE: cannot invert XᵀX + \(lambda)·I: ")
        }
        var out = [Float](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n where i != j { out[i * n + j] = Float(-p[i * n + j] / p[j * n + j]) }
        }
        return EASEEngine(name: name, lambda: lambda, minRating: minRating, b: Matrix(rows: n, cols: n, data: out))
    }

    public func unscorableReason(_ query: UserQuery) -> String? {
        query.history.isEmpty ? "no history (unknown user and no inline items)" : nil
    }

    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        let n = itemCount
        var s = [Float](repeating: 0, count: n)
        b.data.withUnsafeBufferPointer { bp in
            for h in query.history where h.rating == 0 || h.rating >= minRating {
                BLAS.axpy(1, UnsafeBufferPointer(rebasing: bp[(Int(h.item) * n)..<(Int(h.item) * n + n)]), &s)
            }
        }
        return gather(s, items)
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
    ]

    public static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine {
        let e = try EASEEngine.fit(
            dataset, lambda: try params.double("lambda"), minRating: try params.float("min_rating"))
        return FittedEngine(engine: e, tensors: e.tensors(), params: params)
    }

    public static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine {
        let n = context.catalog.count
        return EASEEngine(
            name: entry.name, lambda: try params.double("lambda"), minRating: try params.float("min_rating"),
            b: Matrix(rows: n, cols: n, data: try file.floats("b", shape: [n, n])))
    }
}
