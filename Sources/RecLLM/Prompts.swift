import Foundation
import RecCore

/// Prompts, response schemas and strict parsers for every LLM task. A parser accepts only
/// JSON that matches its schema (right keys, right types, ranges, every candidate exactly
/// once) and throws `LLMError(.schema, …)` otherwise: servers that ignore
/// `response_format` are checked just the same.
///
/// Every prompt names the dataset's items by its schema's domain noun ("movie", "product");
/// MovieLens' prompts are word for word what they have always been.
public enum Prompts {
    static let system =
        "You are a careful movie recommendation assistant. Answer only with JSON that matches the given schema."

    static func system(_ d: DatasetSchema) -> String {
        d == .movies
            ? system
            : "You are a careful \(d.domain) recommendation assistant. Answer only with JSON that matches the given "
                + "schema."
    }

    // MARK: relevancy (arXiv 2508.01514)

    public static let relevancySchema = JSONSchema(
        name: "relevancy_scores",
        schema: """
            {"type":"object","additionalProperties":false,"required":["scores"],\
            "properties":{"scores":{"type":"array","items":{"type":"object","additionalProperties":false,\
            "required":["id","score"],"properties":{"id":{"type":"integer"},"score":{"type":"number","minimum":0,\
            "maximum":100}}}}}}
            """)

    public static func relevancy(
        profile: String, preference: String, candidates: [String], domain: DatasetSchema = .movies
    ) -> [ChatMessage] {
        var u = "User profile: \(profile.isEmpty ? "(no history)" : profile)\n"
        if !preference.isEmpty { u += "Stated preference: \(preference)\n" }
        u +=
            "\nRate how relevant each candidate \(domain.domain) is to this user, from 0 (not at all) to 100 "
            + "(a perfect match).\n"
        u += "Candidates:\n"
        for (n, c) in candidates.enumerated() { u += "[\(n + 1)] \(c)\n" }
        u +=
            "\nAnswer {\"scores\": [{\"id\": <candidate number>, \"score\": <0-100>}, ...]} with every candidate "
            + "exactly once."
        return [.system(system(domain)), .user(u)]
    }

    public static func parseRelevancy(_ content: String, count: Int) throws(LLMError) -> [Float] {
        let obj = try object(content)
        guard let list = obj["scores"] as? [[String: Any]] else {
            throw LLMError(.schema, "no \"scores\" array in \(clip(content))")
        }
        var out = [Float?](repeating: nil, count: count)
        for e in list {
            guard let id = integer(e["id"]), id >= 1, id <= count else {
                throw LLMError(.schema, "candidate id out of 1...\(count) in \(clip(content))")
            }
            guard let s = number(e["score"]), s.isFinite, s >= 0, s <= 100 else {
                throw LLMError(.schema, "score outside 0...100 in \(clip(content))")
            }
            guard out[id - 1] == nil else { throw LLMError(.schema, "candidate \(id) scored twice") }
            out[id - 1] = Float(s)
        }
        guard out.allSatisfy({ $0 != nil }) else {
            throw LLMError(.schema, "\(out.filter { $0 == nil }.count) candidate(s) not scored")
        }
        return out.map { $0! }
    }

    // MARK: pointwise (arXiv 2507.07251)

    public static let pointwiseSchema = JSONSchema(
        name: "pointwise_score",
        schema: """
            {"type":"object","additionalProperties":false,"required":["score"],"properties":{"score":{"type":"number",\
            "minimum":-1,"maximum":1},"reason":{"type":"string"}}}
            """)

    public static func pointwise(
        preference: String, favourites: [String], item: String, prior: Float, domain: DatasetSchema = .movies
    ) -> [ChatMessage] {
        var u = "The user's preference: \(preference.isEmpty ? "(unknown)" : preference)\n"
        if !favourites.isEmpty { u += "Their favourite titles: \(favourites.joined(separator: "; "))\n" }
        u += "Candidate: \(item)\n"
        u +=
            "A collaborative-filtering model rates this candidate \(String(format: "%.2f", prior)) on a 0-1 scale "
            + "within this list; use it as a prior.\n"
        u +=
            "How well does the candidate fit the preference? Answer {\"score\": <number from -1 (poor fit) to 1 "
            + "(excellent fit)>, \"reason\": <one short sentence>}."
        return [.system(system(domain)), .user(u)]
    }

    public static func parsePointwise(_ content: String) throws(LLMError) -> Float {
        let obj = try object(content)
        guard let s = number(obj["score"]), s.isFinite, s >= -1, s <= 1 else {
            throw LLMError(.schema, "score outside -1...1 in \(clip(content))")
        }
        return Float(s)
    }

    // MARK: explanations

    public static let explanationSchema = JSONSchema(
        name: "explanation",
        schema: """
            {"type":"object","additionalProperties":false,"required":["explanation"],\
            "properties":{"explanation":{"type":"string"}}}
            """)

    public static func explanation(
        item: String, evidence: [String], profile: String, domain: DatasetSchema = .movies
    ) -> [ChatMessage] {
        var u = "Explain in one or two sentences, addressed to the user, why they may like \(item).\n"
        u += "Use only this evidence; do not mention any other \(domain.domain):\n"
        for e in evidence { u += "- \(e)\n" }
        if !profile.isEmpty { u += "User profile: \(profile)\n" }
        u += "Answer {\"explanation\": <text>}."
        return [.system(system(domain)), .user(u)]
    }

