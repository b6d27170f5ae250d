import Foundation
import RecCore
import Synchronization

/// The LLM endpoint's circuit breaker (closed → open → half-open → closed), after Nygard's
/// *Release It!* and the breakers of Envoy and resilience4j.
///
/// Closed: calls go through; `threshold` consecutive failed calls (the endpoint down, hung or
/// failing: connection errors, timeouts, retryable statuses after the retries) open it. Open:
/// calls fail at once for `cooloff`, so requests go straight to their fallback instead of
/// each waiting out a timeout. Then half-open: exactly one call (the probe) goes through;
/// its success closes the breaker, its failure opens it for another `cooloff`; other calls
/// still fail at once while the probe runs. Thread-safe.
public final class CircuitBreaker: Sendable {
    public enum State: Int, Sendable, CustomStringConvertible {
        case closed = 0
        case open = 1
        case halfOpen = 2
        public var description: String { ["closed", "open", "half-open"][rawValue] }
    }

    private struct S {
        var state = State.closed
        var failures = 0
        var until = ContinuousClock.now
        var probing = false
        var lastError = ""
        var opened = 0
    }

    public let threshold: Int
    public let cooloff: Duration
    private let s = Mutex(S())

    /// `threshold` 0: never opens.
    public init(threshold: Int, cooloff: Duration) {
        self.threshold = threshold
        self.cooloff = cooloff
    }

    /// Whether a call may go now: `.go(probe:)`, or `.refuse` with the reason (for the reply's
    /// degraded note and the logs).
    public enum Admission: Equatable, Sendable {
        case go(probe: Bool)
        case refuse(String)
    }

    /// Why a call would be refused now, without claiming the probe (nil: it may go). Lets a
    /// caller skip building a request the breaker would refuse anyway.
    public func refusal(now: ContinuousClock.Instant = .now) -> String? {
        s.withLock { Self.refusal($0, threshold: threshold, now: now) }
    }

    public func admit(now: ContinuousClock.Instant = .now) -> Admission {
        s.withLock { s in
            if s.state == .closed { return .go(probe: false) }
            if let why = Self.refusal(s, threshold: threshold, now: now) { return .refuse(why) }
            s.state = .halfOpen
            s.probing = true
            return .go(probe: true)
        }
    }

    /// The reason a call is refused in state `s` at `now`, nil when it may go (closed, or the
    /// cool-off is over and no probe is running).
    private static func refusal(_ s: S, threshold: Int, now: ContinuousClock.Instant) -> String? {
        if s.state == .closed { return nil }
        if s.probing { return "LLM endpoint considered down (\(s.lastError)); a probe call is testing it" }
        guard now < s.until else { return nil }
        let left = String(format: "%.1f", (s.until - now).seconds)
        return "LLM endpoint considered down after \(threshold) consecutive failures (last: \(s.lastError)); "
            + "next probe in \(left) s"
    }

    /// The outcome of an admitted call: `success`, or a failure that says the endpoint is
    /// unwell (`countable`; a malformed answer or a caller's exhausted deadline is not).
    /// A probe that ended without an answer either way (`attempted` false) just lets the
    /// next call probe.
    public func record(
        success: Bool, countable: Bool, probe: Bool, attempted: Bool = true, error: String = "",
        now: ContinuousClock.Instant = .now
    ) {
        s.withLock { s in
            if probe { s.probing = false }
            if success {
                s.failures = 0
                s.state = .closed
                return
            }
            guard countable, attempted else { return }
            s.lastError = error.count > 200 ? String(error.prefix(200)) + "…" : error
            if probe {
                s.state = .open
                s.until = now + cooloff
                s.opened += 1
                return
            }
            guard s.state == .closed else { return }
            s.failures += 1
            if threshold > 0 && s.failures >= threshold {
                s.state = .open
                s.until = now + cooloff
                s.opened += 1
            }
        }
    }

    public var state: State { s.withLock { $0.state } }
    /// How many times it has opened since start.
    public var openings: Int { s.withLock { $0.opened } }
}
