#!/usr/bin/env python3
"""Rerank latency with the local judge: 20 candidates and a preference sentence the server
has never seen (so MiniLM embeds it inside the request), one call at a time over NNG IPC,
through the Python client. Rank on the same 20 candidates and Health are measured in the
same session as baselines.

    benchmarks/rerank.py --bundle bundles/default [--runs 5] [--calls 300]

Prints per-run p50/p90/p99 in milliseconds and the median of each over the runs. Needs a
release build (`swift build -c release`) unless RECFUSE_BIN says otherwise.
"""
import argparse
import os
import pathlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Clients" / "python"))
import recfuse  # noqa: E402
from recfuse import recommender_pb2 as pb  # noqa: E402

WORDS = ("quiet funny dark tense romantic sprawling animated clever slow gritty hopeful strange "
         "musical violent gentle epic courtroom wartime space western noir heist coming-of-age").split()


def sentence(rng, n):
    return f"I want {' '.join(rng.sample(WORDS, 4))} films, something like number {n}."


def percentiles(xs):
    xs = sorted(xs)
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]  # noqa: E731
    return q(0.5), q(0.9), q(0.99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default=str(ROOT / "bundles" / "default"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    a = ap.parse_args()
    binary = os.environ.get("RECFUSE_BIN", str(ROOT / ".build" / "release" / "recfuse"))
    tmp = tempfile.mkdtemp(prefix="rf-bench-")
    url = f"ipc://{tmp}/rf.sock"
    server = subprocess.Popen([binary, "serve", "--bundle", a.bundle, "--listen", url, "--models-dir", a.models_dir,
                               "--log-level", "warning"])
    try:
        c = recfuse.Client(url, timeout=10)
        for _ in range(300):
            try:
                c.health(timeout=0.5)
                break
            except recfuse.RpcError:
                time.sleep(0.1)
        cands = [it.item_id for it in c.retrieve(user_id="196", k=20, engine="svdpp").items]
        rng = random.Random(7)
        counter = [0]

        def fresh():
            counter[0] += 1
            return sentence(rng, counter[0])

        kinds = {
            "rerank local, stored user + fresh sentence":
                lambda: c.rerank(user_id="196", candidates=cands, judge=pb.JUDGE_LOCAL, preference=fresh()),
            "rerank local, new user, fresh sentence only":
                lambda: c.rerank(candidates=cands, judge=pb.JUDGE_LOCAL, preference=fresh()),
            "rank gat, stored user (baseline)": lambda: c.rank(user_id="196", item_ids=cands, engine="gat"),
            "health (baseline)": lambda: c.health(),
        }
        results = {k: [] for k in kinds}
        for run in range(a.runs):
            for name, call in kinds.items():  # alternate kinds within each run
                for _ in range(a.warmup):
                    call()
                lat = []
                for _ in range(a.calls):
                    t0 = time.perf_counter()
                    r = call()
                    lat.append((time.perf_counter() - t0) * 1e3)
                    if hasattr(r, "meta") and getattr(r.meta, "degraded", False) and "rerank" in name:
                        sys.exit(f"degraded reply: {r.meta.degraded_reason}")
                p = percentiles(lat)
                results[name].append(p)
                print(f"run {run + 1} {name}: p50 {p[0]:.2f} ms, p90 {p[1]:.2f} ms, p99 {p[2]:.2f} ms", flush=True)
        print(f"\n{a.runs} runs x {a.calls} calls, medians over runs (ms):")
        print("| request | p50 | p90 | p99 |\n|---|---:|---:|---:|")
        for name, ps in results.items():
            med = [statistics.median(p[i] for p in ps) for i in range(3)]
            print(f"| {name} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} |")
        c.close()
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
