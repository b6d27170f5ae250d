import Foundation
import GRPCCore
import Logging
import RecServer
import Testing

@testable import RecGRPC
@testable import RecWire

/// The gRPC door's translation to the envelope (the live door is tested end to end with
/// grpcio in Clients/python/tests/test_grpc.py).
@Suite struct GRPCDoorTests {
    @Test func grpcTimeoutBecomesWholeMillisecondsRoundedUp() {
        #expect(GRPCTimeout.milliseconds("1S") == 1000)
        #expect(GRPCTimeout.milliseconds("250m") == 250)
        #expect(GRPCTimeout.milliseconds("1500u") == 2)
        #expect(GRPCTimeout.milliseconds("1n") == 1)
        #expect(GRPCTimeout.milliseconds("2M") == 120_000)
        #expect(GRPCTimeout.milliseconds("1H") == 3_600_000)
        #expect(GRPCTimeout.milliseconds("99999999H") == UInt32.max)
        for bad in ["", "S", "10", "10x", "123456789S", "-1S", "1.5S"] {
            #expect(GRPCTimeout.milliseconds(bad) == nil, "\(bad)")
        }
    }

    @Test func requestMetadataBecomesEnvelopeMetadata() {
        var m: Metadata = [
            "grpc-timeout": "100m", "content-type": "application/grpc", "te": "trailers",
            "authorization": "Bearer secret", "traceparent": "00-x", "x-request-id": "r-1",
        ]
        m.addBinary([1, 2], forKey: "blob-bin")
        m.addString("b", forKey: "multi")
        m.addString("c", forKey: "multi")
        let env = RecommenderMethods.envelope(method: Methods.rank, payload: [8, 1], metadata: m)
        #expect(env.method == Methods.rank && env.payload == Data([8, 1]) && env.deadlineMs == 100)
        #expect(
            env.metadata == [
                "authorization": "Bearer secret", "traceparent": "00-x", "x-request-id": "r-1", "multi": "b,c",
            ])
        #expect(env.requestID == "r-1")
    }

    @Test func listenAddressesAreParsedOrRefused() throws {
        #expect(try GRPCDoor.parse("127.0.0.1:50051") == ("127.0.0.1", 50051))
        #expect(try GRPCDoor.parse("[::1]:0") == ("::1", 0))
        for bad in ["", "127.0.0.1", ":50051", "host:99999", "host:x"] {
            #expect(throws: (any Error).self, "\(bad)") { try GRPCDoor.parse(bad) }
        }
    }

    @Test func statusCodesKeepTheirNumbers() {
        #expect(rpcCode(.invalidArgument) == .invalidArgument)
        #expect(rpcCode(.deadlineExceeded) == .deadlineExceeded)
        #expect(rpcCode(.resourceExhausted) == .resourceExhausted)
        #expect(rpcCode(.unauthenticated) == .unauthenticated)
    }

    @Test func jsonLogLinesAreOneObjectEach() throws {
        let lines = LinesBox()
        var h = JSONLogHandler(label: "t") { lines.append($0) }
        h.logLevel = .debug
        let log = Logger(label: "t", factory: { _ in h })
        RequestLog.record(
            log, method: Methods.rank, code: .ok, message: "", requestID: "r\"1\n", traceID: "abc", micros: 42,
            transport: "grpc")
        RequestLog.record(
            log, method: Methods.rank, code: .invalidArgument, message: "bad \u{1}", requestID: "", traceID: "",
            micros: 7, transport: "nng")
        let got = lines.all
        #expect(got.count == 2 && got.allSatisfy { $0.hasSuffix("}\n") && $0.filter { $0 == "\n" }.count == 1 })
        let first = try #require(try JSONSerialization.jsonObject(with: Data(got[0].utf8)) as? [String: Any])
        #expect(first["message"] as? String == "request" && first["level"] as? String == "debug")
        #expect(first["request_id"] as? String == "r\"1\n" && first["trace_id"] as? String == "abc")
        #expect(first["status"] as? String == "OK" && first["micros"] as? String == "42")
        #expect((first["time"] as? String)?.hasSuffix("Z") == true)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(got[1].utf8)) as? [String: Any])
        #expect(second["error"] as? String == "bad \u{1}" && second["trace_id"] == nil)
        // Below the level nothing is written.
        h.logLevel = .info
        RequestLog.record(
            Logger(label: "t", factory: { _ in h }), method: Methods.rank, code: .ok, message: "", requestID: "",
            traceID: "", micros: 1, transport: "nng")
        #expect(lines.all.count == 2)
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }
}
