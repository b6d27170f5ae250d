#!/usr/bin/env python3
"""Peer benchmark: recfuse's engines against Surprise (SVD, SVD++) and implicit (ALS) on the
*same* split file, with fit times measured in the same run.

    python3 -m venv .venv-peers && .venv-peers/bin/pip install scikit-surprise implicit numpy
    .venv-peers/bin/python benchmarks/peers.py [--recfuse .build/release/recfuse] [--split FILE] [--runs 3]

The split comes from `recfuse eval --export-split` (random 80/20, seed 42, unless --split is
given). Ranking metrics follow recfuse eval: full ranking over items not in the user's training
set, relevant = test rating >= 4, averaged over users with a relevant test item. Not a unit test.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_split(path):
    train, test = [], []
    with open(path) as f:
        for line in f:
            tag, u, i, r, t = line.rstrip("\n").split("\t")
            (train if tag == "train" else test).append((u, i, float(r), int(t)))
    return train, test


def surprise_runs(train, test, runs):
    from surprise import SVD, SVDpp, Dataset, Reader, accuracy
    path = os.path.join(tempfile.mkdtemp(), "train.tsv")
    with open(path, "w") as f:
        f.writelines(f"{u}\t{i}\t{r}\n" for u, i, r, _ in train)
    reader = Reader(line_format="user item rating", sep="\t", rating_scale=(1, 5))
    trainset = Dataset.load_from_file(path, reader).build_full_trainset()
    testset = [(u, i, r) for u, i, r, _ in test]
    out = {}
    for name, algo in (("surprise-svd", SVD), ("surprise-svdpp", SVDpp)):
        fits, rmses, maes = [], [], []
        for seed in range(1, runs + 1):  # the same seeds recfuse gets: RMSE moves ~0.005 with the seed
            a = algo(random_state=seed)
            t0 = time.perf_counter()
            a.fit(trainset)
            fits.append(time.perf_counter() - t0)
            preds = a.test(testset)
            rmses.append(accuracy.rmse(preds, verbose=False))
            maes.append(accuracy.mae(preds, verbose=False))
        out[name] = {"rmse": statistics.median(rmses), "mae": statistics.median(maes), "fit_seconds": statistics.median(fits),
                     "rmse_runs": rmses}
    return out


def ndcg_at_10(ranked, relevant):
    dcg = sum(1 / math.log2(k + 2) for k, it in enumerate(ranked[:10]) if it in relevant)
    idcg = sum(1 / math.log2(k + 2) for k in range(min(len(relevant), 10)))
    return dcg / idcg


def implicit_als(train, test, runs):
    import numpy as np
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    users = sorted({u for u, *_ in train} | {u for u, *_ in test})
    items = sorted({i for _, i, *_ in train} | {i for _, i, *_ in test})
    ui, ii = {u: n for n, u in enumerate(users)}, {i: n for n, i in enumerate(items)}
    rows = [ui[u] for u, *_ in train]
    cols = [ii[i] for _, i, *_ in train]
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
    relevant = {}
    for u, i, r, _ in test:
        if r >= 4:
            relevant.setdefault(ui[u], set()).add(ii[i])
    fits, score = [], None
    for _ in range(runs):
        model = AlternatingLeastSquares(factors=64, regularization=0.05, iterations=15, random_state=42)
        t0 = time.perf_counter()
        model.fit(m, show_progress=False)
        fits.append(time.perf_counter() - t0)
        us = sorted(relevant)
        ids, _ = model.recommend(np.array(us), m[us], N=10, filter_already_liked_items=True)
        score = statistics.fmean(ndcg_at_10(list(ids[k]), relevant[u]) for k, u in enumerate(us))
    return {"implicit-als": {"ndcg@10": score, "fit_seconds": statistics.median(fits)}}


def numpy_ease(train, test, runs, lam=500.0):
    """Reference EASE in numpy (Steck 2019), same protocol as recfuse eval."""
    import numpy as np
    users = sorted({u for u, *_ in train} | {u for u, *_ in test})
    items = sorted({i for _, i, *_ in train} | {i for _, i, *_ in test})
    ui, ii = {u: n for n, u in enumerate(users)}, {i: n for n, i in enumerate(items)}
    x = np.zeros((len(users), len(items)))
    for u, i, *_ in train:
        x[ui[u], ii[i]] = 1
    relevant = {}
    for u, i, r, _ in test:
        if r >= 4:
            relevant.setdefault(ui[u], set()).add(ii[i])
    fits = []
    for _ in range(runs):
        t0 = time.perf_counter()
        g = x.T @ x + lam * np.eye(len(items))
        p = np.linalg.inv(g)
        b = -p / np.diag(p)
        np.fill_diagonal(b, 0)
        fits.append(time.perf_counter() - t0)
    scores = x @ b
    scores[x > 0] = -np.inf
    us = sorted(relevant)
    ndcg = statistics.fmean(ndcg_at_10(list(np.argsort(-scores[u], kind="stable")[:10]), relevant[u]) for u in us)
    return {"numpy-ease (reference)": {"ndcg@10": ndcg, "fit_seconds": statistics.median(fits)}}


def recfuse_runs(binary, split, runs):
    out = {}
    for seed in range(1, runs + 1):
        p = subprocess.run([binary, "eval", "--dataset", "ml-100k", "--data-dir", os.path.join(ROOT, "data"),
                            "--protocol", "split-file", "--split-file", split, "--svd-seed", str(seed), "--svdpp-seed", str(seed), "--json",
                            "--log-level", "warning"], capture_output=True, text=True, check=True)
        for line in p.stdout.splitlines():
            r = json.loads(line)
            e = out.setdefault("recfuse-" + r["engine"], {"fits": [], "runs": []})
            e["fits"].append(r["fit_seconds"])
            e["runs"].append({k: v for k, v in r["metrics"].items() if k in ("rmse", "mae", "ndcg@10")})
    for e in out.values():
        e["fit_seconds"] = statistics.median(e.pop("fits"))
        runs_ = e.pop("runs")
        for k in runs_[0]:
            e[k] = statistics.median(r[k] for r in runs_)
        if "rmse" in runs_[0]:
            e["rmse_runs"] = [r["rmse"] for r in runs_]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recfuse", default=os.path.join(ROOT, ".build", "release", "recfuse"))
    ap.add_argument("--split")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", help="also write the table to this markdown file")
    args = ap.parse_args()
    split = args.split
    if not split:
        split = os.path.join(tempfile.mkdtemp(), "random-80-20-seed42.tsv")
        subprocess.run([args.recfuse, "eval", "--dataset", "ml-100k", "--data-dir", os.path.join(ROOT, "data"),
                        "--export-split", split, "--log-level", "warning"], check=True)
    train, test = read_split(split)
    results = recfuse_runs(args.recfuse, split, args.runs)
    for peer in (numpy_ease, surprise_runs, implicit_als):
        try:
            results.update(peer(train, test, args.runs))
        except ImportError as e:
            print(f"skipping {peer.__name__}: {e}", file=sys.stderr)
    base = results.get("surprise-svdpp", {}).get("fit_seconds")
    lines = []
    print = lambda *a, **k: lines.append(" ".join(str(x) for x in a))  # noqa: E731 - collect, then emit
    print(f"split: {split} ({len(train)} train / {len(test)} test); medians of {args.runs} runs, seeds 1..{args.runs}\n")
    print(f"| {'model':<26} | {'RMSE':>7} | {'MAE':>7} | {'NDCG@10':>7} | {'fit s':>8} | {'Surprise SVD++ fit / fit':>24} |")
    print("|" + "|".join("-" * w for w in (28, 9, 9, 9, 10, 26)) + "|")
    for name, r in sorted(results.items()):
        f = lambda k: f"{r[k]:.4f}" if k in r else "-"
        ratio = f"{base / r['fit_seconds']:.1f}x" if base and r.get("fit_seconds") else "-"
        print(f"| {name:<26} | {f('rmse'):>7} | {f('mae'):>7} | {f('ndcg@10'):>7} | {r['fit_seconds']:>8.3f} | {ratio:>24} |")
    for name, r in sorted(results.items()):
        if "rmse_runs" in r:
            print(f"{name} RMSE per seed: " + ", ".join(f"{v:.4f}" for v in r["rmse_runs"]))
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    if args.out:
        with open(args.out, "w") as f:
            f.write("# recfuse against its peers on one split\n\n"
                    f"Produced on {time.strftime('%Y-%m-%d')} by `benchmarks/peers.py --runs {args.runs}` "
                    "(release build, this project's 2-core machine, every model run in the same session). "
                    "The split is `recfuse eval --export-split` (random 80/20, seed 42); each model is fitted "
                    f"with seeds 1..{args.runs} and the table shows medians. Ranking metrics follow `recfuse eval` "
                    "(full ranking over unseen items, relevant = rating ≥ 4).\n\n```\n" + text + "\n```\n\n"
                    "Surprise and implicit use their defaults (implicit ALS: 64 factors, regularization 0.05, "
                    "15 iterations, binary feedback); nothing was tuned on the test split.\n")


if __name__ == "__main__":
    main()
