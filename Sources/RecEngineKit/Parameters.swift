import RecCore

/// One hyper-parameter of an engine kind: its manifest key, type, default and help. The
/// command line's `--<kind>-<name>` flags, `recfuse engines` and the bundle manifest's params
/// are all derived from these tables, and every value is read by `EngineParams`, one reader
/// that rejects what it cannot parse.
public struct ParamSpec: Sendable {
    public enum ValueType: Sendable, Equatable {
        case int(ClosedRange<Int>)
        case double(ClosedRange<Double>)
        case bool
        case choice([String])
        /// Comma-separated integers in the range ("4,4,1").
        case ints(ClosedRange<Int>)
        case string
        /// Written by `fit` (a model's checksum, a validation score): in the manifest, never a flag.
        case recorded
    }

    /// Snake-case manifest key; the flag is `--<kind>-<name with dashes>`.
    public let name: String
    public let type: ValueType
    public let defaultValue: String
    public let help: String

    public init(_ name: String, _ type: ValueType, default defaultValue: String, help: String) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.help = help
    }

    public static func int(
        _ name: String, _ value: Int, in range: ClosedRange<Int> = 0...Int.max, _ help: String
    ) -> ParamSpec {
        ParamSpec(name, .int(range), default: String(value), help: help)
    }

    public static func double(
        _ name: String, _ value: Double,
        in range: ClosedRange<Double> = -.greatestFiniteMagnitude...(.greatestFiniteMagnitude),
        _ help: String
    ) -> ParamSpec {
        ParamSpec(name, .double(range), default: String(value), help: help)
    }

    public static func float(
        _ name: String, _ value: Float,
        in range: ClosedRange<Double> = -.greatestFiniteMagnitude...(.greatestFiniteMagnitude),
        _ help: String
    ) -> ParamSpec {
        ParamSpec(name, .double(range), default: String(value), help: help)
    }

    public static func bool(_ name: String, _ value: Bool, _ help: String) -> ParamSpec {
        ParamSpec(name, .bool, default: String(value), help: help)
    }

    public static func choice(_ name: String, _ value: String, _ options: [String], _ help: String) -> ParamSpec {
        ParamSpec(name, .choice(options), default: value, help: help)
    }

    public static func recorded(_ name: String, _ help: String) -> ParamSpec {
        ParamSpec(name, .recorded, default: "", help: help)
    }

    /// `recfuse train --<kind>-<flag>`.
    public func flag(kind: String) -> String { "--\(kind)-\(name.replacingOccurrences(of: "_", with: "-"))" }

    /// What the help and `recfuse engines` print as the type.
    public var typeName: String {
        switch type {
        case .int(let r): r.upperBound == .max ? "int >= \(r.lowerBound)" : "int in \(r.lowerBound)...\(r.upperBound)"
        case .double(let r):
            r.lowerBound == -.greatestFiniteMagnitude
                ? "number"
                : r.upperBound == .greatestFiniteMagnitude
                    ? "number >= \(r.lowerBound)" : "number in \(r.lowerBound)...\(r.upperBound)"
        case .bool: "true | false"
        case .choice(let xs): xs.joined(separator: " | ")
        case .ints(let r): "comma-separated ints >= \(r.lowerBound)"
        case .string: "text"
        case .recorded: "recorded by training"
        }
    }

    /// A valid `raw` written the one way the manifest records it ("300" and "3e2" are "300.0").
    func canonical(_ raw: String) -> String {
        switch type {
        case .int: Int(raw).map(String.init) ?? raw
        case .double: Double(raw).map { String($0) } ?? raw
        case .bool: Bool(raw).map(String.init) ?? raw
        case .ints:
            raw.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map(String.init)
                .joined(separator: ",")
        case .choice, .string, .recorded: raw
        }
    }

    /// `raw` checked against the type: nil when it is a valid value, else why not.
    func problem(_ raw: String) -> String? {
        switch type {
        case .int(let r):
            guard let v = Int(raw) else { return "'\(raw)' is not an integer" }
            return r.contains(v) ? nil : "\(v) is not \(typeName.replacingOccurrences(of: "int ", with: ""))"
        case .double(let r):
            guard let v = Double(raw), v.isFinite else { return "'\(raw)' is not a finite number" }
            return r.contains(v) ? nil : "\(raw) is not \(typeName.replacingOccurrences(of: "number ", with: ""))"
        case .bool: return Bool(raw) == nil ? "'\(raw)' is not true or false" : nil
        case .choice(let xs): return xs.contains(raw) ? nil : "'\(raw)' is not one of \(xs.joined(separator: ", "))"
        case .ints(let r):
            let parts = raw.split(separator: ",", omittingEmptySubsequences: false).map {
                Int($0.trimmingCharacters(in: .whitespaces))
            }
            guard !parts.isEmpty, parts.allSatisfy({ $0.map(r.contains) ?? false }) else {
                return "'\(raw)' is not a list of integers >= \(r.lowerBound)"
            }
            return nil
        case .string, .recorded: return nil
        }
    }
}

