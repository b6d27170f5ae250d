import Foundation
import RecCore
import RecTestSupport
import Testing

@testable import RecLLM

/// The circuit breaker as a state machine (explicit clock), then the LLM client's bulkhead and
/// breaker against the real libcurl client and a scripted server on loopback.
struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresProbesAfterTheCoolOffAndClosesOnSuccess() {
        let b = CircuitBreaker(threshold: 3, cooloff: .seconds(10))
        let t0 = ContinuousClock.now
        for _ in 0..<2 {
            #expect(b.admit(now: t0) == .go(probe: false))
            b.record(success: false, countable: true, probe: false, error: "timeout", now: t0)
        }
        // A success in between starts the count again.
        b.record(success: true, countable: false, probe: false, now: t0)
        for _ in 0..<2 { b.record(success: false, countable: true, probe: false, error: "timeout", now: t0) }
        #expect(b.state == .closed)
        // Failures that are not the endpoint's (a malformed answer) do not count.
        b.record(success: false, countable: false, probe: false, error: "schema", now: t0)
        #expect(b.state == .closed)
        b.record(success: false, countable: true, probe: false, error: "unavailable: refused", now: t0)
        #expect(b.state == .open && b.openings == 1)
        guard case .refuse(let why) = b.admit(now: t0 + .seconds(5)) else {
            Issue.record("an open breaker let a call through")
            return
        }
        #expect(why.contains("3 consecutive failures") && why.contains("refused") && why.contains("next probe in"))
        // After the cool-off exactly one call goes: the probe.
        #expect(b.admit(now: t0 + .seconds(11)) == .go(probe: true))
        #expect(b.state == .halfOpen)
        if case .go = b.admit(now: t0 + .seconds(11)) { Issue.record("a second call went while the probe ran") }
        // The probe fails: open again for another cool-off.
        b.record(success: false, countable: true, probe: true, error: "timeout", now: t0 + .seconds(12))
        #expect(b.state == .open && b.openings == 2)
        if case .go = b.admit(now: t0 + .seconds(20)) { Issue.record("re-opened breaker let a call through early") }
        #expect(b.admit(now: t0 + .seconds(23)) == .go(probe: true))
        b.record(success: true, countable: false, probe: true, now: t0 + .seconds(23))
        #expect(b.state == .closed)
        #expect(b.admit(now: t0 + .seconds(23)) == .go(probe: false))
    }

    @Test func aProbeThatNeverReachedTheEndpointLetsTheNextCallProbe() {
        let b = CircuitBreaker(threshold: 1, cooloff: .seconds(1))
        let t0 = ContinuousClock.now
        b.record(success: false, countable: true, probe: false, error: "timeout", now: t0)
        #expect(b.admit(now: t0 + .seconds(2)) == .go(probe: true))
        b.record(success: false, countable: false, probe: true, attempted: false, now: t0 + .seconds(2))
        #expect(b.admit(now: t0 + .seconds(2)) == .go(probe: true))
    }

    @Test func thresholdZeroNeverOpens() {
        let b = CircuitBreaker(threshold: 0, cooloff: .seconds(1))
        for _ in 0..<100 { b.record(success: false, countable: true, probe: false, error: "x") }
        #expect(b.state == .closed)
    }
}

@Suite(.serialized) struct LLMBulkheadTests {
    let server: ScriptedLLMServer

    init() throws { server = try ScriptedLLMServer(slowSeconds: 2) }

    func client(_ model: String, _ edit: (inout LLMConfig) -> Void = { _ in }) throws -> LLMClient {
        try server.client(model) { c in
            c.maxRetries = 0
            edit(&c)
        }
    }

    static func request(_ n: Int) -> ChatRequest {
        ChatRequest(
            messages: Prompts.relevancy(
                profile: "Liked: A.", preference: "call \(n)", candidates: ["Film 1 (1990). Genres: Comedy."]),
            schema: Prompts.relevancySchema)
    }

    @Test func anEndpointThatKeepsFailingIsNotCalledWhileTheBreakerIsOpen() throws {
        let llm = try client("error-500") {
            $0.breakerFailures = 3
            $0.breakerCooloff = 60
        }
        for n in 0..<3 {
            guard case .failure(let e) = llm.chat(Self.request(n)) else {
                Issue.record("error-500 answered")
                return
            }
            #expect(e.kind == .http)
        }
        #expect(llm.breaker.state == .open)
        let before = try server.requests("error-500")
        for n in 3..<10 {
            guard case .failure(let e) = llm.chat(Self.request(n)) else {
                Issue.record("an open breaker let a call through")
                return
            }
            #expect(e.kind == .circuitOpen)
            #expect(e.message.contains("considered down"))
        }
        #expect(try server.requests("error-500") == before)
        #expect(llm.stats.httpAttempts == 3)
        #expect(llm.stats.errorsByKind["circuit_open"] == 7)
    }

    @Test func aSuccessfulProbeClosesTheBreaker() throws {
        // flaky-500: the first request with a given body fails, the same body again succeeds.
        let llm = try client("flaky-500") {
            $0.breakerFailures = 2
            $0.breakerCooloff = 0.3
        }
        for n in 0..<2 { _ = llm.chat(Self.request(100 + n)) }
        #expect(llm.breaker.state == .open)
        if case .success = llm.chat(Self.request(100)) { Issue.record("open breaker let a call through") }
        Thread.sleep(forTimeInterval: 0.4)
        guard case .success = llm.chat(Self.request(100)) else {
            Issue.record("the probe did not go through or failed")
            return
        }
        #expect(llm.breaker.state == .closed)
        if case .failure(let e) = llm.chat(Self.request(101)) { Issue.record("closed breaker refused: \(e)") }
    }

    @Test func aCallFindingEverySlotBusyIsRefusedNotQueued() throws {
        let llm = try client("slow") {
            $0.concurrency = 1
            $0.queueTimeout = 0
        }
        let started = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            started.signal()
            _ = llm.chat(Self.request(200), deadline: .after(.seconds(10)))
            finished.signal()
        }.start()
        started.wait()
        // Wait until the slow call holds the only slot.
        var spins = 0
        while llm.inFlight == 0 && spins < 500 {
            Thread.sleep(forTimeInterval: 0.01)
            spins += 1
        }
        #expect(llm.inFlight == 1)
        guard case .failure(let e) = llm.chat(Self.request(201), deadline: .after(.seconds(10))) else {
            Issue.record("a call was queued behind the busy slot")
            return
        }
        #expect(e.kind == .busy && e.message.contains("--llm-concurrency"))
        #expect(llm.breaker.state == .closed)  // busy is not the endpoint failing
        finished.wait()
        #expect(llm.inFlight == 0)
    }
}
