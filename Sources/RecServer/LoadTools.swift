import CNNG
import Foundation
import RecCore

/// A blocking NNG REQ client on its own socket: one request in flight. `recfuse bench` runs
/// one per simulated client, so clients do not share a socket's queue.
public final class NNGRequester: @unchecked Sendable {
    private var socket = nng_socket()

    public init(urls: [String], timeoutMs: Int32 = 10_000, maxMessageBytes: Int = 64 << 20) throws {
        try nngCheck(nng_req0_open(&socket), "opening a REQ socket")
        nng_socket_set_ms(socket, NNG_OPT_RECVTIMEO, timeoutMs)
        nng_socket_set_ms(socket, NNG_OPT_SENDTIMEO, timeoutMs)
        nng_socket_set_size(socket, NNG_OPT_RECVMAXSZ, maxMessageBytes)
        for u in urls {
            let rv = nng_dial(socket, u, nil, 0)
            if rv != 0 {
                nng_close(socket)
                throw nngError(rv, "dialling \(u)")
            }
        }
    }

    /// Sends `request` and waits for the reply.
    public func call(_ request: Data) throws -> Data {
        var msg: OpaquePointer?
        try nngCheck(nng_msg_alloc(&msg, 0), "allocating a message")
        let rv = request.withUnsafeBytes { nng_msg_append(msg, $0.baseAddress, $0.count) }
        guard rv == 0 else { nng_msg_free(msg); throw nngError(rv, "building the request") }
        let sent = nng_sendmsg(socket, msg, 0)
        guard sent == 0 else { nng_msg_free(msg); throw nngError(sent, "sending") }
        var reply: OpaquePointer?
        try nngCheck(nng_recvmsg(socket, &reply, 0), "receiving")
        defer { nng_msg_free(reply) }
        let len = nng_msg_len(reply)
        return len == 0 ? Data() : Data(bytes: nng_msg_body(reply), count: len)
    }

    deinit { nng_close(socket) }
}

/// A bare NNG REP echo on `url`, answering every message with itself from `workers`
/// contexts: the transport's own cost, measured next to the server in the same run.
public final class NNGEchoServer: @unchecked Sendable {
    private var socket = nng_socket()
    private var threads: [Thread] = []

    public init(url: String, workers: Int) throws {
        try nngCheck(nng_rep0_open(&socket), "opening the echo socket")
        nng_socket_set_size(socket, NNG_OPT_RECVMAXSZ, 64 << 20)
        try nngCheck(nng_listen(socket, url, nil, 0), "listening on \(url)")
        for _ in 0..<max(1, workers) {
            var ctx = nng_ctx()
            try nngCheck(nng_ctx_open(&ctx, socket), "opening an echo context")
            var aio: OpaquePointer?
            try nngCheck(nng_aio_alloc(&aio, nil, nil), "allocating an aio")
            nonisolated(unsafe) let (c, a) = (ctx, aio)  // owned by this one thread from here on
            let t = Thread {
                while true {
                    nng_ctx_recv(c, a)
                    nng_aio_wait(a)
                    guard nng_aio_result(a) == 0 else { return }  // closed
                    // The received message goes straight back.
                    nng_aio_set_msg(a, nng_aio_get_msg(a))
                    nng_ctx_send(c, a)
                    nng_aio_wait(a)
                    if nng_aio_result(a) != 0 { nng_msg_free(nng_aio_get_msg(a)) }
                }
            }
            t.start()
            threads.append(t)
        }
    }

    public func stop() { nng_close(socket) }
}