/// The hyper-parameters of one engine, every declared one present (given or default) and
/// valid for its type. Built once, before any work, from command-line values (`given`) or a
/// bundle manifest's params; a key the kind does not declare, or a value that does not
/// parse, is an error naming the kind, key and value. Accessors throw only for a name the
/// kind's table does not declare (a programming error the conformance tests catch).
public struct EngineParams: Sendable, Equatable {
    public let kind: String
    /// Every declared key's value as text, recorded ones only when set.
    public private(set) var values: [String: String]
    private let types: [String: ParamSpec.ValueType]

    /// - Parameters:
    ///   - specs: the kind's table.
    ///   - given: values to use instead of the defaults.
    ///   - source: what `given` came from, for messages ("--gat-* flags", "bundle manifest").
    ///   - code: the error code for a bad value (INVALID_ARGUMENT from a caller, DATA_LOSS from a bundle).
    public init(
        kind: String, specs: [ParamSpec], given: [String: String] = [:], source: String = "parameters",
        code: StatusCode = .invalidArgument
    ) throws {
        self.kind = kind
        var values: [String: String] = [:], types: [String: ParamSpec.ValueType] = [:]
        for s in specs {
            types[s.name] = s.type
            if s.type != .recorded { values[s.name] = s.defaultValue }
        }
        for (key, raw) in given.sorted(by: { $0.key < $1.key }) {
            guard let spec = specs.first(where: { $0.name == key }) else {
                let known = specs.map(\.name).joined(separator: ", ")
                throw RecError(code, "\(source): \(kind) has no parameter '\(key)' (it has: \(known))")
            }
            if let why = spec.problem(raw) { throw RecError(code, "\(source): \(kind) \(key): \(why)") }
            values[key] = spec.canonical(raw)
        }
        self.values = values
        self.types = types
    }

    /// The same parameters with `key` set (by a trainer, for `.recorded` keys).
    public func recording(_ key: String, _ value: String) throws -> EngineParams {
        guard types[key] != nil else { throw RecError.internal("\(kind) declares no parameter '\(key)'") }
        var copy = self
        copy.values[key] = value
        return copy
    }

    private func raw(_ name: String) throws -> String {
        guard types[name] != nil else { throw RecError.internal("\(kind) declares no parameter '\(name)'") }
        return values[name] ?? ""
    }

    public func int(_ name: String) throws -> Int {
        let r = try raw(name)
        guard let v = Int(r) else { throw RecError.internal("\(kind) \(name) = '\(r)' read as an integer") }
        return v
    }

    public func double(_ name: String) throws -> Double {
        let r = try raw(name)
        guard let v = Double(r) else { throw RecError.internal("\(kind) \(name) = '\(r)' read as a number") }
        return v
    }

    public func float(_ name: String) throws -> Float { Float(try double(name)) }

    public func bool(_ name: String) throws -> Bool {
        let r = try raw(name)
        guard let v = Bool(r) else { throw RecError.internal("\(kind) \(name) = '\(r)' read as true/false") }
        return v
    }

