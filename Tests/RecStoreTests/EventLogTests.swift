import Foundation
import RecCore
import Synchronization
import Testing

@testable import RecStore

/// The event log over a real SQLite file: durability across reopen, idempotent event ids,
/// all-or-none batches, group commit under concurrent writers, and clear errors on bad files.
@Suite struct EventLogTests {
    func tempPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("rf-log-\(UUID()).sqlite").path
    }

    func feedback(_ u: String, _ i: String, id: String = "") -> WriteEvent {
        WriteEvent(eventID: id, kind: .feedback, user: u, item: i, rating: 4, timestamp: 1000)
    }

    @Test func eventsSurviveAReopenWithTheirMetadata() throws {
        let path = tempPath()
        do {
            let log = EventLog(try SQLiteEventStore(path: path)) { _ in }
            _ = try log.append([feedback("u1", "i1"), feedback("u2", "i2")])
            _ = try log.append([
                WriteEvent(
                    kind: .upsertItem, item: "n1",
                    itemMeta: ItemMeta(
                        title: "T", year: 2001, genres: ["A", "B"], fields: [TextField("description", "d é")])),
                WriteEvent(
                    kind: .upsertUser, user: "u9", userMeta: UserMeta(age: 30, attributes: [TextField("c", "x")])),
                WriteEvent(kind: .deleteItem, item: "i1"),
            ])
        }
        let seen = Mutex<[WriteEvent]>([])
        let log = EventLog(try SQLiteEventStore(path: path)) { e in seen.withLock { $0 += e } }
        #expect(try log.catchUp() == 5)
        let events = seen.withLock { $0 }
        #expect(events.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(events.map(\.kind) == [.feedback, .feedback, .upsertItem, .upsertUser, .deleteItem])
        #expect(
            events[2].itemMeta
                == ItemMeta(title: "T", year: 2001, genres: ["A", "B"], fields: [TextField("description", "d é")]))
        #expect(events[3].userMeta?.attributes == [TextField("c", "x")])
        #expect(events[0].user == "u1" && events[0].rating == 4 && events[0].timestamp == 1000)
        // A later append continues the sequence.
        let next = try log.append([feedback("u3", "i3")])
        #expect(next.first??.sequence == 6)
    }

    @Test func anEventIDIsRecordedOnce() throws {
        let log = EventLog(try SQLiteEventStore(path: tempPath())) { _ in }
        let a = try log.append([feedback("u1", "i1", id: "x"), feedback("u1", "i1", id: "x"), feedback("u1", "i2")])
        #expect(a.map { $0 != nil } == [true, false, true])
        let b = try log.append([feedback("u1", "i1", id: "x")])
        #expect(b.map { $0 != nil } == [false])
        #expect(log.counts.events == 2 && log.counts.duplicates == 2)
    }

    @Test func concurrentWritersShareCommitsAndEveryEventIsAppliedOnceInOrder() throws {
        let applied = Mutex<[Int64]>([])
        let log = EventLog(try SQLiteEventStore(path: tempPath())) { e in applied.withLock { $0 += e.map(\.sequence) } }
        let writers = 8, each = 50
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            for n in 0..<each { _ = try? log.append([feedback("u\(w)", "i\(n)", id: "\(w)-\(n)")]) }
        }
        let seqs = applied.withLock { $0 }
        #expect(seqs == Array(1...Int64(writers * each)))
        #expect(log.counts.events == writers * each)
    }

    @Test func aFileThatIsNotAStoreIsRefusedClearly() throws {
        let path = tempPath()
        try Data("this is not a database, just text that is long enough to have a header".utf8).write(
            to: URL(fileURLWithPath: path))
        #expect {
            _ = try SQLiteEventStore(path: path)
        } throws: { e in
            guard let e = e as? RecError else { return false }
            return e.code == .dataLoss || e.code == .unavailable
        }
        #expect(throws: RecError.self) { _ = try StoreURL.open("mysql://nope") }
        #expect(throws: RecError.self) { _ = try SQLiteEventStore(path: "/proc/no/such/dir/x.sqlite") }
    }
}
