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
}
