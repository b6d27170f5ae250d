import RecBaselines
import RecCore
import RecEASE
import RecEngineKit
import RecGAT
import RecRP3beta
import RecSVD
import RecTextEngine

/// Every engine kind this build can train and serve, in the order bundles and `Info` list
/// them. Adding a kind is one line here (docs/engines.md has the whole checklist).
public enum Registry {
    public static let kinds: [any EngineKind.Type] = [
        PopularityKind.self,
        GenrePopularityKind.self,
        CooccurrenceKind.self,
        EASEKind.self,
        SVDKind.self,
        SVDPPKind.self,
        TextKind.self,
        GATKind.self,
        RP3betaKind.self,
    ]

    /// The kind every bundle carries as its fallback (it scores anyone).
    public static let fallback = PopularityKind.name

    public static var names: [String] { kinds.map { $0.name } }

    public static func kind(_ name: String) throws -> any EngineKind.Type {
        guard let k = kinds.first(where: { $0.name == name }) else {
            throw RecError.invalidArgument("unknown engine kind '\(name)'; known: \(names.joined(separator: ", "))")
        }
        return k
    }

    /// Kinds whose default parameters need the sentence encoder.
    public static var encoderKinds: [String] {
        kinds.filter { k in (try? k.needsEncoder(k.params())) ?? false }.map { $0.name }
    }

    // MARK: - command-line flags

    /// Reads `--<kind>-<param> VALUE` and `--<kind>-<param>=VALUE` arguments (the command
    /// line's engine flags) into per-kind parameter values, checked against each kind's table.
    public static func parseFlags(_ args: [String]) throws -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var i = 0
        while i < args.count {
            let arg = args[i]
            guard arg.hasPrefix("--"), arg.count > 2 else {
                throw RecError.invalidArgument("unexpected argument '\(arg)'")
            }
            var flag = String(arg.dropFirst(2)), value: String?
            if let eq = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            // The longest kind name the flag starts with ("genre-popularity-..." over "popularity-...").
            guard let kind = kinds.filter({ flag.hasPrefix($0.name + "-") }).max(by: { $0.name.count < $1.name.count })
            else {
                throw RecError.invalidArgument(
                    "unknown option '\(arg)' (engine flags are --<kind>-<parameter>; `recfuse engines` lists them)")
            }
            let param = flag.dropFirst(kind.name.count + 1).replacingOccurrences(of: "-", with: "_")
            guard let spec = kind.parameters.first(where: { $0.name == param }), spec.type != .recorded else {
                let known = kind.parameters.filter { $0.type != .recorded }.map { $0.flag(kind: kind.name) }
                throw RecError.invalidArgument(
                    "unknown option '\(arg)'; \(kind.name) takes \(known.joined(separator: ", "))")
            }
            if value == nil {
                guard i + 1 < args.count else {
                    throw RecError.invalidArgument("\(arg) needs a value (\(spec.typeName))")
                }
                i += 1
                value = args[i]
            }
            out[kind.name, default: [:]][param] = value
            i += 1
        }
        for (k, given) in out { _ = try kind(k).params(given, source: "--\(k)-* flags") }
        return out
    }

    /// Every kind's flags, for `--help`.
    public static var flagHelp: String {
        var lines = ["Engine parameters (--<kind>-<parameter> VALUE; `recfuse engines` describes each):"]
        for k in kinds {
            let flags = k.parameters.filter { $0.type != .recorded }.map {
                "\($0.flag(kind: k.name)) (\($0.defaultValue))"
            }
            lines.append("  \(k.name): " + (flags.isEmpty ? "none" : flags.joined(separator: ", ")))
        }
        return lines.joined(separator: "\n")
    }
}
