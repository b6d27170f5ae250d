import Foundation
import RecCore
import RecFixtures
import RecLLM
import RecTestSupport
import SwiftProtobuf
import Testing

@testable import RecWire

/// Admission control and deadlines counted from the queue: what a full server answers.
/// Places are taken by hand (`admission.enter`) so the tests do not depend on timing.
@Suite struct AdmissionTests {
    /// A service of its own (its admission counters are its own), with an LLM client that is
    /// never reached: every LLM call here is refused by admission before it is made.
    static func service() throws -> Service {
        let (_, rec, _) = try trainedBundle()
        let llm = try LLMClient(config: LLMConfig(baseURL: "http://127.0.0.1:9/v1", model: "never-called"))
        let s = Service(rec, llm: llm)
        s.admission.configure(.init(fast: 2, slow: 1))
        return s
    }

    static func call(_ s: Service, _ method: String, _ payload: some SwiftProtobuf.Message) throws -> RFReply {
        var env = RFEnvelope()
        env.method = method
        env.payload = try payload.serializedData()
        return try RFReply(serializedBytes: s.handle(env.serializedData()))
    }

    static var rank: RFRankRequest {
        var r = RFRankRequest()
        r.user.id = "u1"
        r.itemIds = ["i1", "i2", "i3"]
        return r
    }

    @Test func aFullFastClassAnswersResourceExhaustedAtOnceAndHealthStillAnswers() throws {
        let s = try Self.service()
        #expect(try Self.call(s, Methods.rank, Self.rank).status.code == .ok)
        #expect(s.admission.enter(.fast) && s.admission.enter(.fast))
        #expect(!s.admission.enter(.fast))  // the limit is 2
        let r = try Self.call(s, Methods.rank, Self.rank)
        #expect(r.status.code == .resourceExhausted)
        #expect(r.status.message.contains("--max-fast-requests"))
        #expect(try Self.call(s, Methods.info, RFInfoRequest()).status.code == .resourceExhausted)
        #expect(try Self.call(s, Methods.health, RFHealthRequest()).status.code == .ok)
        #expect(s.admission.shed[.overloaded] == 2)
        s.admission.leave(.fast)
        #expect(try Self.call(s, Methods.rank, Self.rank).status.code == .ok)
        s.admission.leave(.fast)
        #expect(s.admission.inProgress(.fast) == 0)
    }

    @Test func anLLMRerankOverTheSlowLimitIsServedByTheLocalJudgeAndSaysWhy() throws {
        let s = try Self.service()
        #expect(s.admission.enter(.slow))
        var req = RFRerankRequest()
        req.user.id = "u1"
        req.judge = .llmPointwise
        req.candidates = ["i1", "i2", "i3"].map { id in
            var c = RFCandidate()
            c.itemID = id
            return c
        }
        let r = try Self.call(s, Methods.rerank, req)
        #expect(r.status.code == .ok)
        let out = try RFRerankResponse(serializedBytes: r.payload)
        #expect(out.meta.degraded)
        #expect(out.meta.degradedReason.contains("--max-slow-requests"))
        #expect(out.judge != .llmPointwise)
        #expect(out.items.count == 3)
        #expect(s.admission.shed[.degraded] == 1)
        #expect(s.reranker.llm?.stats.httpAttempts == 0)
        // A local-judge Rerank is a fast request: the slow limit does not touch it.
        req.judge = .local
        let local = try RFRerankResponse(serializedBytes: try Self.call(s, Methods.rerank, req).payload)
        #expect(!local.meta.degradedReason.contains("--max-slow-requests"))
        s.admission.leave(.slow)
        #expect(s.admission.inProgress(.slow) == 0 && s.admission.inProgress(.fast) == 0)
    }

    @Test func anLLMExplainOverTheSlowLimitGetsTheTemplate() throws {
        let s = try Self.service()
        #expect(s.admission.enter(.slow))
        defer { s.admission.leave(.slow) }
        var req = RFExplainRequest()
        req.user.id = "u1"
        req.itemID = "i2"
        req.style = .llm
        let r = try Self.call(s, Methods.explain, req)
        #expect(r.status.code == .ok)
        let e = try RFExplainResponse(serializedBytes: r.payload)
        #expect(e.meta.degraded && e.meta.degradedReason.contains("--max-slow-requests") && !e.text.isEmpty)
    }

    @Test func aRequestWhoseDeadlinePassedWhileQueuedIsNotWorkedOn() throws {
        let s = try Self.service()
        var env = RFEnvelope()
        env.method = Methods.rank
        env.payload = try Self.rank.serializedData()
        // Sent with 10 s to go by its relative budget, but its absolute deadline passed 250 ms
        // ago: it sat in a queue. The absolute one wins.
        env.deadlineMs = 10_000
        env.deadlineUnixMs = Int64(Date().timeIntervalSince1970 * 1000) - 250
        let r = try RFReply(serializedBytes: s.handle(env.serializedData()))
        #expect(r.status.code == .deadlineExceeded)
        #expect(r.status.message.contains("not worked on") && r.payload.isEmpty)
        #expect(s.admission.shed[.deadline] == 1)
        #expect(s.admission.shed[.overloaded] == 0)
    }

    @Test func limitsArePerClassAndConfigurable() {
        let a = Admission(.init(fast: 1, slow: 0))
        #expect(!a.enter(.slow))
        #expect(a.enter(.fast) && !a.enter(.fast))
        a.configure(.init(fast: 3, slow: 1))
        #expect(a.enter(.fast) && a.enter(.slow) && !a.enter(.slow))
        #expect(a.inProgress(.fast) == 2 && a.inProgress(.slow) == 1)
        #expect(Admission().current == .unlimited)
    }
}
