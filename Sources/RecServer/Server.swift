import CNNG
import Dispatch
import Foundation
import Logging
import RecCore
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
    private var socket = nng_socket()
    private var open = false
    private var listeners: [nng_listener] = []
    private var slots: [Slot] = []
    private let lock = NSCondition()
    private var busy = 0          // requests between receive and reply sent
    private var running = 0       // context threads not yet exited
    private var draining = false  // no new receives are started
    private var closing = false   // teardown began: a receive that completes now is dropped
    /// The URLs actually bound (tcp port 0 resolved).
    public private(set) var boundURLs: [String] = []

    public init(service: Service, config: ServerConfig, logger: Logger = Logger(label: "recfuse.server")) {
        self.service = service
        self.config = config
        self.logger = logger
    }

    deinit { if open { shutdown() } }

    /// Opens the socket, binds every URL and starts receiving. Throws (and cleans up) if any
    /// URL cannot be bound.
    public func start() throws {
        precondition(!open, "server already started")
        guard !config.listen.isEmpty else { throw RecError.invalidArgument("no --listen URL given") }
        try nngCheck(nng_rep0_open(&socket), "opening the REP socket")
        open = true
        do {
            try nngCheck(nng_socket_set_size(socket, NNG_OPT_RECVMAXSZ, config.maxMessageBytes), "setting \(NNG_OPT_RECVMAXSZ)")
            let me = Unmanaged.passUnretained(self).toOpaque()
            try nngCheck(nng_pipe_notify(socket, NNG_PIPE_EV_REM_POST, { pipe, _, arg in
                Unmanaged<Server>.fromOpaque(arg!).takeUnretainedValue().pipeClosed(pipe)
            }, me), "installing the pipe notifier")
            for url in config.listen {
                var l = nng_listener()
                if url.hasPrefix("tls+tcp://") {
                    guard let tls = config.tls else { throw RecError.invalidArgument("\(url) needs --tls-cert and --tls-key") }
                    try nngCheck(nng_listener_create(&l, socket, url), "creating a listener on \(url)")
                    let cfg = try Self.tlsConfig(tls)
                    defer { nng_tls_config_free(cfg) }  // the listener holds its own reference
                    try nngCheck(nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, UnsafeMutableRawPointer(cfg)), "setting TLS on \(url)")
                    try nngCheck(nng_listener_start(l, 0), "listening on \(url)")
                } else {
                    try nngCheck(nng_listen(socket, url, &l, 0), "listening on \(url)")
                }
                listeners.append(l)
                boundURLs.append(Self.boundURL(url, l))
            }
            for _ in 0..<max(1, config.contexts) {
                let slot = Slot(server: self)
                try nngCheck(nng_ctx_open(&slot.ctx, socket), "opening a context")
                try nngCheck(nng_aio_alloc(&slot.aio, nil, nil), "allocating an aio")
                slots.append(slot)
            }
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
        logger.info("serving", metadata: [
            "listen": .array(boundURLs.map { .string($0) }), "bundle": .string(service.current.bundleVersion),
            "contexts": .stringConvertible(slots.count),
            "max_message_bytes": .stringConvertible(config.maxMessageBytes),
        ])
    }

    /// Graceful shutdown: stop taking new requests, let the ones in flight finish and their
    /// replies go out (up to `drainTimeout`), then close the socket. Idempotent.
    public func shutdown() {
        guard open else { return }
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
            for s in slots where s.receiving { nng_aio_cancel(s.aio) }
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
        for l in listeners { nng_listener_close(l) }
        listeners.removeAll()
        if open {
            open = false
            guard closeSocket() else { return }
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
        for s in slots where s.aio != nil { nng_aio_free(s.aio); s.aio = nil }
        slots.removeAll()
    }

    /// `nng_close` with a watchdog. libnng 1.5.2 (Debian's) can deadlock in close when a
    /// connection is torn down while a message is in flight on it (nanomsg/nng#1813, fixed
    /// in 1.8.0): the reaper waits forever on a pipe's aio. Every reply has gone out by now,
    /// so rather than hang the process the server logs the stall and abandons the socket:
    /// the slots and the server stay retained (nng may still call back into them) and the
    /// process exit reclaims the rest. Returns whether the close finished.
    private func closeSocket() -> Bool {
        let done = DispatchSemaphore(value: 0)
        let sock = socket
        let closer = Thread { nng_close(sock); done.signal() }
        closer.name = "recfuse-close"
        closer.start()
        if done.wait(timeout: .now() + config.closeTimeout.seconds) == .success { return true }
        logger.warning("nng_close did not return within \(config.closeTimeout): libnng 1.5.2 can deadlock closing a socket whose connection is torn down mid-message (nanomsg/nng#1813, fixed in nng 1.8); every reply was sent, the socket is left to process exit")
        _ = Unmanaged.passRetained(self)  // callbacks may still reach the slots: never free them
        return false
    }

    // MARK: - context threads

    final class Slot: @unchecked Sendable {
        unowned let server: Server
        var ctx = nng_ctx()
        var aio: OpaquePointer? = nil
        /// Between starting a receive and its completion (guarded by `server.lock`): the only
        /// time shutdown may cancel this aio.
        var receiving = false

        init(server: Server) { self.server = server }

        /// The thread's loop: one request at a time until the socket closes or the server drains.
        /// Two critical sections per request: `begin` (received) and `end` (replied, and
        /// receiving again unless draining).
        func serve() {
            defer { server.exited() }
            var receive = server.startReceiving(self)
            while receive {
                nng_ctx_recv(ctx, aio)
                nng_aio_wait(aio)
                let rv = nng_aio_result(aio)
                guard rv == 0 else {
                    if rv == Int32(NNG_ECLOSED.rawValue) { return }
                    if rv != Int32(NNG_ECANCELED.rawValue) {  // cancelled = shutdown: startReceiving says
                        server.logger.warning("receive failed: \(String(cString: nng_strerror(rv)))")
                    }
                    receive = server.startReceiving(self)
                    continue
                }
                let received = ContinuousClock.now
                let msg = nng_aio_get_msg(aio)
                nng_aio_set_msg(aio, nil)
                guard server.begin(self) else {  // shutting down: the socket is about to close
                    nng_msg_free(msg)
                    return
                }
                work(msg, received)
                receive = server.end(self)
            }
        }

        /// Runs one request and sends its reply in the received message's buffer.
        private func work(_ msg: OpaquePointer?, _ received: ContinuousClock.Instant) {
            let len = nng_msg_len(msg)
            let request = len == 0 ? Data() : Data(bytes: nng_msg_body(msg), count: len)
            server.metrics.begin()
            let out = server.service.handleDetailed(request, received: received)
            server.metrics.end(method: out.method, code: out.code, seconds: (ContinuousClock.now - received).seconds)
            if out.code != .ok {
                let level: Logger.Level = out.code == .internal ? .error : .debug
                server.logger.log(level: level, "request failed", metadata: [
                    "method": .string(out.method), "code": .stringConvertible(out.code), "message": .string(out.message),
                ])
            }
            nng_msg_clear(msg)
            let rv = out.reply.withUnsafeBytes { nng_msg_append(msg, $0.baseAddress, $0.count) }
            guard rv == 0 else {
                server.logger.error("cannot build the reply: \(String(cString: nng_strerror(rv)))")
                nng_msg_free(msg)
                return
            }
            nng_aio_set_msg(aio, msg)
            nng_ctx_send(ctx, aio)
            nng_aio_wait(aio)
            let sent = nng_aio_result(aio)
            if sent != 0 {
                nng_msg_free(nng_aio_get_msg(aio))  // not consumed on failure
                nng_aio_set_msg(aio, nil)
                if sent != Int32(NNG_ECLOSED.rawValue) {
                    server.logger.debug("reply not delivered: \(String(cString: nng_strerror(sent)))")
                }
            }
        }
    }

    public var isDraining: Bool { lock.lock(); defer { lock.unlock() }; return draining }

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

    private func pipeClosed(_ p: nng_pipe) {
        // NNG closes a connection whose message exceeds NNG_OPT_RECVMAXSZ without telling the
        // protocol; this is the only trace of it the server gets.
        logger.info("connection closed (peer hung up, or sent a message over \(config.maxMessageBytes) bytes, which nng drops)",
                    metadata: ["pipe": .stringConvertible(nng_pipe_id(p))])
    }

    /// A server-side TLS configuration: our certificate and key, and for mutual TLS the CA
    /// that client certificates must chain to.
    static func tlsConfig(_ t: ServerConfig.TLS) throws -> OpaquePointer? {
        var cfg: OpaquePointer?
        try nngCheck(nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER), "allocating a TLS configuration")
        do {
            try nngCheck(nng_tls_config_own_cert(cfg, t.certificate, t.key, nil), "loading the TLS certificate and key")
            if let ca = t.clientCA {
                try nngCheck(nng_tls_config_ca_chain(cfg, ca, nil), "loading the client CA")
                try nngCheck(nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED), "requiring client certificates")
            } else {
                try nngCheck(nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE), "TLS without client certificates")
            }
        } catch {
            nng_tls_config_free(cfg)
            throw error
        }
        return cfg
    }

    private static func boundURL(_ url: String, _ l: nng_listener) -> String {
        guard url.hasPrefix("tcp://") || url.hasPrefix("tls+tcp://") else { return url }
        var port: Int32 = 0
        var sa = nng_sockaddr()
        if nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0, sa.s_family == UInt16(NNG_AF_INET.rawValue) {
            port = Int32(UInt16(bigEndian: sa.s_in.sa_port))
        }
        guard port > 0, let colon = url.lastIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":\(port)"
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
