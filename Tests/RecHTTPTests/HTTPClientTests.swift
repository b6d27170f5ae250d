import Foundation
import RecHTTP
import RecTestSupport
import Testing

@Suite struct HTTPClientTests {
    @Test func getsBodiesStatusesAndHeaders() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("hello recfuse".utf8).write(to: dir.appendingPathComponent("hello.txt"))
        let server = try LoopbackHTTPServer(serving: dir)
        defer { server.stop() }
        let http = HTTPClient()
        #expect(try http.get("\(server.baseURL)/hello.txt") == Data("hello recfuse".utf8))
        let r = try http.send(HTTPRequest(url: "\(server.baseURL)/hello.txt"))
        #expect(r.status == 200)
        #expect(r.headers["content-length"] == "13")
        let missing = try http.send(HTTPRequest(url: "\(server.baseURL)/nope"))
        #expect(missing.status == 404)
        #expect(throws: HTTPError.self) { try http.get("\(server.baseURL)/nope") }
        // A body over the limit aborts the transfer with a clear error.
        do {
            _ = try http.send(HTTPRequest(url: "\(server.baseURL)/hello.txt", maxBodyBytes: 4))
            Issue.record("expected an over-size error")
        } catch {
            #expect(error.message.contains("exceeds 4 bytes"))
        }
    }

    @Test func connectionRefusedIsATransportError() throws {
        do {
            _ = try HTTPClient().get("http://127.0.0.1:1/x", connectTimeout: 2, timeout: 5)
            Issue.record("expected a connection error")
        } catch {
            #expect(error.isConnectionError)
            #expect(error.url == "http://127.0.0.1:1/x")
        }
    }
}
