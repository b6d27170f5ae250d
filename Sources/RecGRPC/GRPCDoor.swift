import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Logging
import NIOPosix
import RecCore
import RecServer
import RecWire
import Synchronization

/// Configuration of the gRPC door (`serve --grpc-listen`).
public struct GRPCConfig: Sendable {
    /// "host:port" (IPv4 or a bracketed IPv6 address; port 0 picks a free one).
    public var listen: String
    /// The same certificates as the NNG `tls+tcp://` listeners; nil serves plaintext HTTP/2.
    public var tls: ServerConfig.TLS?
    /// A request over this many bytes is refused with RESOURCE_EXHAUSTED (naming the limit)
    /// without being worked on. The HTTP/2 transport itself reads messages of up to twice
    /// that; a bigger one has its stream reset by grpc-swift (the caller sees CANCELLED or
    /// RESOURCE_EXHAUSTED, depending on its library) and is never buffered whole.
    public var maxMessageBytes = 4 << 20
    /// Threads that run the calls that can wait (Rerank and Explain with an LLM, Reload): at
    /// most this many of those in progress over gRPC, like NNG's contexts. Calls that only
    /// compute run in their handler's task.
    public var threads = 64
    public init(listen: String) { self.listen = listen }
}

/// recfuse over HTTP/2 gRPC (grpc-swift 2 on SwiftNIO), beside the NNG socket.
///
/// Every `recfuse.v1.Recommender` and `recfuse.v1.Admin` method is registered with the
/// method descriptors the gRPC plugin generated from the same `.proto` files, and handled by
/// building the `Envelope` the NNG path would have received and passing it to the same
/// `Service`: the request bytes go through untouched (no decode and re-encode), so status
/// codes, messages, limits, admission and the admin token behave exactly as over NNG.
/// `grpc-timeout` becomes the envelope's deadline; request metadata becomes envelope
/// metadata (lower-case keys, binary `-bin` values left out); a valid `traceparent` is echoed
/// in the response's initial (or, on error, trailing) metadata.
///
/// `grpc.health.v1.Health` is served too: Check and Watch, SERVING while the service is,
/// NOT_SERVING from the start of shutdown.
public final class GRPCDoor: Sendable {
    public let service: Service
    public let config: GRPCConfig
    let metrics: ServerMetrics
    let logger: Logger
    private let pool: NIOThreadPool
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let transport: HTTP2ServerTransport.Posix
    private let serving = Mutex<Task<Void, any Error>?>(nil)
    /// Open Watch streams, ended by `shutdown` (or a graceful shutdown would wait for them).
    let watches = Watches()

