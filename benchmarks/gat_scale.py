#!/usr/bin/env python3
"""How GAT training scales: MovieLens-shaped synthetic data (benchmarks/synth.py) at several
sizes, `recfuse train` of the GAT next to SVD++ and EASE on the same data; wall time, seconds
per epoch, epochs to the early stop and peak RSS (from /usr/bin/time).

    python3 benchmarks/gat_scale.py [--sizes 100000,1000000,10000000] [--engines gat,svdpp,ease]
                                    [--timeout 7200] [--gat-flag --gat-max-epochs=3 ...]

Datasets are generated into data/synth-<ratings> when missing (seed 7). Each run has a time
bound (`--timeout` seconds); a run that hits it is reported as such. Prints one line per run
as it finishes and a markdown table at the end.
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def label(n):
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000,10000000")
    ap.add_argument("--engines", default="gat,svdpp,ease")
    ap.add_argument("--timeout", type=float, default=7200)
    ap.add_argument("--recfuse", default=str(ROOT / ".build/release/recfuse"))
    ap.add_argument("--data-dir", default=str(ROOT / "data"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--gat-flag", action="append", default=[], help="extra flag for the GAT runs (--gat-x=v)")
    a = ap.parse_args()
    rows = []
    for n in [int(s) for s in a.sizes.split(",")]:
        folder = pathlib.Path(a.data_dir) / f"synth-{label(n)}"
        if not folder.exists():
            subprocess.run([sys.executable, str(ROOT / "benchmarks/synth.py"), "--ratings", str(n), "--out", str(folder)],
                           check=True)
        for engine in a.engines.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                out = pathlib.Path(tmp) / "b"
                cmd = ["/usr/bin/time", "-v", a.recfuse, "train", "--dataset", str(folder), "--engine", engine,
                       "--default-engine", engine, "--models-dir", a.models_dir, "--out", str(out), "--log-level", "warning"]
                if engine == "gat":
                    cmd += a.gat_flag
                t0 = time.time()
                try:
                    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
                    status = "ok" if p.returncode == 0 else f"exit {p.returncode}: {p.stderr.strip().splitlines()[-2:]}"
                    err = p.stderr
                except subprocess.TimeoutExpired as e:
                    # text=True does not decode what a timed-out run had written
                    status, err = f"stopped at the {a.timeout:.0f} s bound", (e.stderr or b"").decode(errors="replace")
                wall = time.time() - t0
                rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
                row = {"ratings": n, "engine": engine, "status": status, "wall_s": wall,
                       "peak_rss_mb": int(rss.group(1)) / 1024 if rss else None}
                if (out / "manifest.json").exists():
                    m = json.loads((out / "manifest.json").read_text())
                    e = next(x for x in m["engines"] if x["name"] == engine)
                    row["fit_s"] = e["fit_seconds"]
                    row.update({k: v for k, v in e.get("metrics", {}).items()})
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| ratings | engine | fit s | s / epoch | epochs (best) | peak RSS MB | status |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for r in rows:
        spe = f"{r['seconds_per_epoch']:.1f}" if "seconds_per_epoch" in r else "–"
        ep = f"{int(r['epochs'])} ({int(r['best_epoch'])})" if "epochs" in r else "–"
        fit = f"{r['fit_s']:.1f}" if "fit_s" in r else f"({r['wall_s']:.0f} wall)"
        rss = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else "–"
        print(f"| {r['ratings']:,} | {r['engine']} | {fit} | {spe} | {ep} | {rss} | {r['status']} |")


if __name__ == "__main__":
    main()
