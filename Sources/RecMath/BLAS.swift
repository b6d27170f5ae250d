import CBLAS
import CRecKernels
import Foundation

/// A dense row-major `Float` matrix. Value semantics; the storage is one contiguous block
/// so it can go straight to BLAS and to safetensors: an array of its own, or read-only memory
/// it borrows (a bundle tensor in its memory-mapped file), copied into an array of its own on
/// the first write.
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    /// The values when the matrix owns them; empty while it borrows.
    private var owned: [Float]
    /// Read-only values kept alive by someone else (a memory-mapped bundle tensor).
    private var borrowed: BorrowedFloats?

    public init(rows: Int, cols: Int, data: [Float]) {
        precondition(data.count == rows * cols, "matrix data has \(data.count) values, expected \(rows)x\(cols)")
        self.rows = rows
        self.cols = cols
        self.owned = data
        self.borrowed = nil
    }

    public init(rows: Int, cols: Int, repeating v: Float = 0) {
        self.init(rows: rows, cols: cols, data: [Float](repeating: v, count: rows * cols))
    }

    /// A matrix over `values` without copying them: `owner` keeps the memory alive and
    /// unchanged for as long as any copy of this matrix lives. How a bundle's tensors are
    /// served straight from their memory-mapped file. The first write copies the values into
    /// memory of the matrix's own.
    public init(rows: Int, cols: Int, borrowing values: UnsafeBufferPointer<Float>, owner: AnyObject & Sendable) {
        precondition(values.count == rows * cols, "matrix data has \(values.count) values, expected \(rows)x\(cols)")
        self.rows = rows
        self.cols = cols
        self.owned = []
        self.borrowed = BorrowedFloats(buffer: values, owner: owner)
    }

    /// True while the values live in someone else's memory (nothing copied).
    public var isBorrowed: Bool { borrowed != nil }

    /// The values as an array. Reading a borrowed matrix's `data` copies all of it; the
    /// serving paths read through `withUnsafeBufferPointer` or `row(_:)` instead. Writing
    /// makes the matrix own its values first.
    public var data: [Float] {
        get { borrowed.map { Array($0.buffer) } ?? owned }
        _modify {
            if let b = borrowed {
                owned = Array(b.buffer)
                borrowed = nil
            }
            yield &owned
        }
        set {
            precondition(newValue.count == rows * cols, "matrix data has \(newValue.count) values")
            borrowed = nil
            owned = newValue
        }
    }

    /// Calls `body` with the values in place, owned or borrowed, without copying.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if let b = borrowed { return try body(b.buffer) }
        return try owned.withUnsafeBufferPointer(body)
    }

    /// Row `r`, copied. A matrix without columns has an empty row at every index (a model
    /// without that input).
    public func row(_ r: Int) -> [Float] {
        if cols == 0 { return [] }
        precondition(r >= 0 && r < rows, "row \(r) of \(rows)")
        return withUnsafeBufferPointer { Array($0[(r * cols)..<(r * cols + cols)]) }
    }

    /// Row `r`'s values in place, for the duration of `body`.
    public func withRow<R>(_ r: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if cols == 0 { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        precondition(r >= 0 && r < rows, "row \(r) of \(rows)")
        return try withUnsafeBufferPointer {
            try body(UnsafeBufferPointer(rebasing: $0[(r * cols)..<(r * cols + cols)]))
        }
    }

    /// Rows `range` as a matrix of their own: a view of the same memory when borrowed (no
    /// copy), a copy when owned.
    public func rows(_ range: Range<Int>) -> Matrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of \(rows)")
        if let b = borrowed {
            return Matrix(
                rows: range.count, cols: cols,
                borrowing: UnsafeBufferPointer(
                    rebasing: b.buffer[(range.lowerBound * cols)..<(range.upperBound * cols)]),
                owner: b.owner)
        }
        return Matrix(
            rows: range.count, cols: cols, data: Array(owned[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    public subscript(r: Int, c: Int) -> Float {
        get { withUnsafeBufferPointer { $0[r * cols + c] } }
        set { data[r * cols + c] = newValue }
    }

    public static func == (a: Matrix, b: Matrix) -> Bool {
        a.rows == b.rows && a.cols == b.cols
            && a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.elementsEqual(y) } }
    }

    /// The unit-length direction of the sum of every row plus `extra` (another row-sized
    /// vector, e.g. a stored profile embedding): how several text embeddings are blended into
    /// one query. All zeros stay zeros.
    public func normalisedRowSum(plus extra: ArraySlice<Float>? = nil) -> [Float] {
        var v = [Float](repeating: 0, count: cols)
        withUnsafeBufferPointer { d in for r in 0..<rows { for c in 0..<cols { v[c] += d[r * cols + c] } } }
        if let extra { for (c, x) in zip(0..<cols, extra) { v[c] += x } }
        let norm = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }
}

/// Floats in memory someone else owns and keeps unchanged while `owner` lives.
struct BorrowedFloats: @unchecked Sendable {
    // @unchecked: the memory is read-only for the owner's whole life, and the owner is Sendable.
    let buffer: UnsafeBufferPointer<Float>
    let owner: AnyObject & Sendable
}

/// Thin, checked wrappers over OpenBLAS (cblas). Thread-safe: OpenBLAS routines are
/// re-entrant; the library's own thread pool is shared by all callers.
public enum BLAS {
    /// The OpenBLAS kernel set in use, for a log line, with what OpenBLAS had chosen itself
    /// when recfuse replaced its SSE3 fallback for a processor it does not know (`blas_tune.c`).
    public static var kernelsDescription: String {
        let core = String(cString: rec_blas_core())
        guard let from = rec_blas_retuned_from().map({ String(cString: $0) }) else {
            return "OpenBLAS kernels: \(core)"
        }
        return "OpenBLAS kernels: \(core) (OpenBLAS chose \(from), its fallback for a processor it does not know; "
            + "OPENBLAS_CORETYPE overrides)"
    }

    /// y = A x (A is rows × cols, x has cols entries), or y = Aᵀ x when `transpose` (x has rows entries).
    public static func gemv(_ a: Matrix, _ x: [Float], transpose: Bool = false) -> [Float] {
        let (inputs, outputs) = transpose ? (a.rows, a.cols) : (a.cols, a.rows)
        precondition(
            x.count == inputs,
            "gemv: x has \(x.count) entries, the \(transpose ? "transposed " : "")matrix takes \(inputs)")
        var y = [Float](repeating: 0, count: outputs)
        guard a.rows > 0, a.cols > 0 else { return y }
        a.withUnsafeBufferPointer { ap in
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    cblas_sgemv(
                        CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(a.rows), Int32(a.cols), 1,
                        ap.baseAddress, Int32(a.cols), xp.baseAddress, 1, 0, yp.baseAddress, 1)
                }
            }
        }
        return y
    }

    /// C = A B.
    public static func gemm(_ a: Matrix, _ b: Matrix) -> Matrix {
        precondition(a.cols == b.rows, "gemm: \(a.rows)x\(a.cols) times \(b.rows)x\(b.cols)")
        var c = Matrix(rows: a.rows, cols: b.cols)
        guard a.rows > 0, b.cols > 0, a.cols > 0 else { return c }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.data.withUnsafeMutableBufferPointer { cp in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(a.rows), Int32(b.cols), Int32(a.cols),
                        1, ap.baseAddress, Int32(a.cols), bp.baseAddress, Int32(b.cols), 0, cp.baseAddress,
                        Int32(b.cols))
                }
            }
        }
        return c
    }

    /// x · y.
    public static func dot(_ x: [Float], _ y: [Float]) -> Float {
        precondition(x.count == y.count, "dot: \(x.count) vs \(y.count) entries")
        return x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in cblas_sdot(Int32(x.count), xp.baseAddress, 1, yp.baseAddress, 1) }
        }
    }

    /// y += alpha x.
    public static func axpy(_ alpha: Float, _ x: UnsafeBufferPointer<Float>, _ y: inout [Float]) {
        precondition(x.count == y.count, "axpy: \(x.count) vs \(y.count) entries")
        y.withUnsafeMutableBufferPointer { yp in
            cblas_saxpy(Int32(x.count), alpha, x.baseAddress, 1, yp.baseAddress, 1)
        }
    }
}

/// LAPACK (OpenBLAS's LAPACKE) solvers.
public enum LAPACK {
    /// Inverse of a symmetric positive-definite n×n matrix (row-major, Double) via Cholesky
    /// (dpotrf + dpotri); both triangles of the result are filled. Throws if `a` is not
    /// positive definite, with LAPACK's info code.
    public static func inverseSPD(_ a: [Double], n: Int) throws -> [Double] {
        precondition(a.count == n * n, "inverseSPD: \(a.count) values for \(n)x\(n)")
        var m = a
        try invertSPDInPlace(&m, n: n)
        return m
    }

    /// `inverseSPD` without the copy: `a` (n×n, row-major, symmetric positive definite) is
    /// replaced by its inverse, both triangles filled.
    public static func invertSPDInPlace(_ a: inout [Double], n: Int) throws {
        precondition(a.count == n * n, "invertSPDInPlace: \(a.count) values for \(n)x\(n)")
        let info1 = a.withUnsafeMutableBufferPointer {
            LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), $0.baseAddress, Int32(n))
        }
        guard info1 == 0 else { throw LAPACKError(routine: "dpotrf", info: Int(info1)) }
        let info2 = a.withUnsafeMutableBufferPointer {
            LAPACKE_dpotri(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), $0.baseAddress, Int32(n))
        }
        guard info2 == 0 else { throw LAPACKError(routine: "dpotri", info: Int(info2)) }
        for i in 0..<n { for j in 0..<i { a[i * n + j] = a[j * n + i] } }  // mirror the upper triangle
    }

    /// C = Aᵀ A for a row-major rows×cols Double matrix (BLAS dsyrk), full symmetric result.
    public static func gram(_ a: [Double], rows: Int, cols: Int) -> [Double] {
        precondition(a.count == rows * cols)
        var c = [Double](repeating: 0, count: cols * cols)
        a.withUnsafeBufferPointer { ap in
            c.withUnsafeMutableBufferPointer { cp in
                cblas_dsyrk(
                    CblasRowMajor, CblasUpper, CblasTrans, Int32(cols), Int32(rows), 1, ap.baseAddress, Int32(cols), 0,
                    cp.baseAddress, Int32(cols))
            }
        }
        for i in 0..<cols { for j in 0..<i { c[i * cols + j] = c[j * cols + i] } }
        return c
    }
}

