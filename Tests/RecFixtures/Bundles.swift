import Foundation
import RecCore
import RecData
import RecEngineKit
import RecEngines
import RecTestSupport

/// A small synthetic dataset (40 users, 30 items, deterministic) with structure for the
/// item-item engines to find: users prefer items near a personal centre.
public func syntheticDataset(users: Int = 40, items: Int = 30, seed: UInt64 = 7) throws -> Dataset {
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
            let centre = u % items
            let i = (centre + Int(rng.next() % 7)) % items
            guard seen.insert(u * 1000 + i).inserted else { continue }
            xs.append(
                Interaction(
                    user: Int32(u), item: Int32(i), rating: Float(1 + rng.next() % 5), timestamp: Int64(1000 + n)))
        }
    }
    return Dataset(
        name: "synthetic", users: uids, items: iids, interactions: xs, itemMeta: meta,
        userMeta: Array(repeating: UserMeta(age: 30), count: users))
}

extension Array where Element: Hashable {
    public func uniqued() -> [Element] {
        var s = Set<Element>()
        return filter { s.insert($0).inserted }
    }
}

/// The kinds these tests can train: those needing the sentence encoder only when the
/// MiniLM model is present.
public let testKinds = Registry.names.filter { !Registry.encoderKinds.contains($0) || TestModels.miniLM != nil }

/// The test bundles' default engine: the GAT when it could be trained.
public let defaultTestEngine = testKinds.contains("gat") ? "gat" : "cooccurrence"

/// Where fitting finds the models.
public func fitContext() -> FitContext { FitContext(modelsDir: TestModels.modelsDir) }

/// A bundle of `kinds` trained on `dataset` in a fresh temporary folder, loaded back.
/// The default engine is fixed (`defaultEngine`), unless nil, when training chooses it.
public func trainedBundle(
    _ dataset: Dataset? = nil, kinds: [String] = testKinds, defaultEngine: String? = defaultTestEngine,
    indexes: Indexes.Options = Indexes.Options(), limits: Limits = Limits()
)
    throws -> (URL, Recommender, BundleManifest)
{
    let root = try FileManager.default.url(
        for: .itemReplacementDirectory, in: .userDomainMask,
        appropriateFor: FileManager.default.temporaryDirectory, create: true)
    let dir = root.appendingPathComponent("bundle")
    var plan = Bundles.Plan(kinds: kinds, defaultEngine: defaultEngine)
    plan.indexes = indexes
    try Bundles.train(try dataset ?? syntheticDataset(), plan: plan, out: dir, name: "synthetic", context: fitContext())
    let (rec, m) = try Bundles.load(dir, limits: limits, modelsDir: TestModels.modelsDir)
    return (dir, rec, m)
}
