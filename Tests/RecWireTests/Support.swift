import RecTestSupport
import Foundation
import RecCore
import RecData
import RecWire

/// A bundle of every engine kind trained on a small synthetic dataset (40 users, 30 items,
/// deterministic), in a temporary folder.
func syntheticDataset(users: Int = 40, items: Int = 30, seed: UInt64 = 7) throws -> Dataset {
    var rng = SplitMix64(seed: seed)
    var uids = IDMap(), iids = IDMap()
    for u in 0..<users { uids.intern("u\(u)") }
    for i in 0..<items { iids.intern("i\(i)") }
    let genres = ["Action", "Comedy", "Drama", "Horror", "Sci-Fi"]
    let meta = (0..<items).map { i in
        ItemMeta(title: "Film \(i)", year: 1980 + i, genres: [genres[i % 5], genres[(i / 5) % 5]].uniqued())
    }
    var xs: [Interaction] = []
    var seen = Set<Int>()
    for u in 0..<users {
        for n in 0..<(5 + Int(rng.next() % 10)) {
            // Users prefer items near a personal centre: structure for co-occurrence to find.
            let centre = u % items
            let i = (centre + Int(rng.next() % 7)) % items
            guard seen.insert(u * 1000 + i).inserted else { continue }
            xs.append(Interaction(user: Int32(u), item: Int32(i), rating: Float(1 + rng.next() % 5), timestamp: Int64(1000 + n)))
        }
    }
    return Dataset(name: "synthetic", users: uids, items: iids, interactions: xs, itemMeta: meta,
                   userMeta: Array(repeating: UserMeta(age: 30), count: users))
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] { var s = Set<Element>(); return filter { s.insert($0).inserted } }
}

/// The kinds these tests can train: text engines only when the MiniLM model is present.
let testKinds = Bundles.kinds.filter { !Bundles.textKinds.contains($0) || TestModels.miniLM != nil }

/// Retrieve's default engine in the test bundle: the GAT when it could be trained.
let defaultTestEngine = testKinds.contains("gat") ? "gat" : "cooccurrence"

func trainOptions() -> Bundles.TrainOptions {
    var o = Bundles.TrainOptions()
    if let m = TestModels.miniLM { o.textModel = m }
    return o
}

func trainedBundle() throws -> (URL, Recommender, BundleManifest) {
    let root = try FileManager.default.url(for: .itemReplacementDirectory, in: .userDomainMask,
                                           appropriateFor: FileManager.default.temporaryDirectory, create: true)
    let dir = root.appendingPathComponent("bundle")
    try Bundles.train(syntheticDataset(), kinds: testKinds, out: dir, name: "synthetic", options: trainOptions())
    let (rec, m) = try Bundles.load(dir, modelsDir: TestModels.modelsDir)
    return (dir, rec, m)
}
