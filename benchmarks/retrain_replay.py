#!/usr/bin/env python3
"""A retrain on real feedback: ml-100k's ratings in time order, the first 90 % trained into a
bundle, the last 10 % sent to a server as Feedback (in time order, 500 per request), then one
Admin/Retrain. The retrain holds out the most recent tenth of what was recorded and reports
NDCG@10 of the served bundle (which never saw any of it, but serves it as history) and of
the retrained one (trained on the rest of it), and whether it swapped.

    .venv/bin/python benchmarks/retrain_replay.py [--data data/ml-100k] [--engine gat]

Release build; the bundle trains with `--default-engine ENGINE` (and every engine); bounded
by the timeouts below.
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = str(ROOT / ".build" / "release" / "recfuse")
sys.path.insert(0, str(ROOT / "Clients" / "python"))
import recfuse  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT / "data" / "ml-100k"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--engine", default="gat")
    ap.add_argument("--train-fraction", type=float, default=0.9)
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rf-replay-"))
    src = pathlib.Path(args.data)
    inter = next(src.glob("*.inter"))
    lines = inter.read_text(encoding="latin-1").splitlines()
    header, rows = lines[0], [r.split("\t") for r in lines[1:] if r.strip()]
    rows.sort(key=lambda r: (int(r[3]), r[0], r[1]))
    cut = int(len(rows) * args.train_fraction)
    data = tmp / "ml-100k"
    data.mkdir()
    for f in src.iterdir():
        if f.suffix in (".item", ".user"):
            shutil.copy(f, data / f.name)
    (data / "ml-100k.inter").write_text("\n".join([header] + ["\t".join(r) for r in rows[:cut]]) + "\n",
                                        encoding="latin-1")
    bundle = tmp / "bundle"
    t0 = time.time()
    subprocess.run([BIN, "train", "--dataset", str(data), "--out", str(bundle), "--models-dir", args.models_dir,
                    "--default-engine", args.engine, "--log-level", "warning"], check=True, timeout=1800)
    print(f"trained the first {cut} ratings in {time.time() - t0:.0f} s", flush=True)
    token = tmp / "token"
    token.write_text("replay-admin-token-0123456789\n")
    sock = f"ipc://{tmp}/rf.sock"
    p = subprocess.Popen([BIN, "serve", "--bundle", str(bundle), "--listen", sock, "--models-dir", args.models_dir,
                          "--store", f"sqlite:{tmp}/store.sqlite", "--admin-token-file", str(token),
                          "--retrain-dir", str(tmp / "retrained"), "--log-level", "info"])
    try:
        deadline = time.time() + 120
        while True:
            try:
                with recfuse.Client(sock, timeout=0.5) as c:
                    c.health()
                break
            except recfuse.RpcError:
                if time.time() > deadline or p.poll() is not None:
                    sys.exit("server did not start")
                time.sleep(0.1)
        with recfuse.Client(sock, timeout=60) as c:
            rest = rows[cut:]
            for i in range(0, len(rest), 500):
                c.feedback([{"user_id": r[0], "item_id": r[1], "rating": float(r[2]), "timestamp": int(r[3]),
                             "event_id": f"ml-{r[0]}-{r[1]}"} for r in rest[i:i + 500]])
            print(f"recorded the last {len(rest)} ratings as feedback", flush=True)
            t0 = time.time()
            r = c.retrain("replay-admin-token-0123456789", timeout=3600)
            print(f"retrain in {time.time() - t0:.0f} s: swapped={r.swapped}; {r.message}")
            print(f"held out {r.holdout_events} events of {r.holdout_users} users; trained on {r.trained_events} "
                  f"recorded events; serving {r.bundle_version} (was {r.previous_version})")
    finally:
        p.terminate()
        p.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
