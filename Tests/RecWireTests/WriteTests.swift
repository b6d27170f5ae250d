import Foundation
import RecCore
import RecFixtures
import RecStore
import RecTestSupport
import SwiftProtobuf
import Testing

@testable import RecWire

/// The write path through the dispatcher: Feedback, UpsertUser, UpsertItem, DeleteItem recorded
/// in a real SQLite store, and their effect on the next Retrieve, Rank and Explain.
@Suite struct WriteTests {
    static let bundle = Result { try trainedBundle() }
    static let token = "write-tests-token-0123"

    /// A service over the shared bundle with a fresh store (or the one at `path`).
    func service(path: String? = nil) throws -> (Service, String) {
        let (_, rec, _) = try Self.bundle.get()
        let s = Service(rec)
        s.configureAdmin(reloader: nil, token: Self.token)
        let file = path ?? FileManager.default.temporaryDirectory.appendingPathComponent("rf-\(UUID()).sqlite").path
        try s.attachStore(try SQLiteEventStore(path: file))
        return (s, file)
    }

    func call(
        _ s: Service, _ method: String, _ payload: some SwiftProtobuf.Message, admin: Bool = false
    ) throws
        -> RFReply
    {
        var env = RFEnvelope()
        env.method = method
        env.payload = try payload.serializedData()
        if admin { env.metadata["authorization"] = "Bearer \(Self.token)" }
        return try RFReply(serializedBytes: s.handle(env.serializedData()))
    }

    func ok<M: SwiftProtobuf.Message>(
        _ s: Service, _ method: String, _ p: some SwiftProtobuf.Message, admin: Bool = false
    )
        throws -> M
    {
        let r = try call(s, method, p, admin: admin)
        try #require(r.status.code == .ok, "\(method): \(r.status)")
        return try M(serializedBytes: r.payload)
    }

    func feedback(_ events: [(String, String, Float)], ids: [String] = []) -> RFFeedbackRequest {
        var req = RFFeedbackRequest()
        for (n, (u, i, r)) in events.enumerated() {
            var e = RFFeedbackEvent()
            e.userID = u
            e.itemID = i
            e.rating = r
            if n < ids.count { e.eventID = ids[n] }
            req.events.append(e)
        }
        return req
    }

    /// Every item's score for `user` (Rank of the whole catalogue, nothing left out).
    func scores(_ s: Service, _ user: String, engine: String) throws -> [String: Float] {
        var req = RFRankRequest()
        req.user.id = user
        req.engine = engine
        req.itemIds = (0..<30).map { "i\($0)" }
        req.excludeSeen = false
        let out: RFRankResponse = try ok(s, Methods.rank, req)
        #expect(out.meta.engine == engine, "\(out.meta)")
        return Dictionary(uniqueKeysWithValues: out.items.map { ($0.itemID, $0.score) })
    }

    func retrieve(
        _ s: Service, _ user: String, engine: String = "", k: UInt32 = 5, preference: String = ""
    )
        throws -> RFRetrieveResponse
    {
        var req = RFRetrieveRequest()
        req.user.id = user
        req.user.preference = preference
        req.engine = engine
        req.k = k
        return try ok(s, Methods.retrieve, req)
    }

    @Test func feedbackChangesTheNextRetrieveForEveryHistoryEngine() throws {
        let (s, _) = try service()
        let engines = ["cooccurrence", "svdpp", "ease", "rp3beta", "gat"].filter { testKinds.contains($0) }
        #expect(engines.count >= 4)
        let before = try Dictionary(uniqueKeysWithValues: engines.map { ($0, try scores(s, "u4", engine: $0)) })
        let top = try retrieve(s, "u4", engine: "cooccurrence").items.map(\.itemID)
        // u4 watches the three items the engine ranked first, and rates them highly.
        let r: RFFeedbackResponse = try ok(s, Methods.feedback, feedback(top.prefix(3).map { ("u4", $0, 5) }))
        #expect(r.recorded == 3 && r.duplicates == 0 && r.sequence == 3)
        for e in engines {
            let after = try scores(s, "u4", engine: e)
            #expect(after != before[e], "\(e): the scores did not change")
            // exclude_seen (Retrieve's default) covers the new feedback.
            let now = try retrieve(s, "u4", engine: e, k: 30).items.map(\.itemID)
            #expect(Set(now).isDisjoint(with: top.prefix(3)), "\(e): \(now)")
        }
    }

