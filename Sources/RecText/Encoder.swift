import Dispatch
import Foundation
import RecCore
import RecData
import RecMath
import Synchronization

/// The BERT hyper-parameters a sentence encoder needs, from the model's `config.json`.
public struct BertConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var hidden: Int
    public var layers: Int
    public var heads: Int
    public var intermediate: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float

    public var headDim: Int { hidden / heads }

    init(json data: Data, path: String) throws {
        func fail(_ m: String) -> RecError { RecError.failedPrecondition("\(path): \(m)") }
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        func int(_ k: String) throws -> Int {
            guard let v = o[k] as? Int, v > 0 else { throw fail("\(k) missing or not a positive integer") }
            return v
        }
        vocabSize = try int("vocab_size")
        hidden = try int("hidden_size")
        layers = try int("num_hidden_layers")
        heads = try int("num_attention_heads")
        intermediate = try int("intermediate_size")
        maxPositions = try int("max_position_embeddings")
        typeVocabSize = try int("type_vocab_size")
        layerNormEps = Float(o["layer_norm_eps"] as? Double ?? 1e-12)
        guard hidden % heads == 0 else {
            throw fail("hidden_size \(hidden) is not a multiple of num_attention_heads \(heads)")
        }
        if let act = o["hidden_act"] as? String, act != "gelu" {
            throw fail("hidden_act \(act) is not supported (only exact gelu)")
        }
        if let pe = o["position_embedding_type"] as? String, pe != "absolute" {
            throw fail("position_embedding_type \(pe) is not supported")
        }
    }
}

/// A sentence-transformers BERT encoder with mean pooling and L2 normalisation
/// (all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, intermediate 1536), run natively.
///
/// Forward pass, per sequence of token ids (post-LayerNorm BERT, as Hugging Face's
/// `BertModel` in eval mode):
///   x = LN(word[id] + position[p] + type[0])
///   each layer: a = LN(x + Attn(x) Wₒ + bₒ);  x = LN(a + GELU(a Wᵢ + bᵢ) W₂ + b₂)
///   Attn: per head, softmax(Q Kᵀ / √d) V over the sequence's own tokens
///   embedding = normalise(mean of x over the sequence's tokens)
///
/// Sequences of a batch are packed end to end without padding: the dense layers run as one
/// OpenBLAS sgemm over all tokens of the batch, attention runs per (sequence, head) on all
/// cores, so no work is spent on padding and no attention mask is needed (a masked position
/// contributes exp(−∞) = 0 in the reference, exactly nothing here). Inputs are sorted by
/// length and cut into batches, so batches hold sequences of similar length.
///
/// The weights stay in the memory-mapped safetensors file (no copy). Immutable after
/// loading; `embed` may be called from many threads at once.
public final class SentenceEncoder: Sendable {
    public let tokenizer: WordPieceTokenizer
    public let config: BertConfig
    /// Longer inputs are truncated to this many tokens ([CLS] and [SEP] included).
    public let maxSeqLength: Int
    public let directory: URL
    /// The folder's name, e.g. "all-MiniLM-L6-v2".
    public var name: String { directory.lastPathComponent }
    public var dimension: Int { config.hidden }
    /// SHA-256 of model.safetensors, when SOURCE.json records it (fetched models do).
    public let weightsSHA256: String?

    private let w: Weights

    struct Layer {
        let q, qb, k, kb, v, vb, ao, aob, ln1g, ln1b, i, ib, o, ob, ln2g, ln2b: FloatView
    }

    struct Weights {
        let word, position, type, lng, lnb: FloatView
        let layers: [Layer]
    }

