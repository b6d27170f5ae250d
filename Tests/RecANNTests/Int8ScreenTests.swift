import CRecKernels
import RecCore
import Testing

@testable import RecANN

/// The int8 screen against the full exact pass: the same top k, bit for bit, on both kernels
/// (AVX2 and portable), with and without biases, under filters, ties and tiny catalogues.
@Suite(.serialized) struct Int8ScreenTests {
    /// An engine-like table: items around a common vector `shift` (as LayerNorm'd GAT states
    /// are), in clusters, with per-item norms that vary, and optional biases.
    struct Table {
        var n: Int, d: Int
        var v: [Float], b: [Float]

        init(n: Int, d: Int, bias: Bool, shift: Float, seed: UInt64) {
            self.n = n
            self.d = d
            var rng = SplitMix64(seed: seed)
            let common = (0..<d).map { _ in shift * Float(rng.nextGaussian()) }
            let centres = (0..<8).map { _ in (0..<d).map { _ in Float(rng.nextGaussian()) } }
            v = []
            for _ in 0..<n {
                let c = centres[Int(rng.next() % 8)]
                let s = Float(0.2 + Double(rng.next() % 1000) / 500)
                for j in 0..<d { v.append(common[j] + s * (c[j] + 0.3 * Float(rng.nextGaussian()))) }
            }
            b = bias ? (0..<n).map { _ in Float(rng.nextGaussian()) * 0.5 } : []
        }

        /// The engine's score: offset + dot + bias, in Float, a fixed order unlike the screen's.
        func score(_ u: UserVector, _ i: Int) -> Float {
            var s: Float = 0
            for j in stride(from: d - 1, through: 0, by: -1) { s += u.x[j] * v[i * d + j] }
            return s + (u.offset + (b.isEmpty ? 0 : b[i]))
        }

        func screen() throws -> Int8Screen {
            try v.withUnsafeBufferPointer { try Int8Screen(vectors: $0, count: n, dimension: d, biases: b) }
        }
    }

    static func exact(_ t: Table, _ u: UserVector, k: Int, keep: (Int32) -> Bool) -> [TopK.Entry] {
        TopK.select((0..<t.n).map { t.score(u, $0) }, k: k) { keep(Int32($0)) }
    }

    static func screened(
        _ t: Table, _ s: Int8Screen, _ u: UserVector, k: Int, fetch: Int, keep: (Int32) -> Bool
    ) throws -> (top: [TopK.Entry], candidates: Int) {
        let found = s.candidates(u, k: k, fetch: fetch, keep: keep)
        let c = try #require(found)
        let refused = c.filter { !keep($0) }.count
        #expect(refused == 0, "candidates the filter refuses")
        var top = TopK.sorted(c.map { TopK.Entry(index: $0, score: t.score(u, Int($0))) })
        if top.count > k { top.removeLast(top.count - k) }
        return (top, c.count)
    }

    static func user(_ d: Int, seed: UInt64, offset: Float) -> UserVector {
        var rng = SplitMix64(seed: seed)
        return UserVector(x: (0..<d).map { _ in Float(rng.nextGaussian()) * 3 }, offset: offset)
    }

    static let tables: [(n: Int, d: Int, bias: Bool, shift: Float)] = [
        (1_003, 7, true, 0), (2_048, 64, false, 10), (517, 1, true, 0), (8, 3, true, 1), (3, 100, false, 0),
        (4_000, 33, true, 2),
    ]

    /// `body(table number, table, its screen)` for every table, on the kernel asked for.
    static func eachTable(portable: Bool, _ body: (Int, Table, Int8Screen) throws -> Void) throws {
        rec_kernels_force_portable(portable ? 1 : 0)
        defer { rec_kernels_force_portable(0) }
        for (ti, c) in tables.enumerated() {
            let t = Table(n: c.n, d: c.d, bias: c.bias, shift: c.shift, seed: UInt64(ti + 1))
            try body(ti, t, try t.screen())
        }
    }

