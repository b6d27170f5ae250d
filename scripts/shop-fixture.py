#!/usr/bin/env python3
"""Writes a small, seeded shop dataset: the worked example of docs/own-data.md.

    python3 scripts/shop-fixture.py OUT_DIR [--seed 7] [--customers 400] [--purchases 5000]

OUT_DIR gets three files, in the shapes a shop's exports usually have (none of them named or
laid out like MovieLens):

- purchases.csv   customer,sku,stars,purchased_at   ("u001","sku-25",1-5 or empty,ISO 8601)
- products.csv    sku,name,brand,description,categories   (categories "Kitchen|Outdoor")
- customers.jsonl {"customer": "u001", "tier": "gold", "region": "north"}

There is signal to learn: each customer has one or two favourite departments and buys there
four times in five; stars are higher inside them. Same seed, same files, on every machine.
"""
import argparse
import csv
import datetime
import json
import pathlib
import random

DEPARTMENTS = {
    "Kitchen": ["Chef's Knife", "Cast Iron Skillet", "Espresso Maker", "Cutting Board", "Spice Rack",
                "Dutch Oven", "Pepper Mill", "Kettle", "Mixing Bowls", "Toaster"],
    "Garden": ["Pruning Shears", "Watering Can", "Seed Tray", "Hose Reel", "Rake", "Planter",
               "Compost Bin", "Trowel", "Garden Gloves", "Bird Feeder"],
    "Outdoor": ["Tent", "Sleeping Bag", "Headlamp", "Camp Stove", "Water Filter", "Trekking Poles",
                "Daypack", "Hammock", "Cooler", "Folding Chair"],
    "Office": ["Desk Lamp", "Notebook", "Fountain Pen", "Monitor Stand", "Desk Organiser", "Stapler",
               "Ergonomic Mouse", "Keyboard", "Whiteboard", "Paper Tray"],
    "Toys": ["Building Blocks", "Puzzle", "Plush Bear", "Kite", "Toy Train", "Board Game", "Yo-yo",
             "Marble Run", "Doll House", "Spinning Top"],
    "Audio": ["Headphones", "Bluetooth Speaker", "Turntable", "Earbuds", "Soundbar", "Microphone",
              "Radio", "Amplifier", "Record Sleeves", "Cable Set"],
    "Fitness": ["Yoga Mat", "Dumbbells", "Jump Rope", "Foam Roller", "Resistance Bands", "Kettlebell",
                "Water Bottle", "Gym Bag", "Pull-up Bar", "Step Platform"],
    "Books": ["Cookbook", "Field Guide", "Atlas", "Sketchbook", "Novel", "Poetry Collection",
              "Travel Guide", "History Book", "Comic Album", "Puzzle Book"],
}
BRANDS = ["Acme", "Northwind", "Fabrikam", "Contoso", "Tailspin", "Wingtip", "Litware", "Proseware"]
ADJECTIVES = ["compact", "durable", "lightweight", "classic", "premium", "everyday", "handmade", "eco"]
NEIGHBOURS = {  # a second department a product may also sit in
    "Kitchen": "Garden", "Garden": "Outdoor", "Outdoor": "Fitness", "Office": "Books",
    "Toys": "Books", "Audio": "Office", "Fitness": "Outdoor", "Books": "Office",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--purchases", type=int, default=5000)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)

    products = []  # (sku, name, brand, description, [departments])
    n = 0
    for dept, names in DEPARTMENTS.items():
        for name in names:
            n += 1
            adj = ADJECTIVES[(n * 5) % len(ADJECTIVES)]
            brand = BRANDS[(n * 3 + len(dept)) % len(BRANDS)]
            depts = [dept] + ([NEIGHBOURS[dept]] if n % 4 == 0 else [])
            art = "An" if adj[0] in "aeiou" else "A"
            desc = f"{art} {adj} {name.lower()} for {dept.lower()} lovers, by {brand}."
            products.append((f"sku-{n}", f"{brand} {name}", brand, desc, depts))
    by_dept = {d: [p for p in products if d in p[4]] for d in DEPARTMENTS}
    # A few best-sellers per department (power-law-ish popularity inside it).
    weights = {d: [1.0 / (1 + k) ** 0.8 for k in range(len(ps))] for d, ps in by_dept.items()}

    depts = list(DEPARTMENTS)
    customers = []
    for u in range(1, a.customers + 1):
        favs = rng.sample(depts, 2 if rng.random() < 0.4 else 1)
        customers.append((f"u{u:03d}", favs, rng.choice(["bronze", "silver", "gold"]),
                          rng.choice(["north", "south", "east", "west"])))
    # Heavier and lighter shoppers.
    activity = [1.0 / (1 + k) ** 0.6 for k in range(len(customers))]
    rng.shuffle(activity)

    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    seen = set()
    rows = []
    while len(rows) < a.purchases:
        c = rng.choices(customers, weights=activity)[0]
        inside = rng.random() < 0.8
        dept = rng.choice(c[1]) if inside else rng.choice(depts)
        p = rng.choices(by_dept[dept], weights=weights[dept])[0]
        if (c[0], p[0]) in seen:
            continue
        seen.add((c[0], p[0]))
        liked = any(d in c[1] for d in p[4])
        stars = min(5, max(1, round(rng.gauss(4.3 if liked else 2.6, 0.8))))
        when = start + datetime.timedelta(seconds=rng.randrange(365 * 86400))
        # One review in twenty has no stars (a purchase without a rating): left empty.
        rows.append((c[0], p[0], "" if rng.random() < 0.05 else str(stars), when.strftime("%Y-%m-%dT%H:%M:%SZ")))
    rows.sort(key=lambda r: r[3])

    with open(a.out / "purchases.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer", "sku", "stars", "purchased_at"])
        w.writerows(rows)
    with open(a.out / "products.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "name", "brand", "description", "categories"])
        for sku, name, brand, desc, ds in products:
            w.writerow([sku, name, brand, desc, "|".join(ds)])
    with open(a.out / "customers.jsonl", "w") as f:
        for cid, _, tier, region in customers:
            f.write(json.dumps({"customer": cid, "tier": tier, "region": region}) + "\n")
    print(f"{a.out}: {len(rows)} purchases by {len(customers)} customers of {len(products)} products")


if __name__ == "__main__":
    main()
