import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Histogram
import RecBench
import RecCore
import RecWire
import Synchronization

/// `recfuse bench --transport grpc`: the load generator's clients over HTTP/2 gRPC. Each
/// client is its own `GRPCClient` (its own HTTP/2 connection) with one call in flight, like
/// the NNG clients; the request is the same message the NNG run sends (the envelope's
/// payload), its deadline sent as `grpc-timeout`, the response's status checked and its bytes
/// not decoded (the NNG run decodes only the envelope, too).
public enum GRPCLoad {
    public static func run(
        _ generator: LoadGenerator, target: String, label: String = "recfuse grpc"
    ) async throws -> LoadGenerator.Result {
        let o = generator.options
        let env = try RFEnvelope(serializedBytes: try generator.request())
        let (host, port) = try GRPCDoor.parse(target)
        guard
            let descriptor = RecommenderMethods.descriptors.first(where: { "/\($0.fullyQualifiedMethod)" == env.method }
            )
        else {
            throw RecError.invalidArgument("\(env.method) has no gRPC method")
        }
        let payload = Array(env.payload)
        var callOptions = CallOptions.defaults
        callOptions.timeout = .milliseconds(max(1, o.deadlineMs))
        let options = callOptions
        let clients = try (0..<o.clients).map { _ in
            GRPCClient(
                transport: try HTTP2ClientTransport.Posix(
                    target: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port),
                    transportSecurity: .plaintext))
        }
        return try await withThrowingTaskGroup(of: Void.self) { connections in
            for c in clients { connections.addTask { try await c.runConnections() } }
            defer {
                for c in clients { c.beginGracefulShutdown() }
            }
            @Sendable func call(_ c: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
                try await c.unary(
                    request: ClientRequest(message: payload), descriptor: descriptor, serializer: RawBytes(),
                    deserializer: RawBytes(), options: options
                ) { response in _ = try response.message }
            }
            for c in clients { for _ in 0..<o.warmup { try await call(c) } }
            let counts = Counts()
            let start = ContinuousClock.now
            let end = start + .milliseconds(Int(o.duration * 1000))
            let latencies = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                for c in clients {
                    group.addTask {
                        var lat: [UInt64] = []
                        while counts.issued.add(1, ordering: .relaxed).oldValue < o.count && ContinuousClock.now < end {
                            let t0 = ContinuousClock.now
                            do { try await call(c) } catch {
                                counts.errors.add(1, ordering: .relaxed)
                                counts.firstError.withLock { $0 = $0 ?? "\(error)" }
                            }
                            let dt = (ContinuousClock.now - t0).components
                            lat.append(UInt64(max(1, dt.seconds * 1_000_000_000 + dt.attoseconds / 1_000_000_000)))
                        }
                        return lat
                    }
                }
                var all: [[UInt64]] = []
                for try await l in group { all.append(l) }
                return all
            }
            let seconds = (ContinuousClock.now - start).seconds
            var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
            for lat in latencies { for v in lat { _ = h.record(v) } }
            connections.cancelAll()
            return LoadGenerator.Result(
                target: label, requests: Int(h.totalCount), errors: counts.errors.load(ordering: .relaxed),
                seconds: seconds,
                histogram: h, firstError: counts.firstError.withLock { $0 })
        }
    }

    final class Counts: Sendable {
        let issued = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let firstError = Mutex<String?>(nil)
    }

    /// `run` for callers outside Swift concurrency.
    public static func runBlocking(_ generator: LoadGenerator, target: String) throws -> LoadGenerator.Result {
        let box = Mutex<Result<LoadGenerator.Result, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let r: Result<LoadGenerator.Result, any Error>
            do { r = .success(try await run(generator, target: target)) } catch { r = .failure(error) }
            box.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return try box.withLock { $0! }.get()
    }
}
