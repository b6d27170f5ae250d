"""Rerank and LLM Explain end to end: a real `recfuse serve` over NNG on the ml-100k bundle,
with the real libcurl client talking to a scripted OpenAI-compatible server on loopback
(Tests/RecTestSupport/fake_openai.py: a candidate whose profile mentions Comedy is a good
match, anything else is not)."""
import math
import os
import subprocess

import pytest

import recfuse
from recfuse import Code
from recfuse import recommender_pb2 as pb

from conftest import dead_http_url, fake_llm_server, ROOT, ServerProc


@pytest.fixture(scope="module")
def fake_llm():
    # Slow answers take 30 s: far beyond any deadline used here.
    with fake_llm_server("30") as url:
        yield url + "/v1"


@pytest.fixture(scope="module")
def llm_server(bundle_dir, fake_llm):
    s = ServerProc(bundle_dir, extra=["--llm-base-url", fake_llm, "--llm-model", "normal"])
    yield s
    s.stop()


def candidates(client, n=20):
    return [it.item_id for it in client.retrieve(user_id="196", k=n, engine="svdpp").items]


def minmax(xs):
    lo, hi = min(xs), max(xs)
    return [0.5] * len(xs) if hi == lo else [(x - lo) / (hi - lo) for x in xs]


def test_local_judge_reports_base_judge_and_fused(client):
    cands = candidates(client)
    out = client.rerank(user_id="196", candidates=cands, base_engine="svdpp", judge=pb.JUDGE_LOCAL)
    assert out.judge == pb.JUDGE_LOCAL and not out.meta.degraded, out.meta
    assert sorted(it.item_id for it in out.items) == sorted(cands)
    assert [it.rank for it in out.items] == list(range(1, 21))
    base = [it.components["base"] for it in out.items]
    judge = [it.components["judge"] for it in out.items]
    for it, b, j in zip(out.items, minmax(base), minmax(judge)):
        assert set(it.components) == {"base", "judge", "fused"}
        assert math.isclose(it.score, 0.8 * j + 0.2 * b, abs_tol=1e-5)
        assert it.score == it.components["fused"]
    scores = [it.score for it in out.items]
    assert scores == sorted(scores, reverse=True)
    # alpha 0 is the base order.
    zero = client.rerank(user_id="196", candidates=cands, base_engine="svdpp", alpha=0.0)
    assert [it.item_id for it in zero.items] == cands


def test_fresh_preference_steers_the_order(client):
    """A user with no history and only a sentence: the local judge embeds it (MiniLM) and
    lifts the matching films out of a popular pool."""
    out = client.rerank(preference="animated films for young children", pool_size=50, k=5, judge=pb.JUDGE_LOCAL)
    assert out.judge == pb.JUDGE_LOCAL and len(out.items) == 5
    kids = [it for it in out.items if {"Animation", "Children's"} & set(it.genres)]
    assert len(kids) >= 3, [(it.title, list(it.genres)) for it in out.items]


def test_caller_base_scores_and_diversity(client):
    cands = candidates(client)
    given = [(c, float(n)) for n, c in enumerate(cands)]  # the caller ranks them in reverse
    out = client.rerank(user_id="196", candidates=given, alpha=0.0)
    assert [it.item_id for it in out.items] == list(reversed(cands))
    div = client.rerank(user_id="196", candidates=cands, base_engine="svdpp", diversity=0.5, k=10)
    assert len(div.items) == 10 and all("mmr" in it.components for it in div.items)
    mmr = [it.score for it in div.items]
    assert mmr == sorted(mmr, reverse=True)


@pytest.mark.parametrize("kw, message", [
    (dict(alpha=1.5), "alpha"),
    (dict(alpha=float("nan")), "alpha"),
    (dict(diversity=-1.0), "diversity"),
    (dict(candidates=[("1", float("nan"))]), "base_score"),
    (dict(judge=77), "judge"),
    (dict(pool_size=10**6), "pool_size"),
])
def test_bad_rerank_requests_are_named(client, kw, message):
    kw.setdefault("candidates", ["1", "2"])
    if "pool_size" in kw:
        kw["candidates"] = []
    # Built by hand and sent with `call`: the client refuses NaNs before sending, the server must
    # refuse them (and the rest) from any client.
    req = pb.RerankRequest(user=pb.User(id="196"), judge=kw.get("judge", 0), diversity=kw.get("diversity", 0.0),
                           pool_size=kw.get("pool_size", 0))
    if "alpha" in kw:
        req.alpha = kw["alpha"]
    for c in kw["candidates"]:
        req.candidates.add(item_id=c) if isinstance(c, str) else req.candidates.add(item_id=c[0], base_score=c[1])
    with pytest.raises(recfuse.RpcError) as e:
        client.call("Rerank", req, pb.RerankResponse)
    assert e.value.code in (Code.INVALID_ARGUMENT, Code.RESOURCE_EXHAUSTED) and message in e.value.message, e.value
    if any(isinstance(v, float) and v != v for v in [kw.get("alpha"), *(c[1] for c in kw["candidates"]
                                                                       if isinstance(c, tuple))]):
        with pytest.raises(ValueError):
            client.rerank(user_id="196", **kw)
    assert client.health().status == pb.HealthResponse.SERVING


def test_unknown_candidates_are_reported(client):
    out = client.rerank(user_id="196", candidates=["1", "no-such-item", "2"])
    assert list(out.unknown_items) == ["no-such-item"] and len(out.items) == 2


def test_llm_judge_without_an_endpoint_falls_back(client):
    out = client.rerank(user_id="196", candidates=["1", "2", "3"], judge=pb.JUDGE_LLM_RELEVANCY)
    assert out.judge == pb.JUDGE_LOCAL and out.meta.degraded
    assert "--llm-base-url" in out.meta.degraded_reason


