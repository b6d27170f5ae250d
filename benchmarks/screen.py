#!/usr/bin/env python3
"""Screened exact Retrieve against the full exact pass and the HNSW index, on one bundle.

Starts two servers on the bundle, one with the int8 score screens (`--screen-min-items 0`) and
one without (`--screen-min-items=-1`), then:

- checks, for --users seeded stored users at each k, that both servers' exact replies are the
  same items with the same scores (and counts the replies that differ: must be 0);
- runs `recfuse bench --method retrieve` with one client for each engine and k: the exact path
  on both servers, and the approximate path (when the engine has an index), --runs times,
  interleaved; reports medians of p50 and p99 (µs);
- reports the server's resident memory with and without screens.

    python3 benchmarks/screen.py --bundle /tmp/b-taste-300k --engines svd,svdpp --k 10,100

Prints one JSON line per (engine, k) and a Markdown table at the end.
"""
import argparse
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Clients" / "python"))
import recfuse  # noqa: E402
from recfuse.v1 import recommender_pb2 as pb  # noqa: E402
from catalogue_table import rss_mb  # noqa: E402  (this folder is on the path when run as a script)


def start(binary, bundle, sock, extra, log):
    p = subprocess.Popen([binary, "serve", "--bundle", bundle, "--listen", f"ipc://{sock}", *extra],
                         stdout=log, stderr=subprocess.STDOUT)
    t0 = time.time()
    while not os.path.exists(sock):
        if p.poll() is not None or time.time() - t0 > 300:
            sys.exit(f"serve exited or hung; see {log.name}")
        time.sleep(0.05)
    return p


def bench(binary, sock, engine, k, path, count):
    out = subprocess.run([binary, "bench", "--url", f"ipc://{sock}", "--method", "retrieve", "--engine", engine,
                          "--k", str(k), "--retrieval", path, "--clients", "1", "--count", str(count), "--no-echo"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    row = [line for line in out.splitlines() if line.startswith("recfuse")][-1].split()
    errors, p50, p99 = int(row[2]), float(row[4]), float(row[6])
    if errors:
        sys.exit(f"{errors} failed requests: {out}")
    return p50, p99


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--engines", required=True, help="comma-separated dot-product engines of the bundle")
    ap.add_argument("--k", default="10,100")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=500, help="requests per bench run")
    ap.add_argument("--users", type=int, default=100, help="users whose replies are compared")
    ap.add_argument("--binary", default=str(ROOT / ".build" / "release" / "recfuse"))
    a = ap.parse_args()
    engines, ks = a.engines.split(","), [int(k) for k in a.k.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        socks = {"screened": os.path.join(tmp, "s.sock"), "full": os.path.join(tmp, "f.sock")}
        logs = {n: open(os.path.join(tmp, f"{n}.log"), "w") for n in socks}
        procs = {
            "screened": start(a.binary, a.bundle, socks["screened"], ["--screen-min-items", "0"], logs["screened"]),
            "full": start(a.binary, a.bundle, socks["full"], ["--screen-min-items=-1"], logs["full"]),
        }
        try:
            time.sleep(1.0)
            rss = {n: round(rss_mb(p.pid)) for n, p in procs.items()}
            clients = {n: recfuse.Client(f"ipc://{s}", timeout=60.0) for n, s in socks.items()}
            info = clients["screened"].info()
            indexed = {e.name: "hnsw" in e.index for e in info.engines}
            rng = random.Random(1)
            users = [str(rng.randint(1, info.dataset.users)) for _ in range(a.users)]
            rows = []
            for engine in engines:
                for k in ks:
                    differ, paths = 0, set()
                    for u in users:
                        r = {n: c.retrieve(u, k=k, engine=engine, path=pb.RETRIEVAL_PATH_EXACT)
                             for n, c in clients.items()}
                        paths.add(r["screened"].meta.retrieval)
                        same = [(i.item_id, i.score) for i in r["screened"].items] == \
                            [(i.item_id, i.score) for i in r["full"].items]
                        differ += 0 if same else 1
                    runs = {"screened": [], "full": [], "hnsw": []}
                    for _ in range(a.runs):
                        runs["screened"].append(bench(a.binary, socks["screened"], engine, k, "exact", a.count))
                        runs["full"].append(bench(a.binary, socks["full"], engine, k, "exact", a.count))
                        if indexed.get(engine):
                            runs["hnsw"].append(bench(a.binary, socks["screened"], engine, k, "approximate", a.count))
                    med = {n: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
                           for n, v in runs.items() if v}
                    row = {"engine": engine, "k": k, "items": info.dataset.items, "users_compared": len(users),
                           "replies_differing": differ, "screened_paths": sorted(paths),
                           **{f"{n}_p50_us": round(m[0]) for n, m in med.items()},
                           **{f"{n}_p99_us": round(m[1]) for n, m in med.items()}}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        finally:
            for p in procs.values():
                p.terminate()
                p.wait(timeout=30)
    print(f"\nresident memory: {rss['screened']} MB with screens, {rss['full']} MB without\n")
    print("| engine | k | full exact p50 / p99 µs | screened p50 / p99 µs | HNSW p50 / p99 µs | replies differing |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        hn = f"{r['hnsw_p50_us']:,} / {r['hnsw_p99_us']:,}" if "hnsw_p50_us" in r else "—"
        print(f"| {r['engine']} | {r['k']} | {r['full_p50_us']:,} / {r['full_p99_us']:,} | "
              f"{r['screened_p50_us']:,} / {r['screened_p99_us']:,} | {hn} | "
              f"{r['replies_differing']} of {r['users_compared']} |")
    return 1 if any(r["replies_differing"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
