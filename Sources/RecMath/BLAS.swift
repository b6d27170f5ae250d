import CBLAS

/// A dense row-major `Float` matrix. Value semantics; the storage is one contiguous array
/// so it can go straight to BLAS and to safetensors.
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    public var data: [Float]

    public init(rows: Int, cols: Int, data: [Float]) {
        precondition(data.count == rows * cols, "matrix data has \(data.count) values, expected \(rows)x\(cols)")
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    public init(rows: Int, cols: Int, repeating v: Float = 0) {
        self.init(rows: rows, cols: cols, data: [Float](repeating: v, count: rows * cols))
    }

    public subscript(r: Int, c: Int) -> Float {
        get { data[r * cols + c] }
        set { data[r * cols + c] = newValue }
    }
}

/// Thin, checked wrappers over OpenBLAS (cblas). Thread-safe: OpenBLAS routines are
/// re-entrant; the library's own thread pool is shared by all callers.
public enum BLAS {
    /// y = A x (A is rows x cols, x has cols entries).
    public static func gemv(_ a: Matrix, _ x: [Float]) -> [Float] {
        precondition(x.count == a.cols, "gemv: x has \(x.count) entries, matrix has \(a.cols) columns")
        var y = [Float](repeating: 0, count: a.rows)
        guard a.rows > 0, a.cols > 0 else { return y }
        a.data.withUnsafeBufferPointer { ap in
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(a.rows), Int32(a.cols), 1,
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
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                c.data.withUnsafeMutableBufferPointer { cp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(a.rows), Int32(b.cols), Int32(a.cols),
                                1, ap.baseAddress, Int32(a.cols), bp.baseAddress, Int32(b.cols), 0, cp.baseAddress, Int32(b.cols))
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
