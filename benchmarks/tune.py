#!/usr/bin/env python3
"""Hyper-parameter search on a validation slice carved from a split's training part.

The test part is never looked at while searching: the split's training interactions are
divided (seeded) into a smaller training part and a validation slice, every grid point is
evaluated there with `recfuse eval --split-file`, and only the best point is then evaluated
once on the real split.

    python3 benchmarks/tune.py --engine rp3beta \
        --grid alpha=0.4,0.6,0.8,1.0 --grid beta=0,0.2,0.4 --grid neighbours=50,100,200

Each --grid is a parameter of the engine kind (`recfuse engines`) with the values to try; the
search is the full product. Prints one line per point (validation NDCG@10) and the best; with
--test, also the test split's figures for the best (run that once, when the search is settled).
"""
import argparse
import itertools
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def recfuse_bin():
    for p in (os.environ.get("RECFUSE_BIN"), ROOT / ".build/release/recfuse", ROOT / ".build/debug/recfuse"):
        if p and pathlib.Path(p).exists():
            return str(p)
    sys.exit("no recfuse binary: swift build -c release")


def evaluate(binary, args, split_file, engine, params):
    flags = [x for k, v in params.items() for x in (f"--{engine}-{k.replace('_', '-')}", str(v))]
    out = subprocess.run([binary, "eval", *args, "--engine", engine, "--split-file", split_file, "--json",
                          "--log-level", "warning", *flags], check=True, capture_output=True, text=True, timeout=3600)
    return json.loads(out.stdout.splitlines()[0])["metrics"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--grid", action="append", default=[], help="name=v1,v2,... or name=l1/l2 for list values (repeatable)")
    ap.add_argument("--fixed", action="append", default=[], help="name=value held for every point (repeatable)")
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--data-dir", default=str(ROOT / "data"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--seed", type=int, default=42, help="the split's seed (recfuse eval --seed)")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--validation-fraction", type=float, default=0.1, help="of the training part")
    ap.add_argument("--validation-seed", type=int, default=7)
    ap.add_argument("--metric", default="ndcg@10")
    ap.add_argument("--test", action="store_true",
                    help="evaluate the best point on the test split (do this once, after the search is settled)")
    a = ap.parse_args()
    binary = recfuse_bin()
    common = ["--dataset", a.dataset, "--data-dir", a.data_dir, "--models-dir", a.models_dir]
    grid = {}
    for g in a.grid:
        name, values = g.split("=", 1)
        # Values are comma-separated, or slash-separated when a value is itself a list ("fanouts=10,10,10/5,5,5").
        grid[name] = values.split("/") if "/" in values else values.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        split = os.path.join(tmp, "split.tsv")
        subprocess.run([binary, "eval", *common, "--engine", "popularity", "--seed", str(a.seed), "--test-fraction",
                        str(a.test_fraction), "--export-split", split, "--log-level", "warning"], check=True, timeout=600)
        lines = pathlib.Path(split).read_text().splitlines()
        train = [l for l in lines if l.startswith("train\t")]
        rng = random.Random(a.validation_seed)
        order = list(range(len(train)))
        rng.shuffle(order)
        held = set(order[: int(len(train) * a.validation_fraction)])
        val = os.path.join(tmp, "validation.tsv")
        with open(val, "w") as f:
            for n, l in enumerate(train):
                f.write(("test" + l[5:] if n in held else l) + "\n")
        print(f"{a.dataset}: split seed {a.seed}, {len(train)} training interactions, {len(held)} of them held out "
              f"for validation (seed {a.validation_seed}); the test part is not used while searching", flush=True)
        results = []
        for values in itertools.product(*grid.values()):
            params = dict(f.split("=", 1) for f in a.fixed)
            params.update(zip(grid.keys(), values))
            t0 = time.time()
            m = evaluate(binary, common, val, a.engine, params)
            results.append((m[a.metric], params))
            print(f"  {params}: validation {a.metric} {m[a.metric]:.4f} ({time.time() - t0:.1f} s)", flush=True)
        best_value, best = max(results, key=lambda r: r[0])
        print(f"best on validation: {best} ({a.metric} {best_value:.4f})")
        if not a.test:
            return
        test = evaluate(binary, common, split, a.engine, best)
        print("test split, once: " + ", ".join(f"{k} {test[k]:.4f}" for k in ("ndcg@10", "recall@10", "precision@10",
                                                                               "coverage@10") if k in test))


if __name__ == "__main__":
    main()
