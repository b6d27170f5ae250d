// libFuzzer entry point over the envelope decode and dispatch path: any bytes go through
// `Service.handle`, exactly what the server does with a received message. Built and run by
// scripts/fuzz.sh (swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library).
// A crash, a trap, an ASan report or a reply that is not a valid `Reply` is a finding.
import Foundation
import RecBaselines
import RecCore
import RecWire

/// A small deterministic catalogue with the popularity and co-occurrence engines: enough
/// for every method's code path, fast enough for thousands of executions a second.
let service: Service = {
    var users = IDMap(), items = IDMap()
    for u in 0..<20 { users.intern("u\(u)") }
    for i in 0..<30 { items.intern("i\(i)") }
    var xs: [Interaction] = []
    for u in 0..<20 {
        for k in 0..<6 {
            xs.append(
                Interaction(
                    user: Int32(u), item: Int32((u * 7 + k * 3) % 30), rating: Float(1 + (u + k) % 5),
                    timestamp: Int64(k)))
        }
    }
    let d = Dataset(
        name: "fuzz", users: users, items: items, interactions: xs,
        itemMeta: (0..<30).map {
            ItemMeta(title: "Film \($0)", year: 1990 + $0, genres: [["Comedy", "Drama", "Action"][$0 % 3]])
        },
        userMeta: Array(repeating: UserMeta(age: 30), count: 20))
    let catalog = d.makeCatalog()
    let store = UserStore(ids: d.users, meta: d.userMeta, histories: d.userHistories())
    var limits = Limits()
    limits.maxK = 100
    limits.maxCandidates = 100
    let rec = try! Recommender(
        catalog: catalog, users: store, engines: [PopularityEngine.fit(d), CooccurrenceEngine.fit(d)],
        defaultEngine: "cooccurrence", fallbackEngine: "popularity", limits: limits, bundleVersion: "fuzz@1")
    return Service(rec)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let reply = service.handle(Data(bytes: data, count: size))
    guard (try? RFReply(serializedBytes: reply)) != nil else { fatalError("the reply is not a valid recfuse.v1.Reply") }
    return 0
}

#if FUZZING
    // SwiftPM links an executable's `main` to `<module>_main`; with -parse-as-library there is
    // none, so this one hands control to libFuzzer's driver. (A plain `swift build` compiles
    // this file as a script that only builds the service and exits.)
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    @_cdecl("recfuse_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var c = argc
        var v = argv
        return LLVMFuzzerRunDriver(&c, &v) { data, size in fuzz(data, size) }
    }
#endif