    public init(service: Service, config: GRPCConfig, metrics: ServerMetrics, logger: Logger) throws {
        self.service = service
        self.config = config
        self.metrics = metrics
        self.logger = logger
        let (host, port) = try Self.parse(config.listen)
        let security: HTTP2ServerTransport.Posix.TransportSecurity
        if let t = config.tls {
            let chain: [TLSConfig.CertificateSource] = [.bytes(Array(t.certificate.utf8), format: .pem)]
            let key = TLSConfig.PrivateKeySource.bytes(Array(t.key.utf8), format: .pem)
            if let ca = t.clientCA {
                security = .mTLS(certificateChain: chain, privateKey: key) { c in
                    c.trustRoots = .certificates([.bytes(Array(ca.utf8), format: .pem)])
                    c.clientCertificateVerification = .noHostnameVerification
                }
            } else {
                security = .tls(certificateChain: chain, privateKey: key)
            }
        } else {
            security = .plaintext
        }
        let maxBytes = config.maxMessageBytes
        transport = HTTP2ServerTransport.Posix(
            address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port),
            transportSecurity: security,
            config: .defaults { $0.rpc.maxRequestPayloadSize = maxBytes > Int.max / 2 ? Int.max : 2 * maxBytes })
        pool = NIOThreadPool(numberOfThreads: max(1, config.threads))
        let recommender = RecommenderMethods(
            service: service, pool: pool, metrics: metrics, logger: logger, maxMessageBytes: config.maxMessageBytes)
        server = GRPCServer(
            transport: transport, services: [recommender, HealthService(service: service, watches: watches)])
    }

    /// "host:port" → its parts; "[::1]:port" for IPv6.
    static func parse(_ s: String) throws -> (String, Int) {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port)
        else {
            throw RecError.invalidArgument("--grpc-listen '\(s)': expected HOST:PORT, e.g. 127.0.0.1:50051")
        }
        var host = String(s[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw RecError.invalidArgument("--grpc-listen '\(s)': no host") }
        return (host, port)
    }

    /// Binds and starts serving in the background; returns the bound "host:port".
    public func start() async throws -> String {
        pool.start()
        let task = Task { [server] in try await server.serve() }
        serving.withLock { $0 = task }
        do {
            let address = try await transport.listeningAddress
            let bound: String
            if let v4 = address.ipv4 {
                bound = "\(v4.host):\(v4.port)"
            } else if let v6 = address.ipv6 {
                bound = "[\(v6.host)]:\(v6.port)"
            } else {
                bound = "\(address)"
            }
            logger.info(
                "serving gRPC",
                metadata: [
                    "listen": .string(bound),
                    "tls": .string(config.tls == nil ? "off" : config.tls?.clientCA == nil ? "on" : "mutual"),
                    "max_message_bytes": .stringConvertible(config.maxMessageBytes),
                ])
            return bound
        } catch {
            task.cancel()
            _ = try? await task.value
            try? await pool.shutdownGracefully()
            throw RecError.unavailable("cannot listen for gRPC on \(config.listen): \(error)")
        }
    }

    /// `start` for callers outside Swift concurrency (the CLI's main thread).
    public func startBlocking() throws -> String {
        let box = Mutex<Result<String, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let r: Result<String, any Error>
            do { r = .success(try await self.start()) } catch { r = .failure(error) }
            box.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return try box.withLock { $0! }.get()
    }

    /// Graceful shutdown: no new calls (HTTP/2 GOAWAY), calls in flight finish (up to
    /// `timeout`), then the connections close. Health turns NOT_SERVING first (the caller
    /// sets it on the service, which both doors report).
    public func shutdown(timeout: Duration = .seconds(10)) {
        let done = DispatchSemaphore(value: 0)
        let task = serving.withLock { $0 }
        Task { [server, pool, watches] in
            watches.endAll()
            server.beginGracefulShutdown()
            let finished = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    _ = try? await task?.value
                    return true
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
                let first = await group.next() ?? true
                group.cancelAll()
                return first
            }
            if !finished { task?.cancel() }
            try? await pool.shutdownGracefully()
            done.signal()
        }
        done.wait()
        logger.info("gRPC stopped")
    }
}

/// The gRPC code of a recfuse status (the numbers are the same).
func rpcCode(_ c: StatusCode) -> RPCError.Code {
    Status.Code(rawValue: Int(c.rawValue)).flatMap { RPCError.Code($0) } ?? .internalError
}

/// Bytes in, bytes out: the service decodes the request itself and has encoded the response.
struct RawBytes: MessageSerializer, MessageDeserializer {
    typealias Message = [UInt8]
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] {
        bytes.withUnsafeBytes { Array($0) }
    }
}

/// recfuse.v1.Recommender and recfuse.v1.Admin, by their generated method descriptors.
struct RecommenderMethods: RegistrableRPCService {
    let service: Service
    let pool: NIOThreadPool
    let metrics: ServerMetrics
    let logger: Logger
    let maxMessageBytes: Int

