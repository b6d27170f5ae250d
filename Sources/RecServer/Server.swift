import Dispatch
import Foundation
import Logging
import RecCore
import RecNNG
import RecWire

/// Configuration of one server.
public struct ServerConfig: Sendable {
    /// NNG URLs to listen on: ipc://path, tcp://host:port (several at once).
    public var listen: [String]
    /// NNG contexts, each served by its own thread: requests in flight at most. Default 64.
    public var contexts = 64
    /// NNG_OPT_RECVMAXSZ: a larger message makes NNG drop it and close that connection
    /// (the client sees its own timeout). Default 4 MiB.
    public var maxMessageBytes = 4 << 20
    /// Certificates for `tls+tcp://` listeners (PEM text).
    public struct TLS: Sendable {
        public var certificate: String
        public var key: String
        /// CA chain that client certificates must verify against: set = mutual TLS (a client
        /// without a valid certificate is refused during the handshake).
        public var clientCA: String?
        public init(certificate: String, key: String, clientCA: String? = nil) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }
    }
    public var tls: TLS?
    /// How long a graceful shutdown waits for requests in flight.
    public var drainTimeout: Duration = .seconds(10)
    /// How long closing the NNG socket may take before the server gives up on it (see
    /// `Server.closeSocket`).
    public var closeTimeout: Duration = .seconds(3)

    public init(listen: [String]) { self.listen = listen }
}

/// The NNG transport: a REP socket with a pool of contexts, each served by its own thread.
///
/// Every context thread loops: receive (blocking on its aio) → `Service.handle` → send the
/// reply (blocking until NNG has queued it) → receive again. NNG's own threads never run
/// request work, so a slow call (an LLM judge waiting on the network, a reload) holds one
/// context and nothing else; and a request crosses as few threads as a bare NNG echo does:
/// the aio completes straight into the waiting thread. (An earlier design handed each
/// message from the aio callback to a worker pool; that extra thread hand-off cost 13 µs of
/// 1-client p50 and 15% of 16-client throughput, docs/operations.md.)
///
/// Thread-safety: `start` and `shutdown` are called by one controlling thread; the context
/// threads share only `lock`-protected counters and the thread-safe `Service`.
public final class Server: @unchecked Sendable {
    public let service: Service
    public let config: ServerConfig
    /// Requests by method and status, latencies, in-flight (served by `MetricsEndpoint`).
    public let metrics = ServerMetrics()
    let logger: Logger
    private var socket: NNGSocket?
    private var listeners: [NNGListener] = []
    private var slots: [Slot] = []
    private let lock = NSCondition()
    private var busy = 0  // requests between receive and reply sent
    private var running = 0  // context threads not yet exited
    private var draining = false  // no new receives are started
    private var closing = false  // teardown began: a receive that completes now is dropped
    /// The URLs actually bound (tcp port 0 resolved).
    public private(set) var boundURLs: [String] = []

    public init(service: Service, config: ServerConfig, logger: Logger = Logger(label: "recfuse.server")) {
        self.service = service
        self.config = config
        self.logger = logger
    }

    deinit { if socket != nil { shutdown() } }

    /// Opens the socket, binds every URL and starts receiving. Throws (and cleans up) if any
    /// URL cannot be bound.
    public func start() throws {
        precondition(socket == nil, "server already started")
        guard !config.listen.isEmpty else { throw RecError.invalidArgument("no --listen URL given") }
        let sock = try NNGSocket(.rep)
        socket = sock
        do {
            try sock.setMaxMessageBytes(config.maxMessageBytes)
            let (log, limit) = (logger, config.maxMessageBytes)
            try sock.onConnectionClosed { pipe in
                log.info(
                    "connection closed (peer hung up, or sent a message over \(limit) bytes, which nng drops)",
                    metadata: ["pipe": .stringConvertible(pipe)])
            }
            let tls = try config.tls.map { t throws(RecError) in
                try NNGTLSConfig(certificate: t.certificate, key: t.key, clientCA: t.clientCA)
            }
            for url in config.listen {
                if url.hasPrefix("tls+tcp://"), tls == nil {
                    throw RecError.invalidArgument("\(url) needs --tls-cert and --tls-key")
                }
                let l = try sock.listen(url, tls: tls)
                listeners.append(l)
                boundURLs.append(l.boundURL)
            }
            for _ in 0..<max(1, config.contexts) { slots.append(Slot(server: self, context: try NNGContext(sock))) }
        } catch {
            teardown()
            throw error
        }
        lock.lock()
        running = slots.count
        lock.unlock()
        for (n, s) in slots.enumerated() {
            let t = Thread { [s] in s.serve() }
            t.name = "recfuse-ctx-\(n)"
            t.stackSize = 4 << 20
            t.start()
        }
        logger.info(
            "serving",
            metadata: [
                "listen": .array(boundURLs.map { .string($0) }), "bundle": .string(service.current.bundleVersion),
                "contexts": .stringConvertible(slots.count),
                "max_message_bytes": .stringConvertible(config.maxMessageBytes),
            ])
    }

