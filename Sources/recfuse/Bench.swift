import ArgumentParser
import Foundation
import Histogram
import RecCore
import RecServer
import RecWire
import Synchronization

/// `recfuse bench`: N concurrent clients against a server, then the same load against a bare
/// NNG echo of the same bytes in the same run, so results read as ratios on a shared machine.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test a server: N concurrent clients, any RPC, HdrHistogram latencies, with a bare NNG echo baseline.",
        discussion: "Each client has its own REQ socket and keeps one request in flight. Stops at --count requests or after --duration seconds, whichever comes first.")
    @Option(name: .customLong("url"), help: "Server URL, repeatable (several = replicas on one socket per client).") var urls: [String] = ["ipc:///tmp/recfuse.sock"]
    @Option(help: "health | rank | retrieve | rerank | explain.") var method: String = "rank"
    @Option(help: "Concurrent clients.") var clients: Int = 1
    @Option(help: "Requests in total (all clients).") var count: Int = 20_000
    @Option(help: "Seconds at most.") var duration: Double = 60
    @Option(help: "Warm-up requests per client, not measured.") var warmup: Int = 200
    @Option(help: "User id in the requests.") var user: String = "196"
    @Option(help: "Candidates per Rank/Rerank request (item ids 1, 14, 27, ...).") var candidates: Int = 100
    @Option(help: "Engine for Rank/Retrieve (empty = the server's default).") var engine: String = ""
    @Flag(inversion: .prefixedNo, help: "Also measure a bare NNG echo of the same bytes (ipc, same clients).") var echo = true
    @Flag(help: "One JSON object per target instead of the table.") var json = false
    @OptionGroup var global: GlobalOptions

    struct Result {
        var target: String
        var requests: Int
        var errors: Int
        var seconds: Double
        var histogram: Histogram<UInt64>
        var firstError: String?

        var rate: Double { Double(requests) / seconds }
        func p(_ q: Double) -> Double { Double(histogram.valueAtPercentile(q)) / 1000 }  // ns → µs
    }

    func request() throws -> Data {
        let ids = (0..<max(0, candidates)).map { String($0 * 13 % 1682 + 1) }
        var env = RFEnvelope()
        env.deadlineMs = 10_000
        var u = RFUser()
        u.id = user
        switch method {
        case "health":
            env.method = Methods.health
        case "rank":
            env.method = Methods.rank
            var r = RFRankRequest()
            (r.user, r.itemIds, r.engine) = (u, ids, engine)
            env.payload = try r.serializedData()
        case "retrieve":
            env.method = Methods.retrieve
            var r = RFRetrieveRequest()
            (r.user, r.k, r.engine) = (u, 10, engine)
            env.payload = try r.serializedData()
        case "rerank":
            env.method = Methods.rerank
            var r = RFRerankRequest()
            r.user = u
            r.candidates = ids.map { id in var c = RFCandidate(); c.itemID = id; return c }
            env.payload = try r.serializedData()
        case "explain":
            env.method = Methods.explain
            var r = RFExplainRequest()
            (r.user, r.itemID) = (u, "50")
            env.payload = try r.serializedData()
        default:
            throw RecError.invalidArgument("--method must be health, rank, retrieve, rerank or explain")
        }
        return try env.serializedData()
    }

    /// Runs the load against `urls`; `checkReplies` decodes each reply and counts non-OK ones.
    func load(_ target: String, urls: [String], bytes: Data, checkReplies: Bool) throws -> Result {
        let issued = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let firstError = Mutex<String?>(nil)
        let requesters = try (0..<clients).map { _ in try NNGRequester(urls: urls) }
        // Warm-up, then a common start.
        for r in requesters { for _ in 0..<warmup { _ = try r.call(bytes) } }
        let (count, duration) = (count, duration)
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int(duration * 1000))
        // One OS thread per client (they block on the network, so cores are not the limit).
        let perClientBox = Mutex<[[UInt64]]>(Array(repeating: [], count: clients))
        let done = DispatchGroup()
        for n in 0..<clients {
            done.enter()
            let requester = requesters[n]
            Thread {
            var lat: [UInt64] = []
            lat.reserveCapacity(count / max(1, clients) + 1)
            while issued.add(1, ordering: .relaxed).oldValue < count && ContinuousClock.now < end {
                let t0 = ContinuousClock.now
                do {
                    let reply = try requester.call(bytes)
                    let dt = ContinuousClock.now - t0
                    lat.append(UInt64(max(1, dt.components.seconds * 1_000_000_000 + dt.components.attoseconds / 1_000_000_000)))
                    if checkReplies {
                        let r = try RFReply(serializedBytes: reply)
                        if r.status.code != .ok {
                            errors.add(1, ordering: .relaxed)
                            firstError.withLock { $0 = $0 ?? "\(r.status.code): \(r.status.message)" }
                        }
                    }
                } catch {
                    errors.add(1, ordering: .relaxed)
                    firstError.withLock { $0 = $0 ?? "\(error)" }
                }
            }
            perClientBox.withLock { $0[n] = lat }
            done.leave()
            }.start()
        }
        done.wait()
        let perClient = perClientBox.withLock { $0 }
        let seconds = (ContinuousClock.now - start).seconds
        var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for lat in perClient { for v in lat { _ = h.record(v) } }
        return Result(target: target, requests: Int(h.totalCount), errors: errors.load(ordering: .relaxed), seconds: seconds,
                      histogram: h, firstError: firstError.withLock { $0 })
    }

    func run() throws {
        _ = global.bootstrap()
        do {
            guard clients >= 1, count >= 1, duration > 0 else { throw RecError.invalidArgument("--clients, --count and --duration must be positive") }
            let bytes = try request()
            var results = [try load("recfuse", urls: urls, bytes: bytes, checkReplies: true)]
            if echo {
                // In its own process, as the server under test is: an echo inside the load
                // generator shares its NNG threads with the clients and measured ~25 µs slower.
                let url = "ipc:///tmp/rf-bench-echo-\(getpid()).sock"
                let child = try EchoProcess(url: url, contexts: max(2, clients))
                defer { child.stop() }
                results.append(try load("nng echo", urls: [url], bytes: bytes, checkReplies: false))
            }
            if json {
                for r in results {
                    let o: [String: Any] = ["target": r.target, "method": method, "clients": clients, "requests": r.requests,
                                            "errors": r.errors, "seconds": r.seconds, "requests_per_second": r.rate,
                                            "p50_us": r.p(50), "p90_us": r.p(90), "p99_us": r.p(99), "p999_us": r.p(99.9),
                                            "max_us": Double(r.histogram.max) / 1000, "request_bytes": bytes.count]
                    print(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
                }
            } else {
                print("\(method), \(bytes.count)-byte requests, \(clients) client(s), one request in flight each; latency in µs")
                print("target      requests  errors      req/s      p50      p90      p99    p99.9      max")
                for r in results {
                    print(String(format: "%-10@ %9d %7d %10.0f %8.1f %8.1f %8.1f %8.1f %8.1f", r.target as NSString, r.requests, r.errors,
                                 r.rate, r.p(50), r.p(90), r.p(99), r.p(99.9), Double(r.histogram.max) / 1000))
                }
                if results.count == 2 {
                    let (s, e) = (results[0], results[1])
                    print(String(format: "ratio      throughput %.2fx of the echo; p50 %.2fx, p99 %.2fx", s.rate / e.rate, s.p(50) / e.p(50), s.p(99) / e.p(99)))
                }
                if let e = results[0].firstError { print("first error: \(e)") }
            }
            if results[0].errors > 0 { throw ExitCode(3) }
        } catch let e as ExitCode { throw e } catch { fail(error) }
    }
}

