import RecCore
import Testing

/// The in-memory state the write store feeds.
@Suite struct LiveStateTests {
    func feedback(_ seq: Int64, _ user: String, _ item: String, _ rating: Float) -> WriteEvent {
        var e = WriteEvent(kind: .feedback, user: user, item: item, rating: rating, timestamp: 100 + seq)
        e.sequence = seq
        return e
    }

    @Test func aUsersHistoryHoldsEachItemOnceWithItsLatestEvent() {
        let live = LiveState()
        // Short lists are scanned, long ones indexed: both keep one entry per item.
        var events: [WriteEvent] = []
        for n in 0..<40 { events.append(feedback(Int64(n + 1), "u", "i\(n % 12)", Float(1 + n % 5))) }
        live.apply(events)
        let h = live.history(of: "u") ?? []
        #expect(h.map(\.itemID) == (0..<12).map { "i\($0)" })
        // i3's last event is n = 39 (sequence 40).
        #expect(h[3].rating == Float(1 + 39 % 5) && h[3].timestamp == 100 + 40)
        #expect(live.counts.feedbackEvents == 40 && live.counts.users == 1 && live.counts.sequence == 40)
    }

    @Test func catalogueChangesFollowUpsertsDeletesAndNewItemFeedback() {
        let live = LiveState()
        var up = WriteEvent(kind: .upsertItem, item: "n1", itemMeta: ItemMeta(title: "New"))
        up.sequence = 1
        #expect(live.apply([up]))
        #expect(!live.apply([feedback(2, "u", "i1", 4)]))  // a trained item: the catalogue is unchanged
        #expect(live.apply([feedback(3, "u", "n1", 5)]))  // a new item's evidence changed
        var del = WriteEvent(kind: .deleteItem, item: "n1")
        del.sequence = 4
        #expect(live.apply([del]))
        let c = live.catalogueChanges()
        #expect(c.upserted.map(\.id) == ["n1"] && c.deleted == ["n1"])
        #expect(c.upserted[0].raters == [.init(user: "u", rating: 5)])
        up.sequence = 5
        live.apply([up])
        let back = live.catalogueChanges()
        #expect(back.upserted.map(\.id) == ["n1"] && back.deleted.isEmpty)
    }
}