    /// Loads a sentence-transformers folder (config.json, vocab.txt, tokenizer.json,
    /// model.safetensors, sentence_bert_config.json, 1_Pooling/config.json). Refuses, with
    /// the reason, a model whose architecture or pooling recfuse does not reproduce.
    public init(modelDirectory dir: URL) throws {
        let configURL = dir.appendingPathComponent("config.json")
        guard let configData = try? Data(contentsOf: configURL) else {
            throw RecError.notFound(
                "no model in \(dir.path) (cannot read config.json); run `recfuse models fetch all-MiniLM-L6-v2`")
        }
        let config = try BertConfig(json: configData, path: configURL.path)
        tokenizer = try WordPieceTokenizer(modelDirectory: dir)
        guard tokenizer.vocabularySize == config.vocabSize else {
            throw RecError.failedPrecondition(
                "\(dir.path): vocab.txt has \(tokenizer.vocabularySize) tokens, config.json says \(config.vocabSize)")
        }
        let maxLen = try Self.maxSeqLength(modelDirectory: dir)
        guard maxLen <= config.maxPositions else {
            throw RecError.failedPrecondition(
                "\(dir.path): max_seq_length \(maxLen) exceeds max_position_embeddings \(config.maxPositions)")
        }
        let poolURL = dir.appendingPathComponent("1_Pooling/config.json")
        if let d = try? Data(contentsOf: poolURL), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any]
        {
            let modes = o.filter { $0.key.hasPrefix("pooling_mode") && ($0.value as? Bool) == true }.map(\.key)
            guard modes == ["pooling_mode_mean_tokens"] else {
                throw RecError.failedPrecondition(
                    "\(poolURL.path): pooling \(modes.sorted()) is not supported (only mean tokens)")
            }
        }
        let file = try SafetensorsFile(dir.appendingPathComponent("model.safetensors"))
        let h = config.hidden, i = config.intermediate
        func t(_ name: String, _ shape: [Int]) throws -> FloatView {
            // Checkpoints saved by BertModel name tensors without a prefix; BertFor* with "bert.".
            let n = file.tensors[name] != nil ? name : "bert." + name
            return try file.view(n, shape: shape)
        }
        var layers: [Layer] = []
        for l in 0..<config.layers {
            let p = "encoder.layer.\(l)."
            layers.append(
                Layer(
                    q: try t(p + "attention.self.query.weight", [h, h]),
                    qb: try t(p + "attention.self.query.bias", [h]),
                    k: try t(p + "attention.self.key.weight", [h, h]), kb: try t(p + "attention.self.key.bias", [h]),
                    v: try t(p + "attention.self.value.weight", [h, h]),
                    vb: try t(p + "attention.self.value.bias", [h]),
                    ao: try t(p + "attention.output.dense.weight", [h, h]),
                    aob: try t(p + "attention.output.dense.bias", [h]),
                    ln1g: try t(p + "attention.output.LayerNorm.weight", [h]),
                    ln1b: try t(p + "attention.output.LayerNorm.bias", [h]),
                    i: try t(p + "intermediate.dense.weight", [i, h]), ib: try t(p + "intermediate.dense.bias", [i]),
                    o: try t(p + "output.dense.weight", [h, i]), ob: try t(p + "output.dense.bias", [h]),
                    ln2g: try t(p + "output.LayerNorm.weight", [h]), ln2b: try t(p + "output.LayerNorm.bias", [h])))
        }
        w = Weights(
            word: try t("embeddings.word_embeddings.weight", [config.vocabSize, h]),
            position: try t("embeddings.position_embeddings.weight", [config.maxPositions, h]),
            type: try t("embeddings.token_type_embeddings.weight", [config.typeVocabSize, h]),
            lng: try t("embeddings.LayerNorm.weight", [h]), lnb: try t("embeddings.LayerNorm.bias", [h]),
            layers: layers)
        self.config = config
        self.maxSeqLength = maxLen
        self.directory = dir
        self.weightsSHA256 = SourceRecord.files(in: dir)?["model.safetensors"]
    }

    // MARK: - public API

    /// `max_seq_length` from the folder's sentence_bert_config.json (256 when absent).
    public static func maxSeqLength(modelDirectory dir: URL) throws -> Int {
        let url = dir.appendingPathComponent("sentence_bert_config.json")
        guard let d = try? Data(contentsOf: url) else { return 256 }
        guard let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any], let m = o["max_seq_length"] as? Int,
            m >= 2
        else {
            throw RecError.failedPrecondition("\(url.path): no max_seq_length of at least 2")
        }
        return m
    }

    /// One encoder per model folder per process (the weights are mapped once; training,
    /// evaluation and serving share it). Loading errors are not cached.
    public static func shared(_ dir: URL) throws -> SentenceEncoder {
        let key = dir.standardizedFileURL.path
        if let e = cache.withLock({ $0[key] }) { return e }
        let e = try SentenceEncoder(modelDirectory: dir)
        return cache.withLock { c in
            if let existing = c[key] { return existing }
            c[key] = e
            return e
        }
    }

    private static let cache = Mutex<[String: SentenceEncoder]>([:])

    /// Token ids for `text`, truncated to `maxSeqLength`.
    public func tokenize(_ text: String) -> [Int32] { tokenizer.encode(text, maxLength: maxSeqLength) }

    /// One unit-length embedding per text, as the rows of a texts.count × dimension matrix.
    /// Texts are tokenised on all cores, sorted by length and encoded `batchSize` at a time.
    public func embed(_ texts: [String], batchSize: Int = 32) -> Matrix {
        let ids = Parallel.map(texts.count) { tokenize(texts[$0]) }
        return embed(tokenized: ids, batchSize: batchSize)
    }

    /// Like `embed(_:)`, but remembers every text's embedding for the life of the encoder, so
    /// training several engines (or several evaluation splits) on the same profiles encodes each
    /// distinct text once. The memo holds at most `memoLimit` texts (then it starts over).
    /// With a disk cache attached (`useDiskCache`), texts embedded by an earlier run are read
    /// from it rather than encoded again, and new ones are added to it.
    public func embedMemoised(_ texts: [String]) -> Matrix {
        memoised(texts, in: memo, limit: Self.memoLimit) { missing in
            guard let cache = diskCache.withLock({ $0 }) else { return embed(missing) }
            let h = config.hidden
            let cached = cache.lookup(missing)
            let absent = missing.indices.filter { cached[$0] == nil }
            let fresh = embed(absent.map { missing[$0] })
            if !absent.isEmpty {
                let rows = absent.indices.map { Array(fresh.data[$0 * h..<($0 + 1) * h]) }
                cache.store(absent.map { missing[$0] }, rows: rows)
            }
            var out = Matrix(rows: missing.count, cols: h)
            var next = 0
            for (r, v) in cached.enumerated() {
                if let v {
                    out.data.replaceSubrange(r * h..<(r + 1) * h, with: v)
                } else {
                    out.data.replaceSubrange(r * h..<(r + 1) * h, with: fresh.data[next * h..<(next + 1) * h])
                    next += 1
                }
            }
            return out
        }
    }

    /// Keeps `embedMemoised`'s embeddings in `cache` across runs too (nil: in memory only).
    public func useDiskCache(_ cache: EmbeddingCache?) { diskCache.withLock { $0 = cache } }

    private let diskCache = Mutex<EmbeddingCache?>(nil)

    public static let memoLimit = 200_000
    private let memo = Mutex<[String: [Float]]>([:])

    /// Request-time embeddings (preference sentences, inline profiles), remembered for the
    /// next `queryMemoLimit` distinct texts: a sentence sent to Retrieve and then to Rerank,
    /// or read by both the GAT and the local judge within one Rerank, is encoded once.
    public func embedQuery(_ texts: [String]) -> Matrix {
        memoised(texts, in: queryMemo, limit: Self.queryMemoLimit) { embed($0, batchSize: $0.count) }
    }

    public static let queryMemoLimit = 4096
    private let queryMemo = Mutex<[String: [Float]]>([:])

    /// Rows for `texts` from `memo`, encoding (with `encode`) each distinct text it lacks once
    /// and remembering it; the memo starts over when it would exceed `limit`.
    private func memoised(
        _ texts: [String], in memo: borrowing Mutex<[String: [Float]]>, limit: Int,
        encode: ([String]) -> Matrix
    ) -> Matrix {
        let h = config.hidden
        var out = Matrix(rows: texts.count, cols: h)
        var missing: [String] = []
        var seen = Set<String>()
        memo.withLock { m in
            for (r, t) in texts.enumerated() {
                if let v = m[t] {
                    out.data.replaceSubrange(r * h..<(r + 1) * h, with: v)
                } else if seen.insert(t).inserted {
                    missing.append(t)
                }
            }
        }
        guard !missing.isEmpty else { return out }
        let fresh = encode(missing)
        var byText: [String: ArraySlice<Float>] = [:]
        for (r, t) in missing.enumerated() { byText[t] = fresh.data[r * h..<(r + 1) * h] }
        for (r, t) in texts.enumerated() {
            if let v = byText[t] { out.data.replaceSubrange(r * h..<(r + 1) * h, with: v) }
        }
        memo.withLock { m in
            if m.count + missing.count > limit { m.removeAll() }
            for (t, v) in byText { m[t] = Array(v) }
        }
        return out
    }

    /// One embedding for one text.
    public func embed(_ text: String) -> [Float] { embed([text], batchSize: 1).data }

    /// Embeddings for already-tokenised sequences (each [CLS] … [SEP], ≤ maxSeqLength).
    public func embed(tokenized ids: [[Int32]], batchSize: Int = 32) -> Matrix {
        precondition(batchSize > 0, "batchSize must be positive")
        let h = config.hidden
        var out = Matrix(rows: ids.count, cols: h)
        let order = ids.indices.sorted { ids[$0].count != ids[$1].count ? ids[$0].count > ids[$1].count : $0 < $1 }
        // Batches: up to batchSize sequences and (beyond the first) at most maxBatchTokens tokens.
        var batches: [Range<Int>] = []
        var start = 0
        while start < order.count {
            var end = start, tokens = 0
            while end < order.count, end - start < batchSize,
                end == start || tokens + ids[order[end]].count <= Self.maxBatchTokens
            {
                tokens += ids[order[end]].count
                end += 1
            }
            batches.append(start..<end)
            start = end
        }
        // Several batches: one per core at a time, each product on one BLAS thread (no
        // thread hand-offs inside small products). One batch: BLAS uses every core itself.
        let concurrent =
            batches.count > 1 && Parallel.activeCores > 1
            && ProcessInfo.processInfo.environment["RECFUSE_ENCODER_SERIAL"] == nil
        let pooled: [[Float]]
        let ranges = batches
        if concurrent {
            pooled = BLAS.withThreads(1) {
                Parallel.map(batches.count, chunks: Parallel.activeCores, scratch: { () }) { _, b in
                    forward(ranges[b].map { ids[order[$0]] })
                }
            }
        } else {
            pooled = batches.map { forward($0.map { ids[order[$0]] }) }
        }
        for (b, range) in batches.enumerated() {
            for (j, row) in order[range].enumerated() {
                out.data.replaceSubrange(row * h..<(row + 1) * h, with: pooled[b][j * h..<(j + 1) * h])
            }
        }
        return out
    }

    /// Upper bound on the tokens packed into one forward pass (bounds activation memory:
    /// about 4 × 2,048 × (3·384 + 2·384 + 1,536) floats ≈ 28 MB for MiniLM).
    static let maxBatchTokens = 2048

    // MARK: - forward pass

    /// Pooled, normalised embeddings (count × hidden, row-major) for a packed batch.
    func forward(_ seqs: [[Int32]]) -> [Float] {
        let h = config.hidden, inter = config.intermediate, nh = config.heads, dh = config.headDim
        let eps = config.layerNormEps
        var starts = [0]
        for s in seqs { starts.append(starts.last! + s.count) }
        let offsets = starts
        let total = offsets.last!
        guard total > 0 else { return [] }

        let x = UnsafeMutablePointer<Float>.allocate(capacity: total * h)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: total * h)
        let ctx = UnsafeMutablePointer<Float>.allocate(capacity: total * h)
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: total * 3 * h)
        let mid = UnsafeMutablePointer<Float>.allocate(capacity: total * inter)
        defer {
            x.deallocate()
            a.deallocate()
            ctx.deallocate()
            qkv.deallocate()
            mid.deallocate()
        }
        nonisolated(unsafe) let (xs, as_, ctxs, qkvs, mids) = (x, a, ctx, qkv, mid)

        // Embeddings + LayerNorm.
        let word = w.word.pointer, pos = w.position.pointer, type0 = w.type.pointer
        for (s, seq) in seqs.enumerated() {
            for (p, id) in seq.enumerated() {
                let row = x + (offsets[s] + p) * h
                let we = word + Int(id) * h, pe = pos + p * h
                for c in 0..<h { row[c] = we[c] + pe[c] + type0[c] }
            }
        }
        Kernels.parallelRows(total, grain: 32) { r in
            Kernels.layerNorm(
                xs + r.lowerBound * h, rows: r.count, cols: h, gamma: self.w.lng.pointer, beta: self.w.lnb.pointer,
                eps: eps)
        }

        let maxLen = seqs.map(\.count).max()!
        let scale = 1 / Float(dh).squareRoot()
        let pairs = seqs.count * nh
        for L in w.layers {
            // Q, K, V side by side in one total × 3h buffer: bias rows, then x·Wᵀ on top.
            Kernels.parallelRows(total, grain: 32) { r in
                for t in r {
                    let row = qkvs + t * 3 * h
                    row.update(from: L.qb.pointer, count: h)
                    (row + h).update(from: L.kb.pointer, count: h)
                    (row + 2 * h).update(from: L.vb.pointer, count: h)
                }
            }
            for (j, wt) in [L.q, L.k, L.v].enumerated() {
                BLAS.sgemm(
                    .none, .transpose, m: total, n: h, k: h, a: x, lda: h, b: wt.pointer, ldb: h,
                    beta: 1, c: qkv + j * h, ldc: 3 * h)
            }
            // Attention per (sequence, head), all cores.
            let chunks = min(pairs, Parallel.activeCores * 2)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: maxLen * maxLen)
                defer { scores.deallocate() }
                var pair = chunk
                while pair < pairs {
                    let s = pair / nh, head = pair % nh
                    let n = offsets[s + 1] - offsets[s]
                    let base = qkvs + offsets[s] * 3 * h + head * dh
                    BLAS.sgemm(
                        .none, .transpose, m: n, n: n, k: dh, alpha: scale, a: base, lda: 3 * h,
                        b: base + h, ldb: 3 * h, c: scores, ldc: n)
                    Kernels.softmaxRows(scores, rows: n, cols: n, ld: n)
                    BLAS.sgemm(
                        .none, .none, m: n, n: dh, k: n, a: scores, lda: n, b: base + 2 * h, ldb: 3 * h,
                        c: ctxs + offsets[s] * h + head * dh, ldc: h)
                    pair += chunks
                }
            }
            // a = LN(x + ctx·Woᵀ + bo)
            Kernels.parallelRows(total, grain: 32) { r in
                (as_ + r.lowerBound * h).update(from: xs + r.lowerBound * h, count: r.count * h)
                Kernels.addBias(as_ + r.lowerBound * h, rows: r.count, cols: h, ld: h, bias: L.aob.pointer)
            }
            BLAS.sgemm(
                .none, .transpose, m: total, n: h, k: h, a: ctx, lda: h, b: L.ao.pointer, ldb: h, beta: 1, c: a, ldc: h)
            Kernels.parallelRows(total, grain: 32) { r in
                Kernels.layerNorm(
                    as_ + r.lowerBound * h, rows: r.count, cols: h, gamma: L.ln1g.pointer, beta: L.ln1b.pointer,
                    eps: eps)
            }
            // mid = GELU(a·Wᵢᵀ + bᵢ)
            Kernels.parallelRows(total, grain: 32) { r in
                for t in r { (mids + t * inter).update(from: L.ib.pointer, count: inter) }
            }
            BLAS.sgemm(
                .none, .transpose, m: total, n: inter, k: h, a: a, lda: h, b: L.i.pointer, ldb: h, beta: 1, c: mid,
                ldc: inter)
            Kernels.parallelRows(total, grain: 32) { r in
                Kernels.gelu(mids + r.lowerBound * inter, count: r.count * inter)
            }
            // x = LN(a + mid·W₂ᵀ + b₂)
            Kernels.parallelRows(total, grain: 32) { r in
                (xs + r.lowerBound * h).update(from: as_ + r.lowerBound * h, count: r.count * h)
                Kernels.addBias(xs + r.lowerBound * h, rows: r.count, cols: h, ld: h, bias: L.ob.pointer)
            }
            BLAS.sgemm(
                .none, .transpose, m: total, n: h, k: inter, a: mid, lda: inter, b: L.o.pointer, ldb: inter, beta: 1,
                c: x, ldc: h)
            Kernels.parallelRows(total, grain: 32) { r in
                Kernels.layerNorm(
                    xs + r.lowerBound * h, rows: r.count, cols: h, gamma: L.ln2g.pointer, beta: L.ln2b.pointer, eps: eps
                )
            }
        }

        // Mean pooling over each sequence's tokens, then L2 normalisation.
        var pooled = [Float](repeating: 0, count: seqs.count * h)
        for s in 0..<seqs.count {
            var acc = [Double](repeating: 0, count: h)
            for t in offsets[s]..<offsets[s + 1] {
                let row = x + t * h
                for c in 0..<h { acc[c] += Double(row[c]) }
            }
            let n = Double(offsets[s + 1] - offsets[s])
            var norm = 0.0
            for c in 0..<h {
                acc[c] /= n
                norm += acc[c] * acc[c]
            }
            let inv = 1 / max(norm.squareRoot(), 1e-12)  // sentence-transformers' Normalize: eps 1e-12
            for c in 0..<h { pooled[s * h + c] = Float(acc[c] * inv) }
        }
        return pooled
    }
}
