import CRecFuse
import Foundation
import RecCore
import RecEngines
import RecLLM
import RecWire
import Synchronization

// The C ABI of librecfuse (Bindings/include/recfuse.h is the contract; docs/c-api.md).
//
// Nothing thrown crosses the boundary: every export runs its body in `guarded`, which maps
// any error to a status code and the calling thread's last-error message. Inputs are never
// force-unwrapped. Engine handles are not pointers to Swift objects but keys into a registry,
// so a closed, never-opened or garbage handle is looked up, not dereferenced.

// MARK: - handles

/// Open engines by handle value. A call takes a strong reference to its `Service` out of the
/// registry, so `recfuse_close` during a call lets the call finish.
private let engines = Mutex<[UInt: Service]>([:])
private let nextHandle = Atomic<UInt>(1)

private func service(_ handle: OpaquePointer?) throws -> Service {
    guard let handle else { throw RecError.invalidArgument("engine is NULL") }
    let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
    guard let s = engines.withLock({ $0[key] }) else {
        throw RecError.failedPrecondition("engine handle \(String(key, radix: 16)) is closed or was never opened")
    }
    return s
}

// MARK: - errors

/// The calling thread's last error message (malloc'd; freed when replaced or at thread exit).
private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

private func setLastError(_ message: String) {
    let old = pthread_getspecific(errorKey)
    pthread_setspecific(errorKey, strdup(message))
    free(old)
}

/// Runs `body`; a thrown error becomes its status code and the thread's last error.
private func guarded(_ function: String, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return Int32(RECFUSE_OK.rawValue)
    } catch let e as RecError {
        setLastError("\(function): \(e.message)")
        return Int32(e.code.rawValue)
    } catch {
        setLastError("\(function): \(error)")
        return Int32(RECFUSE_INTERNAL.rawValue)
    }
}

private func string(_ p: UnsafePointer<CChar>?, _ name: String) throws -> String {
    guard let p else { throw RecError.invalidArgument("\(name) is NULL") }
    return String(cString: p)
}

// MARK: - open / close

/// `options_json` (see the header): models_dir, limits, default_judge, llm.
struct OpenOptions {
    var modelsDir = "models"
    var limits = Limits()
    var defaultJudge = JudgeKind.local
    var llm: LLMConfig?

    init(json: String?) throws {
        guard let json, !json.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw RecError.invalidArgument("options_json is not a JSON object")
        }
        for (key, value) in obj {
            func int() throws -> Int {
                guard let n = value as? Int, n > 0 else {
                    throw RecError.invalidArgument("options_json: \"\(key)\" must be a positive integer")
                }
                return n
            }
            switch key {
            case "models_dir":
                guard let s = value as? String else {
                    throw RecError.invalidArgument("options_json: \"models_dir\" must be a string")
                }
                modelsDir = s
            case "max_k": limits.maxK = try int()
            case "max_candidates": limits.maxCandidates = try int()
            case "max_history": limits.maxHistory = try int()
            case "max_text_bytes": limits.maxTextBytes = try int()
            case "default_judge":
                guard let s = value as? String, let j = JudgeKind(rawValue: s) else {
                    throw RecError.invalidArgument(
                        "options_json: \"default_judge\" must be one of "
                            + "\(JudgeKind.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                defaultJudge = j
            case "llm":
                guard let sub = value as? [String: Any], let data = try? JSONSerialization.data(withJSONObject: sub)
                else {
                    throw RecError.invalidArgument("options_json: \"llm\" must be an object")
                }
                do { llm = try JSONDecoder().decode(LLMConfig.self, from: data) } catch {
                    throw RecError.wrapping(error, "options_json: \"llm\": ", code: .invalidArgument)
                }
            default:
                throw RecError.invalidArgument(
                    "options_json: unknown key \"\(key)\" (known: models_dir, max_k, max_candidates, max_history, "
                        + "max_text_bytes, default_judge, llm)"
                )
            }
        }
    }
}

@c public func recfuse_open(
    _ bundleDir: UnsafePointer<CChar>?, _ optionsJSON: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    out?.pointee = nil
    return guarded("recfuse_open") {
        guard let out else { throw RecError.invalidArgument("out is NULL") }
        let dir = try string(bundleDir, "bundle_dir")
        let o = try OpenOptions(json: optionsJSON.map { String(cString: $0) })
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw RecError.notFound("bundle directory \(dir) does not exist")
        }
        let (rec, manifest) = try Bundles.load(
            URL(fileURLWithPath: dir), limits: o.limits, modelsDir: URL(fileURLWithPath: o.modelsDir))
        var client: LLMClient?
        if var c = o.llm {
            c.apiKey = c.apiKey ?? LLMConfig.apiKeyFromEnvironment()
            client = try LLMClient(config: c)
        }
        let s = Service(rec, llm: client, defaultJudge: o.defaultJudge)
        s.setFacts(Service.BundleFacts(manifest, maxMessageBytes: 0))
        // Handle values step by 16 so they look like (aligned) pointers and are never 0.
        let key = nextHandle.add(1, ordering: .relaxed).oldValue << 4
        engines.withLock { $0[key] = s }
        out.pointee = OpaquePointer(bitPattern: key)
    }
}

@c public func recfuse_close(_ engine: OpaquePointer?) {
    guard let engine else { return }
    let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(engine)))
    _ = engines.withLock { $0.removeValue(forKey: key) }
}

// MARK: - calls

private func fullMethod(_ m: String) -> String {
    m.hasPrefix("/") ? m : "/\(Methods.service)/\(m)"
}