    @Test func aUserKnownOnlyFromFeedbackIsScoredFromIt() throws {
        let (s, _) = try service()
        let anonymous = try retrieve(s, "newcomer", engine: "cooccurrence")
        #expect(anonymous.meta.degraded && anonymous.meta.engine == "popularity")
        let _: RFFeedbackResponse = try ok(
            s, Methods.feedback, feedback([("newcomer", "i3", 5), ("newcomer", "i4", 4)]))
        let known = try retrieve(s, "newcomer", engine: "cooccurrence")
        #expect(!known.meta.degraded && known.meta.engine == "cooccurrence", "\(known.meta)")
        #expect(!known.meta.warnings.contains { $0.contains("unknown user") }, "\(known.meta.warnings)")
        #expect(!known.items.contains { ["i3", "i4"].contains($0.itemID) })
        // Attributes from UpsertUser are the user's from then on.
        var u = RFUpsertUserRequest()
        u.userID = "newcomer"
        u.age = 41
        u.attributes = [
            RFField.with {
                $0.name = "city"
                $0.value = "Lyon"
            }
        ]
        let w: RFWriteResponse = try ok(s, Methods.upsertUser, u)
        #expect(!w.duplicate && w.sequence == 3)
        #expect(s.liveState?.userMeta("newcomer")?.age == 41)
    }

    @Test func eventIDsMakeWritesIdempotent() throws {
        let (s, _) = try service()
        let req = feedback([("u1", "i2", 4), ("u1", "i5", 3)], ids: ["e-1", "e-2"])
        let first: RFFeedbackResponse = try ok(s, Methods.feedback, req)
        let again: RFFeedbackResponse = try ok(s, Methods.feedback, req)
        #expect(first.recorded == 2 && first.duplicates == 0)
        #expect(again.recorded == 0 && again.duplicates == 2 && again.sequence == first.sequence)
        #expect(s.liveState?.counts.feedbackEvents == 2)
        #expect(s.liveState?.history(of: "u1")?.count == 2)
    }

    @Test func badWritesAreRefusedAndRecordNothing() throws {
        let (s, _) = try service()
        func status(_ m: String, _ p: some SwiftProtobuf.Message, admin: Bool = false) throws -> RFStatus {
            try call(s, m, p, admin: admin).status
        }
        #expect(try status(Methods.feedback, RFFeedbackRequest()).code == .invalidArgument)
        let nan = try status(Methods.feedback, feedback([("u1", "i1", .nan)]))
        #expect(nan.code == .invalidArgument && nan.message.contains("rating"), "\(nan)")
        #expect(try status(Methods.feedback, feedback([("", "i1", 1)])).message.contains("user_id is required"))
        // One unknown item fails the whole request: the good event before it is not recorded.
        let unknown = try status(Methods.feedback, feedback([("u1", "i1", 4), ("u1", "nope", 4)]))
        #expect(unknown.code == .notFound && unknown.message.contains("events[1].item_id 'nope'"), "\(unknown)")
        #expect(s.liveState?.counts.feedbackEvents == 0)
        let big = feedback(Array(repeating: ("u1", "i1", 1), count: Limits().maxFeedbackBatch + 1))
        #expect(try status(Methods.feedback, big).code == .resourceExhausted)
        // Catalogue writes need the admin token.
        var item = RFUpsertItemRequest()
        item.itemID = "n1"
        item.title = "New"
        let denied = try status(Methods.upsertItem, item)
        #expect(denied.code == .permissionDenied, "\(denied)")
        var del = RFDeleteItemRequest()
        del.itemID = "i1"
        #expect(try status(Methods.deleteItem, del).code == .permissionDenied)
        del.itemID = "nope"
        #expect(try status(Methods.deleteItem, del, admin: true).code == .notFound)
        // A server without a store says how to get one.
        let (_, rec, _) = try Self.bundle.get()
        let plain = Service(rec)
        var env = RFEnvelope()
        env.method = Methods.feedback
        env.payload = try feedback([("u1", "i1", 4)]).serializedData()
        let r = try RFReply(serializedBytes: plain.handle(env.serializedData())).status
        #expect(r.code == .failedPrecondition && r.message.contains("--store"), "\(r)")
        // And the server kept serving throughout.
        #expect(try retrieve(s, "u1").items.count == 5)
    }

    @Test func aDeletedItemNeverAppearsAgain() throws {
        let (s, _) = try service()
        let top = try retrieve(s, "u4", engine: "popularity", k: 1).items[0].itemID
        var del = RFDeleteItemRequest()
        del.itemID = top
        let _: RFWriteResponse = try ok(s, Methods.deleteItem, del, admin: true)
        for e in ["popularity", "cooccurrence", defaultTestEngine] {
            let all = try retrieve(s, "u4", engine: e, k: 30).items.map(\.itemID)
            #expect(!all.contains(top), "\(e)")
            var rank = RFRankRequest()
            rank.user.id = "u4"
            rank.engine = e
            rank.itemIds = [top, "i0"]
            let r: RFRankResponse = try ok(s, Methods.rank, rank)
            #expect(!r.items.map(\.itemID).contains(top), "\(e)")
        }
        var ex = RFExplainRequest()
        ex.user.id = "u4"
        ex.itemID = top
        let explained = try call(s, Methods.explain, ex).status
        #expect(explained.code == .notFound && explained.message.contains("deleted"))
        #expect(try call(s, Methods.feedback, feedback([("u4", top, 5)])).status.code == .notFound)
        // Upserting it brings it back.
        var up = RFUpsertItemRequest()
        up.itemID = top
        up.title = "Back again"
        let _: RFWriteResponse = try ok(s, Methods.upsertItem, up, admin: true)
        #expect(try retrieve(s, "u4", engine: "popularity", k: 30).items.map(\.itemID).contains(top))
    }

