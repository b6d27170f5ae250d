import Foundation
import RecCore
import RecLLM
import RecTestSupport
import RecText
import Testing

@Suite(.serialized) struct ProfileWriterTests {
    let server: ScriptedLLMServer
    let rec = try! Fixture.recommender()

    init() throws { server = try ScriptedLLMServer() }

    func writer(_ model: String, maxTurns: Int = 4) throws -> ProfileWriter {
        var c = LLMConfig(baseURL: server.baseURL, model: model)
        c.backoff = 0.01
        c.maxRetries = 0
        return ProfileWriter(llm: try LLMClient(config: c), maxTurns: maxTurns, chunkSize: 5)
    }

    @Test func itemsAreEnrichedAndDoneOnesSkipped() throws {
        var got: [ItemProfile] = []
        var chunks = 0
        let s = try writer("normal").items(
            rec.catalog, done: ["i0", "i1"],
            emit: {
                got += $0
                chunks += 1
            })
        #expect(s.written == 11 && s.skipped == 2 && s.failed == 0 && s.firstError == nil)
        #expect(got.map(\.id) == (2..<13).map { "i\($0)" } && chunks == 3)
        #expect(got.allSatisfy { $0.overview == "A scripted overview." && $0.attributes == ["scripted", "test"] })
        #expect(got[0].text.hasPrefix("Laugh 2 (1982). Genres: Comedy. Overview: A scripted overview."))
        #expect(try server.requests("normal") == 11)
    }

    @Test func usersGetAMultiTurnSummaryAndAPreference() throws {
        var got: [ProfileWriter.UserResult] = []
        let before = try server.requests("normal")
        let s = try writer("normal", maxTurns: 1).users(rec.users, catalog: rec.catalog, done: [], emit: { got += $0 })
        #expect(s.written == 4 && s.failed == 0)
        // u2 liked 6 titles: with one turn allowed, one summary call plus the preference.
        let u2 = try #require(got.first { $0.profile.id == "u2" })
        #expect(u2.profile.summary?.hasPrefix("Likes Tears 1 (1981).") == true, "\(u2.profile.summary ?? "nil")")
        #expect(u2.preference == "Prefers thoughtful character-driven films.")
        #expect(try server.requests("normal") - before == 4 * 2)

        // Three turns: u2's 6 liked titles take two, and each turn builds on the last summary.
        got = []
        _ = try writer("normal", maxTurns: 3).users(
            rec.users, catalog: rec.catalog, done: ["u0", "u1", "u3"], emit: { got += $0 })
        #expect(got.map(\.profile.id) == ["u2"])
        #expect(
            got[0].profile.summary == "Likes Tears 1 (1981). Likes Tears 11 (1991).",
            "\(got[0].profile.summary ?? "nil")")
    }

    @Test func failuresAreLeftOutAndCounted() throws {
        var got: [ItemProfile] = []
        let s = try writer("wrong-schema").items(rec.catalog, done: [], emit: { got += $0 })
        #expect(got.isEmpty && s.failed == 13 && s.firstError?.contains("item i0") == true)
    }

    @Test func overridesRoundTripAndLayOverTheTemplate() throws {
        let dir = try makeTempDir()
        let file = dir.appendingPathComponent("profiles.jsonl")
        var item = Profiles.item(4, catalog: rec.catalog)
        item.overview = "Two friends get lost."
        let enc = JSONEncoder()
        var lines = String(decoding: try enc.encode(item), as: UTF8.self).replacingOccurrences(
            of: "{", with: "{\"kind\":\"item\",", options: [], range: nil)
        lines +=
            "\n{\"kind\":\"user\",\"id\":\"u0\",\"liked\":[\"Secret Title "
            + "(2001)\"],\"disliked\":[],\"dominant_genres\":[],\"summary\":\"Loves "
            + "farce.\",\"preference\":\"Light comedies.\"}\n"
        try lines.write(to: file, atomically: true, encoding: .utf8)
        let o = try ProfileOverrides.load(file)
        let items = o.itemTexts(rec.catalog)
        #expect(items[4] == "Laugh 4 (1984). Genres: Comedy. Overview: Two friends get lost.")
        #expect(items[3] == Profiles.item(3, catalog: rec.catalog).text)
        let users = o.userTexts(rec.users, catalog: rec.catalog)
        // The summary is taken; the liked list is rebuilt from the data, never the file's.
        #expect(
            users[0].hasSuffix("Loves farce.") && users[0].contains("Laugh 0 (1980)")
                && !users[0].contains("Secret Title"))
        #expect(o.preferences["u0"] == "Light comedies.")

        try "{\"kind\":\"item\",\"id\":3}\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: RecError.self) { try ProfileOverrides.load(file) }
        try "not json\n".write(to: file, atomically: true, encoding: .utf8)
        let e = #expect(throws: RecError.self) { try ProfileOverrides.load(file) }
        #expect(e?.message.contains("profiles.jsonl:1") == true)
    }
}