/// `bytes` copied into a malloc'd buffer (never NULL, even when empty).
private func mallocCopy(_ bytes: Data) throws -> UnsafeMutablePointer<UInt8> {
    guard let raw = malloc(max(1, bytes.count)) else {
        throw RecError.resourceExhausted("out of memory for \(bytes.count) bytes")
    }
    let p = raw.bindMemory(to: UInt8.self, capacity: max(1, bytes.count))
    bytes.copyBytes(to: p, count: bytes.count)
    return p
}

@c public func recfuse_call(
    _ engine: OpaquePointer?, _ method: UnsafePointer<CChar>?, _ req: UnsafePointer<UInt8>?, _ reqLen: Int,
    _ resp: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ respLen: UnsafeMutablePointer<Int>?
) -> Int32 {
    resp?.pointee = nil
    respLen?.pointee = 0
    return guarded("recfuse_call") {
        guard let resp, let respLen else { throw RecError.invalidArgument("resp or resp_len is NULL") }
        let s = try service(engine)
        let m = try string(method, "method")
        guard reqLen >= 0 else { throw RecError.invalidArgument("req_len is negative") }
        guard reqLen == 0 || req != nil else { throw RecError.invalidArgument("req is NULL but req_len is \(reqLen)") }
        let payload = reqLen == 0 ? Data() : Data(bytes: req!, count: reqLen)
        let out = try s.call(fullMethod(m), payload: payload)
        resp.pointee = try mallocCopy(out)
        respLen.pointee = out.count
    }
}

/// One malloc'd block: `items.count` `recfuse_scored` entries, then their NUL-terminated ids.
private func scoredBlock(_ items: [(String, Float)]) throws -> UnsafeMutablePointer<recfuse_scored> {
    let stride = MemoryLayout<recfuse_scored>.stride
    let head = items.count * stride
    let total = head + items.reduce(0) { $0 + $1.0.utf8.count + 1 }
    guard let raw = malloc(max(1, total)) else { throw RecError.resourceExhausted("out of memory for \(total) bytes") }
    let entries = raw.bindMemory(to: recfuse_scored.self, capacity: max(1, items.count))
    var offset = head
    for (n, (id, score)) in items.enumerated() {
        let dst = (raw + offset).assumingMemoryBound(to: CChar.self)
        let bytes = Array(id.utf8CString)
        bytes.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: bytes.count) }
        (entries + n).initialize(to: recfuse_scored(item_id: UnsafePointer(dst), score: score))
        offset += bytes.count
    }
    return entries
}

private func optionalString(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

@c public func recfuse_rank(
    _ engine: OpaquePointer?, _ userID: UnsafePointer<CChar>?, _ itemIDs: UnsafePointer<UnsafePointer<CChar>?>?,
    _ nItems: Int, _ engineName: UnsafePointer<CChar>?, _ k: Int,
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<recfuse_scored>?>?, _ outLen: UnsafeMutablePointer<Int>?
) -> Int32 {
    out?.pointee = nil
    outLen?.pointee = 0
    return guarded("recfuse_rank") {
        guard let out, let outLen else { throw RecError.invalidArgument("out or out_len is NULL") }
        let s = try service(engine)
        guard nItems >= 0, k >= 0 else { throw RecError.invalidArgument("n_items and k must not be negative") }
        guard nItems == 0 || itemIDs != nil else {
            throw RecError.invalidArgument("item_ids is NULL but n_items is \(nItems)")
        }
        let rec = s.current
        guard nItems <= rec.limits.maxCandidates else {
            throw RecError.resourceExhausted("\(nItems) candidates exceed max_candidates (\(rec.limits.maxCandidates))")
        }
        // The domain call directly (no protobuf round trip): the same pipeline Rank runs.
        let q = RankQuery(
            user: UserSpec(id: try string(userID, "user_id")), engine: optionalString(engineName),
            candidates: try (0..<nItems).map { n in try string(itemIDs![n], "item_ids[\(n)]") }, k: k)
        let r = try rec.rank(q)
        out.pointee = try scoredBlock(r.items.map { (rec.catalog.ids[$0.item], $0.score) })
        outLen.pointee = r.items.count
    }
}

@c public func recfuse_retrieve(
    _ engine: OpaquePointer?, _ userID: UnsafePointer<CChar>?, _ engineName: UnsafePointer<CChar>?, _ k: Int,
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<recfuse_scored>?>?, _ outLen: UnsafeMutablePointer<Int>?
) -> Int32 {
    out?.pointee = nil
    outLen?.pointee = 0
    return guarded("recfuse_retrieve") {
        guard let out, let outLen else { throw RecError.invalidArgument("out or out_len is NULL") }
        let s = try service(engine)
        guard k >= 0 else { throw RecError.invalidArgument("k must not be negative") }
        let rec = s.current
        let r = try rec.retrieve(
            RetrieveQuery(user: UserSpec(id: try string(userID, "user_id")), engine: optionalString(engineName), k: k))
        out.pointee = try scoredBlock(r.items.map { (rec.catalog.ids[$0.item], $0.score) })
        outLen.pointee = r.items.count
    }
}

// MARK: - memory, errors, version

@c public func recfuse_free(_ p: UnsafeMutableRawPointer?) { free(p) }

nonisolated(unsafe) private let emptyMessage: UnsafeMutablePointer<CChar> = strdup("")!

@c public func recfuse_last_error() -> UnsafePointer<CChar>? {
    guard let p = pthread_getspecific(errorKey) else { return UnsafePointer(emptyMessage) }
    return UnsafePointer(p.assumingMemoryBound(to: CChar.self))
}

nonisolated(unsafe) private let versionString: UnsafeMutablePointer<CChar> = strdup(Service.version)!

@c public func recfuse_version() -> UnsafePointer<CChar>? { UnsafePointer(versionString) }
