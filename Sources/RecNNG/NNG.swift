import CNNG
import Foundation
import RecCore

// The only Swift target that imports libnng (1.5.2, Debian's libnng-dev). It owns nng's
// handles (sockets, listeners, contexts with their aio, messages, TLS configurations, the
// HTTP server) and turns every int return code into a thrown `RecError` through `check`,
// keeping nng's own code as the error's cause.

/// An nng return code, kept as the cause of the `RecError` it became.
public struct NNGError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
    public var description: String { String(cString: nng_strerror(code)) }
    public var isClosed: Bool { code == Int32(NNG_ECLOSED.rawValue) }
    public var isCancelled: Bool { code == Int32(NNG_ECANCELED.rawValue) }
    public var isTimeout: Bool { code == Int32(NNG_ETIMEDOUT.rawValue) }

    /// The status a caller sees: a timeout is DEADLINE_EXCEEDED, a bad address or option
    /// INVALID_ARGUMENT, no memory RESOURCE_EXHAUSTED, anything else UNAVAILABLE.
    public var status: StatusCode {
        switch UInt32(code) {
        case NNG_ETIMEDOUT.rawValue: .deadlineExceeded
        case NNG_EADDRINUSE.rawValue, NNG_EADDRINVAL.rawValue, NNG_EINVAL.rawValue, NNG_ENOTSUP.rawValue:
            .invalidArgument
        case NNG_ENOMEM.rawValue: .resourceExhausted
        default: .unavailable
        }
    }

    /// "<what>: <nng's message>" as a `RecError` with this code as its cause.
    public func error(_ what: String) -> RecError { RecError(status, "\(what): \(self)", cause: self) }
}

/// Every fallible nng call goes through here: 0 passes, anything else is thrown.
@inline(__always)
func check(_ rv: Int32, _ what: @autoclosure () -> String) throws(RecError) {
    guard rv == 0 else { throw NNGError(rv).error(what()) }
}

/// nng option names, as Swift strings.
public enum NNGOption {
    public static let receiveMaxBytes = NNG_OPT_RECVMAXSZ
    public static let receiveTimeout = NNG_OPT_RECVTIMEO
    public static let sendTimeout = NNG_OPT_SENDTIMEO
}

/// A socket: REP (a server), REQ (a client), either listening or dialling. Thread-safe as
/// nng's sockets are; `close` is idempotent and also runs when the socket is released.
public final class NNGSocket: @unchecked Sendable {
    public enum Role: Sendable { case rep, req }

    let raw: nng_socket
    private let lock = NSLock()
    private var open = true
    private var notifier: Unmanaged<Notifier>?

    public init(_ role: Role) throws(RecError) {
        var s = nng_socket()
        try check(
            role == .rep ? nng_rep0_open(&s) : nng_req0_open(&s), "opening a \(role == .rep ? "REP" : "REQ") socket")
        raw = s
    }

    deinit {
        close()
        notifier?.release()
    }

    /// Messages larger than this are dropped by nng together with their connection.
    public func setMaxMessageBytes(_ n: Int) throws(RecError) {
        try check(nng_socket_set_size(raw, NNGOption.receiveMaxBytes, n), "setting \(NNGOption.receiveMaxBytes)")
    }

    /// How long a blocking send and receive on the socket may wait.
    public func setTimeouts(milliseconds ms: Int32) throws(RecError) {
        try check(nng_socket_set_ms(raw, NNGOption.receiveTimeout, ms), "setting \(NNGOption.receiveTimeout)")
        try check(nng_socket_set_ms(raw, NNGOption.sendTimeout, ms), "setting \(NNGOption.sendTimeout)")
    }

    /// Starts listening on `url`; `tls:` is required for `tls+tcp://`.
    @discardableResult
    public func listen(_ url: String, tls: NNGTLSConfig? = nil) throws(RecError) -> NNGListener {
        var l = nng_listener()
        if url.hasPrefix("tls+tcp://") {
            guard let tls else { throw RecError.invalidArgument("\(url) needs a TLS certificate and key") }
            try check(nng_listener_create(&l, raw, url), "creating a listener on \(url)")
            // The listener takes its own reference to the configuration.
            try check(
                nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, UnsafeMutableRawPointer(tls.raw)), "setting TLS on \(url)")
            try check(nng_listener_start(l, 0), "listening on \(url)")
        } else {
            try check(nng_listen(raw, url, &l, 0), "listening on \(url)")
        }
        return NNGListener(raw: l, url: url)
    }

    public func dial(_ url: String) throws(RecError) {
        try check(nng_dial(raw, url, nil, 0), "dialling \(url)")
    }

    /// `handler(pipe id)` after each connection closes (nng calls it on its own thread). nng
    /// closes a connection whose message exceeds the size limit without telling the protocol;
    /// this is the only trace of that a server gets.
    public func onConnectionClosed(_ handler: @escaping @Sendable (UInt32) -> Void) throws(RecError) {
        let n = Unmanaged.passRetained(Notifier(handler))
        notifier?.release()
        notifier = n
        try check(
            nng_pipe_notify(
                raw, NNG_PIPE_EV_REM_POST,
                { pipe, _, arg in
                    Unmanaged<Notifier>.fromOpaque(arg!).takeUnretainedValue().handler(
                        UInt32(bitPattern: nng_pipe_id(pipe)))
                }, n.toOpaque()), "installing the pipe notifier")
    }

    /// Closes the socket: every context and pending operation on it ends with "closed".
    public func close() {
        lock.lock()
        let wasOpen = open
        open = false
        lock.unlock()
        if wasOpen { nng_close(raw) }
    }

    // MARK: one message at a time on the socket itself (REQ clients, simple tools)

    public func send(_ bytes: Data) throws(RecError) {
        var msg: OpaquePointer?
        try check(nng_msg_alloc(&msg, 0), "allocating a message")
        let rv = bytes.withUnsafeBytes { nng_msg_append(msg, $0.baseAddress, $0.count) }
        guard rv == 0 else {
            nng_msg_free(msg)
            throw NNGError(rv).error("building the message")
        }
        let sent = nng_sendmsg(raw, msg, 0)
        guard sent == 0 else {
            nng_msg_free(msg)
            throw NNGError(sent).error("sending")
        }
    }

    public func receive() throws(RecError) -> Data {
        var msg: OpaquePointer?
        try check(nng_recvmsg(raw, &msg, 0), "receiving")
        defer { nng_msg_free(msg) }
        let len = nng_msg_len(msg)
        return len == 0 ? Data() : Data(bytes: nng_msg_body(msg), count: len)
    }

    /// `send` then `receive`: one REQ/REP round trip.
    public func call(_ bytes: Data) throws(RecError) -> Data {
        try send(bytes)
        return try receive()
    }

    final class Notifier: @unchecked Sendable {
        let handler: @Sendable (UInt32) -> Void
        init(_ h: @escaping @Sendable (UInt32) -> Void) { handler = h }
    }
}

