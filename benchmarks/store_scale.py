#!/usr/bin/env python3
"""How the write store's costs grow with what it holds: for stores of 0.1, 1 and 10 million
feedback events (written through the server, 1,000 per request, 1,000 users, every item of
the bundle), the time a server takes to start on it (until it answers Health), its resident
memory then, the file size, and Rank(100) p50/p99 for a user with recorded feedback.

    .venv/bin/python benchmarks/store_scale.py [--bundle DIR] [--sizes 100000,1000000,10000000]

Release build; each size is a fresh store; every load is bounded in count and time.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = str(ROOT / ".build" / "release" / "recfuse")


def start(bundle, models, sock, store):
    t0 = time.time()
    p = subprocess.Popen([BIN, "serve", "--bundle", bundle, "--listen", sock, "--models-dir", models,
                          "--log-level", "warning", "--store", store])
    sys.path.insert(0, str(ROOT / "Clients" / "python"))
    import recfuse
    deadline = t0 + 900
    while True:
        if p.poll() is not None:
            sys.exit(f"serve exited with {p.returncode}")
        try:
            with recfuse.Client(sock, timeout=0.5) as c:
                c.health()
            return p, time.time() - t0
        except recfuse.RpcError:
            if time.time() > deadline:
                p.kill()
                sys.exit("serve did not answer within 900 s")
            time.sleep(0.05)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench(sock, *args):
    out = subprocess.run([BIN, "bench", "--url", sock, "--no-echo", "--json", "--log-level", "warning", *args],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert r["errors"] == 0, r
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default=str(ROOT / "bundles" / "default"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--sizes", default="100000,1000000,10000000")
    args = ap.parse_args()
    print("| events in the store | file MB | start s | RSS MB | Rank(100) p50 µs | p99 µs |")
    print("|---:|---:|---:|---:|---:|---:|")
    tmp0 = tempfile.mkdtemp(prefix="rf-scale-")
    sock0 = f"ipc://{tmp0}/rf.sock"
    p, secs = start(args.bundle, args.models_dir, sock0, f"sqlite:{tmp0}/empty.sqlite")
    rank = bench(sock0, "--method", "rank", "--engine", "gat", "--user", "bench-7", "--count", "5000")
    print(f"| 0 | 0 | {secs:.1f} | {rss_mb(p.pid):.0f} | {rank['p50_us']:.0f} | {rank['p99_us']:.0f} |", flush=True)
    p.terminate()
    p.wait(30)
    for n in (int(x) for x in args.sizes.split(",")):
        tmp = tempfile.mkdtemp(prefix="rf-scale-")
        sock, store = f"ipc://{tmp}/rf.sock", f"sqlite:{tmp}/store.sqlite"
        p, _ = start(args.bundle, args.models_dir, sock, store)
        bench(sock, "--method", "feedback", "--batch", "1000", "--count", str(n // 1000), "--duration", "1200",
              "--warmup", "0")
        p.terminate()
        p.wait(60)
        size = sum(os.path.getsize(f"{tmp}/store.sqlite{s}") for s in ("", "-wal")
                   if os.path.exists(f"{tmp}/store.sqlite{s}"))
        p, secs = start(args.bundle, args.models_dir, sock, store)
        # bench-7 is one of the 1,000 writing users: its history is the bundle's plus n/1000 events.
        rank = bench(sock, "--method", "rank", "--engine", "gat", "--user", "bench-7", "--count", "5000")
        print(f"| {n:,} | {size / 1e6:.0f} | {secs:.1f} | {rss_mb(p.pid):.0f} | {rank['p50_us']:.0f} | "
              f"{rank['p99_us']:.0f} |", flush=True)
        p.terminate()
        p.wait(60)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
