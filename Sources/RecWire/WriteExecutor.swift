import CRecShims
import Foundation
import Synchronization

/// The threads writes run on: a few threads at the lowest CPU priority (nice 19), so that on
/// a busy machine reads take the CPU first and a burst of writes does not lengthen their tail.
/// The transport's thread hands a write over and sleeps until it is done; writes then queue
/// here (and share commits) rather than hold the CPU.
final class WriteExecutor: Sendable {
    private final class Job: @unchecked Sendable {
        let body: () -> Void
        let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private let queue = Mutex<[Job]>([])
    private let ready = DispatchSemaphore(value: 0)
    /// The nice value the threads run at (0 when the system refused it).
    let nice: Int32

    init(threads: Int = 2, nice: Int32 = 19) {
        let applied = Atomic<Int32>(nice)
        let started = DispatchSemaphore(value: 0)
        self.nice = nice
        for n in 0..<threads {
            let t = Thread { [self] in
                if rec_nice_this_thread(nice) != 0 { applied.store(0, ordering: .relaxed) }
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
        _ = applied
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
