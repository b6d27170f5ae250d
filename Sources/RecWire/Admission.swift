import Foundation
import RecCore
import Synchronization

/// Admission control: how many requests of each class may be in progress at once. Beyond the
/// limit a request is not queued: a fast one is answered at once with RESOURCE_EXHAUSTED, a
/// slow one (it would call the LLM) is served without the LLM (local judge, template
/// sentence) and marked degraded with the reason. Health is never limited. Shared by every
/// transport of a process, so the limits are the server's, not a socket's.
public final class Admission: Sendable {
    public enum Class: String, Sendable {
        /// Info, Retrieve, Rank, Explain (template), Rerank with the local judge.
        case fast
        /// Anything that may call the LLM (Rerank with an LLM judge, Explain in LLM style) and Reload.
        case slow
    }

    public struct Limits: Sendable, Equatable {
        public var fast: Int
        public var slow: Int
        public init(fast: Int = 48, slow: Int = 8) {
            self.fast = fast
            self.slow = slow
        }
        /// No limit (what an embedding program gets through the C ABI unless it sets one).
        public static let unlimited = Limits(fast: 1 << 30, slow: 1 << 30)
    }

    private let limits: Atomic<Int>  // fast << 32 | slow
    private let fastInProgress = Atomic<Int>(0)
    private let slowInProgress = Atomic<Int>(0)
    private let shedCounts = Mutex([Int](repeating: 0, count: 4))

    public init(_ l: Limits = .unlimited) { limits = Atomic(Self.pack(l)) }

    static func pack(_ l: Limits) -> Int { max(0, l.fast) << 32 | max(0, l.slow) }

    public var current: Limits {
        let v = limits.load(ordering: .relaxed)
        return Limits(fast: v >> 32, slow: v & 0xffff_ffff)
    }

    public func configure(_ l: Limits) { limits.store(Self.pack(l), ordering: .relaxed) }

    /// Takes a place in `c`; false (and nothing taken) when the class is full.
    public func enter(_ c: Class) -> Bool {
        c == .fast ? Self.enter(fastInProgress, current.fast) : Self.enter(slowInProgress, current.slow)
    }

    private static func enter(_ counter: borrowing Atomic<Int>, _ limit: Int) -> Bool {
        if counter.wrappingAdd(1, ordering: .acquiring).newValue <= limit { return true }
        counter.wrappingSubtract(1, ordering: .releasing)
        return false
    }

    public func leave(_ c: Class) {
        if c == .fast {
            fastInProgress.wrappingSubtract(1, ordering: .releasing)
        } else {
            slowInProgress.wrappingSubtract(1, ordering: .releasing)
        }
    }

    public func inProgress(_ c: Class) -> Int {
        c == .fast ? fastInProgress.load(ordering: .relaxed) : slowInProgress.load(ordering: .relaxed)
    }

    /// Why requests were not worked on as asked.
    public enum Shed: Int, Sendable, CaseIterable {
        /// Their deadline had passed when they were picked up (queued too long, or sent late).
        case deadline = 0
        /// A fast request over the fast limit: RESOURCE_EXHAUSTED.
        case overloaded = 1
        /// A slow request over the slow limit: served without the LLM, degraded.
        case degraded = 2
        /// A slow request over the slow limit that has no fallback (Reload): RESOURCE_EXHAUSTED.
        case slowOverloaded = 3

        public var label: String { ["deadline", "overloaded", "degraded", "slow_overloaded"][rawValue] }
    }

    public func count(_ s: Shed) { shedCounts.withLock { $0[s.rawValue] += 1 } }
    public var shed: [Shed: Int] {
        let c = shedCounts.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: Shed.allCases.map { ($0, c[$0.rawValue]) })
    }

    func overloaded(_ c: Class) -> RecError {
        let l = current
        return c == .fast
            ? RecError.resourceExhausted(
                "server busy: \(l.fast) requests already in progress (serve --max-fast-requests); not queued, retry "
                    + "with back-off or another replica")
            : RecError.resourceExhausted(
                "server busy: \(l.slow) slow requests already in progress (serve --max-slow-requests); retry later")
    }
}
