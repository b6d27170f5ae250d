import Foundation
import RecCore
import Testing

@testable import RecData

/// `recfuse data import`: a user's own files in, the canonical layout out, read back by the
/// loader every command uses.
@Suite struct ImportTests {
    final class Dir {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rf-import-\(UUID())")
        init() { try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }

        func file(_ name: String, _ text: String) -> URL {
            let f = url.appendingPathComponent(name)
            try? Data(text.utf8).write(to: f)
            return f
        }
        func bytes(_ name: String, _ b: [UInt8]) -> URL {
            let f = url.appendingPathComponent(name)
            try? Data(b).write(to: f)
            return f
        }
        var out: URL { url.appendingPathComponent("out") }
    }

    func refusal(
        _ job: DatasetImport, _ out: URL, _ contains: String..., sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try job.run(into: out)
            Issue.record("import succeeded; expected an error containing \(contains)", sourceLocation: sourceLocation)
        } catch let e as RecError {
            #expect(e.code == .invalidArgument, sourceLocation: sourceLocation)
            for c in contains { #expect(e.message.contains(c), "\(e.message)", sourceLocation: sourceLocation) }
        } catch { Issue.record("\(error)", sourceLocation: sourceLocation) }
    }

    @Test func aShopCSVWithNamedColumnsAndISOTimesLoadsWithItsSchema() throws {
        let d = Dir()
        let inter = d.file(
            "purchases.csv",
            """
            customer,sku,stars,purchased_at
            u001,sku-25,5,2024-01-02T00:00:00Z
            u001,sku-3,,2024-01-02T01:00:00+01:00
            u002,sku-25,2,2024-01-03
            u002,"sku-9",4,2024-01-03 12:30:00.250Z

            """)
        let items = d.file(
            "products.csv",
            """
            sku,name,brand,blurb,cats
            sku-25,Cast Iron Skillet,Acme,"Heavy, pre-seasoned
            and oven safe",Kitchen|Outdoor
            sku-3,Trowel,Northwind,,Garden
            sku-7,Unsold Lamp,Acme,Warm light,Office

            """)
        let users = d.file("customers.jsonl", #"{"customer":"u001","tier":"gold","visits":3}"# + "\n")
        var job = DatasetImport(interactions: .init(inter), name: "shop")
        job.userColumn = "customer"
        job.itemColumn = "sku"
        job.ratingColumn = "stars"
        job.timeColumn = "purchased_at"
        job.items = .init(items)
        job.titleColumn = "name"
        job.categoryColumn = "cats"
        job.users = .init(users)
        job.domain = "product"
        let s = try job.run(into: d.out)
        #expect(s.interactions == 4 && s.users == 2 && s.items == 4 && s.feedback == .explicit)
        #expect(s.itemsWithMetadata == 3 && s.usersWithMetadata == 1)

        let ds = try MovieLens.load(d.out)
        #expect(ds.name == "shop")
        #expect(ds.schema.domain == "product" && ds.schema.domainPlural == "products" && !ds.schema.isImplicit)
        let u1 = ds.users.index(of: "u001")!, skillet = ds.items.index(of: "sku-25")!
        let trowel = ds.items.index(of: "sku-3")!, lamp = ds.items.index(of: "sku-7")!
        let byPair = Dictionary(
            uniqueKeysWithValues: ds.interactions.map { ("\(ds.users[$0.user]) \(ds.items[$0.item])", $0) })
        #expect(byPair["u001 sku-25"]?.timestamp == 1_704_153_600)
        #expect(byPair["u001 sku-3"]?.timestamp == 1_704_153_600)  // 01:00+01:00 is midnight UTC
        #expect(byPair["u001 sku-3"]?.rating == 0)  // no stars: unrated
        #expect(byPair["u002 sku-25"]?.rating == 2 && byPair["u002 sku-25"]?.timestamp == 1_704_240_000)
        #expect(byPair["u002 sku-9"]?.timestamp == 1_704_285_000)
        #expect(ds.itemMeta[Int(skillet)].title == "Cast Iron Skillet")
        #expect(ds.itemMeta[Int(skillet)].genres == ["Kitchen", "Outdoor"])
        #expect(
            ds.itemMeta[Int(skillet)].fields
                == [TextField("brand", "Acme"), TextField("blurb", "Heavy, pre-seasoned and oven safe")])
        #expect(ds.itemMeta[Int(trowel)].fields == [TextField("brand", "Northwind")])
        #expect(ds.itemMeta[Int(lamp)].title == "Unsold Lamp")  // in the catalogue, never bought
        #expect(ds.userMeta[Int(u1)].attributes == [TextField("tier", "gold"), TextField("visits", "3")])
        #expect(ds.userMeta[Int(ds.users.index(of: "u002")!)].attributes.isEmpty)
    }