public struct LAPACKError: Error, CustomStringConvertible {
    public var routine: String
    public var info: Int
    public var description: String {
        info > 0
            ? "\(routine): the matrix is not positive definite (leading minor \(info))"
            : "\(routine): argument \(-info) is invalid"
    }
}

extension BLAS {
    public enum Transpose: Sendable { case none, transpose }

    /// C = alpha · op(A) · op(B) + beta · C on raw row-major buffers, with leading dimensions,
    /// so callers can multiply sub-blocks in place (one attention head's columns, say).
    /// op(A) is m×k, op(B) is k×n, C is m×n. The pointers must be valid for the sizes given.
    @inline(__always)
    public static func sgemm(
        _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0, k > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, ta == .none ? CblasNoTrans : CblasTrans, tb == .none ? CblasNoTrans : CblasTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// OpenBLAS's own thread count (it parallelises large products by itself).
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Sets OpenBLAS's process-wide thread count (the server sets it once at start-up).
    public static func setThreads(_ n: Int) {
        threadLock.lock()
        defer { threadLock.unlock() }
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// Runs `body` with OpenBLAS limited to `n` threads, for callers that parallelise over
    /// independent products themselves. The setting is process-wide, so concurrent callers
    /// are serialised by a lock and the previous count is restored afterwards.
    public static func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        threadLock.lock()
        defer { threadLock.unlock() }
        let before = openblas_get_num_threads()
        openblas_set_num_threads(Int32(n))
        defer { openblas_set_num_threads(before) }
        return try body()
    }

    private static let threadLock = NSLock()
}
