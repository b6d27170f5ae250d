#!/usr/bin/env python3
"""Overload with a hung LLM: does cheap traffic keep its latency while LLM-backed traffic piles up?

    benchmarks/chaos.py [--bundle bundles/default] [--duration 20] [--runs 3]

Loopback only, bounded in time. Starts a scripted OpenAI-compatible server whose answers hang
for 30 s (`Tests/RecTestSupport/fake_openai.py`, model "slow") and a `recfuse serve` pointed at
it, then, per run:

  A. baseline: `recfuse bench` with 16 clients of Rank (100 candidates) at full rate for
     --duration seconds;
  B. chaos: the same Rank load while 8 clients send LLM-judged Reranks (deadline
     --rerank-deadline-ms each) back to back (or one per --rerank-interval-ms each) for the
     same time.

Reports Rank p50/p99 and error rate in both phases (ratio B/A, medians over the runs), the
share of Reranks answered within their deadline (and how many were degraded), and the
server's shedding and breaker counters from /metrics. Targets: Rank p99 within 2x of its
baseline; every reply within its deadline.
"""
import argparse
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Clients" / "python"))
import recfuse  # noqa: E402
from recfuse import recommender_pb2 as pb  # noqa: E402

FAKE = ROOT / "Tests" / "RecTestSupport" / "fake_openai.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(base):
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def bench(binary, url, clients, duration, deadline_ms):
    out = subprocess.run([binary, "bench", "--url", url, "--method", "rank", "--clients", str(clients),
                          "--count", "100000000", "--duration", str(duration), "--warmup", "50", "--no-echo", "--json",
                          "--deadline-ms", str(deadline_ms), "--engine", "svdpp", "--log-level", "error"],
                         capture_output=True, text=True, timeout=duration + 120)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not rows:
        sys.exit(f"bench failed: {out.stderr[-2000:]}")
    return rows[0]


