import RecCore
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
    public var itemBiases: [Float] { [] }

    /// One fixed-order dot product per item: the bits `score` gives.
    public func scores(_ user: UserVector, items: [Int32]) -> [Float] {
        Kernels.rowDots(itemEmbeddings, user.x, rows: items)
    }
}
