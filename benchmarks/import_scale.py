#!/usr/bin/env python3
"""Time and peak memory of `recfuse data import` at growing sizes (not a unit test).

    python3 benchmarks/import_scale.py [--sizes 100000,1000000,10000000] [--runs 3] [--bin .build/release/recfuse]

For each size it writes a seeded synthetic interactions CSV in a shop's shape (string user and
item ids, a 1-5 rating, an ISO 8601 time; users and items power-law distributed), then imports
it `--runs` times and prints the median wall time, rows per second and the peak RSS of the
import process (getrusage of the child). The files go to --work (default /tmp/rf-import-bench)
and are reused when already there.
"""
import argparse
import os
import pathlib
import random
import resource
import statistics
import subprocess
import sys
import time


def write_csv(path: pathlib.Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    users = max(100, rows // 20)
    items = max(50, rows // 30)
    t0 = 1_704_067_200
    with open(path, "w") as f:
        f.write("customer,sku,stars,purchased_at\n")
        chunk = []
        for n in range(rows):
            u = int(users * rng.random() ** 2)
            i = int(items * rng.random() ** 3)
            ts = t0 + rng.randrange(365 * 86400)
            chunk.append(f"u{u},sku-{i},{1 + rng.randrange(5)},{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ts))}\n")
            if len(chunk) == 100_000:
                f.writelines(chunk)
                chunk.clear()
        f.writelines(chunk)


def import_once(binary: str, src: pathlib.Path, out: pathlib.Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one import, measured around a fresh child."""
    t = time.perf_counter()
    # A wrapper process per run so ru_maxrss is this import's own peak, not an earlier one's.
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL,"
        " stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, binary, "data", "import", "--interactions", str(src), "--user-col", "customer",
         "--item-col", "sku", "--rating-col", "stars", "--time-col", "purchased_at", "--out", str(out),
         "--log-level", "warning"],
        check=True, capture_output=True, text=True, timeout=1800)
    return time.perf_counter() - t, int(r.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000,10000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=".build/release/recfuse")
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/rf-import-bench"))
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    print(f"{'rows':>10} {'file MB':>8} {'median s':>9} {'rows/s':>10} {'peak RSS MiB':>13}  runs")
    for size in (int(s) for s in a.sizes.split(",")):
        src = a.work / f"purchases-{size}.csv"
        if not src.exists():
            print(f"writing {src} ...", file=sys.stderr, flush=True)
            write_csv(src, size, seed=size)
        runs = []
        for k in range(a.runs):
            runs.append(import_once(a.bin, src, a.work / f"out-{size}"))
            print(f"  {size} run {k + 1}: {runs[-1][0]:.1f} s, {runs[-1][1] / 1024:.0f} MiB", file=sys.stderr, flush=True)
        secs = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs) / 1024
        mb = os.path.getsize(src) / 1e6
        print(f"{size:>10} {mb:>8.0f} {secs:>9.2f} {size / secs:>10.0f} {rss:>13.0f}  "
              + ", ".join(f"{r[0]:.1f}" for r in runs), flush=True)


if __name__ == "__main__":
    main()
