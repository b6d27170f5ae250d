import Synchronization

/// One write the server records (Feedback, UpsertUser, UpsertItem, DeleteItem), in raw ids:
/// what the store keeps, in order, and what `LiveState` applies.
public struct WriteEvent: Sendable, Equatable {
    public enum Kind: Int, Sendable, CaseIterable {
        case feedback = 1
        case upsertItem = 2
        case upsertUser = 3
        case deleteItem = 4
    }

    /// The store's sequence number (0 until stored).
    public var sequence: Int64 = 0
    /// The client's id for deduplication; "" = none.
    public var eventID: String
    public var kind: Kind
    public var user: String
    public var item: String
    /// Feedback: the rating, 0 = implicit.
    public var rating: Float
    /// Unix seconds.
    public var timestamp: Int64
    public var eventType: String
    /// UpsertItem's metadata, UpsertUser's attributes.
    public var itemMeta: ItemMeta?
    public var userMeta: UserMeta?

    public init(
        eventID: String = "", kind: Kind, user: String = "", item: String = "", rating: Float = 0,
        timestamp: Int64 = 0, eventType: String = "", itemMeta: ItemMeta? = nil, userMeta: UserMeta? = nil
    ) {
        self.eventID = eventID
        self.kind = kind
        self.user = user
        self.item = item
        self.rating = rating
        self.timestamp = timestamp
        self.eventType = eventType
        self.itemMeta = itemMeta
        self.userMeta = userMeta
    }
}

/// What the store holds beyond the bundle, in memory, for the serving path: every user's
/// recorded feedback, users' attributes, items added or changed, items deleted. A read copies
/// its user's list out under its shard's lock (arrays are copy-on-write, so that copies no
/// elements); writes append. Thread-safe.
///
/// Kept in raw ids, so the same state serves any bundle (a hot reload or a retrained bundle
/// maps them through its own catalogue, as it maps a request's inline history).
public final class LiveState: Sendable {
    /// A user's recorded feedback: one entry per item, in first-recorded order, the latest
    /// event's rating and time (so a user's list is bounded by the items they touched, not by
    /// how often).
    struct UserHistory {
        var items: [UserSpec.Item] = []
        /// Item id → position, once the list is long enough for a scan to cost more.
        var position: [String: Int]?

        mutating func add(_ it: UserSpec.Item) {
            if position == nil && items.count >= 8 {
                position = Dictionary(items.enumerated().map { ($1.itemID, $0) }, uniquingKeysWith: { _, b in b })
            }
            if position != nil {
                if let p = position![it.itemID] {
                    items[p] = it
                } else {
                    position![it.itemID] = items.count
                    items.append(it)
                }
            } else if let p = items.firstIndex(where: { $0.itemID == it.itemID }) {
                items[p] = it
            } else {
                items.append(it)
            }
        }
    }

    /// Users' state, in shards by user: a request reads its user's shard only, so a write
    /// (applied by a low-priority thread) holds up a read only when both touch the same shard
    /// at the same moment.
    struct UserShard {
        var histories: [String: UserHistory] = [:]
        var users: [String: UserMeta] = [:]
    }

    /// Everything else: the catalogue's changes and the counters (written rarely, read by
    /// rebuilds and Info).
    struct Catalogue {
        /// Items upserted, latest metadata, in first-upsert order.
        var items: [String: ItemMeta] = [:]
        var itemOrder: [String] = []
        var deleted: Set<String> = []
        /// For upserted items: who gave them feedback, with the rating.
        var itemRaters: [String: [CatalogueChanges.Rater]] = [:]
        var feedbackEvents = 0
        var sequence: Int64 = 0
        /// Bumped by every change that alters the catalogue (or a new item's evidence).
        var version = 0
    }

    private final class Shard: Sendable {
        let state = Mutex(UserShard())
    }

    private static let shardCount = 64
    private let shards: [Shard] = (0..<LiveState.shardCount).map { _ in Shard() }
    private let catalogue = Mutex(Catalogue())
    /// One `apply` at a time (events reach every shard in sequence order).
    private let applying = Mutex(())

    public init() {}

    private func shard(_ user: String) -> Shard {
        shards[Int(UInt(bitPattern: user.hashValue) % UInt(Self.shardCount))]
    }

