import Foundation
import RecCore
import Testing

@testable import RecLLM

/// Prompts name the dataset's items by its domain noun; MovieLens' prompts do not change.
@Suite struct PromptTests {
    func text(_ m: [ChatMessage]) -> String { m.map { "\($0.role): \($0.content)" }.joined(separator: "\n") }

    @Test func aShopsPromptsSayProductAndNeverMovie() {
        let shop = DatasetSchema(domain: "product", feedback: .implicit)
        let all = [
            Prompts.relevancy(profile: "p", preference: "", candidates: ["A", "B"], domain: shop),
            Prompts.pointwise(preference: "x", favourites: ["A"], item: "B", prior: 0.5, domain: shop),
            Prompts.explanation(item: "A", evidence: ["e"], profile: "p", domain: shop),
            Prompts.itemProfile("A.", domain: shop),
            Prompts.userSummaryTurn(previous: "", demographics: "", liked: ["A"], disliked: [], domain: shop),
            Prompts.preference(favourites: ["A"], domain: shop),
        ].map(text)
        for t in all {
            #expect(!t.lowercased().contains("movie") && !t.contains("viewer") && !t.contains("plot"), "\(t)")
            #expect(t.contains("product"), "\(t)")
        }
        #expect(all[0].contains("candidate product"))
        #expect(all[5].contains("favourite products"))
    }

    @Test func movieLensPromptsAreWordForWordTheSame() {
        #expect(
            text(Prompts.relevancy(profile: "p", preference: "", candidates: ["A"]))
                == text(Prompts.relevancy(profile: "p", preference: "", candidates: ["A"], domain: .movies)))
        let r = text(Prompts.relevancy(profile: "p", preference: "", candidates: ["A"]))
        #expect(r.contains("You are a careful movie recommendation assistant."))
        #expect(r.contains("Rate how relevant each candidate movie is to this user"))
        #expect(text(Prompts.preference(favourites: ["A"])).contains("These are a viewer's 10 favourite movies: A."))
        #expect(
            Prompts.itemProfile("A.").last?.content
                == "Write a profile of this movie for a recommender system: A.\nAnswer {\"overview\": <2-3 sentence "
                + "plot overview>, \"attributes\": [<5 short attributes: mood, themes, style>], \"description\": <one "
                + "sentence on who would enjoy it>}.")
    }
}
