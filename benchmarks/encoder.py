#!/usr/bin/env python3
"""Sentence-encoder speed: recfuse's native all-MiniLM-L6-v2 against sentence-transformers on
PyTorch CPU, on the 1,682 ml-100k item profiles ("Title (year). Genres: a, b."), in one session.

    python3 -m venv .venv-st && .venv-st/bin/pip install sentence-transformers
    .venv-st/bin/python benchmarks/encoder.py [--recfuse .build/release/recfuse] [--runs 5] [--out docs/encoder-benchmark.md]

Runs alternate between the two (A B A B ...) so that machine noise hits both alike; medians
are reported. recfuse's figures are its own encode time (tokenising included, model loading
excluded, as `recfuse embed` prints it); sentence-transformers' are `model.encode` with the
model already loaded. Peak RSS is the whole `recfuse embed` process (ru_maxrss). Agreement:
the minimum cosine between the two sets of embeddings. Not a unit test.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def item_texts(recfuse, data_dir):
    out = subprocess.run([recfuse, "profiles", "--kind", "items", "--data-dir", data_dir, "--log-level", "warning"],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(l)["text"] for l in out.splitlines()]


def recfuse_run(recfuse, model, path, batch, out):
    err = tempfile.TemporaryFile()
    # GNU time reports the peak RSS of recfuse itself; ru_maxrss from wait4 would include the
    # forked Python (with PyTorch loaded) from before exec.
    timer = ["/usr/bin/time", "-f", "maxrss_kb=%M"] if os.path.exists("/usr/bin/time") else []
    p = subprocess.Popen([*timer, recfuse, "embed", "--model", model, "--input", path, "--batch-size", str(batch),
                          "--format", "safetensors", "--output", out], stdout=subprocess.DEVNULL, stderr=err)
    p.wait()
    err.seek(0)
    stderr = err.read().decode()
    assert p.returncode == 0, stderr
    m = re.search(r"embedded (\d+) sentences \((\d+) tokens\) in ([0-9.]+) s", stderr)
    n, tokens, secs = int(m.group(1)), int(m.group(2)), float(m.group(3))
    rss = re.search(r"maxrss_kb=(\d+)", stderr)
    return n / secs, tokens / secs, int(rss.group(1)) / 1024 if rss else float("nan")


def read_embeddings(path):
    import numpy as np
    import struct
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    h = json.loads(raw[8:8 + n])["embeddings"]
    a, b = h["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32).reshape(h["shape"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recfuse", default=os.path.join(ROOT, ".build/release/recfuse"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/all-MiniLM-L6-v2"))
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "data"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out")
    args = ap.parse_args()

    texts = item_texts(args.recfuse, args.data_dir)
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "items.txt")
    with open(path, "w") as f:
        f.write("\n".join(texts) + "\n")
    emb_path = os.path.join(tmp, "emb.safetensors")

    import torch
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(args.model, device="cpu")
    torch_threads = torch.get_num_threads()
    st.encode(texts[:64], batch_size=32)  # warm-up

    results = {("recfuse", 32): [], ("recfuse", 1): [], ("st", 32): [], ("st", 1): []}
    tokens_per_s = {32: [], 1: []}
    rss = []
    for _ in range(args.runs):
        for batch in (32, 1):
            s, t, r = recfuse_run(args.recfuse, args.model, path, batch, emb_path)
            results[("recfuse", batch)].append(s)
            tokens_per_s[batch].append(t)
            rss.append(r)
            t0 = time.perf_counter()
            ref = st.encode(texts, batch_size=batch, normalize_embeddings=True)
            results[("st", batch)].append(len(texts) / (time.perf_counter() - t0))
    ours = read_embeddings(emb_path)
    min_cos = float((ours * ref).sum(1).min())

    med = {k: statistics.median(v) for k, v in results.items()}
    lines = [
        f"# Sentence-encoder speed: recfuse vs sentence-transformers (PyTorch {torch.__version__}, CPU)",
        "",
        f"{len(texts)} ml-100k item profiles, all-MiniLM-L6-v2, {args.runs} alternating runs, medians; "
        f"{os.cpu_count()} cores, PyTorch threads {torch_threads}. Produced by `benchmarks/encoder.py`.",
        "",
        "| batch | recfuse sentences/s | recfuse tokens/s | sentence-transformers sentences/s | ratio |",
        "|---:|---:|---:|---:|---:|",
    ]
    for b in (32, 1):
        lines.append(f"| {b} | {med[('recfuse', b)]:.0f} | {statistics.median(tokens_per_s[b]):.0f} | "
                     f"{med[('st', b)]:.0f} | {med[('recfuse', b)] / med[('st', b)]:.2f}x |")
    lines += ["", f"recfuse peak RSS (whole `recfuse embed` process): {max(rss):.0f} MB (median {statistics.median(rss):.0f} MB).",
              f"Minimum cosine between recfuse's and sentence-transformers' embeddings: {min_cos:.6f}.",
              "", "Every run (sentences/s):", ""]
    for (who, b), v in results.items():
        lines.append(f"- {who} batch {b}: " + ", ".join(f"{x:.0f}" for x in v))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
