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

    /// True when the transfer ran out of time (connect or total timeout).
    public var isTimeout: Bool { curlCode == Int(CURLE_OPERATION_TIMEDOUT.rawValue) }

    /// True for failures that happened before any HTTP status: DNS, refused, TLS, timeouts.
    public var isConnectionError: Bool {
        [
            Int(CURLE_COULDNT_RESOLVE_HOST.rawValue), Int(CURLE_COULDNT_RESOLVE_PROXY.rawValue),
            Int(CURLE_COULDNT_CONNECT.rawValue), Int(CURLE_OPERATION_TIMEDOUT.rawValue),
            Int(CURLE_SSL_CONNECT_ERROR.rawValue), Int(CURLE_SEND_ERROR.rawValue),
            Int(CURLE_RECV_ERROR.rawValue), Int(CURLE_GOT_NOTHING.rawValue),
        ].contains(curlCode)
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

    public init(
        method: String = "GET", url: String, headers: [(String, String)] = [], body: Data? = nil,
        connectTimeout: Double = 10, timeout: Double = 60, maxBodyBytes: Int = 512 << 20
    ) {
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
        try sendAll([request])[0].get()
    }

    /// Runs `requests` concurrently on the calling thread (libcurl's multi interface: one
    /// poll loop, no extra threads) and returns their outcomes in the same order. Each
    /// transfer keeps its own timeouts; one failing does not affect the others.
    public func sendAll(_ requests: [HTTPRequest]) -> [Result<HTTPResponse, HTTPError>] {
        var results = [Result<HTTPResponse, HTTPError>?](repeating: nil, count: requests.count)
        guard !requests.isEmpty else { return [] }
        guard let multi = curl_multi_init() else {
            return requests.map {
                .failure(
                    HTTPError(curlCode: Int(CURLE_FAILED_INIT.rawValue), message: "curl_multi_init failed", url: $0.url)
                )
            }
        }
        defer { curl_multi_cleanup(multi) }
        var transfers: [Transfer] = []
        for (n, r) in requests.enumerated() {
            do throws(HTTPError) {
                let t = try Transfer(r, index: n)
                try curlCheck(curl_multi_add_handle(multi, t.handle), "curl_multi_add_handle", url: r.url)
                transfers.append(t)
            } catch {
                results[n] = .failure(error)
            }
        }
        defer { for t in transfers { curl_multi_remove_handle(multi, t.handle) } }
        let byHandle = Dictionary(uniqueKeysWithValues: transfers.map { (UnsafeRawPointer($0.handle), $0) })
        var running: Int32 = Int32(transfers.count)
        while true {
            var mc = curl_multi_perform(multi, &running)
            if mc == CURLM_OK {
                var left: Int32 = 0
                while let msg = curl_multi_info_read(multi, &left) {
                    guard msg.pointee.msg == CURLMSG_DONE, let h = msg.pointee.easy_handle,
                        let t = byHandle[UnsafeRawPointer(h)]
                    else { continue }
                    results[t.index] = t.finish(msg.pointee.data.result)
                }
            }
            if running == 0 { break }
            if mc != CURLM_OK {
                for t in transfers where results[t.index] == nil {
                    results[t.index] = .failure(curlError(mc, "curl_multi_perform", url: t.url))
                }
                break
            }
            mc = curl_multi_poll(multi, nil, 0, 100, nil)
            if mc != CURLM_OK { continue }
        }
        return results.enumerated().map { n, r in
            r ?? .failure(HTTPError(curlCode: 0, message: "transfer did not complete", url: requests[n].url))
        }
    }

    /// GET `url` and return the body; non-2xx statuses are errors.
    public func get(
        _ url: String, connectTimeout: Double = 10, timeout: Double = 120,
        headers: [(String, String)] = []
    ) throws(HTTPError) -> Data {
        let r = try send(HTTPRequest(url: url, headers: headers, connectTimeout: connectTimeout, timeout: timeout))
        guard (200..<300).contains(r.status) else {
            throw HTTPError(curlCode: 0, message: "HTTP status \(r.status)", url: url)
        }
        return r.body
    }
}

/// Every libcurl code goes through here: CURLE_OK (CURLM_OK) passes, anything else is an
/// `HTTPError` with the code and libcurl's own message.
@inline(__always)
func curlCheck(_ c: CURLcode, _ what: @autoclosure () -> String, url: String) throws(HTTPError) {
    guard c != CURLE_OK else { return }
    throw curlError(c, what(), url: url)
}

@inline(__always)
func curlCheck(_ c: CURLMcode, _ what: @autoclosure () -> String, url: String) throws(HTTPError) {
    guard c != CURLM_OK else { return }
    throw curlError(c, what(), url: url)
}

func curlError(_ c: CURLcode, _ what: String, url: String) -> HTTPError {
    HTTPError(curlCode: Int(c.rawValue), message: "\(what): \(String(cString: curl_easy_strerror(c)))", url: url)
}

