import Foundation
import RecCore
import RecMath
import RecText

/// Everything a judge may look at for one re-ranking request.
public struct JudgeInput: Sendable {
    public var user: UserQuery
    /// The user's profile text (`Profiles.user`: demographics, liked / disliked titles,
    /// dominant genres).
    public var profile: String
    /// The natural-language preference: the request's, else one written from the user's
    /// favourite titles (arXiv 2507.07251's input).
    public var preference: String
    /// Display titles of the user's (up to) 10 top-rated items.
    public var favourites: [String]
    /// Candidates in base order (best first), with their profile texts.
    public var items: [Int32]
    public var itemTexts: [String]
    /// Base scores min-max normalised to [0, 1], aligned with `items`.
    public var basePrior: [Float]
    /// What the items are: the noun the prompts use.
    public var domain: DatasetSchema = .movies
}

/// A judge's verdict: one score per candidate (higher is better; any scale, fusion
/// normalises) and notes for the reply's warnings.
public struct JudgeOutput: Sendable {
    public var scores: [Float]
    public var warnings: [String] = []
}

/// Re-scores candidates for a user. Implementations are immutable and thread-safe.
public protocol Judge: Sendable {
    /// The wire name: "local", "llm_relevancy", "llm_pointwise".
    var name: String { get }
    func judge(_ input: JudgeInput, deadline: Deadline) throws -> JudgeOutput
}

/// Why a judge could not score; the reranker falls back and reports `reason`.
public struct JudgeFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

// MARK: - local

/// MiniLM cosine between the user's query vector (preference and/or profile, as the text
/// engine builds it) and each candidate's stored profile embedding. Offline, deterministic,
/// a few milliseconds: the default judge and the fallback for the LLM judges.
public struct LocalJudge: Judge {
    public let name = "local"
    public let text: any TextEmbeddingSpace

    public init(text: any TextEmbeddingSpace) { self.text = text }

    public func judge(_ input: JudgeInput, deadline: Deadline) throws -> JudgeOutput {
        if let why = text.unscorableReason(input.user) { throw JudgeFailure("local judge: \(why)") }
        let q = try text.queryVector(input.user)
        let scores = input.items.map { i -> Float in
            var s: Float = 0
            for (a, b) in zip(text.itemVector(i), q) { s += a * b }
            return s
        }
        return JudgeOutput(scores: scores)
    }
}

// MARK: - LLM relevancy (arXiv 2508.01514)

/// The paper's best method: candidates in batches of 5, each scored 0–100 for relevance to
/// the user's profile; every item is seen in 3 batches (3 passes over the list, each in a
/// different seeded order, cut into batches of 5) and its scores are averaged. All batches
/// of a request run concurrently. If some batches fail but every item was scored at least
/// once, the averages stand with a warning; otherwise the judge fails.
public struct LLMRelevancyJudge: Judge {
    public let name = "llm_relevancy"
    public let llm: LLMClient
    public static let batchSize = 5
    public static let passes = 3

    public init(llm: LLMClient) { self.llm = llm }

    /// Index batches into `0..<n`: `passes` permutations cut into runs of `batchSize`.
    public static func batches(n: Int, seed: UInt64) -> [[Int]] {
        var rng = SplitMix64(seed: seed)
        var out: [[Int]] = []
        for pass in 0..<passes {
            var order = Array(0..<n)
            if pass > 0 { order.shuffle(using: &rng) }
            var i = 0
            while i < n {
                out.append(Array(order[i..<min(n, i + batchSize)]))
                i += batchSize
            }
        }
        return out
    }

    public func judge(_ input: JudgeInput, deadline: Deadline) throws -> JudgeOutput {
        let n = input.items.count
        guard n > 0 else { return JudgeOutput(scores: []) }
        // Seeded by the candidate set, so the same request gives the same prompts (and cache hits).
        let seed = input.items.reduce(UInt64(1469598103934665603)) {
            ($0 ^ UInt64(UInt32(bitPattern: $1))) &* 1099511628211
        }
        let batches = Self.batches(n: n, seed: seed)
        let requests = batches.map { b in
            ChatRequest(
                messages: Prompts.relevancy(
                    profile: input.profile, preference: input.preference,
                    candidates: b.map { input.itemTexts[$0] }, domain: input.domain),
                schema: Prompts.relevancySchema)
        }
        let results = llm.chatAll(requests, deadline: deadline)
        var sum = [Float](repeating: 0, count: n), count = [Int](repeating: 0, count: n)
        var failures: [LLMError] = []
        for (b, r) in zip(batches, results) {
            switch r.flatMap({ res in
                Result { () throws(LLMError) in try Prompts.parseRelevancy(res.content, count: b.count) }
            }) {
            case .success(let scores):
                for (k, i) in b.enumerated() {
                    sum[i] += scores[k]
                    count[i] += 1
                }
            case .failure(let e): failures.append(e)
            }
        }
        if let first = failures.first, count.contains(0) {
            throw JudgeFailure("LLM relevancy judge: \(failures.count) of \(batches.count) batches failed (\(first))")
        }
        var out = JudgeOutput(scores: (0..<n).map { sum[$0] / Float(count[$0]) })
        if let first = failures.first {
            out.warnings.append(
                "LLM relevancy judge: \(failures.count) of \(batches.count) batches failed (\(first)); averages use "
                    + "the rest"
            )
        }
        return out
    }
}

// MARK: - LLM pointwise (arXiv 2507.07251)

/// One call per candidate: the preference sentence, the favourite titles, the item's
/// profile and the base score as a prior; the answer is a score in [-1, 1]. Any failed
/// call fails the judge (a partial list cannot be compared fairly).
public struct LLMPointwiseJudge: Judge {
    public let name = "llm_pointwise"
    public let llm: LLMClient

    public init(llm: LLMClient) { self.llm = llm }

    public func judge(_ input: JudgeInput, deadline: Deadline) throws -> JudgeOutput {
        let requests = input.items.indices.map { k in
            ChatRequest(
                messages: Prompts.pointwise(
                    preference: input.preference, favourites: input.favourites,
                    item: input.itemTexts[k], prior: input.basePrior[k], domain: input.domain),
                schema: Prompts.pointwiseSchema, maxTokens: 128)
        }
        let results = llm.chatAll(requests, deadline: deadline)
        var scores: [Float] = []
        var failed = 0
        var first: LLMError?
        for r in results {
            switch r.flatMap({ res in Result { () throws(LLMError) in try Prompts.parsePointwise(res.content) } }) {
            case .success(let s): scores.append(s)
            case .failure(let e):
                failed += 1
                first = first ?? e
            }
        }
        if let first {
            throw JudgeFailure("LLM pointwise judge: \(failed) of \(requests.count) calls failed (\(first))")
        }
        return JudgeOutput(scores: scores)
    }
}
