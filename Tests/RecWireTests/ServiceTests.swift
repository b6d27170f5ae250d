import Foundation
import RecCore
import RecFixtures
import RecTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@testable import RecWire

/// The dispatcher on raw bytes: whatever arrives, a valid Reply with the right status.
@Suite struct ServiceTests {
    static let service = Result { () -> Service in
        let (_, rec, m) = try trainedBundle()
        let s = Service(rec)
        s.setFacts(Service.BundleFacts(m, maxMessageBytes: 1234))
        return s
    }

    func call(_ method: String, _ payload: some SwiftProtobuf.Message, deadlineUnixMs: Int64 = 0) throws -> RFReply {
        var env = RFEnvelope()
        env.method = method
        env.payload = try payload.serializedData()
        env.requestID = "req-1"
        env.deadlineUnixMs = deadlineUnixMs
        return try RFReply(serializedBytes: Self.service.get().handle(env.serializedData()))
    }

    @Test func retrieveAndRankRoundTrip() throws {
        var req = RFRetrieveRequest()
        req.user.id = "u4"
        req.k = 3
        let reply = try call(Methods.retrieve, req)
        #expect(reply.status.code == .ok && reply.requestID == "req-1" && reply.bundleVersion.hasPrefix("synthetic@"))
        let out = try RFRetrieveResponse(serializedBytes: reply.payload)
        #expect(out.items.count == 3 && out.items.map(\.rank) == [1, 2, 3])
        #expect(out.items.allSatisfy { $0.title.hasPrefix("Film ") && !$0.genres.isEmpty && $0.year >= 1980 })
        #expect(out.meta.engine == defaultTestEngine && out.meta.bundleVersion == reply.bundleVersion)
        #expect(out.items[0].components[defaultTestEngine] == out.items[0].score)

        var rank = RFRankRequest()
        rank.user.id = "u4"
        rank.itemIds = ["i1", "i2", "bogus"]
        rank.engine = "popularity"
        rank.excludeSeen = false
        let r2 = try RFRankResponse(serializedBytes: call(Methods.rank, rank).payload)
        #expect(r2.items.count == 2 && r2.unknownItems == ["bogus"] && r2.meta.engine == "popularity")
    }

    @Test func excludeSeenPresenceIsHonoured() throws {
        var req = RFRetrieveRequest()
        req.user.id = "u4"
        req.k = 1000
        let unset = try RFRetrieveResponse(serializedBytes: call(Methods.retrieve, req).payload).items.count
        req.excludeSeen = false
        let all = try RFRetrieveResponse(serializedBytes: call(Methods.retrieve, req).payload).items.count
        #expect(all == 30 && unset < all)
    }

    @Test func healthAndInfo() throws {
        let h = try RFHealthResponse(serializedBytes: call(Methods.health, RFHealthRequest()).payload)
        #expect(h.status == .serving && h.bundleVersion.hasPrefix("synthetic@"))
        let i = try RFInfoResponse(serializedBytes: call(Methods.info, RFInfoRequest()).payload)
        #expect(i.engines.map(\.name) == testKinds)
        #expect(i.dataset.users == 40 && i.dataset.items == 30 && i.dataset.fingerprint.count == 64)
        #expect(i.limits.maxMessageBytes == 1234 && i.limits.maxK == 10_000)
        #expect(i.methods == Methods.all && i.defaultEngine == defaultTestEngine)
    }

