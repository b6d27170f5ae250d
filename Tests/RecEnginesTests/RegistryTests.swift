import Foundation
import RecCore
import RecData
import RecEngineKit
import RecEngines
import RecEval
import RecFixtures
import RecTestSupport
import Testing

@Suite struct RegistryTests {
    @Test func everyKindHasAUniqueNameAndAValidTable() throws {
        #expect(Set(Registry.names).count == Registry.kinds.count)
        #expect(Registry.names.first == Registry.fallback)
        for k in Registry.kinds {
            let defaults = try k.params()  // every default parses as its own type
            #expect(Set(k.parameters.map(\.name)).count == k.parameters.count, "\(k.name) declares a parameter twice")
            for p in k.parameters where p.type != .recorded { #expect(defaults.values[p.name] == p.defaultValue) }
            #expect(!k.summary.isEmpty)
        }
        let flags = Registry.kinds.flatMap { k in
            k.parameters.filter { $0.type != .recorded }.map { $0.flag(kind: k.name) }
        }
        #expect(Set(flags).count == flags.count)
    }

    @Test func flagsParseInBothFormsAndByTheLongestKindName() throws {
        let p = try Registry.parseFlags([
            "--ease-lambda", "250", "--svdpp-factors=8", "--genre-popularity-min-rating", "3",
            "--popularity-half-life-days", "30",
        ])
        #expect(
            p == [
                "ease": ["lambda": "250"], "svdpp": ["factors": "8"], "genre-popularity": ["min_rating": "3"],
                "popularity": ["half_life_days": "30"],
            ])
        #expect(try Registry.parseFlags([]).isEmpty)
    }

    @Test(arguments: [
        (["--ease-lamda", "3"], "ease takes --ease-lambda"),
        (["--nope-x", "1"], "engine flags are --<kind>-<parameter>"),
        (["--ease-lambda"], "needs a value"), (["--ease-lambda", "-1"], "ease lambda"),
        (["stray"], "unexpected argument"),
        (["--svd-implicit", "true"], "svd takes"),  // recorded, not a flag
    ])
    func badFlagsAreClearErrors(args: [String], why: String) throws {
        let e = try #require(throws: RecError.self) { try Registry.parseFlags(args) }
        #expect(e.code == .invalidArgument && e.message.contains(why), "\(e.message)")
    }
}

@Suite struct DefaultEngineTests {
    /// Training with no default chooses by validation NDCG@10, records every engine's figure
    /// and picks the largest.
    @Test func theBestValidationNDCGIsTheDefault() throws {
        let kinds = ["popularity", "cooccurrence", "ease", "svd"]
        let (_, rec, m) = try trainedBundle(kinds: kinds, defaultEngine: nil)
        let figures = Dictionary(uniqueKeysWithValues: m.engines.map { ($0.name, $0.metrics["validation_ndcg10"]) })
        #expect(figures.values.allSatisfy { $0 != nil && $0! >= 0 && $0! <= 1 }, "\(figures)")
        let best = m.engines.max { ($0.metrics["validation_ndcg10"] ?? 0) < ($1.metrics["validation_ndcg10"] ?? 0) }!
            .name
        #expect(m.defaultEngine == best && rec.defaultEngine == best)
        // The structure the synthetic users follow is item-item: an item-item engine beats popularity.
        #expect(figures["cooccurrence"]!! > figures["popularity"]!!)
    }

    /// The figures are the evaluator's on the seeded validation split (recomputed here).
    @Test func theFiguresAreTheEvaluatorsOnTheValidationSplit() throws {
        let d = try syntheticDataset()
        let plan = Bundles.Plan(kinds: ["popularity", "cooccurrence"])
        let got = try Bundles.validationNDCG(Bundles.jobs(plan), d, plan: plan, context: fitContext())
        let split = Splits.random(d, testFraction: plan.validationFraction, seed: plan.seed)
        let pop = try Bundles.fit("popularity", split.train, context: fitContext()).fitted.engine
        let cooc = try Bundles.fit("cooccurrence", split.train, context: fitContext()).fitted.engine
        let want = Evaluator.ranking(cooc, on: split, threshold: 4, maxK: 10, fallback: pop).metrics["ndcg@10"]
        #expect(got["cooccurrence"] == want)
    }

    /// One engine asked for: it is the default, and nothing is fitted twice to choose it. The
    /// fallback asked for by name is a choice again.
    @Test func oneEngineAskedForIsTheDefaultWithoutAValidationFit() throws {
        let (_, rec, m) = try trainedBundle(kinds: ["cooccurrence"], defaultEngine: nil)
        #expect(Set(m.engines.map(\.name)) == ["popularity", "cooccurrence"])
        #expect(m.defaultEngine == "cooccurrence" && rec.defaultEngine == "cooccurrence")
        #expect(m.engines.allSatisfy { $0.metrics["validation_ndcg10"] == nil })
        let (_, _, both) = try trainedBundle(kinds: ["popularity", "cooccurrence"], defaultEngine: nil)
        #expect(both.engines.allSatisfy { $0.metrics["validation_ndcg10"] != nil })
    }

    @Test func anExplicitDefaultSkipsValidationAndServeCanOverrideIt() throws {
        let (dir, rec, m) = try trainedBundle(kinds: ["popularity", "cooccurrence", "svd"], defaultEngine: "svd")
        #expect(m.defaultEngine == "svd" && rec.defaultEngine == "svd")
        #expect(m.engines.allSatisfy { $0.metrics["validation_ndcg10"] == nil })
        let (over, _) = try Bundles.load(dir, defaultEngine: "cooccurrence")
        #expect(over.defaultEngine == "cooccurrence")
        let e = try #require(throws: RecError.self) { try Bundles.load(dir, defaultEngine: "gat") }
        #expect(e.code == .invalidArgument && e.message.contains("default engine 'gat' is not in"))
    }

    @Test func badPlansFailBeforeAnythingIsTrained() throws {
        let d = try syntheticDataset()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("rf-plan-\(UUID().uuidString)")
        func train(_ plan: Bundles.Plan) throws {
            try Bundles.train(d, plan: plan, out: out, name: "x", context: fitContext())
        }
        #expect(throws: RecError.self) { try train(Bundles.Plan(kinds: ["popularity", "telepathy"])) }
        #expect(throws: RecError.self) { try train(Bundles.Plan(kinds: ["popularity"], defaultEngine: "ease")) }
        let e = try #require(throws: RecError.self) {
            try train(Bundles.Plan(kinds: ["popularity"], params: ["ease": ["lambda": "1"]]))
        }
        #expect(e.message.contains("ease is not trained"))
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
