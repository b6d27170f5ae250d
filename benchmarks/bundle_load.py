#!/usr/bin/env python3
"""Bundle load cost: for each bundle, start `recfuse serve`, wait until its socket is up, and
report the wall time to serve and the server's resident memory split into anonymous pages
(the process's own heap: copies) and file pages (mapped bundle files, shared with the page
cache and with other servers mapping the same bundle). Medians over --runs fresh starts;
--drop-caches (root only) empties the page cache before each start, for cold-disk figures.

    python3 benchmarks/bundle_load.py --runs 3 /tmp/b-cat-300k /tmp/b-gat-300k

Prints one JSON line per bundle and a Markdown table at the end.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(rest.split()[0]) / 1024
    return out


def start_once(binary, bundle, drop_caches, timeout):
    if drop_caches:
        subprocess.run(["sync"], check=True)
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "rf.sock")
        log = open(os.path.join(tmp, "serve.log"), "w+")
        t0 = time.time()
        p = subprocess.Popen([binary, "serve", "--bundle", str(bundle), "--listen", f"ipc://{sock}",
                              "--log-level", "info"], stdout=log, stderr=subprocess.STDOUT)
        try:
            while not os.path.exists(sock):
                if p.poll() is not None or time.time() - t0 > timeout:
                    log.seek(0)
                    sys.exit(f"serve exited or hung:\n{log.read()[-2000:]}")
                time.sleep(0.02)
            up = time.time() - t0
            time.sleep(1.0)
            mem = memory(p.pid)
        finally:
            p.terminate()
            p.wait(timeout=30)
        return {"up_s": up, **mem}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="+")
    ap.add_argument("--binary", default=str(ROOT / ".build/release/recfuse"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--drop-caches", action="store_true")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    rows = []
    for b in a.bundles:
        runs = [start_once(a.binary, b, a.drop_caches, a.timeout) for _ in range(a.runs)]
        size = sum(f.stat().st_size for f in pathlib.Path(b).rglob("*") if f.is_file()) / 2 ** 20
        row = {"bundle": b, "bundle_mb": round(size), "runs": a.runs,
               **{k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}}
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("\n| bundle | on disk MB | up s | RSS MB | anonymous MB | file MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['bundle']} | {r['bundle_mb']} | {r['up_s']} | {r['VmRSS']:.0f} | {r['RssAnon']:.0f} "
              f"| {r['RssFile']:.0f} |")


if __name__ == "__main__":
    main()
