import Foundation

/// Crash points for tests (as FoundationDB's and TiKV's failpoints): with
/// `RECFUSE_FAILPOINT=<name>` in the environment, reaching `Failpoint.hit(<name>)` kills the
/// process with SIGKILL there, so a test can check what a crash at exactly that point leaves
/// on disk. Unset (always, outside tests), `hit` is one comparison against nil.
public enum Failpoint {
    public static let armed: String? = {
        let v = ProcessInfo.processInfo.environment["RECFUSE_FAILPOINT"]
        return (v?.isEmpty ?? true) ? nil : v
    }()

    public static func hit(_ name: String) {
        guard let armed, armed == name else { return }
        kill(getpid(), SIGKILL)
    }
}
