import RecCore
import Testing

@Suite struct RecErrorTests {
    struct Underlying: Error, Equatable { let n: Int }

    @Test func wrappingKeepsTheCauseAndTheCodeOfARecError() throws {
        let plain = RecError.wrapping(Underlying(n: 3), "loading x: ", code: .dataLoss)
        #expect(plain.code == .dataLoss && plain.message == "loading x: Underlying(n: 3)")
        #expect(plain.cause as? Underlying == Underlying(n: 3))
        #expect(RecError.wrapping(Underlying(n: 1)).code == .internal)
        let inner = RecError(.notFound, "no such file", cause: Underlying(n: 7))
        let outer = RecError.wrapping(inner, "reload failed: ", code: .internal)
        #expect(outer.code == .notFound && outer.message == "reload failed: no such file")
        #expect(outer.cause as? Underlying == Underlying(n: 7))
        #expect(RecError.wrapping(inner) == inner)
        // Equality is code and message: the cause is context, not identity.
        #expect(RecError(.notFound, "no such file") == inner)
    }
}