    /// Graceful shutdown: stop taking new requests, let the ones in flight finish and their
    /// replies go out (up to `drainTimeout`), then close the socket. Idempotent.
    public func shutdown() {
        guard socket != nil else { return }
        lock.lock()
        draining = true
        lock.unlock()
        // Receives still waiting are cancelled, again every 50 ms: a thread that was between
        // requests may have started a new receive after the first cancel. Only receives: an
        // aio in its send is never cancelled, so every accepted request gets its reply. A
        // context that completes a receive anyway still serves that request, then exits.
        let deadline = ContinuousClock.now.advanced(by: config.drainTimeout)
        lock.lock()
        while (busy > 0 || running > 0) && ContinuousClock.now < deadline {
            for s in slots where s.receiving { s.context.cancel() }
            _ = lock.wait(until: Date().addingTimeInterval(0.05))
        }
        let left = busy
        lock.unlock()
        if left > 0 { logger.warning("shutdown: \(left) request(s) still in flight after the drain timeout") }
        teardown()
        logger.info("stopped")
    }

    /// Order matters: after `closing` is set no new request is accepted (checked under the
    /// same lock as `busy`); closing the socket aborts whatever the context threads still wait
    /// on, so they exit; only when every one has exited are the aios freed.
    private func teardown() {
        lock.lock()
        closing = true
        draining = true
        lock.unlock()
        for l in listeners { l.close() }
        listeners.removeAll()
        if let socket {
            self.socket = nil
            guard closeSocket(socket) else { return }
        }
        let deadline = ContinuousClock.now.advanced(by: config.closeTimeout)
        lock.lock()
        while running > 0 && ContinuousClock.now < deadline { _ = lock.wait(until: Date().addingTimeInterval(0.05)) }
        let stuck = running
        lock.unlock()
        guard stuck == 0 else {
            // A request still running past both timeouts (a hung LLM call, say): its thread
            // may touch its aio later, so nothing is freed; process exit reclaims it.
            logger.warning("\(stuck) context thread(s) still busy after shutdown; left to process exit")
            _ = Unmanaged.passRetained(self)
            return
        }
        slots.removeAll()  // frees each context's aio: no thread can wait on one now
    }