    @Test(arguments: [false, true])
    func theScreenedTopKIsTheExactTopK(portable: Bool) throws {
        try Self.eachTable(portable: portable) { ti, t, s in
            let c = (n: t.n, d: t.d)
            let keeps: [(String, (Int32) -> Bool)] = [
                ("all", { _ in true }), ("every third", { $0 % 3 == 0 }), ("one in a hundred", { $0 % 100 == 7 }),
                ("none", { _ in false }),
            ]
            for (ui, offset) in [Float(0), 3.5, -1e4].enumerated() {
                let u = Self.user(c.d, seed: UInt64(100 * ti + ui), offset: offset)
                for k in [1, 10, 100, c.n + 5] {
                    for (name, keep) in keeps {
                        // fetch k: selective filters take the second look over every bound.
                        for fetch in [k, 4 * k + 64] {
                            let want = Self.exact(t, u, k: k, keep: keep)
                            let got = try Self.screened(t, s, u, k: k, fetch: fetch, keep: keep).top
                            #expect(
                                got.map(\.index) == want.map(\.index) && got.map(\.score) == want.map(\.score),
                                "table \(ti), user \(ui), k \(k), \(name), fetch \(fetch)")
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: [false, true])
    func theBoundsLeaveFewItemsToScore(portable: Bool) throws {
        rec_kernels_force_portable(portable ? 1 : 0)
        defer { rec_kernels_force_portable(0) }
        // GAT-like: every item shares a large common vector; without taking the mean out the
        // eight bits would be spent on it and most of the catalogue would stay a candidate.
        let t = Table(n: 20_000, d: 64, bias: false, shift: 10, seed: 9)
        let s = try t.screen()
        for seed in 0..<5 {
            let u = Self.user(64, seed: UInt64(seed), offset: 0)
            let (top, n) = try Self.screened(t, s, u, k: 10, fetch: 10, keep: { _ in true })
            #expect(top.map(\.index) == Self.exact(t, u, k: 10, keep: { _ in true }).map(\.index))
            #expect(n < t.n / 20, "\(n) of \(t.n) items left to score exactly")
        }
    }

    /// The bounds hold item by item, also for the user the Cauchy–Schwarz step is tight for:
    /// x along an item's own rounding residual, where ⟨x, r_i⟩ = ‖x‖ ‖r_i‖.
    @Test(arguments: [false, true])
    func everyItemsScoreLiesWithinItsBounds(portable: Bool) throws {
        try Self.eachTable(portable: portable) { ti, t, s in
            let c = (n: t.n, d: t.d)
            func exact(_ x: [Float], _ i: Int) -> Double {
                (0..<t.d).reduce(t.b.isEmpty ? 0 : Double(t.b[i])) { $0 + Double(x[$1]) * Double(t.v[i * t.d + $1]) }
            }
            var users = (0..<3).map { Self.user(c.d, seed: UInt64(7 * ti + $0), offset: 0).x }
            for i in [0, c.n / 2, c.n - 1] {
                let r = s.reconstruction(i).enumerated().map { Double(t.v[i * t.d + $0]) - $1 }
                let norm = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 0 { users.append(r.map { Float($0 / norm * 5) }) }
            }
            for x in users {
                let (lo, hi) = try #require(s.bounds(UserVector(x: x)))
                for i in 0..<t.n {
                    let e = exact(x, i)
                    #expect(
                        Double(lo[i]) <= e && e <= Double(hi[i]),
                        "table \(ti), item \(i): \(e) outside [\(lo[i]), \(hi[i])]")
                }
            }
        }
    }

    @Test func tiesAndIdenticalItemsKeepTheExactOrder() throws {
        // 300 identical items and a few better ones: the exact top k breaks ties by index.
        var t = Table(n: 301, d: 5, bias: true, shift: 0, seed: 4)
        for i in 0..<t.n {
            for j in 0..<t.d { t.v[i * t.d + j] = i % 100 == 50 ? 2 : 1 }
            t.b[i] = 0.25
        }
        let s = try t.screen()
        let u = UserVector(x: [1, -0.5, 0.25, 2, 0], offset: 1)
        for k in [1, 3, 10, 200] {
            let got = try Self.screened(t, s, u, k: k, fetch: k, keep: { $0 != 150 }).top
            let want = Self.exact(t, u, k: k, keep: { $0 != 150 })
            #expect(got == want, "k \(k)")
        }
    }

    @Test func nonFiniteInputIsRefused() throws {
        let t = Table(n: 50, d: 4, bias: true, shift: 0, seed: 5)
        let s = try t.screen()
        #expect(s.candidates(UserVector(x: [1, .nan, 0, 0]), k: 5, fetch: 5, keep: { _ in true }) == nil)
        #expect(
            s.candidates(UserVector(x: [1, 0, 0, 0], offset: .infinity), k: 5, fetch: 5, keep: { _ in true }) == nil)
        #expect(s.candidates(UserVector(x: [1, 0, 0]), k: 5, fetch: 5, keep: { _ in true }) == nil)
        var bad = t
        bad.v[17] = .infinity
        #expect(throws: RecError.self) { try bad.screen() }
        bad = t
        bad.b[3] = .nan
        #expect(throws: RecError.self) { try bad.screen() }
        #expect(throws: RecError.self) {
            try [Float](repeating: 0, count: 7).withUnsafeBufferPointer {
                try Int8Screen(vectors: $0, count: 2, dimension: 4, biases: [])
            }
        }
    }

    @Test func itsSizeIsWhatTheDocsSay() throws {
        let t = Table(n: 1_001, d: 7, bias: true, shift: 0, seed: 6)
        let s = try t.screen()
        // n (d rounded up to even) bytes of codes, padded to blocks of 8 items, plus scale, ρ and bias per item.
        #expect(s.memoryBytes == 1_008 * 8 + 4 * (3 * 1_008 + 7))
        #expect(s.summary.hasPrefix("int8 screen: 1001 items × 7"))
    }
}
