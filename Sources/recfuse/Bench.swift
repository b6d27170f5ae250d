import ArgumentParser
import Foundation
import RecBench
import RecCore
import RecGRPC
import RecWire

/// `recfuse bench`: the load generator (`RecBench.LoadGenerator`) with its echo baseline.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Load-test a server: N concurrent clients, any RPC, HdrHistogram latencies, with a bare NNG echo baseline.",
        discussion:
            "Each client has its own REQ socket and keeps one request in flight. Stops at --count requests or after "
            + "--duration seconds, whichever comes first."
    )
    @Option(name: .customLong("url"), help: "Server URL, repeatable (several = replicas on one socket per client).")
    var urls: [String] = ["ipc:///tmp/recfuse.sock"]
    @Option(help: "health | rank | retrieve | rerank | explain | feedback.") var method: String = "rank"
    @Option(help: "Concurrent clients.") var clients: Int = 1
    @Option(help: "Requests in total (all clients).") var count: Int = 20_000
    @Option(help: "Seconds at most.") var duration: Double = 60
    @Option(help: "Warm-up requests per client, not measured.") var warmup: Int = 200
    @Option(help: "User id in the requests.") var user: String = "196"
    @Option(help: "Candidates per Rank/Rerank request (item ids 1, 14, 27, ...).") var candidates: Int = 100
    @Option(help: "Engine for Rank/Retrieve (empty = the server's default).") var engine: String = ""
    @Option(help: "Items per Retrieve.") var k: Int = 10
    @Option(help: "Events per Feedback request (the server needs --store).") var batch: Int = 1
    @Option(help: "Requests per second per client, paced (0: each client sends as fast as replies come).")
    var rate: Double = 0
    @Option(help: "Retrieve's search path: auto, exact, approximate.") var retrieval: String = "auto"
    @Option(help: "Each request's deadline in ms (sent relative and absolute, so time queued counts).")
    var deadlineMs: Int = 10_000
    @Option(help: "Rerank's judge: local, llm_relevancy, llm_pointwise (empty = the server's default).")
    var judge: String = ""
    @Option(
        help: """
            Which door to load: nng (--url), grpc (--grpc-target, the same request as an HTTP/2 gRPC call) or both \
            (one after the other, in one run, next to the echo).
            """)
    var transport: String = "nng"
    @Option(help: "The server's gRPC HOST:PORT (serve --grpc-listen) for --transport grpc or both.")
    var grpcTarget: String = "127.0.0.1:50051"
    @Flag(inversion: .prefixedNo, help: "Also measure a bare NNG echo of the same bytes (ipc, same clients).")
    var echo = true
    @Flag(help: "One JSON object per target instead of the table.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        _ = global.bootstrap()
        do {
            guard let m = LoadGenerator.Method(rawValue: method) else {
                throw RecError.invalidArgument(
                    "--method must be one of \(LoadGenerator.Method.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var o = LoadGenerator.Options()
            (o.urls, o.method, o.clients, o.count, o.duration, o.warmup) = (urls, m, clients, count, duration, warmup)
            (o.user, o.candidates, o.engine) = (user, candidates, engine)
            (o.deadlineMs, o.judge) = (deadlineMs, judge)
            let paths: [String: RFRetrievalPath] = ["auto": .auto, "exact": .exact, "approximate": .approximate]
            guard let path = paths[retrieval], k >= 1 else {
                throw RecError.invalidArgument("--retrieval must be auto, exact or approximate, and --k >= 1")
            }
            (o.k, o.retrievalPath) = (k, path)
            guard batch >= 1 else { throw RecError.invalidArgument("--batch must be >= 1") }
            o.feedbackBatch = batch
            guard rate >= 0, rate.isFinite else { throw RecError.invalidArgument("--rate must be >= 0") }
            o.rate = rate
            guard ["nng", "grpc", "both"].contains(transport) else {
                throw RecError.invalidArgument("--transport must be nng, grpc or both")
            }
            let gen = try LoadGenerator(o)
            let target = grpcTarget
            let results = try gen.runWithBaseline(
                echo: echo, skipNNG: transport == "grpc",
                extraTarget: transport == "nng" ? nil : { try GRPCLoad.runBlocking(gen, target: target) })
            let bytes = try gen.request().count
            if json {
                for line in try gen.json(results, requestBytes: bytes) { print(line) }
            } else {
                print(gen.table(results, requestBytes: bytes), terminator: "")
            }
            if results[0].errors > 0 { throw ExitCode(3) }
        } catch let e as ExitCode { throw e } catch { fail(error) }
    }
}

/// `recfuse echo`: a bare NNG REP echo, the baseline `recfuse bench` measures the server
/// against (started by bench in a child process; also useful on its own).
struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A bare NNG REP echo: every message is sent back as it came (the bench baseline).")
    @Option(help: "URL to listen on.") var url: String
    @Option(help: "Contexts, each on its own thread (requests in flight at most).") var contexts: Int = 16
    @OptionGroup var global: GlobalOptions

    func run() throws {
        _ = global.bootstrap()
        do {
            let server = try EchoServer(url: url, contexts: contexts)
            withExtendedLifetime(server) { while true { pause() } }
        } catch { fail(error) }
    }
}
