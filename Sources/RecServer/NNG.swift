import CNNG
import RecCore

/// Turns libnng's int return codes into thrown errors carrying nng's own message.
/// Every nng call in recfuse that can fail goes through here.
@inline(__always)
func nngCheck(_ rv: Int32, _ what: @autoclosure () -> String) throws {
    guard rv == 0 else { throw nngError(rv, what()) }
}

func nngError(_ rv: Int32, _ what: String) -> RecError {
    let text = String(cString: nng_strerror(rv))
    let code: StatusCode = switch UInt32(rv) {
    case NNG_ETIMEDOUT.rawValue: .deadlineExceeded
    case NNG_EADDRINUSE.rawValue, NNG_EADDRINVAL.rawValue, NNG_EINVAL.rawValue, NNG_ENOTSUP.rawValue: .invalidArgument
    case NNG_ENOMEM.rawValue: .resourceExhausted
    default: .unavailable
    }
    return RecError(code, "\(what): \(text)")
}