def reranks(url, clients, duration, deadline_ms, stop, interval_ms=0):
    """`clients` threads sending LLM-judged Reranks until `stop` is set or `duration` passes,
    back to back or (`interval_ms`) one per interval each; returns per-call (seconds, outcome)."""
    results, lock = [], threading.Lock()
    end = time.time() + duration

    def run():
        with recfuse.Client(url, timeout=deadline_ms / 1000) as c:
            while not stop.is_set() and time.time() < end:
                t0 = time.perf_counter()
                try:
                    r = c.rerank(user_id="196", candidates=[str(i) for i in range(1, 21)],
                                 judge=pb.JUDGE_LLM_RELEVANCY)
                    outcome = "degraded" if r.meta.degraded else "ok"
                except recfuse.DeadlineExceeded:
                    outcome = "late"
                except recfuse.RpcError as e:
                    outcome = f"error {recfuse.Code(e.code).name}"
                took = time.perf_counter() - t0
                with lock:
                    results.append((took, outcome))
                if interval_ms and took < interval_ms / 1000:
                    stop.wait(interval_ms / 1000 - took)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads, results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / ".build" / "release" / "recfuse"))
    ap.add_argument("--bundle", default=str(ROOT / "bundles" / "default"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rank-clients", type=int, default=16)
    ap.add_argument("--rerank-clients", type=int, default=8)
    ap.add_argument("--rank-deadline-ms", type=int, default=1000)
    ap.add_argument("--rerank-deadline-ms", type=int, default=2000)
    ap.add_argument("--rerank-interval-ms", type=int, default=0,
                    help="each Rerank client sends one request per interval (0: back to back)")
    ap.add_argument("--serve-flag", action="append", default=[], help="extra `recfuse serve` flag (repeatable)")
    a = ap.parse_args()
    if not (pathlib.Path(a.bundle) / "manifest.json").exists():
        sys.exit(f"no bundle at {a.bundle}: train one first (scripts/run.sh, or recfuse train --engine all)")

    fake = subprocess.Popen([sys.executable, "-u", str(FAKE), "0", "30"], stdout=subprocess.PIPE, text=True)
    line = fake.stdout.readline()
    assert line.startswith("PORT "), line
    llm = f"http://127.0.0.1:{int(line.split()[1])}/v1"
    tmp = tempfile.mkdtemp(prefix="rf-chaos-")
    url = f"ipc://{tmp}/rf.sock"
    base = f"http://127.0.0.1:{free_port()}"
    server = subprocess.Popen([a.binary, "serve", "--bundle", a.bundle, "--listen", url, "--models-dir", a.models_dir,
                               "--llm-base-url", llm, "--llm-model", "slow", "--llm-retries", "0",
                               "--metrics-listen", base, "--log-level", "warning", *a.serve_flag])
    try:
        for _ in range(600):
            try:
                with recfuse.Client(url, timeout=0.5) as c:
                    c.health()
                break
            except recfuse.RpcError:
                if server.poll() is not None:
                    sys.exit("recfuse serve exited")
                time.sleep(0.1)
        rows = []
        for run in range(a.runs):
            base_row = bench(a.binary, url, a.rank_clients, a.duration, a.rank_deadline_ms)
            before = metrics(base)
            stop = threading.Event()
            threads, rr = reranks(url, a.rerank_clients, a.duration + 5, a.rerank_deadline_ms, stop,
                                  a.rerank_interval_ms)
            time.sleep(1.0)  # let the Reranks fill the slow places first
            chaos_row = bench(a.binary, url, a.rank_clients, a.duration, a.rank_deadline_ms)
            stop.set()
            for t in threads:
                t.join(a.rerank_deadline_ms / 1000 + 10)
            after = metrics(base)
            within = sum(1 for s, o in rr if o in ("ok", "degraded") and s <= a.rerank_deadline_ms / 1000)
            degraded = sum(1 for _, o in rr if o == "degraded")
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if "shed_total" in k or "llm_failures" in k}
            row = {
                "run": run + 1,
                "rank_baseline": {k: base_row[k] for k in ("requests_per_second", "p50_us", "p99_us", "errors",
                                                           "requests")},
                "rank_chaos": {k: chaos_row[k] for k in ("requests_per_second", "p50_us", "p99_us", "errors",
                                                         "requests")},
                "reranks": len(rr), "reranks_within_deadline": within, "reranks_degraded": degraded,
                "rerank_p50_ms": 1000 * statistics.median([s for s, _ in rr]) if rr else None,
                "rerank_max_ms": 1000 * max(s for s, _ in rr) if rr else None,
                "rerank_outcomes": {o: sum(1 for _, x in rr if x == o) for o in sorted({x for _, x in rr})},
                "metrics_delta": delta,
                "breaker_state": after.get("recfuse_llm_breaker_state"),
                "breaker_openings": after.get("recfuse_llm_breaker_openings_total"),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        med = lambda xs: statistics.median(xs)  # noqa: E731
        b99 = med([r["rank_baseline"]["p99_us"] for r in rows])
        c99 = med([r["rank_chaos"]["p99_us"] for r in rows])
        b50 = med([r["rank_baseline"]["p50_us"] for r in rows])
        c50 = med([r["rank_chaos"]["p50_us"] for r in rows])
        brate = med([r["rank_baseline"]["requests_per_second"] for r in rows])
        crate = med([r["rank_chaos"]["requests_per_second"] for r in rows])
        print(f"\nRank ({a.rank_clients} clients, {a.duration:g} s per phase), medians of {len(rows)} runs:")
        print(f"  baseline: {brate:,.0f} req/s, p50 {b50:,.0f} us, p99 {b99:,.0f} us, "
              f"errors {sum(r['rank_baseline']['errors'] for r in rows)}")
        print(f"  chaos:    {crate:,.0f} req/s, p50 {c50:,.0f} us, p99 {c99:,.0f} us, "
              f"errors {sum(r['rank_chaos']['errors'] for r in rows)}  (p99 {c99 / b99:.2f}x the baseline)")
        total = sum(r["reranks"] for r in rows)
        print(f"Reranks ({a.rerank_clients} clients, LLM hung for 30 s, deadline {a.rerank_deadline_ms} ms): {total} "
              f"sent, {sum(r['reranks_within_deadline'] for r in rows)} answered within the deadline, "
              f"{sum(r['reranks_degraded'] for r in rows)} degraded; max {max(r['rerank_max_ms'] or 0 for r in rows):.0f} ms")
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        fake.kill()
        fake.wait()


if __name__ == "__main__":
    main()
