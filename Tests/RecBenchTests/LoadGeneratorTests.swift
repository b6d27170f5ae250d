import Foundation
import RecBench
import RecCore
import RecWire
import Testing

@Suite struct LoadGeneratorTests {
    func options(_ url: String, count: Int, clients: Int) -> LoadGenerator.Options {
        var o = LoadGenerator.Options()
        (o.urls, o.count, o.clients, o.warmup, o.method) = ([url], count, clients, 5, .health)
        return o
    }

    /// Against an echo, every request is sent and answered exactly once and counted; replies are
    /// the request bytes, which are not a valid Reply, so checking them counts errors.
    @Test func countsEveryRequestOnceAcrossClients() throws {
        let url = "ipc://\(FileManager.default.temporaryDirectory.path)/rf-bench-\(UUID().uuidString.prefix(8)).sock"
        let echo = try EchoServer(url: url, contexts: 4)
        defer { echo.stop() }
        let gen = try LoadGenerator(options(url, count: 300, clients: 3))
        let bytes = try gen.request()
        let env = try RFEnvelope(serializedBytes: bytes)
        #expect(env.method == Methods.health && env.deadlineMs == 10_000)
        let r = try gen.run("echo", urls: [url], bytes: bytes, checkReplies: false)
        #expect(r.requests == 300 && r.errors == 0 && r.p(50) > 0 && r.p(99) >= r.p(50))
        let checked = try gen.run("echo", urls: [url], bytes: bytes, checkReplies: true)
        #expect(checked.requests == 300 && checked.errors > 0 && checked.firstError != nil)
        let lines = try gen.json([r], requestBytes: bytes.count)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(obj["requests"] as? Int == 300 && obj["method"] as? String == "health")
        var baseline = r
        baseline.target = "nng echo"
        let table = gen.table([r, r, baseline], requestBytes: bytes.count)
        #expect(table.contains("ratio      echo: throughput 1.00x of the echo; p50 1.00x"), "\(table)")
        #expect(table.components(separatedBy: "ratio ").count == 3, "one ratio per row but the echo's")
    }

    @Test func everyMethodBuildsItsRequestAndBadOptionsAreRefused() throws {
        for m in LoadGenerator.Method.allCases {
            var o = LoadGenerator.Options()
            o.method = m
            let env = try RFEnvelope(serializedBytes: try LoadGenerator(o).request())
            #expect(env.method.hasSuffix("/" + m.rawValue.prefix(1).uppercased() + m.rawValue.dropFirst()))
        }
        var o = LoadGenerator.Options()
        o.clients = 0
        #expect(throws: RecError.self) { try LoadGenerator(o) }
    }
}