/// A multi-interface code (reported with curl code 0: CURLMcodes are not CURLcodes).
func curlError(_ c: CURLMcode, _ what: String, url: String) -> HTTPError {
    HTTPError(curlCode: 0, message: "\(what): \(String(cString: curl_multi_strerror(c)))", url: url)
}

/// One configured easy handle with everything libcurl points into (error buffer, header
/// list, request body, response sink), kept alive until the transfer is finished.
private final class Transfer {
    let handle: UnsafeMutableRawPointer
    let index: Int
    let url: String
    private let sink: Sink
    private let errbuf: UnsafeMutablePointer<CChar>
    private var headerList: UnsafeMutablePointer<curl_slist>? = nil

    init(_ request: HTTPRequest, index: Int) throws(HTTPError) {
        guard let h = curl_easy_init() else {
            throw HTTPError(
                curlCode: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed", url: request.url)
        }
        handle = h
        self.index = index
        url = request.url
        sink = Sink(limit: request.maxBodyBytes)
        errbuf = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errbuf.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        for (k, v) in request.headers { headerList = curl_slist_append(headerList, "\(k): \(v)") }
        let sinkPtr = Unmanaged.passUnretained(sink).toOpaque()
        let url = request.url
        do throws(HTTPError) {
            func set(_ c: CURLcode, _ option: String) throws(HTTPError) {
                try curlCheck(c, "setting \(option)", url: url)
            }
            try set(rec_curl_setopt_str(h, CURLOPT_URL, url), "CURLOPT_URL")
            try set(rec_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, errbuf), "CURLOPT_ERRORBUFFER")
            try set(rec_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1), "CURLOPT_NOSIGNAL")
            try set(
                rec_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(request.connectTimeout * 1000))),
                "CURLOPT_CONNECTTIMEOUT_MS")
            try set(
                rec_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, max(1, Int(request.timeout * 1000))), "CURLOPT_TIMEOUT_MS")
            try set(rec_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 1), "CURLOPT_FOLLOWLOCATION")
            try set(rec_curl_setopt_long(h, CURLOPT_MAXREDIRS, 5), "CURLOPT_MAXREDIRS")
            try set(rec_curl_setopt_str(h, CURLOPT_USERAGENT, "recfuse/0.1"), "CURLOPT_USERAGENT")
            try set(rec_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList), "CURLOPT_HTTPHEADER")
            try set(rec_curl_setopt_datafn(h, CURLOPT_WRITEFUNCTION, Sink.write), "CURLOPT_WRITEFUNCTION")
            try set(rec_curl_setopt_ptr(h, CURLOPT_WRITEDATA, sinkPtr), "CURLOPT_WRITEDATA")
            try set(rec_curl_setopt_datafn(h, CURLOPT_HEADERFUNCTION, Sink.header), "CURLOPT_HEADERFUNCTION")
            try set(rec_curl_setopt_ptr(h, CURLOPT_HEADERDATA, sinkPtr), "CURLOPT_HEADERDATA")
            if request.method != "GET" {
                try set(rec_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, request.method), "CURLOPT_CUSTOMREQUEST")
            }
            if let body = request.body {
                // COPYPOSTFIELDS: libcurl keeps its own copy, so the Data need not outlive this call.
                try set(
                    rec_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)),
                    "CURLOPT_POSTFIELDSIZE_LARGE")
                let c = body.withUnsafeBytes { b in
                    rec_curl_setopt_ptr(
                        h, CURLOPT_COPYPOSTFIELDS,
                        UnsafeMutableRawPointer(mutating: b.baseAddress ?? UnsafeRawPointer(errbuf)))
                }
                try set(c, "CURLOPT_COPYPOSTFIELDS")
            }
        } catch {
            cleanup()
            throw error
        }
    }

    private var cleaned = false
    private func cleanup() {
        guard !cleaned else { return }
        cleaned = true
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        errbuf.deallocate()
    }

    deinit { cleanup() }

    /// The outcome once libcurl reports the transfer done with `code`.
    func finish(_ code: CURLcode) -> Result<HTTPResponse, HTTPError> {
        if sink.overflow {
            return .failure(
                HTTPError(curlCode: Int(code.rawValue), message: "response body exceeds \(sink.limit) bytes", url: url))
        }
        if code != CURLE_OK {
            let detail = String(cString: errbuf)
            return .failure(
                HTTPError(
                    curlCode: Int(code.rawValue),
                    message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail, url: url))
        }
        var status = 0
        return Result { () throws(HTTPError) in
            try curlCheck(
                rec_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status), "reading the status", url: url)
            return HTTPResponse(status: status, headers: sink.headers, body: sink.data)
        }
    }
}

/// Collects a transfer's body and headers; lives for one transfer.
private final class Sink {
    var data = Data()
    var headers: [String: String] = [:]
    var overflow = false
    let limit: Int

    init(limit: Int) { self.limit = limit }

    static let write: rec_curl_data_fn = { ptr, size, n, user in
        let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
        let count = size * n
        if sink.data.count + count > sink.limit {
            sink.overflow = true
            return 0
        }
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
