import RecCore
import RecData
import RecMath

/// An engine that scores by the dot product of a user vector with the rows of one item
/// embedding table and no per-item term (the GAT, the text engine): its inner-product view
/// for approximate Retrieve, given the table.
public protocol ItemEmbeddingEngine: DotProductEngine {
    /// items × width.
    var itemEmbeddings: Matrix { get }
}

extension ItemEmbeddingEngine {
    public var vectorDimension: Int { itemEmbeddings.cols }
    public var itemVectorData: [Float] { itemEmbeddings.data }
    public func withItemVectors<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try itemEmbeddings.withUnsafeBufferPointer(body)
    }
    public var itemBiases: [Float] { [] }

    /// One fixed-order dot product per item: the bits `score` gives.
    public func scores(_ user: UserVector, items: [Int32]) -> [Float] {
        Kernels.rowDots(itemEmbeddings, user.x, rows: items)
    }
}

extension SafetensorsFile {
    /// An F32 tensor as a `rows × cols` matrix served from the file's mapped pages: nothing
    /// is copied (the pages are shared with the page cache and with any other process
    /// mapping the same bundle), every value is checked finite (unless the engine checks
    /// them itself: `checkFinite: false`), and the matrix keeps the mapping alive.
    public func matrix(_ name: String, rows: Int, cols: Int, checkFinite: Bool = true) throws -> Matrix {
        let v = try view(name, shape: [rows, cols], checkFinite: checkFinite)
        return Matrix(rows: rows, cols: cols, borrowing: v.buffer, owner: v.owner)
    }
}
