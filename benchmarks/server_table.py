#!/usr/bin/env python3
"""The latency/throughput table of docs/operations.md: `recfuse bench` (Rank of 100 candidates
over ipc, with its bare NNG echo baseline) at 1 and 16 clients, several runs, medians.

    benchmarks/server_table.py [--runs 3] [--clients 1,16] [--count 20000] [LABEL=BINARY ...]

Each LABEL=BINARY is a recfuse binary to serve with (default: this tree's release build),
so two builds can be compared in one session: runs interleave the binaries, and each run
starts a fresh server. The load generator (and its echo, in its own process) is always
`--loader`, this tree's release build by default, so every build meets the same baseline.
Prints one row per (binary, clients) and its echo: medians of req/s, p50 and p99 over the
runs, and the ratios to the echo measured in the same run.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The engine every Rank names (not the bundle's default, which training chooses).
ENGINE = os.environ.get("RECFUSE_BENCH_ENGINE", "gat")


def serve(binary, bundle, models, sock, blas_threads):
    p = subprocess.Popen([binary, "serve", "--bundle", bundle, "--listen", sock, "--models-dir", models,
                          "--log-level", "warning", "--blas-threads", str(blas_threads)])
    path = sock.removeprefix("ipc://")
    for _ in range(600):
        if os.path.exists(path):
            time.sleep(0.5)
            return p
        if p.poll() is not None:
            sys.exit(f"{binary} serve exited with {p.returncode}")
        time.sleep(0.1)
    p.kill()
    sys.exit(f"{binary} serve did not start")


def bench(binary, sock, clients, count, duration):
    out = subprocess.run([binary, "bench", "--url", sock, "--method", "rank", "--engine", ENGINE, "--clients", str(clients),
                          "--count", str(count), "--duration", str(duration), "--json", "--log-level", "warning"],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["target"]: r for r in rows}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="*", help="LABEL=BINARY (default: this tree's release build)")
    ap.add_argument("--bundle", default=str(ROOT / "bundles" / "default"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", default="1,16")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--duration", type=float, default=15)
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--loader", default=str(ROOT / ".build" / "release" / "recfuse"), help="recfuse binary running bench")
    a = ap.parse_args()
    builds = [b.split("=", 1) for b in a.builds] or [["recfuse", str(ROOT / ".build" / "release" / "recfuse")]]
    loader = a.loader
    clients = [int(c) for c in a.clients.split(",")]
    results = {}  # (label, clients) -> list of {target: row}
    for run in range(a.runs):
        for label, binary in builds:
            sock = f"ipc:///tmp/rf-table-{os.getpid()}.sock"
            server = serve(binary, a.bundle, a.models_dir, sock, a.blas_threads)
            try:
                bench(loader, sock, 1, 2000, 10)  # warm-up, not recorded
                for c in clients:
                    r = bench(loader, sock, c, a.count, a.duration)
                    results.setdefault((label, c), []).append(r)
                    s, e = r["recfuse"], r["nng echo"]
                    print(f"run {run + 1} {label:>10} {c:>2} clients: {s['requests_per_second']:8.0f} req/s "
                          f"p50 {s['p50_us']:7.1f} p99 {s['p99_us']:7.1f} | echo {e['requests_per_second']:8.0f} req/s "
                          f"p50 {e['p50_us']:7.1f} p99 {e['p99_us']:7.1f}", file=sys.stderr, flush=True)
            finally:
                server.kill()
                server.wait()
    med = statistics.median
    print(f"\nmedians over {a.runs} runs; Rank of 100 candidates over ipc; latency in µs")
    print("| build | clients | target | req/s | p50 | p90 | p99 | p99.9 | req/s ÷ echo | p50 ÷ echo |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for (label, c), rs in results.items():
        for target in ("recfuse", "nng echo"):
            col = lambda k: med(r[target][k] for r in rs)  # noqa: E731
            ratio = ""
            if target == "recfuse":
                rate = med(r["recfuse"]["requests_per_second"] / r["nng echo"]["requests_per_second"] for r in rs)
                p50 = med(r["recfuse"]["p50_us"] / r["nng echo"]["p50_us"] for r in rs)
                ratio = f" {rate:.2f} | {p50:.2f} |"
            else:
                ratio = " | |"
            print(f"| {label} | {c} | {target} | {col('requests_per_second'):,.0f} | {col('p50_us'):.1f} | "
                  f"{col('p90_us'):.1f} | {col('p99_us'):.1f} | {col('p999_us'):.1f} |{ratio}")


if __name__ == "__main__":
    main()
