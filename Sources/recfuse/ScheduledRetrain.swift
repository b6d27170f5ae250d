import Foundation
import Logging
import RecCore
import RecWire
import Synchronization

/// `serve --retrain-every` and Admin/Retrain: runs `recfuse retrain` in a child process at
/// lowered priority (nice 10) while the server keeps serving, then hot-reloads the new bundle
/// when the child kept it. One retrain at a time: a call during one gets that one's answer.
final class ScheduledRetrain: Sendable {
    struct Options: Sendable {
        var store: String
        var modelsDir: String
        /// Where new bundles are written (one folder per retrain; older ones are removed).
        var folder: String
        var holdoutFraction: Double
        var tolerance: Double
        var minHoldoutUsers: Int
    }

    let service: Service
    let options: Options
    let log: Logger
    private let running = Mutex<Job?>(nil)

    init(service: Service, options: Options, log: Logger) {
        self.service = service
        self.options = options
        self.log = log
    }

    /// This binary, for the child.
    static var executable: String { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path }

    /// "90", "90s", "30m", "6h", "1d" as seconds.
    static func seconds(_ s: String) throws -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var text = Substring(s.trimmingCharacters(in: .whitespaces))
        var unit = 1.0
        if let last = text.last, let u = units[last] {
            unit = u
            text = text.dropLast()
        }
        guard let v = Double(text), v.isFinite, v > 0 else {
            throw RecError.invalidArgument("duration '\(s)': give a positive number with s, m, h or d (\"30m\")")
        }
        return v * unit
    }

    /// Starts the schedule: a retrain every `interval` seconds, the first one `interval` from now.
    func schedule(every interval: Double) {
        let t = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: interval)
                do { _ = try run() } catch { log.error("scheduled retrain: \(error)") }
            }
        }
        t.name = "recfuse-retrain"
        t.start()
    }

    /// A retrain, started by the schedule or by a call; later calls while it runs wait for it
    /// and get its answer.
    private final class Job: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var result: Result<RFRetrainResponse, any Error> = .failure(RecError.internal("retrain did not finish"))
        var waiters = 0
    }

    /// Runs a retrain, or — when one is running — waits for it and returns its answer.
    func run() throws -> RFRetrainResponse {
        let (job, owner) = running.withLock { j -> (Job, Bool) in
            if let j {
                j.waiters += 1
                return (j, false)
            }
            let n = Job()
            j = n
            return (n, true)
        }
        if !owner {
            job.done.wait()
            return try job.result.get()
        }
        job.result = Result { try runOnce() }
        let waiters = running.withLock { j -> Int in
            j = nil
            return job.waiters
        }
        for _ in 0..<waiters { job.done.signal() }
        return try job.result.get()
    }

    private func runOnce() throws -> RFRetrainResponse {
        guard let bundle = service.bundleDir else { throw RecError.failedPrecondition("no bundle folder to retrain") }
        let t0 = ContinuousClock.now
        try FileManager.default.createDirectory(atPath: options.folder, withIntermediateDirectories: true)
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let out = (options.folder as NSString).appendingPathComponent("retrained-\(stamp)-\(getpid())")
        let args = [
            Self.executable, "retrain", "--bundle", bundle, "--store", options.store, "--out", out,
            "--models-dir", options.modelsDir, "--holdout-fraction", String(options.holdoutFraction),
            "--tolerance", String(options.tolerance), "--min-holdout-users", String(options.minHoldoutUsers),
            "--log-level", "warning",
        ]
        log.info("retrain: training from \(bundle) and the store into \(out)")
        let p = Process()
        let nice = "/usr/bin/nice"
        if FileManager.default.isExecutableFile(atPath: nice) {
            p.executableURL = URL(fileURLWithPath: nice)
            p.arguments = ["-n", "10"] + args
        } else {
            p.executableURL = URL(fileURLWithPath: args[0])
            p.arguments = Array(args.dropFirst())
        }
        let stdout = Pipe(), stderr = Pipe()
        p.standardOutput = stdout
        p.standardError = stderr
        try p.run()
        // Read both pipes while the child runs (a full pipe would stall it).
        let errData = Mutex(Data())
        let errReader = Thread { errData.withLock { $0 = stderr.fileHandleForReading.readDataToEndOfFile() } }
        errReader.start()
        let outData = stdout.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !errReader.isFinished { Thread.sleep(forTimeInterval: 0.01) }
        guard p.terminationStatus == 0 else {
            let tail = String(decoding: errData.withLock { $0 }.suffix(2000), as: UTF8.self)
            try? FileManager.default.removeItem(atPath: out)
            throw RecError.internal(
                "retrain exited with status \(p.terminationStatus), still serving the bundle: \(tail)")
        }
        guard let line = String(decoding: outData, as: UTF8.self).split(separator: "\n").last,
            let o = try? JSONDecoder().decode(Retrain.Outcome.self, from: Data(line.utf8))
        else {
            throw RecError.internal("retrain printed no outcome; still serving the bundle")
        }
        var r = RFRetrainResponse()
        r.message = o.message
        r.servingNdcg10 = o.serving_ndcg10
        r.candidateNdcg10 = o.candidate_ndcg10
        r.holdoutEvents = UInt32(o.holdout_events)
        r.holdoutUsers = UInt32(o.holdout_users)
        r.trainedEvents = UInt64(o.trained_events)
        r.previousVersion = service.current.bundleVersion
        if o.keep {
            let reloaded = try service.reload(out)
            r.swapped = true
            r.bundleDir = out
            r.bundleVersion = reloaded.bundleVersion
            r.previousVersion = reloaded.previousVersion
            prune(keeping: [out, bundle])
        } else {
            r.bundleVersion = service.current.bundleVersion
            r.bundleDir = bundle
        }
        r.seconds = (ContinuousClock.now - t0).seconds
        let outcome = r.swapped ? "now serving \(r.bundleVersion)" : "still serving \(r.bundleVersion)"
        log.info("retrain: \(o.message); \(outcome) (\(String(format: "%.1f", r.seconds)) s)")
        return r
    }

    /// Removes older retrained bundles (not `keeping`).
    private func prune(keeping: [String]) {
        let fm = FileManager.default
        let keep = Set(keeping.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
        for name in (try? fm.contentsOfDirectory(atPath: options.folder)) ?? [] where name.hasPrefix("retrained-") {
            let path = URL(fileURLWithPath: (options.folder as NSString).appendingPathComponent(name))
                .standardizedFileURL
                .path
            if !keep.contains(path) { try? fm.removeItem(atPath: path) }
        }
    }
}
