import Foundation

/// A Python child process on loopback that prints its port on stdout: started, its port read
/// (the integer after `marker` in its output), and killed. The fixtures' common part.
public final class PythonChild: @unchecked Sendable {
    public let port: Int
    private let process: Process
    private let stopped = NSLock()
    private var isStopped = false

    public init(_ arguments: [String], marker: String, name: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-u"] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        var text = ""
        var found: Int?
        let deadline = Date().addingTimeInterval(20)
        while found == nil && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            // Wait for the newline: the number may arrive in two chunks.
            if let r = text.range(of: marker),
                text[r.upperBound...].contains("\n") || text[r.upperBound...].contains(" ")
            {
                found = Int(text[r.upperBound...].prefix { $0.isNumber })
            }
        }
        guard let found else {
            kill(p.processIdentifier, SIGKILL)
            _ = waitpid(p.processIdentifier, nil, 0)
            throw NSError(
                domain: name, code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) did not start: \(text)"])
        }
        port = found
    }

    /// SIGKILL and reap. Not terminate(): the child inherits the test runner's blocked-signal
    /// mask, so SIGTERM may never arrive. Not Process.waitUntilExit(): it spins a run loop,
    /// and when the last reference goes at process exit (a suite's static) none is left.
    public func stop() {
        stopped.lock()
        defer { stopped.unlock() }
        let pid = process.processIdentifier
        guard pid > 0, !isStopped else { return }  // once: a reaped pid may be reused
        isStopped = true
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)  // ECHILD if Foundation reaped it first: either way it is gone
    }

    deinit { stop() }
}