/// `recfuse echo`: a bare NNG REP echo, the baseline `recfuse bench` measures the server
/// against (started by bench in a child process; also useful on its own).
struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A bare NNG REP echo: every message is sent back as it came (the bench baseline).")
    @Option(help: "URL to listen on.") var url: String
    @Option(help: "Contexts, each on its own thread (requests in flight at most).") var contexts: Int = 16
    @OptionGroup var global: GlobalOptions

    func run() throws {
        _ = global.bootstrap()
        do {
            let server = try NNGEchoServer(url: url, workers: contexts)
            withExtendedLifetime(server) { while true { pause() } }
        } catch { fail(error) }
    }
}

/// `recfuse echo` in a child process, ready (its ipc socket exists) when `init` returns.
final class EchoProcess {
    private var pid: pid_t = 0
    private let path: String

    init(url: String, contexts: Int) throws {
        path = url.hasPrefix("ipc://") ? String(url.dropFirst(6)) : ""
        unlink(path)  // a stale socket file would look like a listening echo
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let args = [exe, "echo", "--url", url, "--contexts", String(contexts), "--log-level", "error"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rv = posix_spawn(&pid, exe, nil, nil, &argv, environ)
        guard rv == 0 else { throw RecError.internal("cannot start \(exe) echo: \(String(cString: strerror(rv)))") }
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while !FileManager.default.fileExists(atPath: path) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                throw RecError.internal("the echo process exited (status \(status)) before listening on \(url)")
            }
            guard ContinuousClock.now < deadline else {
                stop()
                throw RecError.internal("the echo process did not listen on \(url) within 10 s")
            }
            usleep(10_000)
        }
    }

    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
        unlink(path)
    }

    deinit { stop() }
}
