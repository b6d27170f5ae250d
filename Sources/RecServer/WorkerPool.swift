import Foundation

/// A fixed set of worker threads draining one FIFO job queue. NNG callbacks only enqueue
/// here; all request work (decode, score, encode) runs on these threads.
///
/// Thread-safe. `stop()` lets queued jobs finish, then joins the threads.
final class WorkerPool: @unchecked Sendable {
    private let cond = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var stopping = false
    private let exited = DispatchGroup()
    let count: Int

    init(count: Int, name: String) {
        self.count = max(1, count)
        for i in 0..<self.count {
            exited.enter()
            let t = Thread { [self] in loop(); exited.leave() }
            t.name = "\(name)-\(i)"
            t.stackSize = 4 << 20
            t.start()
        }
    }

    func submit(_ job: @escaping () -> Void) {
        cond.lock()
        jobs.append(job)
        cond.signal()
        cond.unlock()
    }

    private func loop() {
        while true {
            cond.lock()
            while head == jobs.count && !stopping { cond.wait() }
            if head == jobs.count { cond.unlock(); return }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
            cond.unlock()
            job()
        }
    }

    func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
        exited.wait()
    }
}
