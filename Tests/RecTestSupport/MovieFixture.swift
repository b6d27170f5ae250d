import RecCore

/// A tiny catalogue with distinctive titles, and three users.
public func movieDataset() throws -> Dataset {
    let titles: [(String, Int, [String])] = [
        ("Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
        ("Scream", 1996, ["Horror", "Thriller"]),
        ("Star Wars", 1977, ["Action", "Adventure", "Sci-Fi", "War"]),
        ("Sleepless in Seattle", 1993, ["Comedy", "Romance"]),
        ("Shawshank Redemption, The", 1994, ["Drama"]),
        ("Lion King, The", 1994, ["Animation", "Children's", "Musical"]),
        ("Alien", 1979, ["Action", "Horror", "Sci-Fi", "Thriller"]),
        ("When Harry Met Sally...", 1989, ["Comedy", "Romance"]),
    ]
    var items = IDMap(), users = IDMap()
    for i in 0..<titles.count { items.intern("m\(i)") }
    for u in ["kid", "fan", "blank"] { users.intern(u) }
    let x = { (u: Int32, i: Int32, r: Float, t: Int64) in Interaction(user: u, item: i, rating: r, timestamp: t) }
    return Dataset(
        name: "movies", users: users, items: items,
        interactions: [x(0, 0, 5, 1), x(0, 1, 1, 2), x(1, 2, 5, 3), x(1, 6, 4, 4), x(1, 3, 2, 5), x(2, 4, 3, 6)],
        itemMeta: titles.map { ItemMeta(title: $0.0, year: $0.1, genres: $0.2) },
        userMeta: [
            UserMeta(age: 9, gender: "F", occupation: "student"),
            UserMeta(age: 31, gender: "M", occupation: "engineer"),
            UserMeta(),
        ])
}
