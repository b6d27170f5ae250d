import Foundation
import RecCore
import RecHTTP
import RecNNG
import Testing

@Suite struct NNGTests {
    func ipc() -> String {
        "ipc://\(FileManager.default.temporaryDirectory.path)/rf-nng-\(UUID().uuidString.prefix(8)).sock"
    }

    /// A REP socket served from one context on its own thread, echoing with a prefix.
    func server(_ url: String) throws -> (NNGSocket, NNGContext) {
        let rep = try NNGSocket(.rep)
        try rep.listen(url)
        let ctx = try NNGContext(rep)
        Thread {
            while case .success(var msg) = ctx.receive() {
                let body = msg.data
                do { try msg.replaceBody(Data("re:".utf8) + body) } catch { return }
                ctx.reply(msg)
            }
        }.start()
        return (rep, ctx)
    }

    @Test func requestsAndRepliesThroughAContext() throws {
        let url = ipc()
        let (rep, ctx) = try server(url)
        defer { rep.close() }
        let req = try NNGSocket(.req)
        try req.setTimeouts(milliseconds: 5000)
        try req.dial(url)
        for n in 0..<20 { #expect(try req.call(Data("m\(n)".utf8)) == Data("re:m\(n)".utf8)) }
        #expect(try req.call(Data()) == Data("re:".utf8))
        withExtendedLifetime(ctx) {}
    }

    @Test func errorsCarryNNGsCodeAsTheirCause() throws {
        let req = try NNGSocket(.req)
        let bad = try #require(throws: RecError.self) { try req.dial("nope://x") }
        #expect(bad.code == .invalidArgument || bad.code == .unavailable)
        #expect(bad.message.hasPrefix("dialling nope://x: "))
        #expect(bad.cause is NNGError)
        let refused = try #require(throws: RecError.self) { try req.dial(ipc()) }
        #expect(refused.code == .unavailable && refused.message.contains("Connection refused"))
        // A server that never answers: the receive times out.
        let rep = try NNGSocket(.rep)
        let url = ipc()
        try rep.listen(url)
        try req.setTimeouts(milliseconds: 50)
        try req.dial(url)
        let timeout = try #require(throws: RecError.self) { try req.call(Data("x".utf8)) }
        #expect(timeout.code == .deadlineExceeded && (timeout.cause as? NNGError)?.isTimeout == true)
        let dup = try #require(throws: RecError.self) { try NNGSocket(.rep).listen(url) }
        #expect(dup.code == .invalidArgument, "address in use: \(dup.message)")
    }

    @Test func cancelAndCloseEndAWaitingReceive() throws {
        let rep = try NNGSocket(.rep)
        try rep.listen(ipc())
        let ctx = try NNGContext(rep)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: NNGError?
        Thread {
            if case .failure(let e) = ctx.receive() { outcome = e }
            done.signal()
        }.start()
        usleep(50_000)
        ctx.cancel()
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(outcome?.isCancelled == true)
        Thread {
            if case .failure(let e) = ctx.receive() { outcome = e }
            done.signal()
        }.start()
        usleep(50_000)
        rep.close()
        rep.close()  // idempotent
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(outcome?.isClosed == true)
    }

    @Test func theTCPPortChosenByTheSystemIsReported() throws {
        let rep = try NNGSocket(.rep)
        defer { rep.close() }
        let l = try rep.listen("tcp://127.0.0.1:0")
        #expect(l.boundURL.hasPrefix("tcp://127.0.0.1:") && l.boundURL != "tcp://127.0.0.1:0")
    }

    @Test func httpHandlersAnswerGETs() throws {
        let port = 20000 + Int(UInt16.random(in: 0..<20000))
        let http = try NNGHTTPServer(url: "http://127.0.0.1:\(port)")
        try http.get("/hello") { .init(body: "hi\n") }
        try http.get("/busy") { .init(status: 503, body: "later\n", contentType: "text/x-busy") }
        try http.start()
        defer { http.stop() }
        func fetch(_ path: String) throws -> (Int, String, String) {
            let r = try HTTPClient().send(HTTPRequest(url: "http://127.0.0.1:\(port)\(path)", timeout: 10))
            return (r.status, String(decoding: r.body, as: UTF8.self), r.headers["content-type"] ?? "")
        }
        #expect(try fetch("/hello") == (200, "hi\n", "text/plain; charset=utf-8"))
        #expect(try fetch("/busy") == (503, "later\n", "text/x-busy"))
        #expect(try fetch("/other").0 == 404)
    }
}