    @Test func aNewItemIsScoredAtOnceByTheEnginesThatCan() throws {
        let (s, _) = try service()
        var up = RFUpsertItemRequest()
        up.itemID = "n1"
        up.title = "Octopus Abyss"
        up.categories = ["Documentary"]
        up.fields = [
            RFField.with {
                $0.name = "description"
                $0.value = "a documentary about giant octopus in the deep sea"
            }
        ]
        let w: RFWriteResponse = try ok(s, Methods.upsertItem, up, admin: true)
        #expect(w.scoredBy.contains("popularity"))
        #expect(w.notScoredBy.contains { $0.hasPrefix("svdpp:") } && w.notScoredBy.contains { $0.hasPrefix("ease:") })
        if testKinds.contains("text") {
            #expect(w.scoredBy.contains("text") && w.scoredBy.contains("gat"), "\(w)")
            let r = try retrieve(s, "", engine: "text", preference: "deep sea octopus documentary")
            #expect(r.items.first?.itemID == "n1", "\(r.items.map(\.itemID))")
            #expect(r.items.first?.title == "Octopus Abyss")
            let g = try retrieve(s, "u4", engine: "gat", k: 31)
            #expect(g.items.map(\.itemID).contains("n1"))
        }
        // Engines that cannot score it leave it out of Rank and say so.
        var rank = RFRankRequest()
        rank.user.id = "u4"
        rank.engine = "svdpp"
        rank.itemIds = ["n1", "i1"]
        let r: RFRankResponse = try ok(s, Methods.rank, rank)
        #expect(r.items.map(\.itemID) == ["i1"] && r.meta.warnings.contains { $0.contains("added since the bundle") })
        let sv = try retrieve(s, "u4", engine: "svdpp", k: 31)
        #expect(!sv.items.map(\.itemID).contains("n1") && sv.meta.warnings.contains { $0.contains("not scored") })
        // Its feedback is its popularity (rebuilt shortly after, off the writer's path).
        let _: RFFeedbackResponse = try ok(
            s, Methods.feedback, feedback((0..<40).map { ("u\($0)", "n1", 5) }))
        var rankPop = RFRankRequest()
        rankPop.user.id = "u4"
        rankPop.engine = "popularity"
        rankPop.itemIds = ["n1"]
        rankPop.excludeSeen = false
        var score: Float = 0
        for _ in 0..<100 {
            let p: RFRankResponse = try ok(s, Methods.rank, rankPop)
            score = p.items.first?.score ?? 0
            if score == 40 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(score == 40)
        // Explain and Rerank say they need the next bundle.
        var ex = RFExplainRequest()
        ex.user.id = "u4"
        ex.itemID = "n1"
        #expect(try call(s, Methods.explain, ex).status.code == .failedPrecondition)
    }

    @Test func aRestartedServiceServesEverythingRecorded() throws {
        let (s, path) = try service()
        let _: RFFeedbackResponse = try ok(s, Methods.feedback, feedback([("u7", "i1", 5), ("fresh", "i2", 4)]))
        var up = RFUpsertItemRequest()
        up.itemID = "n9"
        up.title = "Brand new"
        let _: RFWriteResponse = try ok(s, Methods.upsertItem, up, admin: true)
        var del = RFDeleteItemRequest()
        del.itemID = "i3"
        let _: RFWriteResponse = try ok(s, Methods.deleteItem, del, admin: true)
        let before = try retrieve(s, "u7", engine: defaultTestEngine, k: 31)

        let (again, _) = try service(path: path)
        #expect(again.liveState?.counts == s.liveState?.counts)
        let after = try retrieve(again, "u7", engine: defaultTestEngine, k: 31)
        #expect(after.items.map(\.itemID) == before.items.map(\.itemID))
        #expect(after.items.map(\.score) == before.items.map(\.score))
        let info: RFInfoResponse = try ok(again, Methods.info, RFInfoRequest())
        #expect(info.store.kind == "sqlite" && info.store.feedbackEvents == 2 && info.store.newItems == 1)
        #expect(info.store.deletedItems == 1 && info.store.sequence == 4)
    }
}
