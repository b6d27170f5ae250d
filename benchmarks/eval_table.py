#!/usr/bin/env python3
"""Writes docs/evaluation.md: every engine on ml-100k under every protocol of `recfuse eval`,
with the exact commands. Standard library only.

    python3 benchmarks/eval_table.py [--recfuse .build/release/recfuse] [--out docs/evaluation.md]
"""
import argparse
import datetime
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RUNS = [
    ("Random 80/20 split (seed 42), full ranking over unseen items, relevant = rating ≥ 4",
     ["--protocol", "random"], ["rmse", "mae", "precision@10", "recall@10", "ndcg@10", "map@10", "hr@10", "coverage@10"]),
    ("Temporal leave-last-out (each user's latest rating held out)",
     ["--protocol", "temporal"], ["rmse", "mae", "ndcg@10", "hr@10", "recall@10"]),
    ("Leave-one-out against 99 sampled negatives (the NCF protocol)",
     ["--protocol", "loo"], ["hr@10", "ndcg@10"]),
    ("Cold-start users (10 % of users held out; first n ratings revealed)",
     ["--protocol", "coldstart"], ["ndcg@10", "recall@10", "hr@10", "rmse"]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recfuse", default=os.path.join(ROOT, ".build", "release", "recfuse"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "evaluation.md"))
    args = ap.parse_args()
    lines = ["# Evaluation", "",
             f"Produced by `python3 benchmarks/eval_table.py` on {datetime.date.today().isoformat()} "
             "(release build, this project's 2-core machine). Every number comes from `recfuse eval` on "
             "MovieLens-100k with the command shown; splits and seeds are fixed, so anyone can reproduce them. "
             "`fit s` is wall-clock training time on the training part.", ""]
    for title, proto, cols in RUNS:
        cmd = [args.recfuse, "eval", "--dataset", "ml-100k", "--data-dir", os.path.join(ROOT, "data"), "--json",
               "--log-level", "warning", *proto]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows = [json.loads(l) for l in out.splitlines() if l.strip()]
        lines += [f"## {title}", "", "```", "recfuse eval --dataset ml-100k " + " ".join(proto) + " --json", "```", ""]
        cold = any("revealed" in r for r in rows)
        head = ["engine"] + (["n revealed"] if cold else []) + cols + ["fit s", "users"]
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for r in rows:
            cells = [r["engine"]] + ([str(r["revealed"])] if cold else [])
            cells += [f"{r['metrics'][c]:.4f}" if c in r["metrics"] else "–" for c in cols]
            cells += [f"{r['fit_seconds']:.2f}", str(r["users_evaluated"])]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Rating metrics (RMSE, MAE) apply to the engines that predict ratings (svd, svdpp). "
              "Users an engine cannot score (cold users with nothing revealed, for engines that need a history) "
              "are scored by popularity, as the server would.", "",
              "Peers on the same split (Surprise SVD/SVD++, implicit ALS, a numpy EASE): [peers.md](peers.md), produced by `benchmarks/peers.py`.", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
