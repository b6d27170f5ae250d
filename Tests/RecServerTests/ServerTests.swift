import Foundation
import RecCore
import RecData
import RecEngines
import RecLLM
import RecNNG
import RecTestSupport
import RecWire
import SwiftProtobuf
import Synchronization
import Testing

@testable import RecServer

/// A minimal blocking NNG REQ client for the tests (the real clients are in Clients/).
final class ReqClient {
    let socket: NNGSocket

    init(_ url: String, timeoutMs: Int32 = 5000) throws {
        socket = try NNGSocket(.req)
        try socket.setTimeouts(milliseconds: timeoutMs)
        try socket.dial(url)
    }

    /// Sends raw bytes; returns the raw reply, or throws (timeout -> DEADLINE_EXCEEDED).
    func roundTrip(_ data: Data) throws -> Data { try socket.call(data) }

    func call<Resp: SwiftProtobuf.Message>(
        _ method: String, _ req: some SwiftProtobuf.Message, as: Resp.Type
    ) throws -> (RFStatus, Resp?) {
        var env = RFEnvelope()
        env.method = method
        env.payload = try req.serializedData()
        let reply = try RFReply(serializedBytes: roundTrip(env.serializedData()))
        return (reply.status, reply.status.code == .ok ? try Resp(serializedBytes: reply.payload) : nil)
    }
}

@Suite(.serialized) struct ServerTests {
    static let bundle = Result { () -> (Recommender, BundleManifest) in
        let root = try FileManager.default.url(
            for: .itemReplacementDirectory, in: .userDomainMask,
            appropriateFor: FileManager.default.temporaryDirectory, create: true)
        let d = Dataset(
            name: "mini", users: try IDMap(ids: ["a", "b"]), items: try IDMap(ids: ["x", "y", "z"]),
            interactions: [
                Interaction(user: 0, item: 0, rating: 5, timestamp: 1),
                Interaction(user: 0, item: 1, rating: 4, timestamp: 2),
                Interaction(user: 1, item: 1, rating: 3, timestamp: 3),
            ],
            itemMeta: [ItemMeta(title: "X"), ItemMeta(title: "Y"), ItemMeta(title: "Z")],
            userMeta: [UserMeta(), UserMeta()])
        let kinds = Registry.names.filter { !Registry.encoderKinds.contains($0) }
        try Bundles.train(
            d, plan: Bundles.Plan(kinds: kinds, defaultEngine: "cooccurrence"), out: root.appendingPathComponent("b"),
            name: "mini")
        return try Bundles.load(root.appendingPathComponent("b"))
    }

    func start(_ urls: [String], maxMessageBytes: Int = 4096, contexts: Int = 8) throws -> Server {
        var c = ServerConfig(listen: urls)
        c.maxMessageBytes = maxMessageBytes
        c.contexts = contexts
        let server = Server(service: Service(try Self.bundle.get().0), config: c)
        try server.start()
        return server
    }

    func ipcURL() -> String {
        "ipc://\(FileManager.default.temporaryDirectory.path)/rf-test-\(UUID().uuidString.prefix(8)).sock"
    }

    @Test func servesOverIpcTcpAndInproc() throws {
        let server = try start([ipcURL(), "tcp://127.0.0.1:0", "inproc://rf-\(UUID())"])
        defer { server.shutdown() }
        #expect(server.boundURLs.count == 3)
        #expect(!server.boundURLs[1].hasSuffix(":0"))  // the ephemeral port is resolved
        for url in server.boundURLs {
            let c = try ReqClient(url)
            let (st, h) = try c.call(Methods.health, RFHealthRequest(), as: RFHealthResponse.self)
            #expect(st.code == .ok && h?.status == .serving)
            var rank = RFRankRequest()
            rank.user.id = "b"
            rank.itemIds = ["x", "y", "z", "w"]
            let (st2, r) = try c.call(Methods.rank, rank, as: RFRankResponse.self)
            #expect(st2.code == .ok && r?.items.count == 3 && r?.unknownItems == ["w"])
        }
    }

    @Test func everyMessageGetsAValidReply() throws {
        let server = try start([ipcURL()])
        defer { server.shutdown() }
        let c = try ReqClient(server.boundURLs[0])
        for bytes in [Data(), Data([0xff]), Data("hello".utf8), Data(repeating: 0x0a, count: 100)] {
            let reply = try RFReply(serializedBytes: c.roundTrip(bytes))
            #expect(reply.status.code == .invalidArgument)
        }
    }