    static let descriptors: [MethodDescriptor] = [
        RFRecommender.Method.Retrieve.descriptor, RFRecommender.Method.Rank.descriptor,
        RFRecommender.Method.Rerank.descriptor, RFRecommender.Method.Explain.descriptor,
        RFRecommender.Method.Health.descriptor, RFRecommender.Method.Info.descriptor,
        RFRecommender.Method.Feedback.descriptor, RFRecommender.Method.UpsertUser.descriptor,
        RFAdmin.Method.Reload.descriptor, RFAdmin.Method.UpsertItem.descriptor, RFAdmin.Method.DeleteItem.descriptor,
        RFAdmin.Method.Retrain.descriptor,
    ]

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        for d in Self.descriptors {
            router.registerHandler(forMethod: d, deserializer: RawBytes(), serializer: RawBytes()) {
                request, context in
                try await handle(request, method: "/\(d.fullyQualifiedMethod)", context: context)
            }
        }
    }

    /// Methods whose work can wait on something other than the CPU (an LLM over the network,
    /// a bundle read from disk): they run on the call pool so a slow one never holds one of
    /// Swift's few cooperative threads. The rest (Health, Info, Rank, Retrieve) only compute
    /// and run in the handler's own task, which saves two thread hops per call.
    static let mayWait: Set<String> = [
        "/\(RFRecommender.Method.Rerank.descriptor.fullyQualifiedMethod)",
        "/\(RFRecommender.Method.Explain.descriptor.fullyQualifiedMethod)",
        "/\(RFAdmin.Method.Reload.descriptor.fullyQualifiedMethod)",
        // Writes wait for the store's commit (a disk flush, or PostgreSQL over the network).
        "/\(RFRecommender.Method.Feedback.descriptor.fullyQualifiedMethod)",
        "/\(RFRecommender.Method.UpsertUser.descriptor.fullyQualifiedMethod)",
        "/\(RFAdmin.Method.UpsertItem.descriptor.fullyQualifiedMethod)",
        "/\(RFAdmin.Method.DeleteItem.descriptor.fullyQualifiedMethod)",
        "/\(RFAdmin.Method.Retrain.descriptor.fullyQualifiedMethod)",
    ]

    /// Metadata keys that describe the HTTP/2 request itself, not the call.
    static let transportKeys: Set<String> = [
        "content-type", "te", "user-agent", "grpc-accept-encoding", "grpc-encoding",
    ]

    /// The envelope the NNG path would have received for this call.
    static func envelope(method: String, payload: [UInt8], metadata: Metadata) -> RFEnvelope {
        var env = RFEnvelope()
        env.method = method
        env.payload = Data(payload)
        for (key, value) in metadata {
            let k = key.lowercased()
            guard case .string(let v) = value else { continue }
            if k == "grpc-timeout" {
                if let t = GRPCTimeout.milliseconds(v) { env.deadlineMs = t }
                continue
            }
            if transportKeys.contains(k) || k.hasPrefix(":") { continue }
            env.metadata[k] = env.metadata[k].map { $0 + "," + v } ?? v
        }
        if let id = env.metadata["x-request-id"] { env.requestID = id }
        return env
    }

    func handle(
        _ request: StreamingServerRequest<[UInt8]>, method: String, context: ServerContext
    ) async throws
        -> StreamingServerResponse<[UInt8]>
    {
        let received = ContinuousClock.now
        let single = try await ServerRequest(stream: request)
        guard single.message.count <= maxMessageBytes else {
            metrics.begin()
            metrics.end(method: method, code: .resourceExhausted, seconds: 0, transport: .grpc)
            throw RPCError(
                code: .resourceExhausted,
                message: "request of \(single.message.count) bytes is over the server's limit of \(maxMessageBytes) "
                    + "(serve --max-message-bytes)")
        }
        let env = Self.envelope(method: method, payload: single.message, metadata: single.metadata)
        metrics.begin()
        let a: Service.Answer
        if Self.mayWait.contains(method) {
            a = try await pool.runIfActive { [service] in service.handle(env, received: received) }
        } else {
            a = service.handle(env, received: received)
        }
        let took = (ContinuousClock.now - received).components
        let micros = UInt64(max(0, took.seconds * 1_000_000 + took.attoseconds / 1_000_000_000_000))
        metrics.end(method: a.method, code: a.code, seconds: Double(micros) / 1e6, transport: .grpc)
        RequestLog.record(
            logger, method: a.method, code: a.code, message: a.reply.status.message, requestID: a.reply.requestID,
            traceID: a.traceID, micros: micros, transport: "grpc")
        var meta = Metadata()
        for (k, v) in a.reply.metadata.sorted(by: { $0.key < $1.key }) { meta.addString(v, forKey: k) }
        meta.addString(a.reply.bundleVersion, forKey: "recfuse-bundle-version")
        guard a.code == .ok else {
            throw RPCError(
                code: rpcCode(a.code), message: a.reply.status.message,
                metadata: meta)
        }
        return StreamingServerResponse(
            single: ServerResponse(message: Array(a.reply.payload), metadata: meta))
    }
}

