import CNNG
import Foundation
import RecCore

/// libnng's built-in HTTP server with GET handlers written in Swift (used for `/metrics`,
/// `/healthz`, `/readyz`). Each handler runs on one of nng's threads and must be quick.
public final class NNGHTTPServer: @unchecked Sendable {
    public struct Response: Sendable {
        public var status: UInt16
        public var body: String
        public var contentType: String
        public init(status: UInt16 = 200, body: String, contentType: String = "text/plain; charset=utf-8") {
            self.status = status
            self.body = body
            self.contentType = contentType
        }
    }

    public typealias Handler = @Sendable () -> Response

    /// A handler's closure, reachable from nng's C callback through the handler's data pointer.
    final class Box {
        let handler: Handler
        init(_ h: @escaping Handler) { handler = h }
    }

    private var server: OpaquePointer?
    private var started = false

    /// `url`: "http://127.0.0.1:9464".
    public init(url: String) throws(RecError) {
        var parsed: UnsafeMutablePointer<nng_url>?
        try check(nng_url_parse(&parsed, url), "parsing \(url)")
        defer { nng_url_free(parsed) }
        try check(nng_http_server_hold(&server, parsed), "creating the HTTP server on \(url)")
    }

    deinit { stop() }

    /// Answers GET `path` with `handler`'s response. Call before `start`.
    public func get(_ path: String, _ handler: @escaping Handler) throws(RecError) {
        var h: OpaquePointer?
        try check(nng_http_handler_alloc(&h, path, Self.callback), "adding \(path)")
        let box = Unmanaged.passRetained(Box(handler)).toOpaque()
        // The server owns the handler from here on and releases the box with it.
        try check(
            nng_http_handler_set_data(h, box, { Unmanaged<Box>.fromOpaque($0!).release() }),
            "attaching \(path)'s handler")
        try check(nng_http_handler_set_method(h, "GET"), "GET for \(path)")
        try check(nng_http_server_add_handler(server, h), "adding \(path)")
    }

    public func start() throws(RecError) {
        try check(nng_http_server_start(server), "starting the HTTP server")
        started = true
    }

    public func stop() {
        guard let server else { return }
        if started { nng_http_server_stop(server) }
        nng_http_server_release(server)
        self.server = nil
    }

    /// nng's handler callback: input 1 of the aio is the handler, whose data is the `Box`.
    private static let callback: @convention(c) (OpaquePointer?) -> Void = { aio in
        let handler = OpaquePointer(nng_aio_get_input(aio, 1))
        guard let data = nng_http_handler_get_data(handler) else {
            nng_aio_finish(aio, Int32(NNG_EINTERNAL.rawValue))
            return
        }
        let r = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue().handler()
        var res: OpaquePointer?
        guard nng_http_res_alloc(&res) == 0 else {
            nng_aio_finish(aio, Int32(NNG_ENOMEM.rawValue))
            return
        }
        var ok = nng_http_res_set_status(res, r.status) == 0
        ok = ok && nng_http_res_set_header(res, "Content-Type", r.contentType) == 0
        var bytes = Array(r.body.utf8)
        ok = ok && nng_http_res_copy_data(res, &bytes, bytes.count) == 0
        guard ok else {
            nng_http_res_free(res)
            nng_aio_finish(aio, Int32(NNG_ENOMEM.rawValue))
            return
        }
        nng_aio_set_output(aio, 0, UnsafeMutableRawPointer(res))
        nng_aio_finish(aio, 0)
    }
}
