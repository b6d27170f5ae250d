import CCurl
import CRecShims
import Foundation

/// A failed transfer: libcurl's code and its own message, or an over-size body.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    /// libcurl's CURLcode (0 when the error is not curl's).
    public var curlCode: Int
    public var message: String
    public var url: String

    public var description: String { "\(url): \(message)" }

    /// True for failures that happened before any HTTP status: DNS, refused, TLS, timeouts.
    public var isConnectionError: Bool {
        [Int(CURLE_COULDNT_RESOLVE_HOST.rawValue), Int(CURLE_COULDNT_RESOLVE_PROXY.rawValue),
         Int(CURLE_COULDNT_CONNECT.rawValue), Int(CURLE_OPERATION_TIMEDOUT.rawValue),
         Int(CURLE_SSL_CONNECT_ERROR.rawValue), Int(CURLE_SEND_ERROR.rawValue),
         Int(CURLE_RECV_ERROR.rawValue), Int(CURLE_GOT_NOTHING.rawValue)].contains(curlCode)
    }
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: Data?
    /// Seconds to establish the connection.
    public var connectTimeout: Double
    /// Seconds for the whole transfer.
    public var timeout: Double
    /// Larger bodies abort the transfer.
    public var maxBodyBytes: Int

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: Data? = nil,
                connectTimeout: Double = 10, timeout: Double = 60, maxBodyBytes: Int = 512 << 20) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased; the last value wins.
    public var headers: [String: String]
    public var body: Data
}

/// A blocking HTTP client over libcurl's easy interface. One transfer per call, on the
/// calling thread; safe to call from many threads at once (each call owns its handle).
/// Honours the usual proxy environment variables, as libcurl does.
public struct HTTPClient: Sendable {
    public init() { HTTPClient.globalInit }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Runs `request`. Throws `HTTPError` for transport failures; any HTTP status is a response.
    public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard let h = curl_easy_init() else {
            throw HTTPError(curlCode: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed", url: request.url)
        }
        defer { curl_easy_cleanup(h) }
        let sink = Sink(limit: request.maxBodyBytes)
        let sinkPtr = Unmanaged.passUnretained(sink).toOpaque()
        var errbuf = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for (k, v) in request.headers { headerList = curl_slist_append(headerList, "\(k): \(v)") }

        func check(_ code: CURLcode, _ what: String) throws(HTTPError) {
            guard code == CURLE_OK else {
                throw HTTPError(curlCode: Int(code.rawValue), message: "\(what): \(String(cString: curl_easy_strerror(code)))", url: request.url)
            }
        }
        let body = request.body ?? Data()
        let code: CURLcode = errbuf.withUnsafeMutableBufferPointer { eb in
            body.withUnsafeBytes { bodyPtr in
                var c = rec_curl_setopt_str(h, CURLOPT_URL, request.url)
                if c == CURLE_OK { c = rec_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, eb.baseAddress) }
                if c == CURLE_OK { c = rec_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1) }
                if c == CURLE_OK { c = rec_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000)) }
                if c == CURLE_OK { c = rec_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000)) }
                if c == CURLE_OK { c = rec_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 1) }
                if c == CURLE_OK { c = rec_curl_setopt_long(h, CURLOPT_MAXREDIRS, 5) }
                if c == CURLE_OK { c = rec_curl_setopt_str(h, CURLOPT_USERAGENT, "recfuse/0.1") }
                if c == CURLE_OK { c = rec_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList) }
                if c == CURLE_OK { c = rec_curl_setopt_datafn(h, CURLOPT_WRITEFUNCTION, Sink.write) }
                if c == CURLE_OK { c = rec_curl_setopt_ptr(h, CURLOPT_WRITEDATA, sinkPtr) }
                if c == CURLE_OK { c = rec_curl_setopt_datafn(h, CURLOPT_HEADERFUNCTION, Sink.header) }
                if c == CURLE_OK { c = rec_curl_setopt_ptr(h, CURLOPT_HEADERDATA, sinkPtr) }
                if c == CURLE_OK, request.method != "GET" {
                    c = rec_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, request.method)
                }
                if c == CURLE_OK, request.body != nil {
                    c = rec_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                    if c == CURLE_OK {
                        c = rec_curl_setopt_ptr(h, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bodyPtr.baseAddress ?? UnsafeRawPointer(eb.baseAddress!)))
                    }
                }
                if c != CURLE_OK { return c }
                return curl_easy_perform(h)
            }
        }
        if sink.overflow {
            throw HTTPError(curlCode: Int(code.rawValue), message: "response body exceeds \(request.maxBodyBytes) bytes", url: request.url)
        }
        if code != CURLE_OK {
            let detail = String(cString: errbuf)
            let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            throw HTTPError(curlCode: Int(code.rawValue), message: text, url: request.url)
        }
        var status = 0
        try check(rec_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status), "reading the status")
        return HTTPResponse(status: status, headers: sink.headers, body: sink.data)
    }

    /// GET `url` and return the body; non-2xx statuses are errors.
    public func get(_ url: String, connectTimeout: Double = 10, timeout: Double = 120,
                    headers: [(String, String)] = []) throws(HTTPError) -> Data {
        let r = try send(HTTPRequest(url: url, headers: headers, connectTimeout: connectTimeout, timeout: timeout))
        guard (200..<300).contains(r.status) else {
            throw HTTPError(curlCode: 0, message: "HTTP status \(r.status)", url: url)
        }
        return r.body
    }
}

/// Collects a transfer's body and headers; lives for one `send` call.
private final class Sink {
    var data = Data()
    var headers: [String: String] = [:]
    var overflow = false
    let limit: Int

    init(limit: Int) { self.limit = limit }

    static let write: rec_curl_data_fn = { ptr, size, n, user in
        let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
        let count = size * n
        if sink.data.count + count > sink.limit { sink.overflow = true; return 0 }
        if let ptr { sink.data.append(UnsafeRawPointer(ptr).assumingMemoryBound(to: UInt8.self), count: count) }
        return count
    }

    static let header: rec_curl_data_fn = { ptr, size, n, user in
        let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
        let count = size * n
        guard let ptr else { return count }
        let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: count), as: UTF8.self)
        if line.hasPrefix("HTTP/") { sink.headers = [:] }  // a new response (redirect): start over
        if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            sink.headers[name] = value
        }
        return count
    }
}