    @Test func noRatingColumnIsImplicitFeedbackAndEpochMillisAreSeconds() throws {
        let d = Dir()
        let inter = d.file(
            "plays.tsv", "listener\tsong\tts\nl1\ts1\t1700000000123\nl1\ts2\t1700000001000\nl2\ts1\t1700000000\n")
        var job = DatasetImport(interactions: .init(inter), name: "music")
        job.userColumn = "listener"
        job.itemColumn = "song"
        job.timeColumn = "ts"
        job.domain = "song"
        let s = try job.run(into: d.out)
        #expect(s.feedback == .implicit)
        let ds = try MovieLens.load(d.out)
        #expect(ds.schema.isImplicit && ds.schema.domain == "song")
        #expect(ds.interactions.allSatisfy { $0.rating == 0 })
        #expect(ds.interactions.map(\.timestamp) == [1_700_000_000, 1_700_000_001, 1_700_000_000])
    }

    @Test func implicitIgnoresARatingColumnAndJSONLinesCarryCategoryArrays() throws {
        let d = Dir()
        let inter = d.file(
            "events.jsonl",
            #"""
            {"user_id": "a", "item_id": 7, "rating": 3, "timestamp": "2024-05-01T00:00:00Z"}
            {"user_id": "b", "item_id": 8, "rating": 5}
            """#)
        let items = d.file(
            "items.jsonl",
            #"""
            {"item_id": 7, "title": "Seven", "tags": ["x", "y|z"]}
            {"item_id": 8, "title": "Eight", "tags": null}
            """#)
        var job = DatasetImport(interactions: .init(inter), name: "ev")
        job.implicit = true
        job.items = .init(items)
        job.categoryColumn = "tags"
        _ = try job.run(into: d.out)
        let ds = try MovieLens.load(d.out)
        #expect(ds.schema.isImplicit && ds.interactions.allSatisfy { $0.rating == 0 })
        #expect(ds.items.ids.sorted() == ["7", "8"])
        #expect(ds.itemMeta[Int(ds.items.index(of: "7")!)].genres == ["x", "y/z"])
        #expect(ds.itemMeta[Int(ds.items.index(of: "8")!)].genres == [])
        #expect(ds.interactions.map(\.timestamp).sorted() == [0, 1_714_521_600])
    }

    @Test func aLatin1FileIsReadAsLatin1() throws {
        let d = Dir()
        // "u1,Café,5\n" with é as the single byte 0xE9.
        let inter = d.bytes("r.csv", Array("user_id,item_id,rating\nu1,Caf".utf8) + [0xE9] + Array(",5\n".utf8))
        _ = try DatasetImport(interactions: .init(inter), name: "l").run(into: d.out)
        #expect(try MovieLens.load(d.out).items.ids == ["Café"])
    }

    @Test func errorsNameTheFileTheLineAndTheColumn() throws {
        let d = Dir()
        let out = d.out
        let inter = d.file("r.csv", "user,item,when\nu1,i1,2024-01-01\nu2,i2,yesterday\n")
        var job = DatasetImport(interactions: .init(inter), name: "x")
        refusal(job, out, "no column 'user_id' (--user-col)", "'user', 'item', 'when'")
        job.userColumn = "user"
        job.itemColumn = "item"
        job.timeColumn = "when"
        refusal(job, out, "r.csv:3: column 'when': timestamp 'yesterday' is not epoch seconds")
        job.timeFormat = .epochSeconds
        refusal(job, out, "r.csv:2: column 'when': timestamp '2024-01-01' is not epoch-s")

        let short = d.file("s.csv", "user_id,item_id,rating\nu1,i1,4\nu2,i2\n")
        refusal(DatasetImport(interactions: .init(short), name: "x"), out, "s.csv:3: 2 fields where the header has 3")
        let nan = d.file("n.csv", "user_id,item_id,rating\nu1,i1,nan\n")
        refusal(
            DatasetImport(interactions: .init(nan), name: "x"), out,
            "n.csv:2: column 'rating': rating 'nan' is not a finite number")
        let zero = d.file("z.csv", "user_id,item_id,rating\nu1,i1,0\n")
        refusal(
            DatasetImport(interactions: .init(zero), name: "x"), out,
            "z.csv:2: column 'rating': rating 0 is not positive")
        let noID = d.file("e.csv", "user_id,item_id\n,i1\n")
        refusal(DatasetImport(interactions: .init(noID), name: "x"), out, "e.csv:2: column 'user_id': empty user_id")
        let quote = d.file("q.csv", "user_id,item_id\nu1,\"i1\n")
        refusal(DatasetImport(interactions: .init(quote), name: "x"), out, "q.csv:2: a quoted field is never closed")
        let json = d.file("j.jsonl", "{\"user_id\": \"a\", \"item_id\": \"b\"}\n[1, 2]\n")
        refusal(DatasetImport(interactions: .init(json), name: "x"), out, "j.jsonl:2: not a JSON object")
        let odd = d.file("r.parquet", "PAR1")
        refusal(
            DatasetImport(interactions: .init(odd), name: "x"), out, "r.parquet: cannot tell the format", "--format")
        let empty = d.file("h.csv", "user_id,item_id\n")
        refusal(DatasetImport(interactions: .init(empty), name: "x"), out, "h.csv: no interactions")
        let twice = d.file("t.csv", "user_id,item_id,user_id\nu,i,u\n")
        refusal(
            DatasetImport(interactions: .init(twice), name: "x"), out,
            "t.csv:1: the header names column 'user_id' twice")

        let ok = d.file("ok.csv", "user_id,item_id\nu1,i1\n")
        var withItems = DatasetImport(interactions: .init(ok), name: "x")
        withItems.items = .init(d.file("items.csv", "item_id,title\ni1,A\ni1,B\n"))
        refusal(withItems, out, "items.csv:3: column 'item_id': duplicate item id 'i1'")
        withItems.items = .init(d.file("items2.csv", "item_id,title\ni1,A\n"))
        withItems.categoryColumn = "genre"
        refusal(withItems, out, "items2.csv: no column 'genre' (--category-col)")
        refusal(DatasetImport(interactions: .init(ok), name: "../up"), out, "must be a plain file name")
    }

    @Test func aFailedImportLeavesTheFolderAsItWas() throws {
        let d = Dir()
        let good = d.file("g.csv", "user_id,item_id\nu1,i1\n")
        _ = try DatasetImport(interactions: .init(good), name: "x").run(into: d.out)
        let before = try String(contentsOf: d.out.appendingPathComponent("x.inter"), encoding: .utf8)
        // Fails on its last line, after many rows were already written out.
        let rows = (0..<50_000).map { "u\($0),i\($0 % 7)" }.joined(separator: "\n")
        let bad = d.file("b.csv", "user_id,item_id\n" + rows + "\nu9\n")
        refusal(
            DatasetImport(interactions: .init(bad), name: "x"), d.out, "b.csv:50002: 1 field where the header has 2")
        #expect(try String(contentsOf: d.out.appendingPathComponent("x.inter"), encoding: .utf8) == before)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: d.out.path).sorted() == ["dataset.json", "x.inter"])
        // Into a fresh folder: nothing at all that a loader could take for a dataset.
        let fresh = d.url.appendingPathComponent("fresh")
        refusal(DatasetImport(interactions: .init(bad), name: "y"), fresh, "b.csv:50002")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fresh.path).isEmpty)
    }

    @Test func timestampsInEveryFormat() {
        #expect(DatasetImport.timestamp("1700000000", .auto) == 1_700_000_000)
        #expect(DatasetImport.timestamp("1700000000.9", .auto) == 1_700_000_000)
        #expect(DatasetImport.timestamp("1700000000999", .auto) == 1_700_000_000)
        #expect(DatasetImport.timestamp("1700000000999", .epochMillis) == 1_700_000_000)
        #expect(DatasetImport.timestamp("1700000000", .epochMillis) == 1_700_000)
        #expect(DatasetImport.timestamp("1970-01-01T00:00:00Z", .iso8601) == 0)
        #expect(DatasetImport.timestamp("2000-02-29T23:59:59Z", .auto) == 951_868_799)
        #expect(DatasetImport.timestamp("2024-01-02T03:04:05-0130", .auto) == 1_704_170_045)
        #expect(DatasetImport.timestamp("1969-12-31T23:59:59Z", .auto) == -1)
        #expect(DatasetImport.timestamp("2024-13-01", .auto) == nil)
        #expect(DatasetImport.timestamp("2024-01-01T25:00", .auto) == nil)
        #expect(DatasetImport.timestamp("2024-01-01Tnoon", .auto) == nil)
        #expect(DatasetImport.timestamp("2024-01-01", .epochSeconds) == nil)
        #expect(DatasetImport.timestamp("inf", .auto) == nil)
    }

    @Test func aManifestFromANewerFormatIsRefusedByName() throws {
        let d = Dir()
        try FileManager.default.createDirectory(at: d.out, withIntermediateDirectories: true)
        _ = d.file("out/x.inter", "user_id:token\titem_id:token\nu\ti\n")
        _ = d.file(
            "out/dataset.json",
            #"{"format":"recfuse-dataset","format_version":9,"name":"x","schema":{"domain":"item","#
                + #""domain_plural":"items","feedback":"implicit","category_label":"Categories"},"#
                + #""item_text_fields":[],"user_fields":[],"counts":{"users":1,"items":1,"interactions":1},"#
                + #""sources":[]}"#
        )
        #expect {
            _ = try MovieLens.load(d.out)
        } throws: { e in
            (e as? RecError)?.code == .dataLoss && "\(e)".contains("v9, expected recfuse-dataset v1")
        }
    }
}
