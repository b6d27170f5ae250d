#!/usr/bin/env python3
"""The catalogue table of docs/scale.md: per catalogue size and engine, bundle size, load time,
server RSS, Rank(100) and Retrieve(k 10) p50/p99 with 1 client (Retrieve exact and through the
HNSW index), Rank(100) req/s with 16 clients, each next to the NNG echo measured in the same
`recfuse bench` run.

    python3 benchmarks/catalogue_table.py --sizes 10000,100000,300000 --work /tmp/rf-catalogue

For each size N: `catalogue.py --items N --users max(5000, N/6) --ratings 10N --taste-clusters 64`,
`recfuse train --ann-min-items 0` (every dot-product engine gets an index) with popularity,
cooccurrence, rp3beta, svd, svdpp (and ease while N <= --ease-max-items), one server, and for
each engine `recfuse bench` runs: Rank 1 client, Rank 16 clients, Retrieve exact and
approximate 1 client. --runs repeats every bench and reports medians. Bundles are kept in
--work and reused when present (delete them to retrain). Bounded: every bench by --count and
--duration, every training by --train-timeout.
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
DOT = {"svd", "svdpp", "gat", "text"}


def sh(cmd, timeout, **kw):
    return subprocess.run(cmd, check=True, timeout=timeout, capture_output=True, text=True, **kw)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench(binary, sock, method, engine, clients, count, duration, extra=(), echo=True):
    cmd = [binary, "bench", "--url", sock, "--method", method, "--engine", engine, "--clients", str(clients),
           "--count", str(count), "--duration", str(duration), "--warmup", "50", "--json", "--log-level", "warning",
           *extra]
    if not echo:
        cmd.append("--no-echo")
    out = sh(cmd, timeout=duration * 3 + 60).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["target"]: r for r in rows}


def med(rows, target, key):
    vals = [r[target][key] for r in rows if target in r]
    return statistics.median(vals) if vals else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,300000")
    ap.add_argument("--work", default="/tmp/rf-catalogue")
    ap.add_argument("--binary", default=str(ROOT / ".build" / "release" / "recfuse"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--count16", type=int, default=20000)
    ap.add_argument("--count-retrieve", type=int, default=500)
    ap.add_argument("--duration", type=float, default=15)
    ap.add_argument("--ease-max-items", type=int, default=20000)
    ap.add_argument("--engines", default="popularity,cooccurrence,rp3beta,svd,svdpp")
    ap.add_argument("--train-timeout", type=float, default=3600)
    ap.add_argument("--json", default="", help="also write the rows here")
    a = ap.parse_args()
    work = pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in [int(s) for s in a.sizes.split(",")]:
        data, bundle = work / f"cat-{n}", work / f"bundle-{n}"
        engines = a.engines.split(",") + (["ease"] if n <= a.ease_max_items else [])
        if not (bundle / "manifest.json").exists():
            users = max(5000, n // 6)
            sh([sys.executable, str(ROOT / "benchmarks" / "catalogue.py"), "--users", str(users), "--items", str(n),
                "--ratings", str(10 * n), "--taste-clusters", "64", "--out", str(data)], timeout=600)
            t0 = time.time()
            cmd = [a.binary, "train", "--dataset", str(data), "--out", str(bundle), "--default-engine", "svdpp",
                   "--ann-min-items", "0", "--log-level", "info"]
            for e in engines:
                cmd += ["--engine", e]
            r = sh(cmd, timeout=a.train_timeout)
            print(f"{n}: trained {','.join(engines)} in {time.time() - t0:.0f} s", file=sys.stderr)
            (work / f"train-{n}.log").write_text(r.stderr + r.stdout)
        manifest = json.loads((bundle / "manifest.json").read_text())
        sock = f"ipc://{work}/rf-{n}.sock"
        if os.path.exists(sock[6:]):
            os.unlink(sock[6:])
        log = open(work / f"serve-{n}.log", "w+")
        t0 = time.time()
        p = subprocess.Popen([a.binary, "serve", "--bundle", str(bundle), "--listen", sock, "--log-level", "info"],
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            while not os.path.exists(sock[6:]):
                if p.poll() is not None or time.time() - t0 > 600:
                    sys.exit(f"serve exited or hung; see {log.name}")
                time.sleep(0.05)
            load_s = time.time() - t0
            time.sleep(1)
            rss = rss_mb(p.pid)
            log.seek(0)
            load_lines = [line.split("] ", 1)[-1].strip() for line in log if "loaded " in line]
            for e in manifest["engines"]:
                name = e["name"]
                files = [e["file"]] + ([e["index"]["file"]] if e.get("index") else [])
                size = sum((bundle / f).stat().st_size for f in files) / 2 ** 20
                r1, r16, rx, ra = [], [], [], []
                for _ in range(a.runs):
                    r1.append(bench(a.binary, sock, "rank", name, 1, a.count, a.duration))
                    r16.append(bench(a.binary, sock, "rank", name, 16, a.count16, a.duration))
                    rx.append(bench(a.binary, sock, "retrieve", name, 1, a.count_retrieve, a.duration,
                                    ["--retrieval", "exact"], echo=False))
                    if name in DOT and e.get("index"):
                        ra.append(bench(a.binary, sock, "retrieve", name, 1, a.count_retrieve, a.duration,
                                        ["--retrieval", "approximate"], echo=False))
                row = {
                    "items": n, "engine": name, "bundle_mb": round(size, 1),
                    "load_line": next((line for line in load_lines if line.startswith(f"loaded {name} ")), ""),
                    "server_load_s": round(load_s, 2), "server_rss_mb": round(rss),
                    "rank_p50": med(r1, "recfuse", "p50_us"), "rank_p99": med(r1, "recfuse", "p99_us"),
                    "echo_p50": med(r1, "nng echo", "p50_us"),
                    "rank16_rps": med(r16, "recfuse", "requests_per_second"),
                    "echo16_rps": med(r16, "nng echo", "requests_per_second"),
                    "retrieve_exact_p50": med(rx, "recfuse", "p50_us"), "retrieve_exact_p99": med(rx, "recfuse", "p99_us"),
                    "retrieve_ann_p50": med(ra, "recfuse", "p50_us") if ra else None,
                    "retrieve_ann_p99": med(ra, "recfuse", "p99_us") if ra else None,
                    "errors": sum(r["recfuse"]["errors"] for r in r1 + r16 + rx + ra),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            p.terminate()
            p.wait(timeout=30)
    if a.json:
        pathlib.Path(a.json).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    print("\n| items | engine | bundle MB | Rank p50 / p99 µs (echo p50) | Rank 16 clients req/s (echo) "
          "| Retrieve exact p50 / p99 µs | Retrieve HNSW p50 / p99 µs |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ann = f"{r['retrieve_ann_p50']:,.0f} / {r['retrieve_ann_p99']:,.0f}" if r["retrieve_ann_p50"] else "—"
        print(f"| {r['items']:,} | {r['engine']} | {r['bundle_mb']:,.1f} | {r['rank_p50']:,.0f} / {r['rank_p99']:,.0f} "
              f"({r['echo_p50']:,.0f}) | {r['rank16_rps']:,.0f} ({r['echo16_rps']:,.0f}) | "
              f"{r['retrieve_exact_p50']:,.0f} / {r['retrieve_exact_p99']:,.0f} | {ann} |")
    for n in sorted({r["items"] for r in rows}):
        r = next(x for x in rows if x["items"] == n)
        print(f"{n:,} items: server up in {r['server_load_s']} s, RSS {r['server_rss_mb']} MB")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
