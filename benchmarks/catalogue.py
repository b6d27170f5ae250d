#!/usr/bin/env python3
"""A big synthetic catalogue, fast: U users x N items with Zipf item popularity, in RecBole
atomic files (what `recfuse train --dataset FOLDER` reads). For measuring what grows with the
catalogue (Rank, Retrieve, bundle size, load time): the ratings carry little signal, unlike
`synth.py`'s, whose per-user sampling over the whole catalogue is too slow at 10^5+ items.

    python3 benchmarks/catalogue.py --users 50000 --items 300000 --ratings 3000000 --out /tmp/cat-300k
"""
import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--items", type=int, required=True)
    ap.add_argument("--ratings", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    name = os.path.basename(os.path.normpath(a.out))
    os.makedirs(a.out, exist_ok=True)
    # Zipf(0.9) popularity over a random permutation of the items; every user at least 5 ratings.
    p = 1.0 / np.arange(1, a.items + 1) ** 0.9
    p /= p.sum()
    perm = rng.permutation(a.items)
    users = np.concatenate([np.arange(a.users), rng.integers(0, a.users, size=max(0, a.ratings - a.users))])
    items = perm[rng.choice(a.items, size=users.size, p=p)]
    pairs = np.unique(users.astype(np.int64) * a.items + items)
    users, items = pairs // a.items, pairs % a.items
    ratings = rng.integers(1, 6, size=pairs.size)
    times = rng.integers(880_000_000, 890_000_000, size=pairs.size)
    with open(os.path.join(a.out, f"{name}.inter"), "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for chunk in range(0, pairs.size, 500_000):
            s = slice(chunk, chunk + 500_000)
            f.writelines(f"{u + 1}\t{i + 1}\t{r}\t{t}\n" for u, i, r, t in
                         zip(users[s].tolist(), items[s].tolist(), ratings[s].tolist(), times[s].tolist()))
    genres = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Documentary"]
    with open(os.path.join(a.out, f"{name}.item"), "w") as f:
        f.write("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n")
        years = rng.integers(1950, 2024, size=a.items)
        g = rng.integers(0, len(genres), size=a.items)
        f.writelines(f"{i + 1}\tItem {i + 1}\t{years[i]}\t{genres[g[i]]}\n" for i in range(a.items))
    with open(os.path.join(a.out, f"{name}.user"), "w") as f:
        f.write("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n")
        f.writelines(f"{u + 1}\t30\tF\tother\t10000\n" for u in range(a.users))
    print(f"{a.out}: {a.users} users, {a.items} items, {pairs.size} ratings")


if __name__ == "__main__":
    main()
