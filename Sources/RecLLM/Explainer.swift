import Foundation
import RecCore
import RecText

/// Explain with `style = LLM`: the engine's evidence (history items with their share of
/// the score, shared genres, profile similarity) goes into the prompt and the LLM writes
/// the sentence. The answer is grounded or discarded: if it names a catalogue title that
/// is neither the explained item nor a history item in the evidence, or the call fails in
/// any way, the template text is returned with `degraded` and the reason.
public struct Explainer: Sendable {
    public let llm: LLMClient?

    public init(llm: LLMClient?) { self.llm = llm }

    public func explain(_ rec: Recommender, _ q: ExplainQuery, deadline: Deadline = .none) throws -> Explanation {
        var e = try rec.explain(q, deadline: deadline)
        guard q.style == .llm else { return e }
        func degrade(_ why: String, _ kind: Degradation = .templateText) -> Explanation {
            e.degraded = true
            e.degradations.insert(kind)
            e.degradedReason =
                (e.degradedReason.isEmpty ? "" : e.degradedReason + "; ") + why + "; the template text is returned"
            return e
        }
        guard let llm else { return degrade("no LLM is configured for explanations (serve --llm-base-url)") }
        let catalog = rec.catalog
        let title = catalog.displayTitle
        let lines: [String] = e.evidence.map { x in
            switch x.kind {
            case "history_item": "they liked \(x.item.map(title) ?? "?") (weight \(String(format: "%.2f", x.weight)))"
            case "shared_genre":
                x.detail.replacingOccurrences(of: "you rated", with: "they rated")
                    .replacingOccurrences(of: "you chose", with: "they chose")
            case "profile_similarity":
                "the \(catalog.schema.domain)'s description is similar to their taste profile (cosine "
                    + "\(String(format: "%.2f", x.weight)))"
            default: x.detail
            }
        }
        var warn: [String] = []
        let user = try rec.resolve(q.user, warnings: &warn)
        let profile = Profiles.user(id: user.rawID, history: user.history, meta: user.meta, catalog: catalog).text
        let r = llm.chat(
            ChatRequest(
                messages: Prompts.explanation(
                    item: title(e.item), evidence: lines, profile: profile, domain: catalog.schema),
                schema: Prompts.explanationSchema, maxTokens: 256), deadline: deadline)
        let text: String
        switch r.flatMap({ res in Result { () throws(LLMError) in try Prompts.parseExplanation(res.content) } }) {
        case .failure(let err): return degrade("LLM explanation failed (\(err))", .of(err, else: .templateText))
        case .success(let t): text = t
        }
        let allowed = [e.item] + e.evidence.filter { $0.kind == "history_item" }.compactMap(\.item)
        let stray = TitleMatcher(catalog).mentioned(in: text).filter { !allowed.contains($0) }
        let allowedTitles = allowed.map { TitleMatcher.key(catalog.meta[Int($0)].title) }
        let ungrounded = stray.filter { s in
            let k = TitleMatcher.key(catalog.meta[Int(s)].title)
            return !allowedTitles.contains { $0.contains(k) }  // "Alien" inside an allowed "Aliens" is fine
        }
        if let first = ungrounded.first {
            return degrade("the LLM explanation named \(title(first)), which is not in the evidence")
        }
        e.text = text
        e.style = .llm
        return e
    }
}

/// Finds catalogue titles in free text. A title counts when its main form (article moved
/// to the front, alternative title in parentheses dropped) appears case-sensitively on word
/// boundaries; titles of one short word ("Heat", "Big") are skipped, as they are ordinary
/// words far more often than titles.
public struct TitleMatcher: Sendable {
    private let titles: [(item: Int32, key: String)]

    public init(_ catalog: Catalog) {
        titles = catalog.meta.enumerated().compactMap { n, m in
            let k = Self.key(m.title)
            return (k.contains(" ") || k.count >= 7) ? (Int32(n), k) : nil
        }
    }

    /// "Usual Suspects, The" → "The Usual Suspects"; "Cité des enfants perdus, La (City of
    /// Lost Children, The)" → "La Cité des enfants perdus".
    public static func key(_ title: String) -> String {
        var t = title
        if let p = t.range(of: " (") { t = String(t[..<p.lowerBound]) }
        return ItemMeta.displayTitle(t, year: nil)
    }

    public func mentioned(in text: String) -> [Int32] {
        titles.filter { Self.containsWord(text, $0.key) }.map(\.item)
    }

    static func containsWord(_ text: String, _ word: String) -> Bool {
        var from = text.startIndex
        while let r = text.range(of: word, range: from..<text.endIndex) {
            let before = r.lowerBound == text.startIndex ? nil : text[text.index(before: r.lowerBound)]
            let after = r.upperBound == text.endIndex ? nil : text[r.upperBound]
            if !(before?.isLetter ?? false) && !(before?.isNumber ?? false) && !(after?.isLetter ?? false)
                && !(after?.isNumber ?? false)
            {
                return true
            }
            from = text.index(after: r.lowerBound)
        }
        return false
    }
}

extension Degradation {
    /// `.deadline` when `error` is the request's deadline running out; `fallback` otherwise.
    public static func of(_ error: any Error, else fallback: Degradation) -> Degradation {
        if let e = error as? RecError, e.code == .deadlineExceeded { return .deadline }
        if let e = error as? LLMError, e.kind == .deadline { return .deadline }
        return fallback
    }
}
