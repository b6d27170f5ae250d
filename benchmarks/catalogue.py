#!/usr/bin/env python3
"""A big synthetic catalogue, fast: U users x N items with Zipf item popularity, in RecBole
atomic files (what `recfuse train --dataset FOLDER` reads). For measuring what grows with the
catalogue (Rank, Retrieve, bundle size, load time). By default the ratings carry little signal
(unlike `synth.py`'s, whose per-user sampling over the whole catalogue is too slow at 10^5+
items); with --taste-clusters C the items fall into C taste clusters, each user prefers a few
of them (Dirichlet(0.1) weights), and draws mostly from those, popular items first, rating them
higher, so trained factor models have structure to find, as on real data.

    python3 benchmarks/catalogue.py --users 50000 --items 300000 --ratings 3000000 --out /tmp/cat-300k
    python3 benchmarks/catalogue.py --users 50000 --items 300000 --ratings 3000000 --taste-clusters 64 \
        --out /tmp/taste-300k
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
    ap.add_argument("--taste-clusters", type=int, default=0, help="0: no taste structure")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    name = os.path.basename(os.path.normpath(a.out))
    os.makedirs(a.out, exist_ok=True)
    # Zipf(0.9) popularity over a random permutation of the items; every user at least 5 ratings.
    p = 1.0 / np.arange(1, a.items + 1) ** 0.9
    p /= p.sum()
    perm = rng.permutation(a.items)
    users = np.concatenate([np.arange(a.users), rng.integers(0, a.users, size=max(0, a.ratings - a.users))])
    ranks = rng.choice(a.items, size=users.size, p=p)  # popularity rank of each drawn item
    if a.taste_clusters > 0:
        c = a.taste_clusters
        # Item of popularity rank r sits in cluster r % c at position r // c: each cluster's own
        # popularity keeps the Zipf shape. A user draws a cluster from their taste (85%) or at
        # random, then an item of that cluster at the drawn position.
        taste = rng.dirichlet(np.full(c, 0.1), size=a.users)
        cum = np.cumsum(taste, axis=1)
        drawn = (cum[users] < rng.random(users.size)[:, None]).sum(axis=1).clip(0, c - 1)
        random_c = rng.integers(0, c, size=users.size)
        cluster = np.where(rng.random(users.size) < 0.85, drawn, random_c)
        ranks = ((ranks // c) * c + cluster).clip(0, a.items - 1)
        liked = taste[users, ranks % c] > 1.0 / c
    items = perm[ranks]
    keys, first = np.unique(users.astype(np.int64) * a.items + items, return_index=True)
    pairs = keys
    users, items = pairs // a.items, pairs % a.items
    ratings = rng.integers(1, 6, size=pairs.size)
    if a.taste_clusters > 0:  # liked clusters rate 3-5, the rest 1-3
        ratings = np.where(liked[first], rng.integers(3, 6, size=pairs.size), rng.integers(1, 4, size=pairs.size))
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
