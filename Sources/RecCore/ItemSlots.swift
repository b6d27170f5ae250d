import Synchronization

/// Scratch for scoring a subset of a catalogue without a per-request structure of catalogue
/// size: a slot per item, valid only in the current generation, so starting over costs one
/// increment rather than clearing. Taken from an `ItemSlotsPool`, one user at a time.
public final class ItemSlots: @unchecked Sendable {
    private var stamp: [UInt32]
    private var slots: [Int32]
    private var generation: UInt32 = 0

    init(count: Int) {
        stamp = [UInt32](repeating: 0, count: count)
        slots = [Int32](repeating: 0, count: count)
    }

    /// Forgets every slot set before.
    public func begin() {
        generation &+= 1
        if generation == 0 {  // wrapped: stamps of 2^32 generations ago would read as current
            for i in stamp.indices { stamp[i] = 0 }
            generation = 1
        }
    }

    @inline(__always) public func set(_ item: Int32, _ slot: Int32) {
        stamp[Int(item)] = generation
        slots[Int(item)] = slot
    }

    /// The item's slot in this generation, or -1.
    @inline(__always) public func slot(_ item: Int32) -> Int32 {
        stamp[Int(item)] == generation ? slots[Int(item)] : -1
    }
}

/// `ItemSlots` for one catalogue size, reused across requests (at most one per thread in use
/// at a time; the pool grows to the peak concurrency). Thread-safe.
public final class ItemSlotsPool: Sendable {
    public let count: Int
    private let free = Mutex<[ItemSlots]>([])

    public init(count: Int) { self.count = count }

    public func with<T>(_ body: (ItemSlots) throws -> T) rethrows -> T {
        let s = free.withLock { $0.popLast() } ?? ItemSlots(count: count)
        defer { free.withLock { $0.append(s) } }
        s.begin()
        return try body(s)
    }
}