    /// Applies events in sequence order. Returns whether the catalogue changed (an item
    /// upserted or deleted, or feedback for an upserted item, which new-item models read).
    @discardableResult
    public func apply(_ events: [WriteEvent]) -> Bool {
        applying.withLock { _ in
            // The catalogue first (its own lock, briefly), then each user's shard in turn.
            let changed = catalogue.withLock { c -> Bool in
                let before = c.version
                for e in events {
                    c.sequence = max(c.sequence, e.sequence)
                    switch e.kind {
                    case .feedback:
                        c.feedbackEvents += 1
                        if c.items[e.item] != nil {
                            c.itemRaters[e.item, default: []].append(.init(user: e.user, rating: e.rating))
                            c.version += 1
                        }
                    case .upsertUser: break
                    case .upsertItem:
                        if c.items.updateValue(e.itemMeta ?? ItemMeta(title: ""), forKey: e.item) == nil {
                            c.itemOrder.append(e.item)
                        }
                        c.deleted.remove(e.item)
                        c.version += 1
                    case .deleteItem:
                        c.deleted.insert(e.item)
                        c.version += 1
                    }
                }
                return c.version != before
            }
            var byShard: [Int: [WriteEvent]] = [:]
            for e in events where e.kind == .feedback || e.kind == .upsertUser {
                byShard[Int(UInt(bitPattern: e.user.hashValue) % UInt(Self.shardCount)), default: []].append(e)
            }
            for (n, list) in byShard {
                shards[n].state.withLock { s in
                    for e in list {
                        if e.kind == .feedback {
                            s.histories[e.user, default: UserHistory()].add(
                                UserSpec.Item(itemID: e.item, rating: e.rating, timestamp: e.timestamp))
                        } else {
                            s.users[e.user] = e.userMeta ?? UserMeta()
                        }
                    }
                }
            }
            return changed
        }
    }

    /// The feedback recorded for `user`: one entry per item, in the order first recorded, with
    /// the latest rating and time (nil: none).
    public func history(of user: String) -> [UserSpec.Item]? {
        shard(user).state.withLock { $0.histories[user]?.items }
    }

    /// The attributes UpsertUser recorded for `user`.
    public func userMeta(_ user: String) -> UserMeta? { shard(user).state.withLock { $0.users[user] } }

    public var catalogueVersion: Int { catalogue.withLock { $0.version } }

    /// The catalogue changes to lay over a bundle.
    public func catalogueChanges() -> CatalogueChanges {
        catalogue.withLock { c in
            CatalogueChanges(
                upserted: c.itemOrder.map { id in
                    CatalogueChanges.Item(id: id, meta: c.items[id]!, raters: c.itemRaters[id] ?? [])
                }, deleted: c.deleted, version: c.version)
        }
    }

    public struct Counts: Sendable, Equatable {
        public var sequence: Int64
        public var feedbackEvents: Int
        public var users: Int
        public var upsertedItems: Int
        public var deletedItems: Int
    }

    public var counts: Counts {
        let users = shards.reduce(0) { n, sh in n + sh.state.withLock { $0.histories.count } }
        return catalogue.withLock { c in
            Counts(
                sequence: c.sequence, feedbackEvents: c.feedbackEvents, users: users,
                upsertedItems: c.items.count, deletedItems: c.deleted.count)
        }
    }
}

/// Items added or changed since a bundle was trained, and items deleted, in raw ids.
public struct CatalogueChanges: Sendable {
    public struct Rater: Sendable, Equatable {
        public var user: String
        public var rating: Float
        public init(user: String, rating: Float) {
            self.user = user
            self.rating = rating
        }
    }

    public struct Item: Sendable {
        public var id: String
        public var meta: ItemMeta
        /// The feedback the item got since it was upserted, oldest first (a new item's first users).
        public var raters: [Rater]
        public init(id: String, meta: ItemMeta, raters: [Rater] = []) {
            self.id = id
            self.meta = meta
            self.raters = raters
        }
    }

    public var upserted: [Item]
    public var deleted: Set<String>
    /// `LiveState.catalogueVersion` when taken.
    public var version: Int

    public init(upserted: [Item] = [], deleted: Set<String> = [], version: Int = 0) {
        self.upserted = upserted
        self.deleted = deleted
        self.version = version
    }

    public var isEmpty: Bool { upserted.isEmpty && deleted.isEmpty }
}

/// How an engine scores an item added after training.
public enum NewItemModel: Sendable {
    /// `⟨x(u), vector⟩ + bias`, with the engine's `DotProductEngine.userVector` (offset included).
    case vector([Float], bias: Float)
    /// The same score for every user (popularity).
    case constant(Float)
}

/// An engine that can score an item added after training, from its metadata and its first
/// users, without retraining (text: the item's profile embedded; GAT: one inductive node pass;
/// popularity: its recorded feedback). Engines that are not `NewItemScoring` cannot, and
/// replies say so.
public protocol NewItemScoring: Engine {
    /// The model of a new item from its metadata and its feedback so far (`user`: the bundle's
    /// dense index, nil for a user the bundle does not know). Throws when it cannot (replies say why).
    func newItemModel(_ meta: ItemMeta, raters: [NewItemRater]) throws -> NewItemModel
}

/// One feedback event of a new item, for `NewItemScoring`.
public struct NewItemRater: Sendable {
    public var user: Int32?
    public var rating: Float
    public init(user: Int32?, rating: Float) {
        self.user = user
        self.rating = rating
    }
}
