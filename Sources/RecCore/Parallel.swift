import Dispatch

/// Data-parallel helpers over all cores (Dispatch's concurrentPerform), for fitting and
/// batch scoring. Results land in index order, so output is deterministic whatever the
/// scheduling.
public enum Parallel {
    /// `[body(&scratch, 0), body(&scratch, 1), ...]` computed in parallel. Each worker
    /// chunk gets its own `scratch` (a reusable buffer) from `makeScratch`.
    public static func map<T, S>(
        _ count: Int, chunks: Int = 0,
        scratch makeScratch: @Sendable () -> S,
        _ body: @Sendable (inout S, Int) -> T
    ) -> [T] {
        guard count > 0 else { return [] }
        let n = chunks > 0 ? chunks : min(count, defaultChunks)
        let out = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
        defer { out.deallocate() }
        nonisolated(unsafe) let base = out
        DispatchQueue.concurrentPerform(iterations: n) { chunk in
            var s = makeScratch()
            var i = chunk
            while i < count {  // strided, so expensive and cheap indices mix across chunks
                (base.baseAddress! + i).initialize(to: body(&s, i))
                i += n
            }
        }
        let result = Array(out)
        _ = out.baseAddress!.deinitialize(count: count)
        return result
    }

    /// `[body(0), body(1), ...]` computed in parallel.
    public static func map<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
        map(count, scratch: { () }, { _, i in body(i) })
    }

    /// Chunks used by default: a few per core, for load balance.
    public static var defaultChunks: Int { max(1, activeCores * 4) }

    public static var activeCores: Int {
        var n = 0
        #if canImport(Glibc)
            n = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #endif
        return max(1, n)
    }
}

#if canImport(Glibc)
    import Glibc
#endif
