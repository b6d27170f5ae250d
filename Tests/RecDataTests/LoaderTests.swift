import Foundation
import RecCore
import Testing

@testable import RecData

func fixture(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
}

@Suite struct LoaderTests {
    /// The four fixtures hold the same ratings in four layouts.
    @Test(arguments: [("recbole", MovieLens.Layout.recbole), ("ml100k", .ml100k), ("ml1m", .ml1m), ("latest", .latest)])
    func everyLayoutLoadsTheSameData(dir: String, layout: MovieLens.Layout) throws {
        #expect(MovieLens.detectLayout(fixture(dir)) == layout)
        let d = try MovieLens.load(fixture(dir))
        #expect(d.name == dir)
        #expect(d.items.ids == ["10", "20", "30", "40"])
        #expect(d.users.ids == ["1", "2"])
        #expect(d.interactions.count == 4)
        #expect(d.interactions[0] == Interaction(user: 0, item: 0, rating: 5, timestamp: 100))
        #expect(d.itemMeta[0].title == "Toy Story" && d.itemMeta[0].year == 1995)
        #expect(d.itemMeta[0].genres == ["Animation", "Children's", "Comedy"])
        #expect(d.itemMeta[1].genres == ["Action", "Crime"])
        #expect(d.itemMeta[3].year == nil)
        #expect(Checksum.fingerprint(d) == Checksum.fingerprint(try MovieLens.load(fixture("recbole"))))
        if layout != .latest {  // ml-latest has no user file
            #expect(d.userMeta[0].gender == "M")
            #expect(d.userMeta[1].gender == "F")
            #expect(d.userMeta[0].occupation?.hasPrefix("technician") == true)
        }
    }

    @Test(arguments: [
        ("malformed-100k", "u.data:2: rating 'five' is not a number"),
        ("malformed-1m", "ratings.dat:2: expected 4 fields separated by '::', found 3"),
        ("malformed-latest", "ratings.csv:3: unterminated quote"),
        ("malformed-recbole", "bad.inter:3: expected 4 fields"),
    ])
    func malformedRowsNameFileAndLine(dir: String, message: String) {
        #expect {
            _ = try MovieLens.load(fixture(dir))
        } throws: { e in
            guard let e = e as? RecError else { return false }
            return e.code == .dataLoss && e.message.contains(message)
        }
    }

    @Test func emptyFolderIsNotFound() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-empty-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect { _ = try MovieLens.load(dir) } throws: { ($0 as? RecError)?.code == .notFound }
    }

    @Test func csvAndTitleParsing() {
        #expect(
            splitCSV("1,\"American President, The (1995)\",Comedy|Drama") == [
                "1", "American President, The (1995)", "Comedy|Drama",
            ])
        #expect(splitCSV("a,\"say \"\"hi\"\"\",c") == ["a", "say \"hi\"", "c"])
        #expect(splitCSV("a,\"open") == nil)
        #expect(splitTitleYear("Toy Story (1995)") == ("Toy Story", 1995))
        #expect(splitTitleYear("Babe (1995) ") == ("Babe", 1995))
        #expect(splitTitleYear("unknown") == ("unknown", nil))
        #expect(splitTitleYear("Big (Small) Movie") == ("Big (Small) Movie", nil))
        #expect(splitTitleYear("Fawlty Towers (1975-1979)") == ("Fawlty Towers", 1975))
    }

    @Test func latin1FilesDecode() throws {
        let dir = try FileManager.default.url(
            for: .itemReplacementDirectory, in: .userDomainMask,
            appropriateFor: FileManager.default.temporaryDirectory, create: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("1\t7\t4\t10\n".utf8).write(to: dir.appendingPathComponent("u.data"))
        var item = Data("7|Nénette et Boni (1996)|01-Jan-1996||x|".utf8.map { $0 })
        item =
            Data("7|N".utf8) + Data([0xE9])
            + Data("nette et Boni (1996)|01-Jan-1996||x|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n".utf8)
        try item.write(to: dir.appendingPathComponent("u.item"))
        let d = try MovieLens.load(dir)
        #expect(d.itemMeta[0].title == "Nénette et Boni")
        #expect(d.itemMeta[0].genres == ["Drama"])
    }
}