    @Test func badInputGetsAClearStatus() throws {
        let s = try Self.service.get()
        func status(_ bytes: Data) throws -> RFStatus { try RFReply(serializedBytes: s.handle(bytes)).status }
        #expect(try status(Data()).code == .invalidArgument)
        #expect(try status(Data([0xff, 0xff, 0xff])).message.contains("not a recfuse.v1.Envelope"))
        #expect(try status(Data([0x0a, 0x02, 0xc3, 0x28])).code == .invalidArgument)  // method: invalid UTF-8
        #expect(try status(RFEnvelope.with { $0.requestID = "r" }.serializedData()).message == "envelope has no method")
        #expect(try call("/recfuse.v1.Recommender/Nope", RFHealthRequest()).status.code == .unimplemented)
        var env = RFEnvelope()
        env.method = Methods.rank
        env.payload = Data([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])
        let bad = try status(env.serializedData())
        #expect(bad.code == .invalidArgument && bad.message.contains("recfuse.v1.RankRequest"))
        var huge = RFRetrieveRequest()
        huge.k = 1 << 30
        #expect(try call(Methods.retrieve, huge).status.code == .invalidArgument)
        // Like Retrieve, an anonymous user with nothing to go on gets the fallback's list; the
        // judge has nothing to read either, and the reply says so.
        let emptyRerank = try call(Methods.rerank, RFRerankRequest())
        #expect(emptyRerank.status.code == .ok, "\(emptyRerank.status)")
        let er = try RFRerankResponse(serializedBytes: emptyRerank.payload)
        #expect(er.meta.degraded && er.meta.degradedReason.contains("base score alone"), "\(er.meta)")
        var nanAlpha = RFRerankRequest()
        nanAlpha.user.id = "u1"
        nanAlpha.alpha = .nan
        let na = try call(Methods.rerank, nanAlpha).status
        #expect(na.code == .invalidArgument && na.message.contains("alpha"), "\(na)")
        let noItem = try call(Methods.explain, RFExplainRequest())
        #expect(noItem.status.code == .invalidArgument && noItem.status.message.contains("item_id"))
    }

