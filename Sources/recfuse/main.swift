import ArgumentParser
import Foundation
import Logging
import RecCore
import RecEngineKit
import RecEngines
import RecServer
import RecText
import RecWire

/// `recfuse`: the command line. No logic lives here: each subcommand parses its flags and
/// calls the libraries.
struct Recfuse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recfuse",
        abstract: "A recommendation scoring server: protobuf over NNG, GAT / SVD++ / LLM-fusion engines.",
        version: Service.version,
        subcommands: [
            Data_.self, Models.self, Profiles_.self, Embed.self, Tokenize.self, Engines.self, Train.self, Eval.self,
            Serve.self, Retrain.self,
            Bench.self, Echo.self,
        ])
}

struct GlobalOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"
    @Option(
        help: """
            Log format: text (one readable line per event) or json (one JSON object per line: time, level, \
            message, and the event's fields, e.g. a request's method, status, micros, request_id, trace_id).
            """)
    var logFormat: String = "text"

    func bootstrap() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json {
                var h = JSONLogHandler(label: label)
                h.logLevel = level
                return h
            }
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let log = Logger(label: "recfuse")
        if logFormat != "text" && !json { log.warning("--log-format '\(logFormat)' is not text or json; using text") }
        return log
    }
}

/// What trainers use besides their parameters, shared by `train` and `eval`; the engines'
/// own parameters are the `--<kind>-<parameter>` flags the registry derives from each kind.
struct FitOptions: ParsableArguments {
    @Option(help: "Folder holding sentence-encoder models (recfuse models fetch), for the text and GAT engines.")
    var modelsDir: String = "models"
    @Option(help: "JSON lines from `recfuse profiles --llm` laid over the template profiles (text and GAT engines).")
    var profiles: String?
    @Option(
        help: ArgumentHelp(
            "Folder keeping profile embeddings between runs, so retraining on the same profiles skips the "
                + "encoder; 'off' for none.",
            discussion: "Default: $RECFUSE_CACHE_DIR, else $XDG_CACHE_HOME/recfuse, else ~/.cache/recfuse."))
    var embeddingCache: String?
    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp("Engine parameters, --<kind>-<parameter> VALUE.", discussion: Registry.flagHelp))
    var engineFlags: [String] = []

    func context(log: Logger, progress: TerminalProgress? = nil) throws -> FitContext {
        let overrides = try profiles.map { try ProfileOverrides.load(URL(fileURLWithPath: $0)) }
        return FitContext(
            modelsDir: URL(fileURLWithPath: modelsDir), profiles: overrides,
            embeddingCache: embeddingCache == "off"
                ? nil : embeddingCache.map { URL(fileURLWithPath: $0) } ?? EmbeddingCache.defaultDirectory,
            progress: { progress?.report($0) }, log: { log.info("\($0)") })
    }

    /// The engine kinds `--engine` names ("all" = every kind) and their flags' values.
    func plan(_ engines: [String]) throws -> (kinds: [String], params: [String: [String: String]]) {
        (engines.contains("all") ? Registry.names : engines, try Registry.parseFlags(engineFlags))
    }

    /// `kinds` for `data`: with 'all' on implicit feedback, the kinds that need ratings are
    /// left out (said in the log); named, they refuse when fitted.
    func kinds(_ kinds: [String], engines: [String], for data: Dataset, log: Logger) throws -> [String] {
        guard engines.contains("all"), !data.hasRatings else { return kinds }
        let drop = try kinds.filter { try Registry.kind($0).needsRatings }
        if !drop.isEmpty {
            let list = drop.joined(separator: ", ")
            log.notice("\(data.name) has implicit feedback (no ratings): leaving out \(list), which predict ratings")
        }
        return kinds.filter { !drop.contains($0) }
    }
}

/// Training progress for people: one line per trainer, rewritten in place with epoch (and,
/// within an epoch, step and steps/s), loss and ETA when stderr is a terminal; silent
/// otherwise (CI logs keep only the summary lines).
final class TerminalProgress {
    private let enabled = isatty(STDERR_FILENO) == 1
    private var started: [String: ContinuousClock.Instant] = [:]

    func report(_ p: TrainingProgress) {
        guard enabled else { return }
        var line: String
        if let step = p.step, let steps = p.steps, let rate = p.stepsPerSecond, rate > 0 {
            let left = Double(steps - step) / rate
            line = String(
                format: "\r%@: epoch %d/%d  step %d/%d  %.1f steps/s  %@ %.4f  epoch ETA %.0f s   ", p.engine,
                p.epoch, p.epochs, step, steps, rate, p.lossName, p.loss, left)
        } else {
            // The clock starts at the first epoch's end, so the rate comes from the epochs after it.
            if p.epoch == 1 { started[p.engine] = ContinuousClock.now }
            var eta = "…"
            if let t0 = started[p.engine], p.epoch > 1 {
                let perEpoch = (ContinuousClock.now - t0).seconds / Double(p.epoch - 1)
                eta = String(format: "%.1f s", perEpoch * Double(p.epochs - p.epoch))
            }
            line = String(format: "\r%@: epoch %d/%d  %@ %.4f", p.engine, p.epoch, p.epochs, p.lossName, p.loss)
            if let v = p.validation { line += String(format: "  %@ %.4f", v.name, v.value) }
            line += (p.validation == nil ? "  ETA " : "  ETA ≤ ") + eta + "                         "
        }
        FileHandle.standardError.write(Data(line.utf8))
        if p.final { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

func fail(_ e: Error) -> Never {
    FileHandle.standardError.write(Data("error: \(e)\n".utf8))
    Foundation.exit(1)
}

// A file-size limit (ulimit -f) then makes a write fail with EFBIG, reported with the file's
// name, instead of SIGXFSZ killing the process mid-write.
signal(SIGXFSZ, SIG_IGN)
Recfuse.main()