    /// `nng_close` with a watchdog. libnng 1.5.2 (Debian's) can deadlock in close when a
    /// connection is torn down while a message is in flight on it (nanomsg/nng#1813, fixed
    /// in 1.8.0): the reaper waits forever on a pipe's aio. Every reply has gone out by now,
    /// so rather than hang the process the server logs the stall and abandons the socket:
    /// the slots and the server stay retained (nng may still call back into them) and the
    /// process exit reclaims the rest. Returns whether the close finished.
    private func closeSocket(_ sock: NNGSocket) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let closer = Thread {
            sock.close()
            done.signal()
        }
        closer.name = "recfuse-close"
        closer.start()
        if done.wait(timeout: .now() + config.closeTimeout.seconds) == .success { return true }
        logger.warning(
            """
            nng_close did not return within \(config.closeTimeout): libnng 1.5.2 can deadlock closing a socket \
            whose connection is torn down mid-message (nanomsg/nng#1813, fixed in nng 1.8); every reply was sent, \
            the socket is left to process exit
            """)
        _ = Unmanaged.passRetained(self)  // callbacks may still reach the slots: never free them
        return false
    }

    // MARK: - context threads

    final class Slot: @unchecked Sendable {
        unowned let server: Server
        let context: NNGContext
        /// Between starting a receive and its completion (guarded by `server.lock`): the only
        /// time shutdown may cancel this context.
        var receiving = false

        init(server: Server, context: NNGContext) {
            self.server = server
            self.context = context
        }

        /// The thread's loop: one request at a time until the socket closes or the server drains.
        /// Two critical sections per request: `begin` (received) and `end` (replied, and
        /// receiving again unless draining).
        func serve() {
            defer { server.exited() }
            var receive = server.startReceiving(self)
            while receive {
                switch context.receive() {
                case .failure(let e):
                    if e.isClosed { return }
                    // Cancelled means shutting down: startReceiving says so.
                    if !e.isCancelled { server.logger.warning("receive failed: \(e)") }
                    receive = server.startReceiving(self)
                case .success(let msg):
                    let received = ContinuousClock.now
                    guard server.begin(self) else { return }  // shutting down: the socket is about to close (msg freed)
                    work(msg, received)
                    receive = server.end(self)
                }
            }
        }

        /// Runs one request and sends its reply in the received message's buffer.
        private func work(_ msg: consuming NNGMessage, _ received: ContinuousClock.Instant) {
            let request = msg.data
            server.metrics.begin()
            let out = server.service.handleDetailed(request, received: received)
            server.metrics.end(method: out.method, code: out.code, seconds: (ContinuousClock.now - received).seconds)
            RequestLog.record(
                server.logger, method: out.method, code: out.code, message: out.message, requestID: out.requestID,
                traceID: out.traceID, micros: out.micros, transport: "nng")
            do { try msg.replaceBody(out.reply) } catch {
                server.logger.error("\(error)")
                return
            }
            if let e = context.reply(msg), !e.isClosed { server.logger.debug("reply not delivered: \(e)") }
        }
    }

    public var isDraining: Bool {
        lock.lock()
        defer { lock.unlock() }
        return draining
    }

    /// `slot` received a request: counts it in; false once teardown has begun.
    fileprivate func begin(_ slot: Slot) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        slot.receiving = false
        if closing { return false }
        busy += 1
        return true
    }

    /// `slot` sent its reply: counts the request out; returns whether to receive again (and
    /// marks the slot receiving if so).
    fileprivate func end(_ slot: Slot) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        busy -= 1
        lock.broadcast()
        slot.receiving = !draining
        return !draining
    }

    /// Marks `slot` as receiving, unless the server is draining (then the thread exits).
    fileprivate func startReceiving(_ slot: Slot) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        slot.receiving = !draining
        return !draining
    }

    /// A context thread has left its loop.
    private func exited() {
        lock.lock()
        running -= 1
        lock.broadcast()
        lock.unlock()
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully. Create `signals` before
    /// `start()` so that a signal arriving during start-up is not lost.
    public func runUntilSignalled(_ signals: ShutdownSignals) {
        signals.wait()
        shutdown()
    }
}

/// Catches SIGINT and SIGTERM from the moment it is created (their default actions are
/// replaced), so a signal that arrives while a server is still starting is kept for `wait`.
public final class ShutdownSignals: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var sources: [DispatchSourceSignal] = []

    public init(logger: Logger) {
        signal(SIGPIPE, SIG_IGN)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [done] in
                logger.info("signal \(sig == SIGINT ? "SIGINT" : "SIGTERM"): shutting down")
                done.signal()
            }
            s.resume()
            sources.append(s)
        }
    }

    /// Blocks until the first SIGINT or SIGTERM.
    public func wait() {
        done.wait()
        sources.forEach { $0.cancel() }
    }
}

/// SIGHUP → `action` (hot reload), on a background queue; further SIGHUPs while one runs are
/// handled after it. Created before `start()`, like `ShutdownSignals`.
public final class HangupSignal: @unchecked Sendable {
    private let source: DispatchSourceSignal

    public init(queue: DispatchQueue = DispatchQueue(label: "recfuse.sighup"), action: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        source.setEventHandler(handler: action)
        source.resume()
    }

    deinit { source.cancel() }
}