    @Test func explainGivesEvidenceAndATemplateSentence() throws {
        var req = RFExplainRequest()
        req.user.id = "u4"
        req.itemID = "i9"
        let reply = try call(Methods.explain, req)
        #expect(reply.status.code == .ok)
        let out = try RFExplainResponse(serializedBytes: reply.payload)
        #expect(out.itemID == "i9" && out.style == .template && out.score.isFinite && !out.text.isEmpty)
        #expect(out.meta.engine == defaultTestEngine && !out.meta.degraded)
        // Every title the sentence names is in the evidence or is the explained item.
        let named = Set(out.evidence.map(\.title) + ["Film 9"])
        for m in out.text.matches(of: /Film \d+/) { #expect(named.contains(String(m.output))) }
        if defaultTestEngine == "gat" { #expect(out.evidence.contains { $0.kind == "history_item" }) }

        req.engine = "popularity"
        let pop = try RFExplainResponse(serializedBytes: call(Methods.explain, req).payload)
        #expect(pop.meta.engine == "popularity" && pop.evidence.allSatisfy { $0.kind == "shared_genre" })
        #expect(pop.meta.warnings.contains { $0.contains("no evidence of its own") })

        req.style = .llm
        let llm = try RFExplainResponse(serializedBytes: call(Methods.explain, req).payload)
        #expect(llm.style == .template && llm.meta.degraded && llm.meta.degradedReason.contains("LLM"))

        req.itemID = "nope"
        #expect(try call(Methods.explain, req).status.code == .notFound)
        req.itemID = "i9"
        req.maxEvidence = 1000
        #expect(try call(Methods.explain, req).status.code == .invalidArgument)
        req.maxEvidence = 0
        req.engine = "nope"
        #expect(try call(Methods.explain, req).status.code == .invalidArgument)
    }

    @Test func deadlines() throws {
        let past = Int64(Date().timeIntervalSince1970 * 1000) - 1
        let r = try call(Methods.health, RFHealthRequest(), deadlineUnixMs: past)
        #expect(r.status.code == .deadlineExceeded && r.payload.isEmpty)
        let future = Int64(Date().timeIntervalSince1970 * 1000) + 60_000
        #expect(try call(Methods.health, RFHealthRequest(), deadlineUnixMs: future).status.code == .ok)
        // A relative budget counts from receipt: a message received long ago has expired.
        var env = RFEnvelope()
        env.method = Methods.health
        env.deadlineMs = 5
        let old = ContinuousClock.now.advanced(by: .seconds(-1))
        let reply = try RFReply(serializedBytes: Self.service.get().handle(env.serializedData(), received: old))
        #expect(reply.status.code == .deadlineExceeded)
    }

    @Test func randomBytesNeverTrap() throws {
        let s = try Self.service.get()
        var rng = SplitMix64(seed: 42)
        var valid = try RFEnvelope.with {
            $0.method = Methods.rank
            $0.payload = try RFRankRequest.with { $0.itemIds = ["i1", "i2"] }.serializedData()
        }
        .serializedData()
        for n in 0..<2000 {
            var bytes: Data
            if n % 2 == 0 {
                bytes = Data((0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            } else {  // mutate a valid envelope
                bytes = valid
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            let reply = try RFReply(serializedBytes: s.handle(bytes))
            #expect(reply.status.code != .internal, "bytes \(bytes as NSData) -> \(reply.status)")
        }
        valid.removeAll()
    }
}

/// Tracing, grpc.health.v1 Check over NNG, the serving flag and the degraded-reply counter.
@Suite struct ServiceConventionsTests {
    static let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    func reply(_ s: Service, _ method: String, _ payload: Data, metadata: [String: String] = [:]) throws -> RFReply {
        var env = RFEnvelope()
        env.method = method
        env.payload = payload
        env.metadata = metadata
        return try RFReply(serializedBytes: s.handle(env.serializedData()))
    }

    @Test func aValidTraceparentIsEchoedAndNamesTheTrace() throws {
        let s = try ServiceTests.service.get()
        let ok = try reply(s, Methods.health, Data(), metadata: ["traceparent": Self.traceparent])
        #expect(ok.metadata == ["traceparent": Self.traceparent])
        // Errors carry it too; the outcome names the trace id for the log line.
        var env = RFEnvelope()
        env.method = "/recfuse.v1.Recommender/Nope"
        env.metadata = ["traceparent": Self.traceparent]
        let out = s.handleDetailed(try env.serializedData())
        #expect(out.code == .unimplemented && out.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(try RFReply(serializedBytes: out.reply).metadata["traceparent"] == Self.traceparent)
        for bad in [
            "", "00-zz-00", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            #expect(try reply(s, Methods.health, Data(), metadata: ["traceparent": bad]).metadata.isEmpty, "\(bad)")
        }
    }

    @Test func grpcHealthCheckAnswersOverNNGAndFollowsTheServingFlag() throws {
        let s = Service(try ServiceTests.service.get().current)
        func check(_ name: String) throws -> (RFCode, Grpc_Health_V1_HealthCheckResponse.ServingStatus?) {
            var req = Grpc_Health_V1_HealthCheckRequest()
            req.service = name
            let r = try reply(s, Methods.healthCheck, try req.serializedData())
            return (
                r.status.code,
                r.status.code == .ok ? try Grpc_Health_V1_HealthCheckResponse(serializedBytes: r.payload).status : nil
            )
        }
        #expect(try check("") == (.ok, .serving))
        #expect(try check("recfuse.v1.Recommender") == (.ok, .serving))
        #expect(try check("no.such.Service").0 == .notFound)
        let heard = Mutex<[Bool]>([])
        let token = s.observeServing { on in heard.withLock { $0.append(on) } }
        s.setServing(false)
        s.setServing(false)  // no change, no second notice
        #expect(try check("") == (.ok, .notServing))
        let h = try RFHealthResponse(serializedBytes: reply(s, Methods.health, Data()).payload)
        #expect(h.status == .notServing)
        s.removeServingObserver(token)
        s.setServing(true)
        #expect(heard.withLock { $0 } == [false])
        #expect(try check("") == (.ok, .serving))
    }

    @Test func degradedRepliesAreCountedByReason() throws {
        let s = Service(try ServiceTests.service.get().current)
        #expect(s.degradedReplies.values.allSatisfy { $0 == 0 })
        // A user the engines cannot score falls back to popularity.
        var req = RFRetrieveRequest()
        req.user.id = "nobody-knows-me"
        req.k = 3
        let r = try reply(s, Methods.retrieve, try req.serializedData())
        let out = try RFRetrieveResponse(serializedBytes: r.payload)
        #expect(out.meta.degraded)
        #expect(s.degradedReplies[.fallbackEngine] == 1)
        // An LLM judge with no LLM configured: the local judge, or the base order without one.
        var rr = RFRerankRequest()
        rr.user.id = "u4"
        rr.candidates = ["i1", "i2", "i3"].map { id in
            var c = RFCandidate()
            c.itemID = id
            return c
        }
        rr.judge = .llmRelevancy
        _ = try reply(s, Methods.rerank, try rr.serializedData())
        #expect(s.degradedReplies[.localJudge] == 1)
        #expect(s.degradedReplies[.deadline] == 0 && s.degradedReplies[.templateText] == 0)
    }
}