@pytest.mark.parametrize("judge", [pb.JUDGE_LLM_RELEVANCY, pb.JUDGE_LLM_POINTWISE])
def test_llm_judges_through_the_scripted_server(llm_server, judge):
    with recfuse.Client(llm_server.ipc, timeout=10) as c:
        cands = candidates(c)
        out = c.rerank(user_id="196", candidates=cands, judge=judge, alpha=1.0)
    assert out.judge == judge and not out.meta.degraded, out.meta
    comedy = ["Comedy" in it.genres for it in out.items]
    # alpha 1: every Comedy candidate (judged a good match) comes before every other one.
    assert comedy == sorted(comedy, reverse=True) and any(comedy) and not all(comedy), \
        [(it.title, list(it.genres), dict(it.components)) for it in out.items]


def test_llm_explanation_is_grounded(llm_server):
    with recfuse.Client(llm_server.ipc, timeout=10) as c:
        item = c.retrieve(user_id="196", k=1).items[0]
        out = c.explain(user_id="196", item_id=item.item_id, style=pb.EXPLAIN_STYLE_LLM)
    assert out.style == pb.EXPLAIN_STYLE_LLM and not out.meta.degraded, out.meta
    assert out.text.startswith("You may enjoy") and item.title in out.text


@pytest.mark.parametrize("model, reason", [
    ("malformed", "fell back to the local judge"),
    ("wrong-schema", "fell back to the local judge"),
    ("slow", "fell back to the local judge"),
])
def test_a_failing_llm_degrades_within_the_deadline(bundle_dir, fake_llm, model, reason):
    s = ServerProc(bundle_dir, extra=["--llm-base-url", fake_llm, "--llm-model", model, "--llm-retries", "0"])
    try:
        # The client's own timeout is the request deadline: a reply that did not fall back
        # inside it would surface here as DeadlineExceeded, not as a degraded answer.
        with recfuse.Client(s.ipc, timeout=2.0) as c:
            out = c.rerank(user_id="196", candidates=["1", "2", "3", "4", "5"], judge=pb.JUDGE_LLM_RELEVANCY)
            assert out.judge == pb.JUDGE_LOCAL and out.meta.degraded and reason in out.meta.degraded_reason, out.meta
            assert len(out.items) == 5
            assert c.health().status == pb.HealthResponse.SERVING
    finally:
        s.stop()


def test_llm_endpoint_down_degrades(bundle_dir):
    dead = dead_http_url()
    s = ServerProc(bundle_dir, extra=["--llm-base-url", dead, "--llm-retries", "1"])
    try:
        with recfuse.Client(s.ipc, timeout=2.0) as c:
            out = c.rerank(user_id="196", candidates=["1", "2", "3"], judge=pb.JUDGE_LLM_POINTWISE)
            assert out.judge == pb.JUDGE_LOCAL and out.meta.degraded and "fell back" in out.meta.degraded_reason
            ex = c.explain(user_id="196", item_id="1", style=pb.EXPLAIN_STYLE_LLM)
            assert ex.style == pb.EXPLAIN_STYLE_TEMPLATE and ex.meta.degraded and ex.text
    finally:
        s.stop()


def test_hallucinated_explanation_is_replaced_by_the_template(bundle_dir, fake_llm):
    s = ServerProc(bundle_dir, extra=["--llm-base-url", fake_llm, "--llm-model", "hallucinate"])
    try:
        with recfuse.Client(s.ipc, timeout=10) as c:
            item = c.retrieve(user_id="196", k=1).items[0]
            out = c.explain(user_id="196", item_id=item.item_id, style=pb.EXPLAIN_STYLE_LLM)
    finally:
        s.stop()
    assert out.style == pb.EXPLAIN_STYLE_TEMPLATE and out.meta.degraded
    assert "Citizen Kane" in out.meta.degraded_reason and "Citizen Kane" not in out.text, out.meta


def test_profiles_llm_is_resumable(fake_llm, tmp_path):
    """`recfuse profiles --llm` on ml-100k's items: a killed run's torn last line is dropped
    and only the missing profiles are asked for again."""
    import json
    from conftest import recfuse_bin
    data = os.environ.get("RECFUSE_DATA_DIR", str(ROOT / "data"))
    out = tmp_path / "profiles.jsonl"
    cmd = [recfuse_bin(), "profiles", "--llm", "--kind", "items", "--dataset", "ml-100k", "--data-dir", data,
           "--out", str(out), "--llm-base-url", fake_llm, "--llm-model", "normal", "--chunk-size", "64"]
    subprocess.run(cmd, check=True, timeout=300, capture_output=True)
    lines = out.read_text().splitlines()
    assert len(lines) == 1682
    first = json.loads(lines[0])
    assert first["kind"] == "item" and first["overview"] == "A scripted overview." and "Overview:" in first["text"]
    # Keep 1,000 lines and half of the next one, as if the run had been killed mid-write.
    out.write_text("\n".join(lines[:1000]) + "\n" + lines[1000][:40])
    r = subprocess.run(cmd, check=True, timeout=300, capture_output=True, text=True)
    assert "1000 items and 0 users already done" in r.stderr and "682 written" in r.stderr, r.stderr
    again = out.read_text().splitlines()
    assert len(again) == 1682 and len({json.loads(l)["id"] for l in again}) == 1682
    # A broken endpoint: nothing is written, the exit status and message say so.
    bad = subprocess.run(cmd[:-2] + ["--llm-model", "wrong-schema", "--out", str(tmp_path / "bad.jsonl")],
                         timeout=300, capture_output=True, text=True)
    assert bad.returncode != 0 and "1682 profiles failed" in bad.stderr, bad.stderr
    assert (tmp_path / "bad.jsonl").read_text() == ""
