import RecCore
import RecMath
import Testing

@testable import RecEASE

@Suite struct EASETests {
    /// Three users over three items: X = [[1,1,0],[1,0,1],[0,1,1]].
    func tiny() -> Dataset {
        let xs = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 1), (2, 2)].map {
            Interaction(user: Int32($0.0), item: Int32($0.1), rating: 5, timestamp: 0)
        }
        return Dataset(
            name: "t", users: try! IDMap(ids: ["a", "b", "c"]), items: try! IDMap(ids: ["x", "y", "z"]),
            interactions: xs,
            itemMeta: Array(repeating: ItemMeta(title: ""), count: 3), userMeta: Array(repeating: UserMeta(), count: 3))
    }

    @Test func closedFormByHand() throws {
        // G = XᵀX + λI with λ = 1: [[3,1,1],[1,3,1],[1,1,3]]. G⁻¹ = (1/20)[[8,-2,-2],[-2,8,-2],[-2,-2,8]],
        // so B_ij = -P_ij/P_jj = 2/8 = 0.25 off the diagonal.
        let e = try EASEEngine.fit(tiny(), lambda: 1)
        for i in 0..<3 { for j in 0..<3 { #expect(abs(e.b[i, j] - (i == j ? 0 : 0.25)) < 1e-6) } }
        let s = try e.score(UserQuery(history: [HistoryEntry(item: 0)]), items: nil)
        #expect(abs(s[1] - 0.25) < 1e-6 && abs(s[2] - 0.25) < 1e-6 && s[0] == 0)
        #expect(e.unscorableReason(UserQuery()) != nil)
    }

    @Test func inverseSPDAgainstIdentity() throws {
        let a: [Double] = [4, 2, 0.5, 2, 5, 1, 0.5, 1, 3]
        let inv = try LAPACK.inverseSPD(a, n: 3)
        for i in 0..<3 {
            for j in 0..<3 {
                let v = (0..<3).reduce(0.0) { $0 + a[i * 3 + $1] * inv[$1 * 3 + j] }
                #expect(abs(v - (i == j ? 1 : 0)) < 1e-12)
            }
        }
        #expect(throws: LAPACKError.self) { try LAPACK.inverseSPD([1, 2, 2, 1], n: 2) }
        #expect(LAPACK.gram([1, 0, 1, 1, 1, 0], rows: 2, cols: 3) == [2, 1, 1, 1, 1, 0, 1, 0, 1])
    }

    @Test func theSparseGramEqualsTheDenseProductBitForBit() throws {
        // Random interactions (duplicates included): G from the users' item sets must equal XᵀX.
        var rng = SplitMix64(seed: 3)
        let (nU, nI) = (30, 12)
        var xs: [Interaction] = []
        for _ in 0..<200 {
            xs.append(
                Interaction(
                    user: Int32(rng.next() % UInt64(nU)), item: Int32(rng.next() % UInt64(nI)),
                    rating: Float(1 + rng.next() % 5), timestamp: 0))
        }
        let d = Dataset(
            name: "r", users: try IDMap(ids: (0..<nU).map { "u\($0)" }),
            items: try IDMap(ids: (0..<nI).map { "i\($0)" }),
            interactions: xs, itemMeta: Array(repeating: ItemMeta(title: ""), count: nI),
            userMeta: Array(repeating: UserMeta(), count: nU))
        let e = try EASEEngine.fit(d, lambda: 2, minRating: 3)
        var x = [Double](repeating: 0, count: nU * nI)
        for r in xs where r.rating >= 3 { x[Int(r.user) * nI + Int(r.item)] = 1 }
        var g = LAPACK.gram(x, rows: nU, cols: nI)
        for i in 0..<nI { g[i * nI + i] += 2 }
        let p = try LAPACK.inverseSPD(g, n: nI)
        for i in 0..<nI {
            for j in 0..<nI {
                #expect(e.b[i, j].bitPattern == (i == j ? Float(0) : Float(-p[i * nI + j] / p[j * nI + j])).bitPattern)
            }
        }
    }

    @Test func aCatalogueTooBigIsRefusedBeforeAnythingIsAllocated() throws {
        // 300,000 items: 1.08 TB to train. If fit allocated before checking, this test would die.
        let n = 300_000
        let d = Dataset(
            name: "big", users: try IDMap(ids: ["a"]), items: try IDMap(ids: (0..<n).map { "i\($0)" }),
            interactions: [Interaction(user: 0, item: 7, rating: 5, timestamp: 0)],
            itemMeta: Array(repeating: ItemMeta(title: ""), count: n), userMeta: [UserMeta()])
        do {
            _ = try EASEEngine.fit(d, lambda: 500, maxMemoryBytes: 8e9)
            Issue.record("a 300,000-item EASE was not refused")
        } catch let e as RecError {
            #expect(e.code == .resourceExhausted)
            #expect(e.message.contains("300000 items") && e.message.contains("1.1 TB"), "\(e.message)")
            #expect(e.message.contains("8.0 GB") && e.message.contains("--ease-max-memory-mb"), "\(e.message)")
            #expect(e.message.contains("rp3beta"))
        }
        #expect(EASEEngine.trainingBytes(items: 1682) == 12 * 1682 * 1682)
    }
}