    public static func parseExplanation(_ content: String) throws(LLMError) -> String {
        let obj = try object(content)
        guard let s = obj["explanation"] as? String else {
            throw LLMError(.schema, "no \"explanation\" string in \(clip(content))")
        }
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty, t.count <= 1200 else {
            throw LLMError(.schema, "explanation is empty or longer than 1,200 characters")
        }
        return t
    }

    // MARK: offline profiles

    public static let itemProfileSchema = JSONSchema(
        name: "item_profile",
        schema: """
            {"type":"object","additionalProperties":false,"required":["overview","attributes","description"],\
            "properties":{"overview":{"type":"string"},"attributes":{"type":"array","items":{"type":"string"}},\
            "description":{"type":"string"}}}
            """)

    public static func itemProfile(_ facts: String, domain: DatasetSchema = .movies) -> [ChatMessage] {
        let movies = domain == .movies
        let overview = movies ? "plot overview" : "overview of what it is"
        let attributes = movies ? "mood, themes, style" : "kind, use, style"
        return [
            .system(system(domain)),
            .user(
                """
                Write a profile of this \(domain.domain) for a recommender system: \(facts)
                Answer {"overview": <2-3 sentence \(overview)>, "attributes": [<5 short attributes: \(attributes)>], \
                "description": <one sentence on who would enjoy it>}.
                """),
        ]
    }

    public static func parseItemProfile(
        _ content: String
    ) throws(LLMError) -> (overview: String, attributes: [String], description: String) {
        let obj = try object(content)
        guard let o = obj["overview"] as? String, let a = obj["attributes"] as? [String],
            let d = obj["description"] as? String,
            !o.isEmpty, !d.isEmpty
        else { throw LLMError(.schema, "item profile lacks overview/attributes/description: \(clip(content))") }
        return (o, a.filter { !$0.isEmpty }, d)
    }

    public static let userSummarySchema = JSONSchema(
        name: "user_summary",
        schema: """
            {"type":"object","additionalProperties":false,"required":["summary"],\
            "properties":{"summary":{"type":"string"}}}
            """)

    /// One turn of the multi-turn user profile: the summary so far plus 5 more liked or
    /// disliked titles.
    public static func userSummaryTurn(
        previous: String, demographics: String, liked: [String], disliked: [String], domain: DatasetSchema = .movies
    ) -> [ChatMessage] {
        let who = domain == .movies ? "a movie watcher" : "someone choosing \(domain.domainPlural)"
        var u = "Update a short taste profile of \(who) (at most 3 sentences).\n"
        if !demographics.isEmpty { u += "About them: \(demographics)\n" }
        u += "Profile so far: \(previous.isEmpty ? "(empty)" : previous)\n"
        if !liked.isEmpty { u += "They liked: \(liked.joined(separator: "; "))\n" }
        if !disliked.isEmpty { u += "They disliked: \(disliked.joined(separator: "; "))\n" }
        u += "Answer {\"summary\": <the updated profile>}."
        return [.system(system(domain)), .user(u)]
    }

    public static func parseSummary(_ content: String) throws(LLMError) -> String {
        let obj = try object(content)
        guard let s = obj["summary"] as? String, !s.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw LLMError(.schema, "no \"summary\" string in \(clip(content))")
        }
        return s.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static let preferenceSchema = JSONSchema(
        name: "preference",
        schema: """
            {"type":"object","additionalProperties":false,"required":["preference"],\
            "properties":{"preference":{"type":"string"}}}
            """)

    /// arXiv 2507.07251: one natural-language preference sentence from the 10 top-rated titles.
    public static func preference(favourites: [String], domain: DatasetSchema = .movies) -> [ChatMessage] {
        let who = domain == .movies ? "a viewer" : "a user"
        return [
            .system(system(domain)),
            .user(
                """
                These are \(who)'s 10 favourite \(domain.domainPlural): \(favourites.joined(separator: "; ")).
                Write one sentence describing the kind of \(domain.domainPlural) they prefer, without naming any title.
                Answer {"preference": <the sentence>}.
                """),
        ]
    }

    public static func parsePreference(_ content: String) throws(LLMError) -> String {
        let obj = try object(content)
        guard let s = obj["preference"] as? String, !s.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw LLMError(.schema, "no \"preference\" string in \(clip(content))")
        }
        return s.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: helpers

    /// The JSON object in `content`; tolerates a ```json fence around it, nothing else.
    static func object(_ content: String) throws(LLMError) -> [String: Any] {
        var t = content.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.hasPrefix("```") {
            t = String(t.drop { $0 != "\n" }.dropFirst())
            if t.hasSuffix("```") { t = String(t.dropLast(3)) }
        }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(t.utf8)) as? [String: Any] else {
            throw LLMError(.schema, "the answer is not a JSON object: \(clip(content))")
        }
        return obj
    }

    static func number(_ v: Any?) -> Double? {
        guard let v, !(type(of: v) == Bool.self) else { return nil }
        if let n = v as? NSNumber, String(cString: n.objCType) == "c" { return nil }  // a JSON true/false
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        return nil
    }

    static func integer(_ v: Any?) -> Int? {
        guard let d = number(v), d == d.rounded(), abs(d) < 1e9 else { return nil }
        return Int(d)
    }

    static func clip(_ s: String) -> String { s.count <= 120 ? s : String(s.prefix(120)) + "…" }
}