/// The `grpc-timeout` header (gRPC over HTTP/2: 1 to 8 digits and a unit, H M S m u n), in
/// whole milliseconds rounded up; nil when malformed.
enum GRPCTimeout {
    static func milliseconds(_ s: String) -> UInt32? {
        guard let unit = s.last, s.count >= 2, s.count <= 9, let n = UInt64(s.dropLast()) else { return nil }
        let nanos: Double
        switch unit {
        case "H": nanos = Double(n) * 3_600e9
        case "M": nanos = Double(n) * 60e9
        case "S": nanos = Double(n) * 1e9
        case "m": nanos = Double(n) * 1e6
        case "u": nanos = Double(n) * 1e3
        case "n": nanos = Double(n)
        default: return nil
        }
        return UInt32(min(Double(UInt32.max), max(1, (nanos / 1e6).rounded(.up))))
    }
}

/// The Watch streams in progress: each one's event stream, so shutdown can end them.
final class Watches: Sendable {
    private let open = Mutex((ended: false, streams: [UInt64: AsyncStream<Bool>.Continuation](), next: UInt64(0)))

    /// Registers `c`; nil (and `c` finished) once `endAll` has run.
    func add(_ c: AsyncStream<Bool>.Continuation) -> UInt64? {
        let token = open.withLock { o -> UInt64? in
            guard !o.ended else { return nil }
            o.next += 1
            o.streams[o.next] = c
            return o.next
        }
        if token == nil { c.finish() }
        return token
    }

    func remove(_ token: UInt64) { _ = open.withLock { $0.streams.removeValue(forKey: token) } }

    func endAll() {
        let all = open.withLock { o in
            o.ended = true
            return Array(o.streams.values)
        }
        for c in all { c.finish() }
    }
}

/// grpc.health.v1.Health: Check, and Watch (the status now, then every change).
struct HealthService: RegistrableRPCService {
    let service: Service
    let watches: Watches

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let coder = (
            ProtobufDeserializer<Grpc_Health_V1_HealthCheckRequest>(),
            ProtobufSerializer<Grpc_Health_V1_HealthCheckResponse>()
        )
        router.registerHandler(
            forMethod: Grpc_Health_V1_Health.Method.Check.descriptor, deserializer: coder.0, serializer: coder.1
        ) { request, _ in
            let single = try await ServerRequest(stream: request)
            do {
                return StreamingServerResponse(
                    single: ServerResponse(message: try service.healthCheck(single.message.service)))
            } catch let e as RecError {
                throw RPCError(
                    code: rpcCode(e.code), message: e.message)
            }
        }
        router.registerHandler(
            forMethod: Grpc_Health_V1_Health.Method.Watch.descriptor, deserializer: coder.0, serializer: coder.1
        ) { request, context in
            let single = try await ServerRequest(stream: request)
            let name = single.message.service
            return StreamingServerResponse { writer in
                func status(_ on: Bool) -> Grpc_Health_V1_HealthCheckResponse {
                    var r = Grpc_Health_V1_HealthCheckResponse()
                    r.status = !Service.healthServices.contains(name) ? .serviceUnknown : on ? .serving : .notServing
                    return r
                }
                let (changes, continuation) = AsyncStream.makeStream(of: Bool.self)
                let token = service.observeServing { continuation.yield($0) }
                defer { service.removeServingObserver(token) }
                let open = watches.add(continuation)
                defer { if let open { watches.remove(open) } }
                try await writer.write(status(service.isServing))
                try await withTaskCancellationHandler {
                    for await on in changes { try await writer.write(status(on)) }
                } onCancel: {
                    continuation.finish()
                }
                // Ended by shutdown: the last word is NOT_SERVING.
                if !service.isServing { try? await writer.write(status(false)) }
                return [:]
            }
        }
    }
}
