import Testing
import RecMath

@Suite struct BLASTests {
    @Test func gemvGemmDotAxpyMatchNaive() {
        let a = Matrix(rows: 2, cols: 3, data: [1, 2, 3, 4, 5, 6])
        #expect(BLAS.gemv(a, [1, 0, -1]) == [-2, -2])
        let b = Matrix(rows: 3, cols: 2, data: [1, 0, 0, 1, 1, 1])
        #expect(BLAS.gemm(a, b) == Matrix(rows: 2, cols: 2, data: [4, 5, 10, 11]))
        #expect(BLAS.dot([1, 2, 3], [4, 5, 6]) == 32)
        var y: [Float] = [1, 1]
        [Float(2), 3].withUnsafeBufferPointer { BLAS.axpy(2, $0, &y) }
        #expect(y == [5, 7])
    }
}