/// A started listener.
public struct NNGListener: Sendable {
    let raw: nng_listener
    public let url: String

    /// The URL as bound: a tcp port 0 replaced by the port the system chose.
    public var boundURL: String {
        guard url.hasPrefix("tcp://") || url.hasPrefix("tls+tcp://") else { return url }
        var sa = nng_sockaddr()
        guard nng_listener_get_addr(raw, NNG_OPT_LOCADDR, &sa) == 0, sa.s_family == UInt16(NNG_AF_INET.rawValue) else {
            return url
        }
        let port = Int(UInt16(bigEndian: sa.s_in.sa_port))
        guard port > 0, let colon = url.lastIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":\(port)"
    }

    public func close() { nng_listener_close(raw) }
}

/// A server-side TLS configuration: a certificate and key and, for mutual TLS, the CA chain
/// client certificates must verify against (a client without one is refused in the handshake).
public final class NNGTLSConfig: @unchecked Sendable {
    let raw: OpaquePointer?

    public init(certificate: String, key: String, clientCA: String?) throws(RecError) {
        var cfg: OpaquePointer?
        try check(nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER), "allocating a TLS configuration")
        raw = cfg
        try check(nng_tls_config_own_cert(cfg, certificate, key, nil), "loading the TLS certificate and key")
        if let clientCA {
            try check(nng_tls_config_ca_chain(cfg, clientCA, nil), "loading the client CA")
            try check(nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED), "requiring client certificates")
        } else {
            try check(nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE), "TLS without client certificates")
        }
    }

    deinit { nng_tls_config_free(raw) }
}

/// A received message, owned: freed when dropped unless handed back to nng by `reply`.
public struct NNGMessage: ~Copyable {
    fileprivate var raw: OpaquePointer?

    fileprivate init(_ raw: OpaquePointer?) { self.raw = raw }

    deinit { if let raw { nng_msg_free(raw) } }

    public var count: Int { nng_msg_len(raw) }

    /// The body's bytes (a copy).
    public var data: Data { count == 0 ? Data() : Data(bytes: nng_msg_body(raw), count: count) }

    /// Replaces the body with `bytes`, reusing the message's buffer.
    public mutating func replaceBody(_ bytes: Data) throws(RecError) {
        nng_msg_clear(raw)
        let rv = bytes.withUnsafeBytes { nng_msg_append(raw, $0.baseAddress, $0.count) }
        try check(rv, "building the reply")
    }

    /// Gives up ownership (the pointer now belongs to whoever takes it).
    fileprivate consuming func take() -> OpaquePointer? {
        let r = raw
        discard self
        return r
    }
}

/// One context of a socket and the aio it waits on: one request in flight, served by one
/// thread at a time (`receive` and `reply` block that thread); `cancel` may come from any
/// thread. The aio is freed when the context is released, which its owner must do only once
/// no thread can still wait on it.
public final class NNGContext: @unchecked Sendable {
    private var ctx = nng_ctx()
    private var aio: OpaquePointer?

    public init(_ socket: NNGSocket) throws(RecError) {
        try check(nng_ctx_open(&ctx, socket.raw), "opening a context")
        try check(nng_aio_alloc(&aio, nil, nil), "allocating an aio")
    }

    deinit { if let aio { nng_aio_free(aio) } }

    /// Waits for the next request.
    public func receive() -> Result<NNGMessage, NNGError> {
        nng_ctx_recv(ctx, aio)
        nng_aio_wait(aio)
        let rv = nng_aio_result(aio)
        guard rv == 0 else { return .failure(NNGError(rv)) }
        let msg = NNGMessage(nng_aio_get_msg(aio))
        nng_aio_set_msg(aio, nil)
        return .success(msg)
    }

    /// Sends `msg` as the reply to the last request; waits until nng has queued it. On
    /// failure the message is freed and the error returned.
    @discardableResult
    public func reply(_ msg: consuming NNGMessage) -> NNGError? {
        nng_aio_set_msg(aio, msg.take())
        nng_ctx_send(ctx, aio)
        nng_aio_wait(aio)
        let rv = nng_aio_result(aio)
        guard rv != 0 else { return nil }
        nng_msg_free(nng_aio_get_msg(aio))  // not consumed on failure
        nng_aio_set_msg(aio, nil)
        return NNGError(rv)
    }

    /// Cancels what the context is waiting on (its `receive` returns "cancelled").
    public func cancel() { nng_aio_cancel(aio) }
}
