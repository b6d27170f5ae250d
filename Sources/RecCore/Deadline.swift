/// A point in monotonic time after which a request's work is pointless.
///
/// Checked by the server before dispatch and by the pipeline before each expensive
/// step; an expired deadline raises `DEADLINE_EXCEEDED` without doing the work.
public struct Deadline: Sendable {
    public let instant: ContinuousClock.Instant?

    public static let none = Deadline(instant: nil)

    public init(instant: ContinuousClock.Instant?) { self.instant = instant }

    /// A deadline `duration` from now.
    public static func after(_ duration: Duration) -> Deadline {
        Deadline(instant: ContinuousClock.now.advanced(by: duration))
    }

    /// The earlier of two deadlines.
    public func earliest(_ other: Deadline) -> Deadline {
        switch (instant, other.instant) {
        case (nil, _): other
        case (_, nil): self
        case let (a?, b?): Deadline(instant: min(a, b))
        }
    }

    public var isExpired: Bool {
        guard let instant else { return false }
        return ContinuousClock.now >= instant
    }

    /// Throws DEADLINE_EXCEEDED if expired; `stage` says where.
    public func check(_ stage: String) throws {
        if isExpired { throw RecError.deadlineExceeded("deadline exceeded before \(stage)") }
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
