import Foundation
import RecCore
import RecData
import RecEngineKit
import RecMath
import RecText

/// Zero-shot content engine: items are scored by the cosine between a query embedding and
/// each item's profile embedding (all-MiniLM-L6-v2, unit vectors, so cosine = dot product).
///
/// The query is
/// - the free-text preference, when the request has one ("dark 90s thrillers");
/// - the user's profile (demographics, liked / disliked titles, dominant genres; see
///   `Profiles.user`) when it has none;
/// - both, averaged and renormalised, when a user with a history also writes a preference.
/// A known user without inline history uses the profile embedding stored in the bundle, so
/// no encoder run is needed; anything else is encoded at request time (a few ms).
///
/// Cold start: works for a user with no history at all as long as there is a preference
/// or demographics; with neither, `unscorableReason` says so and the pipeline falls back.
/// Item embeddings: `items.count × 384`, one sgemv per request.
public final class TextEngine: TextEmbeddingSpace, ItemEmbeddingEngine {
    public let name: String
    public let catalog: Catalog
    public let users: UserStore
    /// Unit-length profile embeddings, one row per item.
    public let itemEmbeddings: Matrix
    /// Unit-length profile embeddings of the bundle's users, one row per user.
    public let userEmbeddings: Matrix
    /// nil when the model could not be loaded; then only stored users can be scored.
    public let encoder: SentenceEncoder?
    /// Why `encoder` is nil.
    public let encoderProblem: String?
    public let modelName: String
    public let modelSHA256: String

    public var itemCount: Int { itemEmbeddings.rows }
    public var summary: String {
        "zero-shot text: cosine between the preference / user profile and item profiles (\(modelName), "
            + "\(itemEmbeddings.cols)-d)"
            + (encoder == nil ? "; encoder unavailable (\(encoderProblem ?? "?")): stored users only" : "")
    }

    public init(
        name: String = "text", catalog: Catalog, users: UserStore, itemEmbeddings: Matrix, userEmbeddings: Matrix,
        encoder: SentenceEncoder?, encoderProblem: String? = nil, modelName: String, modelSHA256: String
    ) {
        precondition(itemEmbeddings.rows == catalog.count && userEmbeddings.rows == users.ids.count)
        self.name = name
        self.catalog = catalog
        self.users = users
        self.itemEmbeddings = itemEmbeddings
        self.userEmbeddings = userEmbeddings
        self.encoder = encoder
        self.encoderProblem = encoderProblem
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
    }

    /// Embeds every item profile and every stored user's profile with `encoder`.
    /// `profiles` lays LLM-enriched profiles over the template ones.
    public static func fit(
        _ dataset: Dataset, encoder: SentenceEncoder, name: String = "text",
        profiles: ProfileOverrides? = nil
    ) throws -> TextEngine {
        let catalog = dataset.makeCatalog()
        let users = UserStore(ids: dataset.users, meta: dataset.userMeta, histories: dataset.userHistories())
        let o = profiles ?? ProfileOverrides()
        let items = encoder.embedMemoised(o.itemTexts(catalog))
        let userVecs = encoder.embedMemoised(o.userTexts(users, catalog: catalog))
        return TextEngine(
            name: name, catalog: catalog, users: users, itemEmbeddings: items, userEmbeddings: userVecs,
            encoder: encoder, modelName: encoder.name, modelSHA256: encoder.weightsSHA256 ?? "")
    }

    public func tensors() -> SafetensorsWriter {
        var w = SafetensorsWriter()
        w.add("item_embeddings", itemEmbeddings.data, shape: [itemEmbeddings.rows, itemEmbeddings.cols])
        w.add("user_embeddings", userEmbeddings.data, shape: [userEmbeddings.rows, userEmbeddings.cols])
        return w
    }

    // MARK: - Engine

    /// `encode`: the texts to embed, plus a stored user whose bundle profile embedding stands in
    /// for re-encoding the same profile text.
    private enum Plan {
        case stored(Int32)
        case encode(preference: String, profile: String?, storedProfile: Int32?)
        case unscorable(String)
    }

    private func plan(_ q: UserQuery) -> Plan {
        let pref = q.preference.trimmingCharacters(in: .whitespacesAndNewlines)
        let stored = q.userIndex.flatMap { u in inlineHistoryMatchesStore(q, u) ? u : nil }
        if pref.isEmpty, let stored { return .stored(stored) }
        if let stored {
            guard encoder != nil else {
                return .unscorable("text encoder unavailable (\(encoderProblem ?? "not loaded"))")
            }
            return .encode(preference: pref, profile: nil, storedProfile: stored)
        }
        let profile = Profiles.user(id: q.rawID, history: q.history, meta: q.meta, catalog: catalog)
        if pref.isEmpty && profile.isEmpty {
            return .unscorable("no preference text, history or demographics to build a profile from")
        }
        guard encoder != nil else { return .unscorable("text encoder unavailable (\(encoderProblem ?? "not loaded"))") }
        return .encode(preference: pref, profile: profile.isEmpty ? nil : profile.text, storedProfile: nil)
    }

