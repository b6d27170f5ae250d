/// SplitMix64 (Steele, Lea & Flood 2014): a small, fast, well-mixed PRNG whose stream is fixed
/// by its seed on every platform. Every seeded choice in recfuse (splits, sampling,
/// initialisation) draws from one of these, so results are reproducible bit for bit.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box–Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextDouble(), .leastNonzeroMagnitude), u2 = nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// Fisher–Yates with this generator: unlike the standard library's `shuffle(using:)`,
    /// whose use of the generator is an implementation detail, this order is fixed forever.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, Int(next() % UInt64(i + 1)))
        }
    }
}

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif
