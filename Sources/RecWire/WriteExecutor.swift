import CRecShims
import Foundation
import Synchronization

/// The threads writes run on, at a lower CPU priority than reads, so that a burst of writes
/// does not lengthen reads' tail. The transport's thread hands a write over and sleeps until
/// it is done.
///
/// `.idle` (SCHED_IDLE) is what keeps reads' p99 where it is without writes: under this
/// kernel's scheduler (EEVDF) a nice-19 thread still runs its slice before a woken read
/// preempts it, and Rank's p99 rose 1.5-2x while 5,000 events/s were written in requests of
/// 100, as at nice 0; with SCHED_IDLE it did not rise (docs/writes.md). Its cost: while reads
/// keep every core busy, writes wait for idle time, however long that takes.
public final class WriteExecutor: Sendable {
    /// How write threads are scheduled.
    public enum Priority: String, Sendable, CaseIterable {
        /// SCHED_IDLE: only CPU no other thread wants (nice 19 where the system refuses it).
        case idle
        /// nice 19: less CPU than reads when they compete, but never none.
        case low
        /// As the transport's threads.
        case normal
    }

    private final class Job: @unchecked Sendable {
        let body: () -> Void
        let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private let queue = Mutex<[Job]>([])
    private let ready = DispatchSemaphore(value: 0)
    let priority: Priority

    init(threads: Int = 8, priority: Priority) {
        self.priority = priority
        let started = DispatchSemaphore(value: 0)
        for n in 0..<threads {
            let t = Thread { [self] in
                switch priority {
                case .idle: if rec_idle_this_thread() != 0 { _ = rec_nice_this_thread(19) }
                case .low: _ = rec_nice_this_thread(19)
                case .normal: break
                }
                started.signal()
                while true {
                    ready.wait()
                    guard let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
                    job.body()
                    job.done.signal()
                }
            }
            t.name = "recfuse-write-\(n)"
            t.start()
        }
        for _ in 0..<threads { started.wait() }
    }

    /// Runs `body` on a write thread and returns its result (the caller waits).
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let job = Job { result.withLock { $0 = Result { try body() } } }
        queue.withLock { $0.append(job) }
        ready.signal()
        job.done.wait()
        return try result.withLock { $0! }.get()
    }
}
