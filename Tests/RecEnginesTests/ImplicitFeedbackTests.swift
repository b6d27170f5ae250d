import Foundation
import RecCore
import RecData
import RecEngineKit
import RecEngines
import RecEval
import RecFixtures
import RecTestSupport
import Testing

/// A dataset without ratings (a shop's purchases, a player's plays): every interaction is
/// stored as rating 0. The kinds that model ratings refuse it by name; every ranking kind
/// trains on it, round-trips through a bundle with its schema, and finds the structure.
@Suite struct ImplicitFeedbackTests {
    static func implicitDataset() throws -> Dataset {
        var d = try syntheticDataset(users: 60, items: 40, seed: 11)
        for n in d.interactions.indices { d.interactions[n].rating = 0 }
        d.schema = DatasetSchema(domain: "product", feedback: .implicit)
        for n in d.itemMeta.indices {
            d.itemMeta[n].title = d.itemMeta[n].title.replacingOccurrences(of: "Film", with: "Gadget")
        }
        return d
    }

    static func rankingKinds() throws -> [String] {
        var out: [String] = []
        for k in testKinds where try !Registry.kind(k).needsRatings { out.append(k) }
        return out
    }

    @Test(arguments: ["svd", "svdpp"])
    func ratingModelsRefuseImplicitDataNamingIt(kind: String) throws {
        #expect(try Registry.kind(kind).needsRatings)
        let d = try Self.implicitDataset()
        #expect {
            _ = try Bundles.fit(kind, d, given: [:], context: fitContext())
        } throws: { e in
            guard let e = e as? RecError else { return false }
            return e.code == .failedPrecondition && e.message.contains("needs explicit feedback")
                && e.message.contains("'synthetic'")
        }
    }

    @Test func everyRankingKindLearnsFromImplicitData() throws {
        let d = try Self.implicitDataset()
        let kinds = try Self.rankingKinds()
        let split = Splits.random(d, testFraction: 0.2, seed: 5)
        let threshold = Splits.relevanceThreshold(d)
        #expect(threshold == 0)
        let pop = try Bundles.fit("popularity", split.train, given: [:], context: fitContext()).fitted.engine
        let popNDCG = Evaluator.ranking(pop, on: split, threshold: threshold, maxK: 10).metrics["ndcg@10"] ?? 0
        for k in kinds where k != "popularity" && k != "genre-popularity" && k != "text" {
            let e = try Bundles.fit(k, split.train, given: [:], context: fitContext()).fitted.engine
            let ndcg = Evaluator.ranking(e, on: split, threshold: threshold, maxK: 10).metrics["ndcg@10"] ?? 0
            #expect(ndcg > popNDCG, "\(k): NDCG@10 \(ndcg) vs popularity \(popNDCG)")
        }
    }

    @Test func aBundleKeepsTheSchemaAndProfilesUseIt() throws {
        let d = try Self.implicitDataset()
        let kinds = try Self.rankingKinds()
        let (_, rec, m) = try trainedBundle(d, kinds: kinds, defaultEngine: "ease")
        #expect(m.dataset.schema == d.schema)
        #expect(rec.catalog.schema == d.schema)
        let out = try rec.retrieve(RetrieveQuery(user: UserSpec(id: "u3"), k: 5))
        #expect(out.items.count == 5 && !out.degraded)
        let ex = try rec.explain(ExplainQuery(user: UserSpec(id: "u3"), itemID: rec.catalog.ids[out.items[0].item]))
        #expect(!ex.text.contains("rated"), "\(ex.text)")
    }
}
