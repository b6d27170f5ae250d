"""A full server sheds load instead of queueing it: requests whose deadline passed while they
waited are not worked on, LLM-backed requests over their limit are served by the local judge
(degraded, with the reason), and an LLM endpoint that keeps failing trips the circuit
breaker, so later requests do not wait on it at all. Real `recfuse serve` over NNG, real
libcurl, a scripted OpenAI-compatible server on loopback."""
import threading
import time

import pytest

import recfuse
from recfuse import Code
from recfuse import recommender_pb2 as pb

from conftest import dead_http_url, ServerProc, free_port
from test_metrics import get, sample
from test_rerank import fake_llm  # noqa: F401 - the module-scoped fixture (slow = 30 s)


def metrics(base):
    status, _, text = get(base + "/metrics")
    assert status == 200
    return text


def in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_a_request_that_expired_while_queued_is_not_worked_on(bundle_dir, fake_llm):  # noqa: F811
    base = f"http://127.0.0.1:{free_port()}"
    # One context: while an LLM-judged Rerank waits on the hung endpoint, the next request
    # can only queue inside NNG.
    s = ServerProc(bundle_dir, extra=["--contexts", "1", "--llm-base-url", fake_llm, "--llm-model", "slow",
                                      "--llm-retries", "0", "--metrics-listen", base])
    try:
        with recfuse.Client(s.ipc, timeout=3.0) as slow, recfuse.Client(s.ipc, timeout=0.5) as fast:
            t, out = in_thread(lambda: slow.rerank(user_id="196", candidates=["1", "2", "3"],
                                                   judge=pb.JUDGE_LLM_RELEVANCY))
            time.sleep(0.5)
            with pytest.raises(recfuse.DeadlineExceeded):
                fast.rank(user_id="196", item_ids=["1", "50"])
            t.join(10)
            assert "error" not in out, out
            assert out["value"].meta.degraded  # the LLM was cut off at its deadline
            # The queued Rank is picked up after its caller gave up: refused unworked.
            text = ""
            for _ in range(50):
                text = metrics(base)
                if sample(text, "recfuse_requests_shed_total", reason="deadline"):
                    break
                time.sleep(0.1)
            assert sample(text, "recfuse_requests_shed_total", reason="deadline") == 1, text
            assert sample(text, "recfuse_requests_total", method="Rank", code="DEADLINE_EXCEEDED") == 1
            assert sample(text, "recfuse_requests_total", method="Rank", code="OK") is None
            # And the server serves on.
            assert len(fast.rank(user_id="196", item_ids=["1", "50"]).items) == 2
    finally:
        s.stop()


def test_llm_reranks_over_the_slow_limit_get_the_local_judge_at_once(bundle_dir, fake_llm):  # noqa: F811
    base = f"http://127.0.0.1:{free_port()}"
    s = ServerProc(bundle_dir, extra=["--max-slow-requests", "1", "--llm-base-url", fake_llm, "--llm-model", "slow",
                                      "--llm-retries", "0", "--metrics-listen", base])
    try:
        with recfuse.Client(s.ipc, timeout=3.0) as c:
            t, first = in_thread(lambda: c.rerank(user_id="196", candidates=["1", "2", "3"],
                                                  judge=pb.JUDGE_LLM_RELEVANCY))
            for _ in range(50):  # until the first holds the slow place
                if sample(metrics(base), "recfuse_requests_in_progress", **{"class": "slow"}) == 1:
                    break
                time.sleep(0.05)
            second = c.rerank(user_id="196", candidates=["1", "2", "3"], judge=pb.JUDGE_LLM_RELEVANCY)
            assert second.judge == pb.JUDGE_LOCAL and second.meta.degraded
            assert "--max-slow-requests" in second.meta.degraded_reason, second.meta
            assert [i.item_id for i in second.items] and len(second.items) == 3
            # Fast requests are not held up by either.
            assert len(c.rank(user_id="196", item_ids=["1", "50"]).items) == 2
            assert c.health().status == pb.HealthResponse.SERVING
            t.join(10)
            assert "error" not in first and first["value"].meta.degraded
            assert "--max-slow-requests" not in first["value"].meta.degraded_reason
        text = metrics(base)
        assert sample(text, "recfuse_requests_shed_total", reason="degraded") == 1, text
        assert sample(text, "recfuse_requests_in_progress_limit", **{"class": "slow"}) == 1
    finally:
        s.stop()


def test_a_dead_llm_endpoint_trips_the_breaker(bundle_dir):
    dead = dead_http_url()
    base = f"http://127.0.0.1:{free_port()}"
    s = ServerProc(bundle_dir, extra=["--llm-base-url", dead, "--llm-retries", "0", "--llm-breaker-failures", "2",
                                      "--llm-breaker-cooloff", "60", "--metrics-listen", base])
    try:
        with recfuse.Client(s.ipc, timeout=2.0) as c:
            for _ in range(2):
                out = c.rerank(user_id="196", candidates=["1", "2", "3"], judge=pb.JUDGE_LLM_POINTWISE)
                assert out.meta.degraded and "unavailable" in out.meta.degraded_reason, out.meta
            assert sample(metrics(base), "recfuse_llm_breaker_state") == 1
            out = c.rerank(user_id="196", candidates=["1", "2", "3"], judge=pb.JUDGE_LLM_POINTWISE)
            assert out.judge == pb.JUDGE_LOCAL and "considered down" in out.meta.degraded_reason, out.meta
            ex = c.explain(user_id="196", item_id="1", style=pb.EXPLAIN_STYLE_LLM)
            assert ex.meta.degraded and "considered down" in ex.meta.degraded_reason
        text = metrics(base)
        assert sample(text, "recfuse_llm_breaker_openings_total") == 1
        assert sample(text, "recfuse_llm_failures_total", kind="circuit_open") >= 2, text
    finally:
        s.stop()


def test_bad_admission_flags_are_refused(bundle_dir):
    with pytest.raises(RuntimeError, match="max-fast-requests"):
        ServerProc(bundle_dir, extra=["--max-fast-requests", "0"])
