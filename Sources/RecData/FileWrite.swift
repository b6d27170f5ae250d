import Foundation
import RecCore

/// Writing a whole file with POSIX calls, so a failure says why in the system's words ("No
/// space left on device", "File too large") where Foundation's `Data.write` gives only
/// "The operation could not be completed".
public enum FileWrite {
    /// Creates or truncates `url` and writes `data`; throws RESOURCE_EXHAUSTED for a full disk
    /// or a file-size limit, UNAVAILABLE for anything else, naming the file.
    public static func write(_ data: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(url, data.count, errno) }
        var failed: Int32 = 0
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let w = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if w < 0 {
                    if errno == EINTR { continue }
                    failed = errno
                    return
                }
                done += w
            }
        }
        if failed == 0 && close(fd) != 0 { failed = errno } else if failed != 0 { close(fd) }
        if failed != 0 { throw failure(url, data.count, failed) }
    }

    static func failure(_ url: URL, _ bytes: Int, _ e: Int32) -> RecError {
        let why = String(cString: strerror(e))
        let code: StatusCode = (e == ENOSPC || e == EFBIG || e == EDQUOT) ? .resourceExhausted : .unavailable
        return RecError(code, "cannot write \(url.path) (\(bytes) bytes): \(why)")
    }
}
