#!/usr/bin/env python3
"""The write path's figures in docs/writes.md: Feedback throughput with one client, reads while
writing, and the store's size per million events.

    benchmarks/write_path.py [--bundle DIR] [--runs 3] [--postgres URL]

Each run starts a fresh server (release build) with a fresh store, then:
  1. writes: `recfuse bench --method feedback` with one client at 1, 10 and 100 events per
     request (events/s = requests/s x batch; p50/p99 per request);
  2. reads while writing: Rank(100) with one client alone, then again while a second process
     writes feedback with one client: 5,000 events/s in requests of 1,000, the same rate in
     requests of 100, and requests of 100 as fast as it can; p50/p99 of each, and the p99
     ratio to the reads alone in the same run;
  3. size: 1,000,000 events written (1,000 per request), then the store's size on disk
     (SQLite: the database and its WAL after a checkpoint; PostgreSQL: pg_total_relation_size).
Prints medians over the runs as a Markdown table. Every load is bounded in count and time.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = str(ROOT / ".build" / "release" / "recfuse")
ENGINE = os.environ.get("RECFUSE_BENCH_ENGINE", "gat")
# The writers reads are measured against: (label, events per request, requests/s; 0 = unpaced).
WRITERS = (("5k/s in requests of 1000", 1000, 5.0), ("5k/s in requests of 100", 100, 50.0),
           ("unpaced, requests of 100", 100, 0.0))


def serve(bundle, models, sock, store):
    p = subprocess.Popen([BIN, "serve", "--bundle", bundle, "--listen", sock, "--models-dir", models,
                          "--log-level", "warning", "--store", store])
    path = sock.removeprefix("ipc://")
    for _ in range(600):
        if os.path.exists(path):
            time.sleep(0.5)
            return p
        if p.poll() is not None:
            sys.exit(f"serve exited with {p.returncode}")
        time.sleep(0.1)
    p.kill()
    sys.exit("serve did not start")


def bench(sock, method, clients=1, count=10000, duration=15.0, batch=1, warmup=100, rate=0.0):
    out = subprocess.run([BIN, "bench", "--url", sock, "--method", method, "--engine", ENGINE,
                          "--clients", str(clients), "--count", str(count), "--duration", str(duration),
                          "--batch", str(batch), "--warmup", str(warmup), "--rate", str(rate), "--no-echo", "--json",
                          "--log-level", "warning"], check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    r = rows[0]
    assert r["errors"] == 0, r
    return r


def one_run(args, run):
    tmp = tempfile.mkdtemp(prefix="rf-wbench-")
    sock = f"ipc://{tmp}/rf.sock"
    store = args.postgres or f"sqlite:{tmp}/store.sqlite"
    if args.postgres:  # a fresh table per run
        subprocess.run(["psql", args.postgres, "-qc", "DROP TABLE IF EXISTS events, recfuse_meta"], check=True)
    p = serve(args.bundle, args.models_dir, sock, store)
    out = {}
    try:
        for b in (1, 10, 100):
            r = bench(sock, "feedback", count=20000 if b == 1 else 4000, duration=10, batch=b)
            out[f"write_b{b}"] = (r["requests_per_second"] * b, r["p50_us"], r["p99_us"])
        alone = bench(sock, "rank", count=args.reads, duration=20)
        out["read_alone"] = (alone["requests_per_second"], alone["p50_us"], alone["p99_us"])
        # The writer runs for longer than the reads, so every read meets it: paced at 5,000
        # events/s (50 requests of 100), then as fast as one client can.
        for label, batch, rate in WRITERS:
            w = {}
            writer = threading.Thread(target=lambda: w.update(bench(
                sock, "feedback", count=1_000_000, duration=12, batch=batch, warmup=2, rate=rate)))
            writer.start()
            time.sleep(1.0)
            busy = bench(sock, "rank", count=args.reads, duration=10)
            writer.join()
            out[f"read_writing_{label}"] = (busy["requests_per_second"], busy["p50_us"], busy["p99_us"])
            out[f"writer_events_s_{label}"] = w["requests_per_second"] * batch
        if run == 0:
            # Size per million events: on top of what was written so far, a million more.
            before = size(args, tmp)
            t0 = time.time()
            bench(sock, "feedback", count=1000, duration=300, batch=1000, warmup=0)
            out["million_s"] = time.time() - t0
            out["million_bytes"] = size(args, tmp) - before
    finally:
        p.terminate()
        p.wait(30)
    return out


def size(args, tmp):
    if args.postgres:
        q = subprocess.run(["psql", args.postgres, "-Atc", "SELECT pg_total_relation_size('events')"],
                           check=True, capture_output=True, text=True).stdout
        return int(q.strip())
    return sum(os.path.getsize(f"{tmp}/store.sqlite{s}") for s in ("", "-wal")
               if os.path.exists(f"{tmp}/store.sqlite{s}"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default=str(ROOT / "bundles" / "default"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reads", type=int, default=10000)
    ap.add_argument("--postgres", help="postgres:// URL of a server to measure instead of SQLite")
    args = ap.parse_args()
    runs = []
    for n in range(args.runs):
        runs.append(one_run(args, n))
        print(f"run {n + 1}/{args.runs}: {runs[-1]}", file=sys.stderr, flush=True)

    def med(key, i):
        return statistics.median(r[key][i] for r in runs)
    kind = "postgres" if args.postgres else "sqlite"
    print(f"store: {kind}; medians of {args.runs} runs; one client unless said")
    print("| load | events/s or req/s | p50 µs | p99 µs |")
    print("|---|---:|---:|---:|")
    for b in (1, 10, 100):
        print(f"| Feedback, {b} event(s) per request | {med(f'write_b{b}', 0):,.0f} events/s | "
              f"{med(f'write_b{b}', 1):.0f} | {med(f'write_b{b}', 2):.0f} |")
    print(f"| Rank(100) alone | {med('read_alone', 0):,.0f} req/s | {med('read_alone', 1):.0f} | "
          f"{med('read_alone', 2):.0f} |")
    for label, batch, _ in WRITERS:
        key = f"read_writing_{label}"
        print(f"| Rank(100) while one client writes "
              f"{statistics.median(r[f'writer_events_s_{label}'] for r in runs):,.0f} events/s, {batch} per request | "
              f"{med(key, 0):,.0f} req/s | {med(key, 1):.0f} | {med(key, 2):.0f} |")
    for label, _, _ in WRITERS:
        ratios = [r[f"read_writing_{label}"][2] / r["read_alone"][2] for r in runs]
        print(f"Rank p99 while writing ({label}) / alone, per run: {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"median {statistics.median(ratios):.2f}")
    per_event = runs[0]["million_bytes"] / 1e6
    print(f"size: {per_event:.0f} MB per million events ({per_event:.0f} bytes per event; the million written "
          f"in {runs[0]['million_s']:.1f} s, 1,000 per request)")


if __name__ == "__main__":
    main()
