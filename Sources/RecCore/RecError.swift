/// Status codes, numbered as gRPC's `google.rpc.Code` so they map 1:1 onto the wire `Code`.
public enum StatusCode: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16

    public var description: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }
}

/// The one error type of recfuse. Its `code` maps 1:1 onto the wire status, so any
/// error that reaches the dispatcher becomes a reply with that code and `message`. An error
/// that wraps another (a C library's code, a decoding failure) keeps it as `cause`, the way
/// grpc-swift's `RPCError` does; two errors are equal when code and message are.
public struct RecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: StatusCode
    public var message: String
    /// The underlying error, if this one wraps another.
    public var cause: (any Error)?

    public init(_ code: StatusCode, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `error` as a `RecError`: itself if it is one, else INTERNAL (or `code`) with `context`
    /// prefixed to its description and the error kept as the cause.
    public static func wrapping(_ error: any Error, _ context: String = "", code: StatusCode = .internal) -> RecError {
        if let e = error as? RecError {
            return context.isEmpty ? e : RecError(e.code, context + e.message, cause: e.cause)
        }
        return RecError(code, context + "\(error)", cause: error)
    }

    public static func == (a: RecError, b: RecError) -> Bool { a.code == b.code && a.message == b.message }

    public var description: String { "\(code): \(message)" }

    public static func invalidArgument(_ m: String) -> RecError { .init(.invalidArgument, m) }
    public static func notFound(_ m: String) -> RecError { .init(.notFound, m) }
    public static func unimplemented(_ m: String) -> RecError { .init(.unimplemented, m) }
    public static func `internal`(_ m: String) -> RecError { .init(.internal, m) }
    public static func dataLoss(_ m: String) -> RecError { .init(.dataLoss, m) }
    public static func failedPrecondition(_ m: String) -> RecError { .init(.failedPrecondition, m) }
    public static func deadlineExceeded(_ m: String) -> RecError { .init(.deadlineExceeded, m) }
    public static func resourceExhausted(_ m: String) -> RecError { .init(.resourceExhausted, m) }
    public static func unavailable(_ m: String) -> RecError { .init(.unavailable, m) }
}
