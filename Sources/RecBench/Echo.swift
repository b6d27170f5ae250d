import Foundation
import RecCore
import RecNNG

/// A bare NNG REP echo on `url`, answering every message with itself from `contexts`
/// contexts, one thread each (as the server runs them): the transport's own cost, the
/// baseline `LoadGenerator` measures a server against.
public final class EchoServer: @unchecked Sendable {
    private let socket: NNGSocket
    private var contexts: [NNGContext] = []

    public init(url: String, contexts n: Int) throws {
        socket = try NNGSocket(.rep)
        try socket.setMaxMessageBytes(64 << 20)
        try socket.listen(url)
        for _ in 0..<max(1, n) {
            let ctx = try NNGContext(socket)
            contexts.append(ctx)
            Thread {
                while case .success(let msg) = ctx.receive() {
                    ctx.reply(msg)  // the received message goes straight back
                }
            }.start()
        }
    }

    /// Closes the socket; the threads end. (The contexts stay allocated until the echo is released.)
    public func stop() { socket.close() }
}

/// `recfuse echo` in a child process, ready (its ipc socket exists) when `init` returns: an
/// echo inside the load generator's process shares its NNG threads with the clients and
/// measured ~25 µs slower than one in its own process, as the server under test is.
public final class EchoProcess {
    private var pid: pid_t = 0
    private let path: String
    public let url: String

    /// Starts `executable echo --url URL --contexts N` (`executable` defaults to this process's own).
    public init(url: String, contexts: Int, executable: String? = nil) throws {
        self.url = url
        path = url.hasPrefix("ipc://") ? String(url.dropFirst(6)) : ""
        unlink(path)  // a stale socket file would look like a listening echo
        let exe =
            executable ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let args = [exe, "echo", "--url", url, "--contexts", String(contexts), "--log-level", "error"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rv = posix_spawn(&pid, exe, nil, nil, &argv, environ)
        guard rv == 0 else { throw RecError.internal("cannot start \(exe) echo: \(String(cString: strerror(rv)))") }
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while !FileManager.default.fileExists(atPath: path) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                throw RecError.internal("the echo process exited (status \(status)) before listening on \(url)")
            }
            guard ContinuousClock.now < deadline else {
                stop()
                throw RecError.internal("the echo process did not listen on \(url) within 10 s")
            }
            usleep(10_000)
        }
    }

    public func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
        unlink(path)
    }

    deinit { stop() }
}