    /// True when the query's history is exactly the stored one (no inline additions).
    private func inlineHistoryMatchesStore(_ q: UserQuery, _ u: Int32) -> Bool {
        let r = users.histories.range(of: u)
        guard r.count == q.history.count else { return false }
        return zip(r, q.history).allSatisfy {
            users.histories.items[$0] == $1.item && users.histories.ratings[$0] == $1.rating
        }
    }

    public func unscorableReason(_ query: UserQuery) -> String? {
        if case .unscorable(let why) = plan(query) { return why }
        return nil
    }

    /// The unit query vector for `query` (see the type's documentation).
    public func queryVector(_ query: UserQuery) throws -> [Float] { try queryVector(query, plan: plan(query)) }

    private func queryVector(_ query: UserQuery, plan: Plan) throws -> [Float] {
        switch plan {
        case .unscorable(let why): throw RecError.failedPrecondition("\(name): \(why)")
        case .stored(let u):
            return userEmbeddings.row(Int(u))
        case .encode(let pref, let profile, let storedProfile):
            let texts = [pref.isEmpty ? nil : pref, profile].compactMap { $0 }
            return encoder!.embedQuery(texts).normalisedRowSum(
                plus: storedProfile.map { userEmbeddings.row(Int($0))[...] })
        }
    }

    public var dimension: Int { itemEmbeddings.cols }

    public func itemVector(_ item: Int32) -> ArraySlice<Float> {
        itemEmbeddings.row(Int(item))[...]
    }

    /// Plans the user once, for both the decision and the scores.
    public func answer(_ query: UserQuery, items: [Int32]?) throws -> EngineAnswer {
        let p = plan(query)
        if case .unscorable(let why) = p { return .declined(why) }
        return .scores(Kernels.rowDots(itemEmbeddings, try queryVector(query, plan: p), rows: items))
    }

    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        // One fixed-order dot product per scored item: Rank costs O(candidates), and Rank and
        // Retrieve agree to the bit.
        return Kernels.rowDots(itemEmbeddings, try queryVector(query), rows: items)
    }

    // MARK: - inner-product view (approximate Retrieve; the rest is ItemEmbeddingEngine's)

    public func userVector(for query: UserQuery) throws -> UserVectorAnswer {
        let p = plan(query)
        if case .unscorable(let why) = p { return .declined(why) }
        return .vector(UserVector(x: try queryVector(query, plan: p)))
    }
}

/// `text`: the zero-shot MiniLM engine.
public enum TextKind: EngineKind {
    public static let name = "text"
    public static let summary = "zero-shot text: cosine between a preference or user profile and item profiles (MiniLM)"
    public static let parameters: [ParamSpec] = [
        ParamSpec("model", .string, default: "all-MiniLM-L6-v2", help: "sentence-encoder folder under --models-dir"),
        .recorded("model_sha256", "SHA-256 of the encoder weights the embeddings were made with"),
        .recorded("dimension", "embedding width"),
        .recorded("max_seq_length", "the encoder's token limit"),
    ]

    public static func needsEncoder(_ params: EngineParams) throws -> Bool { true }

    public static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine {
        let encoder = try context.encoder(try params.string("model"))
        let m = try TextEngine.fit(dataset, encoder: encoder, profiles: context.profiles)
        let p = try params.recording("model_sha256", m.modelSHA256).recording("dimension", String(m.dimension))
            .recording("max_seq_length", String(encoder.maxSeqLength))
        return FittedEngine(engine: m, tensors: m.tensors(), params: p)
    }

    /// The stored embeddings; with the encoder they were made with (checked by SHA-256), or
    /// none, when the engine serves stored users only and says why.
    public static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine {
        let (catalog, users) = (context.catalog, context.users)
        let (encoder, problem) = context.encoder(for: params)
        if let problem { context.log("engine \(entry.name): \(problem); serving stored users only") }
        let items = try file.info("item_embeddings")
        guard items.shape.count == 2, items.shape[0] == catalog.count, items.shape[1] > 0 else {
            throw RecError.dataLoss(
                "\(file.path): item_embeddings has shape \(items.shape), expected [\(catalog.count), d]")
        }
        let d = items.shape[1]
        if let encoder, encoder.dimension != d {
            throw RecError.dataLoss("\(file.path): \(d)-d embeddings, the encoder makes \(encoder.dimension)-d")
        }
        return TextEngine(
            name: entry.name, catalog: catalog, users: users,
            itemEmbeddings: try file.matrix("item_embeddings", rows: catalog.count, cols: d),
            userEmbeddings: try file.matrix("user_embeddings", rows: users.ids.count, cols: d), encoder: encoder,
            encoderProblem: problem, modelName: try params.string("model"),
            modelSHA256: try params.string("model_sha256"))
    }
}

extension TextEngine: NewItemScoring {
    /// A new item's vector is its profile embedded, as the bundle's items were.
    public func newItemModel(_ meta: ItemMeta, raters: [NewItemRater]) throws -> NewItemModel {
        guard let encoder else {
            throw RecError.failedPrecondition("text encoder unavailable (\(encoderProblem ?? "not loaded"))")
        }
        let c = Catalog(ids: try IDMap(ids: ["new"]), meta: [meta], schema: catalog.schema)
        return .vector(encoder.embed(Profiles.item(0, catalog: c).text), bias: 0)
    }
}
