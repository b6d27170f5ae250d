/// The cosine of two vectors, in double precision (for checks on embeddings).
public func cosine(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
    var d = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        d += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return d / (na.squareRoot() * nb.squareRoot())
}