    public func ints(_ name: String) throws -> [Int] {
        try raw(name).split(separator: ",").map { part in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw RecError.internal("\(kind) \(name) read as a list of integers")
            }
            return v
        }
    }

    /// A string, choice or recorded value ("" for a recorded key never set).
    public func string(_ name: String) throws -> String { try raw(name) }

    /// A choice as the enum it names.
    public func choice<E: RawRepresentable>(_ name: String, as: E.Type = E.self) throws -> E
    where E.RawValue == String {
        let r = try raw(name)
        guard let v = E(rawValue: r) else { throw RecError.internal("\(kind) \(name) = '\(r)' is no \(E.self)") }
        return v
    }
}

/// A typed configuration struct's parameters, each bound to a key path: one list gives the
/// kind's `ParamSpec`s (defaults taken from a default configuration), reads `EngineParams`
/// into the struct and writes the struct back as text. So a key, its type and its default
/// are written once.
public struct ParamFields<Config>: Sendable {
    public struct Field: Sendable {
        let name: String
        let help: String
        let type: ParamSpec.ValueType
        let get: @Sendable (Config) -> String
        let set: @Sendable (inout Config, EngineParams) throws -> Void
    }

    public let fields: [Field]
    public init(_ fields: [Field]) { self.fields = fields }

    /// The specs, with `defaults`' values as the defaults.
    public func specs(defaults: Config) -> [ParamSpec] {
        fields.map { ParamSpec($0.name, $0.type, default: $0.get(defaults), help: $0.help) }
    }

    /// `params` read into a copy of `base`.
    public func read(_ params: EngineParams, over base: Config) throws -> Config {
        var c = base
        for f in fields { try f.set(&c, params) }
        return c
    }

    /// Every field of `c` as text, by key.
    public func strings(_ c: Config) -> [String: String] {
        Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.get(c)) })
    }
}

extension ParamFields.Field {
    public static func int(
        _ name: String, _ kp: WritableKeyPath<Config, Int> & Sendable, in range: ClosedRange<Int> = 0...Int.max,
        _ help: String
    ) -> Self {
        Self(
            name: name, help: help, type: .int(range), get: { String($0[keyPath: kp]) },
            set: { $0[keyPath: kp] = try $1.int(name) })
    }

    public static func uint64(_ name: String, _ kp: WritableKeyPath<Config, UInt64> & Sendable, _ help: String) -> Self
    {
        Self(
            name: name, help: help, type: .int(0...Int.max), get: { String($0[keyPath: kp]) },
            set: { $0[keyPath: kp] = UInt64(try $1.int(name)) })
    }

    public static func float(
        _ name: String, _ kp: WritableKeyPath<Config, Float> & Sendable,
        in range: ClosedRange<Double> = -.greatestFiniteMagnitude...(.greatestFiniteMagnitude), _ help: String
    ) -> Self {
        Self(
            name: name, help: help, type: .double(range), get: { String($0[keyPath: kp]) },
            set: { $0[keyPath: kp] = try $1.float(name) })
    }

    public static func double(
        _ name: String, _ kp: WritableKeyPath<Config, Double> & Sendable,
        in range: ClosedRange<Double> = -.greatestFiniteMagnitude...(.greatestFiniteMagnitude), _ help: String
    ) -> Self {
        Self(
            name: name, help: help, type: .double(range), get: { String($0[keyPath: kp]) },
            set: { $0[keyPath: kp] = try $1.double(name) })
    }

    public static func bool(_ name: String, _ kp: WritableKeyPath<Config, Bool> & Sendable, _ help: String) -> Self {
        Self(
            name: name, help: help, type: .bool, get: { String($0[keyPath: kp]) },
            set: { $0[keyPath: kp] = try $1.bool(name) })
    }

    public static func ints(
        _ name: String, _ kp: WritableKeyPath<Config, [Int]> & Sendable, in range: ClosedRange<Int> = 0...Int.max,
        _ help: String
    ) -> Self {
        Self(
            name: name, help: help, type: .ints(range),
            get: { $0[keyPath: kp].map(String.init).joined(separator: ",") },
            set: { $0[keyPath: kp] = try $1.ints(name) })
    }

    public static func choice<E: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ kp: WritableKeyPath<Config, E> & Sendable,
        _ help: String
    ) -> Self where E.RawValue == String {
        Self(
            name: name, help: help, type: .choice(E.allCases.map(\.rawValue)), get: { $0[keyPath: kp].rawValue },
            set: { $0[keyPath: kp] = try $1.choice(name) })
    }
}