    @Test func oversizedMessageDropsOnlyThatConnection() throws {
        let server = try start([ipcURL()], maxMessageBytes: 1024)
        defer { server.shutdown() }
        let big = try ReqClient(server.boundURLs[0], timeoutMs: 500)
        #expect { try big.roundTrip(Data(repeating: 0x41, count: 4096)) } throws: {
            ($0 as? RecError)?.code == .deadlineExceeded
        }
        let c = try ReqClient(server.boundURLs[0])
        #expect(try c.call(Methods.health, RFHealthRequest(), as: RFHealthResponse.self).0.code == .ok)
    }

    @Test func concurrentClients() throws {
        let server = try start(["tcp://127.0.0.1:0"], contexts: 2)
        defer { server.shutdown() }
        let url = server.boundURLs[0]
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            guard let c = try? ReqClient(url) else {
                failures.withLock { $0 += 1 }
                return
            }
            for _ in 0..<50 {
                var req = RFRetrieveRequest()
                req.user.id = "a"
                req.excludeSeen = false
                if (try? c.call(Methods.retrieve, req, as: RFRetrieveResponse.self).1?.items.count) != 3 {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }

    /// Each context has its own thread: two calls stuck on a slow LLM (3 s) hold two of three
    /// contexts, and the third keeps answering Health meanwhile.
    @Test func slowCallsHoldOnlyTheirOwnContexts() throws {
        let llm = try ScriptedLLMServer(slowSeconds: 3)
        defer { llm.stop() }
        var c = ServerConfig(listen: [ipcURL()])
        c.contexts = 3
        let service = Service(
            try Self.bundle.get().0, llm: try LLMClient(config: LLMConfig(baseURL: llm.baseURL, model: "slow")))
        let server = Server(service: service, config: c)
        try server.start()
        defer { server.shutdown() }
        let url = server.boundURLs[0]
        let slowDone = Mutex(0)
        let slowStyles = Mutex<[RFExplainStyle]>([])
        let group = DispatchGroup()
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                var req = RFExplainRequest()
                req.user.id = "a"
                req.itemID = "z"
                req.engine = "popularity"
                req.style = .llm
                let out = try? ReqClient(url, timeoutMs: 20_000).call(Methods.explain, req, as: RFExplainResponse.self)
                    .1
                slowStyles.withLock { $0.append(out?.style ?? .default) }
                slowDone.withLock { $0 += 1 }
            }
        }
        // Both slow calls are in the LLM before the health checks start.
        while try llm.requests("slow") < 2 { Thread.sleep(forTimeInterval: 0.02) }
        let health = try ReqClient(url)
        for _ in 0..<20 {
            #expect(try health.call(Methods.health, RFHealthRequest(), as: RFHealthResponse.self).0.code == .ok)
        }
        #expect(slowDone.withLock { $0 } == 0, "the health checks waited for the slow calls")
        group.wait()
        #expect(slowStyles.withLock { $0 } == [.llm, .llm])
    }

    @Test func badListenURLFailsStartCleanly() throws {
        var c = ServerConfig(listen: ["tcp://127.0.0.1:0", "nope://x"])
        c.contexts = 2
        let server = Server(service: Service(try Self.bundle.get().0), config: c)
        #expect { try server.start() } throws: { "\($0)".contains("nope://x") }
        server.shutdown()
    }

    @Test func shutdownIsIdempotentAndStopsServing() throws {
        let server = try start([ipcURL()])
        let url = server.boundURLs[0]
        server.shutdown()
        server.shutdown()
        // Either the dial is refused (the ipc socket is gone) or a request gets no reply.
        let answered = (try? ReqClient(url, timeoutMs: 300).roundTrip(Data())) != nil
        #expect(!answered)
    }
}

@Suite struct ServerMetricsTests {
    @Test func countsByMethodAndCodeWithABoundedLabelSet() {
        let m = ServerMetrics()
        m.begin()
        m.end(method: Methods.rank, code: .ok, seconds: 0.0002)
        m.begin()
        m.end(method: Methods.rank, code: .ok, seconds: 0.003)
        m.begin()
        m.end(method: Methods.rank, code: .invalidArgument, seconds: 5)
        m.begin()
        m.end(method: "/recfuse.v1.Recommender/NoSuchThing", code: .unimplemented, seconds: 0.0001)
        m.begin()
        m.end(method: "Health", code: .ok, seconds: 0.0001)
        m.begin()
        m.end(method: "", code: .invalidArgument, seconds: 0.0001)
        m.begin()
        m.end(method: Methods.rank, code: .ok, seconds: 0.0001, transport: .grpc)
        m.begin()
        let lines = Set(m.render(extra: ["x 1"]).split(separator: "\n").map(String.init))
        for want in [
            "recfuse_requests_total{transport=\"nng\",method=\"Rank\",code=\"OK\"} 2",
            "recfuse_requests_total{transport=\"nng\",method=\"Rank\",code=\"INVALID_ARGUMENT\"} 1",
            "recfuse_requests_total{transport=\"nng\",method=\"unknown\",code=\"UNIMPLEMENTED\"} 1",
            "recfuse_requests_total{transport=\"nng\",method=\"Health\",code=\"OK\"} 1",
            "recfuse_requests_total{transport=\"nng\",method=\"none\",code=\"INVALID_ARGUMENT\"} 1",
            "recfuse_request_duration_seconds_bucket{transport=\"nng\",method=\"Rank\",le=\"0.00025\"} 1",
            "recfuse_request_duration_seconds_bucket{transport=\"nng\",method=\"Rank\",le=\"0.005\"} 2",
            "recfuse_request_duration_seconds_bucket{transport=\"nng\",method=\"Rank\",le=\"2.5\"} 2",
            "recfuse_request_duration_seconds_bucket{transport=\"nng\",method=\"Rank\",le=\"+Inf\"} 3",
            "recfuse_request_duration_seconds_count{transport=\"nng\",method=\"Rank\"} 3",
            "recfuse_requests_total{transport=\"grpc\",method=\"Rank\",code=\"OK\"} 1",
            "recfuse_request_duration_seconds_count{transport=\"grpc\",method=\"Rank\"} 1",
            "recfuse_requests_in_flight 1",
            "x 1",
        ] {
            #expect(lines.contains(want), "\(want)")
        }
        #expect(!lines.contains { $0.contains("Retrieve") }, "never-recorded methods are left out")
    }
}
