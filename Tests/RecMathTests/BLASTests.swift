import Foundation
import RecMath
import Testing

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

/// A matrix over memory someone else owns (how bundle tensors are served from their mapped
/// files) reads like an owned one, shares the memory until written, and copies on write.
@Suite struct BorrowedMatrixTests {
    final class Owner: @unchecked Sendable {  // @unchecked: never written after init
        let values: UnsafeMutableBufferPointer<Float>
        init(_ v: [Float]) {
            values = .allocate(capacity: v.count)
            _ = values.initialize(from: v)
        }
        deinit { values.deallocate() }
    }

    @Test func readsInPlaceAndCopiesOnlyOnWrite() {
        let owner = Owner([1, 2, 3, 4, 5, 6])
        var m = Matrix(rows: 3, cols: 2, borrowing: UnsafeBufferPointer(owner.values), owner: owner)
        let owned = Matrix(rows: 3, cols: 2, data: [1, 2, 3, 4, 5, 6])
        #expect(m.isBorrowed && !owned.isBorrowed)
        #expect(m == owned && m.data == owned.data && m[2, 1] == 6)
        #expect(m.row(1) == [3, 4] && m.withRow(2) { Array($0) } == [5, 6])
        #expect(m.withUnsafeBufferPointer { $0.baseAddress } == UnsafePointer(owner.values.baseAddress))
        #expect(BLAS.gemv(m, [1, 1]) == [3, 7, 11] && Kernels.rowDots(m, [1, 0], rows: [2, 0]) == [5, 1])
        // A row range of a borrowed matrix is a view of the same memory; of an owned one, a copy.
        let tail = m.rows(1..<3)
        #expect(tail.isBorrowed && tail == Matrix(rows: 2, cols: 2, data: [3, 4, 5, 6]))
        #expect(tail.withUnsafeBufferPointer { $0.baseAddress } == UnsafePointer(owner.values.baseAddress! + 2))
        #expect(!owned.rows(0..<1).isBorrowed && owned.rows(0..<1).data == [1, 2])
        // Writing copies first: the owner's memory never changes.
        m[0, 0] = 10
        m.data[5] = 60
        #expect(!m.isBorrowed && m.data == [10, 2, 3, 4, 5, 60])
        #expect(Array(owner.values) == [1, 2, 3, 4, 5, 6] && tail.data == [3, 4, 5, 6])
        // A matrix without columns has an empty row everywhere (a model without that input).
        #expect(Matrix(rows: 0, cols: 0).row(7).isEmpty)
    }
}

@Suite struct KernelTests {
    @Test func fastErfMatchesLibm() {
        var worst: Double = 0
        var x: Float = -6
        while x <= 6 {
            worst = max(worst, abs(Double(Kernels.erf(x)) - Foundation.erf(Double(x))))
            x += 0.001
        }
        #expect(worst < 1e-6)
        #expect(Kernels.erf(0) == 0 && Kernels.erf(10) == 1 && Kernels.erf(-10) == -1)
    }

    @Test func geluMatchesTheExactFormulaIncludingTheTail() {
        let xs: [Float] = (0..<37).map { Float($0) * 0.37 - 6.5 }  // 37 values: vector body and scalar tail
        var ys = xs
        ys.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: $0.count) }
        for (x, y) in zip(xs, ys) {
            let exact = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
            #expect(abs(Double(y) - exact) < 1e-5, "gelu(\(x)) = \(y), exact \(exact)")
        }
    }

    @Test func layerNormAndSoftmaxRows() {
        var x: [Float] = [1, 2, 3, 4, 10, 10, 10, 10]
        let g: [Float] = [1, 1, 1, 1], b: [Float] = [0, 0, 0, 1]
        x.withUnsafeMutableBufferPointer {
            Kernels.layerNorm($0.baseAddress!, rows: 2, cols: 4, gamma: g, beta: b, eps: 1e-12)
        }
        let sd = (1.25 as Float).squareRoot()
        #expect(zip(x[0..<4], [-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd + 1]).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(x[4..<8] == [0, 0, 0, 1])  // constant row: zero variance, no NaN
        var s: [Float] = [0, 0, 9, 1000, 1001, 9]  // ld 3, rows 2, cols 2: the third column is untouched
        s.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: 2, cols: 2, ld: 3) }
        #expect(s[0] == 0.5 && s[1] == 0.5 && s[2] == 9 && s[5] == 9)
        #expect(abs(s[4] - 1 / (1 + expf(-1))) < 1e-6)
    }
}

@Suite struct RowDotsTests {
    /// Against a Double-precision reference, and: any subset of rows gives the same bits as
    /// the whole matrix (what lets Rank score only its candidates and agree with Retrieve).
    @Test(arguments: [1, 5, 16, 64, 67])
    func matchesTheReferenceAndSubsetsAreBitIdentical(cols: Int) {
        var rng = SystemRandomNumberGenerator()
        let rows = 50
        let a = Matrix(
            rows: rows, cols: cols, data: (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) })
        let x = (0..<cols).map { _ in Float.random(in: -1...1, using: &rng) }
        let all = Kernels.rowDots(a, x)
        #expect(all.count == rows)
        for r in 0..<rows {
            var ref = 0.0
            for c in 0..<cols { ref += Double(a.data[r * cols + c]) * Double(x[c]) }
            #expect(abs(Double(all[r]) - ref) <= 1e-5 * Double(cols), "row \(r)")
        }
        let subset: [Int32] = [7, 0, 49, 7, 23]
        let some = Kernels.rowDots(a, x, rows: subset)
        #expect(some.map(\.bitPattern) == subset.map { all[Int($0)].bitPattern })
        #expect(Kernels.rowDots(a, x, rows: []).isEmpty)
    }
}

/// The moving average of weights, lazy for an embedding table's untouched rows, equals the
/// dense average of every row after every step.
@Suite struct WeightAverageTests {
    @Test func theLazyAverageOfASparseTableIsTheDenseOne() {
        let table = Parameter("table", rows: 12, cols: 4, value: (0..<48).map { Float($0) / 10 })
        table.sparse = true
        let dense = Parameter("w", rows: 1, cols: 4, value: [1, -1, 0.5, 2])
        let params = [table, dense]
        var adam = AdamW(lr: 0.05, weightDecay: 0.01)
        var average = WeightAverage(params, decay: 0.9)
        var reference = params.map(\.value)
        var state: UInt64 = 3
        var everTouched = Set<Int32>()
        for _ in 0..<40 {
            let rows: [Int32] = (0..<3).map { _ in  // rows 6 ..< 12 are never touched
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int32((state >> 33) % 6)
            }
            everTouched.formUnion(rows)
            let t = Tape()
            t.backward(t.add(t.sum(t.mul(t.rows(of: table, rows), t.rows(of: table, rows))), t.sum(t.param(dense))))
            average.prepare(params)
            adam.step(params)
            average.update(params)
            for (k, p) in params.enumerated() {
                for i in reference[k].indices { reference[k][i] = 0.9 * reference[k][i] + 0.1 * p.value[i] }
            }
        }
        let got = average.averaged(params)
        for k in params.indices {
            for i in reference[k].indices { #expect(abs(got[k][i] - reference[k][i]) < 1e-4, "\(k) \(i)") }
        }
        #expect(everTouched.count > 1 && got[0] != table.value && got[1] != dense.value)
    }
}
