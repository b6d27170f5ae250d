import CRecShims
import Foundation
import Synchronization

/// The threads writes run on, at the lowest CPU priority (SCHED_IDLE; nice 19 where that is
/// refused), so that reads take the CPU first and a burst of writes does not lengthen their
/// tail. The transport's thread hands a write over and sleeps until it is done.
///
/// Why SCHED_IDLE and not nice 19: under this kernel's scheduler (EEVDF) a nice-19 thread
/// still runs its slice before a woken read preempts it, and Rank's p99 rose 1.5-2x while
/// 5,000 events/s were written in requests of 100, as at nice 0; with SCHED_IDLE it rose about
/// 10 % (docs/writes.md). The cost: with every core busy with reads, writes wait until one is
/// free (they hold their admission place meanwhile, so reads are refused before writes starve
/// for long, which frees the CPU again).
final class WriteExecutor: Sendable {
    private final class Job: @unchecked Sendable {
        let body: () -> Void
        let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private let queue = Mutex<[Job]>([])
    private let ready = DispatchSemaphore(value: 0)
    init(threads: Int = 8) {
        let started = DispatchSemaphore(value: 0)
        for n in 0..<threads {
            let t = Thread { [self] in
                if rec_idle_this_thread() != 0 { _ = rec_nice_this_thread(19) }
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
