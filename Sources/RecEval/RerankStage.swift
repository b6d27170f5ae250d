import Foundation
import RecCore
import RecLLM
import Synchronization

extension EvalRunner {
    /// Rerank's judge and fusion as an evaluation stage (rows "engine+judge"): for each split
    /// the judge sees that split's own text engine (`textEngine` fits it on the training
    /// part) and, for the LLM judges, `llm`. Checks its settings before any work.
    public static func rerankStage(
        judge kind: JudgeKind, llm: LLMClient?, alpha: Float, normalization: Fusion.Normalization,
        positionWeights: Bool, depth: Int,
        textEngine: @escaping (Dataset) throws -> any Engine,
        log: @escaping @Sendable (String) -> Void
    ) throws -> RerankFactory {
        guard alpha.isFinite, (0...1).contains(alpha) else {
            throw RecError.invalidArgument("--alpha must be in [0, 1]")
        }
        guard depth > 0 else { throw RecError.invalidArgument("--rerank-depth must be positive") }
        if kind.usesLLM && llm == nil {
            throw RecError.invalidArgument("--rerank-judge \(kind.rawValue) needs --llm-base-url or --llm-config")
        }
        let reranker = Reranker(llm: llm, defaultJudge: kind)
        return RerankFactory(
            name: kind.rawValue,
            make: { d in
                guard let text = try textEngine(d) as? any TextEmbeddingSpace else {
                    throw RecError.failedPrecondition("the text engine did not fit")
                }
                let catalog = d.makeCatalog()
                let failures = Tally()
                return { user, items, base in
                    let (judged, reasons) = reranker.judge(
                        user, items: items, baseScores: base, catalog: catalog, text: text, kind: kind)
                    // Logged a few times, not once per user.
                    if !reasons.isEmpty, failures.count.add(1, ordering: .relaxed).newValue <= 3 {
                        log("\(kind.rawValue) judge: \(reasons.map(\.why).joined(separator: "; "))")
                    }
                    guard let judged else { return nil }
                    return Fusion.fuse(
                        base: base, judge: judged.out.scores, alpha: alpha, positionWeights: positionWeights,
                        normalization: normalization
                    ).fused
                }
            })
    }
}

/// A counter closures can share.
final class Tally: Sendable {
    let count = Atomic<Int>(0)
}
