"""Prometheus /metrics, /healthz and /readyz on libnng's HTTP server (serve --metrics-listen)."""
import re
import urllib.error
import urllib.request

import pytest

import recfuse
from recfuse import Code

from conftest import ServerProc, fake_llm_server, free_port


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


_SERIES = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$', re.M)
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def sample(text, name, **labels):
    """The sum of the series called `name` whose labels include `labels` (as PromQL's
    `sum(name{labels})`), or None when no series matches. Extra labels on a series (the
    transport, for example) do not stop it matching."""
    total, found = 0.0, False
    for m in _SERIES.finditer(text):
        if m.group(1) != name:
            continue
        have = dict(_LABEL.findall(m.group(2) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            total += float(m.group(3))
            found = True
    return total if found else None


def test_metrics_health_and_readiness(bundle_dir):
    base = f"http://127.0.0.1:{free_port()}"
    s = ServerProc(bundle_dir, extra=["--metrics-listen", base])
    try:
        with recfuse.Client(s.ipc, timeout=10) as c:
            version = c.health().bundle_version
            for _ in range(5):
                c.rank(user_id="196", item_ids=["1", "50"])
            with pytest.raises(recfuse.RpcError) as e:
                c.rank(user_id="196", item_ids=["1"], engine="no-such-engine")
            assert e.value.code == Code.INVALID_ARGUMENT
        status, ctype, text = get(base + "/metrics")
        assert status == 200 and "version=0.0.4" in ctype
        assert sample(text, "recfuse_requests_total", method="Rank", code="OK") == 5, text[:2000]
        assert sample(text, "recfuse_requests_total", method="Rank", code="INVALID_ARGUMENT") == 1, text[:2000]
        assert sample(text, "recfuse_request_duration_seconds_count", method="Rank") == 6
        assert sample(text, "recfuse_request_duration_seconds_bucket", method="Rank", le="+Inf") == 6
        assert sample(text, "recfuse_requests_in_flight") == 0
        assert sample(text, "recfuse_bundle_info", version=version) == 1
        assert sample(text, "recfuse_bundle_load_duration_seconds") > 0
        assert sample(text, "recfuse_bundle_loaded_time_seconds") == sample(text, "recfuse_start_time_seconds")
        assert sample(text, "recfuse_reloads_total", result="ok") == 0
        assert sample(text, "recfuse_reloads_total", result="failed") == 0
        # Every sample line parses as name{labels} value.
        for line in text.splitlines():
            assert line.startswith("#") or re.match(r"^[a-z_]+(\{[^}]*\})? [-+0-9.eE]+$", line), line
        assert get(base + "/healthz")[0] == 200
        assert get(base + "/readyz")[:1] == (200,)
        assert get(base + "/nope")[0] == 404
    finally:
        s.stop()


def test_llm_metrics(bundle_dir):
    """With an LLM endpoint (the scripted fake on loopback), /metrics counts its calls and
    has a latency histogram of the ones not answered from the cache."""
    with fake_llm_server() as llm:
        base = f"http://127.0.0.1:{free_port()}"
        s = ServerProc(bundle_dir, extra=["--metrics-listen", base, "--llm-base-url", llm + "/v1", "--llm-model", "normal"])
        try:
            with recfuse.Client(s.ipc, timeout=30) as c:
                cands = [it.item_id for it in c.retrieve(user_id="196", k=10).items]
                out = c.rerank(user_id="196", candidates=cands, judge=recfuse.recommender_pb2.JUDGE_LLM_POINTWISE)
                assert not out.meta.degraded, out.meta
            text = get(base + "/metrics")[2]
            calls = sample(text, "recfuse_llm_calls_total")
            hits = sample(text, "recfuse_llm_cache_hits_total")
            assert calls == 10 and sample(text, "recfuse_llm_errors_total") == 0, text[-3000:]
            assert sample(text, "recfuse_llm_call_duration_seconds_count") == calls - hits
            assert sample(text, "recfuse_llm_call_duration_seconds_bucket", le="+Inf") == calls - hits
            assert sample(text, "recfuse_llm_call_duration_seconds_bucket", le="60.0") <= calls - hits
            assert sample(text, "recfuse_llm_call_duration_seconds_sum") > 0
        finally:
            s.stop()
