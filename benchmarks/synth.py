#!/usr/bin/env python3
"""A seeded generator of MovieLens-shaped data, in RecBole atomic files (what `recfuse train
--dataset FOLDER` reads), for measuring how training and serving scale.

    python3 benchmarks/synth.py --ratings 1000000 --out data/synth-1m [--seed 7]

Shape (MovieLens at every size): users and items in MovieLens' proportions (ml-100k: 943 x
1,682; ml-1m: 6,040 x 3,706; ml-10m: 69,878 x 10,677; interpolated on a log scale), every
user with at least 20 ratings and a heavy-tailed (log-normal) number of them, item popularity
following a power law (Zipf exponent 0.9). There is signal to learn: users and items have
16-d latent tastes, a user's items are drawn by popularity x exp(affinity) (Gumbel top-k,
without replacement) and rated 1-5 from the same affinity plus user and item biases and
noise. Items have titles, years and 1-3 of MovieLens' genres tied to their tastes; users
have age, gender, occupation and zip code. Same seed, same files.
"""
import argparse
import math
import os

import numpy as np

GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
OCCUPATIONS = ["administrator", "artist", "doctor", "educator", "engineer", "entertainment", "executive",
               "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none", "other", "programmer",
               "retired", "salesman", "scientist", "student", "technician", "writer"]
WORDS = ["Night", "River", "Secret", "Last", "Golden", "Silent", "Broken", "Wild", "Lost", "Red", "Dark", "City",
         "Summer", "Winter", "Dream", "Storm", "Heart", "Road", "Star", "Shadow", "Island", "Empire", "Garden",
         "Ghost", "King", "Queen", "Game", "Fire", "Stone", "Glass"]

# (ratings, users, items) of the MovieLens releases the shape is interpolated from.
ANCHORS = [(100_000, 943, 1_682), (1_000_209, 6_040, 3_706), (10_000_054, 69_878, 10_677)]


def shape(ratings):
    """Users and items for `ratings`, interpolated (or extrapolated) on a log scale."""
    logs = [math.log(r) for r, _, _ in ANCHORS]
    x = math.log(ratings)
    i = 0 if x <= logs[1] else 1
    t = (x - logs[i]) / (logs[i + 1] - logs[i])
    users = math.exp(math.log(ANCHORS[i][1]) * (1 - t) + math.log(ANCHORS[i + 1][1]) * t)
    items = math.exp(math.log(ANCHORS[i][2]) * (1 - t) + math.log(ANCHORS[i + 1][2]) * t)
    return max(10, int(round(users))), max(30, int(round(items)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", type=int, required=True)
    ap.add_argument("--out", required=True, help="folder to write <name>.inter/.item/.user into")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dim", type=int, default=16, help="latent taste dimensions")
    ap.add_argument("--users", type=int, help="override the MovieLens-shaped user count")
    ap.add_argument("--items", type=int, help="override the MovieLens-shaped item count (big catalogues)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    n_users, n_items = shape(a.ratings)
    n_users, n_items = a.users or n_users, a.items or n_items
    d = a.dim
    name = os.path.basename(os.path.normpath(a.out))
    os.makedirs(a.out, exist_ok=True)

    # Tastes and biases. Items' tastes lean towards their genres' directions.
    genre_dirs = rng.normal(size=(len(GENRES), d))
    genre_dirs /= np.linalg.norm(genre_dirs, axis=1, keepdims=True)
    item_vec = rng.normal(size=(n_items, d))
    affinity_to_genre = item_vec @ genre_dirs.T
    n_genres = rng.choice([1, 2, 3], size=n_items, p=[0.45, 0.4, 0.15])
    item_genres = [np.argsort(-affinity_to_genre[i])[: n_genres[i]] for i in range(n_items)]
    for i in range(n_items):
        item_vec[i] += 1.5 * genre_dirs[item_genres[i]].sum(axis=0)
    item_vec /= np.sqrt(d)
    user_vec = rng.normal(size=(n_users, d)) / np.sqrt(d) * 2.0
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    rng.shuffle(pop)
    log_pop = np.log(pop / pop.sum())
    item_bias = rng.normal(0, 0.4, n_items) + 0.3 * (log_pop - log_pop.mean()) / log_pop.std()
    user_bias = rng.normal(0, 0.35, n_users)

    # Ratings per user: at least 20, log-normal, scaled to the total asked for.
    raw = rng.lognormal(mean=0, sigma=1.0, size=n_users)
    extra = a.ratings - 20 * n_users
    counts = 20 + np.floor(raw / raw.sum() * max(0, extra)).astype(int)
    counts = np.minimum(counts, n_items // 2)
    short = a.ratings - counts.sum()
    for u in rng.permutation(n_users):
        if short <= 0:
            break
        room = n_items // 2 - counts[u]
        add = min(room, short)
        counts[u] += add
        short -= add

    inter_path = os.path.join(a.out, f"{name}.inter")
    total = 0
    with open(inter_path, "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        t0 = 874_724_710
        for u in range(n_users):
            k = int(counts[u])
            aff = item_vec @ user_vec[u]
            # Gumbel top-k: k items without replacement, P ∝ pop · exp(2·affinity).
            keys = log_pop + 2.0 * aff + rng.gumbel(size=n_items)
            chosen = np.argpartition(-keys, k - 1)[:k]
            # Rated from how the item's affinity ranks among the user's own picks (z), so every user
            # likes some and dislikes some of what they rated, as on MovieLens.
            z = (aff[chosen] - aff[chosen].mean()) / (aff[chosen].std() + 1e-9)
            r = 3.45 + 0.8 * z + item_bias[chosen] + user_bias[u] + rng.normal(0, 0.6, k)
            ratings = np.clip(np.rint(r), 1, 5).astype(int)
            start = t0 + int(rng.integers(0, 200_000_000))
            stamps = start + np.sort(rng.integers(0, 30_000_000, k))
            lines = [f"{u + 1}\t{i + 1}\t{ratings[n]}\t{stamps[n]}\n" for n, i in enumerate(chosen)]
            f.writelines(lines)
            total += k

    with open(os.path.join(a.out, f"{name}.item"), "w") as f:
        f.write("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n")
        years = rng.integers(1930, 2001, n_items)
        for i in range(n_items):
            words = rng.choice(WORDS, size=int(rng.integers(1, 4)), replace=False)
            title = " ".join(words) + f" {i + 1}"
            f.write(f"{i + 1}\t{title}\t{years[i]}\t{' '.join(GENRES[g] for g in item_genres[i])}\n")

    with open(os.path.join(a.out, f"{name}.user"), "w") as f:
        f.write("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n")
        ages = np.clip(rng.normal(33, 12, n_users).astype(int), 7, 73)
        for u in range(n_users):
            g = "M" if rng.random() < 0.71 else "F"
            occ = OCCUPATIONS[int(rng.integers(0, len(OCCUPATIONS)))]
            f.write(f"{u + 1}\t{ages[u]}\t{g}\t{occ}\t{int(rng.integers(10000, 99999))}\n")
    print(f"{a.out}: {n_users} users, {n_items} items, {total} ratings")


if __name__ == "__main__":
    main()
