"""The GAT engine and Explain, end to end: a real `recfuse serve` over NNG on the ml-100k
bundle the session trains (the README's default: GAT is Retrieve's default engine)."""
import re

import pytest

import recfuse
from recfuse import Code, recommender_pb2 as pb


def test_gat_is_the_default_engine_and_listed(client):
    info = client.info()
    assert info.default_engine == "gat"
    names = [e.name for e in info.engines]
    for kind in ("gat", "svdpp", "ease", "popularity"):
        assert kind in names
    gat = next(e for e in info.engines if e.name == "gat")
    assert "GATv2" in gat.description


def test_retrieve_and_rank_agree(client):
    top = client.retrieve(user_id="196", k=20)
    assert top.meta.engine == "gat" and not top.meta.degraded
    ids = [it.item_id for it in top.items]
    ranked = client.rank(user_id="196", item_ids=list(reversed(ids)), engine="gat")
    assert [it.item_id for it in ranked.items] == ids
    assert [round(it.score, 5) for it in ranked.items] == [round(it.score, 5) for it in top.items]


def test_new_user_from_history_is_inductive(client):
    # Star Wars, Empire, Return of the Jedi (ml-100k ids 50, 172, 181), all loved.
    hist = [("50", 5.0), ("172", 5.0), ("181", 5.0)]
    top = client.retrieve(history=hist, k=10, engine="gat")
    assert top.meta.engine == "gat" and not top.meta.degraded, top.meta.degraded_reason
    assert not {"50", "172", "181"} & {it.item_id for it in top.items}
    # A different history gives a different list: the user really is embedded from it.
    other = client.retrieve(history=[("1", 5.0), ("95", 5.0), ("71", 5.0)], k=10, engine="gat")
    assert [it.item_id for it in other.items] != [it.item_id for it in top.items]


def test_new_user_from_preference_text(client):
    top = client.retrieve(preference="animated films for young children", k=10, engine="gat")
    assert top.meta.engine == "gat" and not top.meta.degraded, top.meta.degraded_reason
    assert len(top.items) == 10


def test_nobody_falls_back_with_a_reason(client):
    top = client.retrieve(user_id="no-such-user", k=5, engine="gat")
    assert top.meta.degraded and top.meta.engine == "popularity"
    assert "gat" in top.meta.degraded_reason


def test_explain_names_only_evidence(client):
    top = client.retrieve(user_id="196", k=1)
    item = top.items[0]
    out = client.explain(user_id="196", item_id=item.item_id)
    assert out.item_id == item.item_id and out.style == pb.EXPLAIN_STYLE_TEMPLATE
    assert abs(out.score - item.score) < 1e-4
    kinds = {e.kind for e in out.evidence}
    assert "history_item" in kinds
    history = [e for e in out.evidence if e.kind == "history_item"]
    assert [e.weight for e in history] == sorted((e.weight for e in history), reverse=True)
    assert all(e.item_id and e.title for e in history)
    assert out.text.endswith(".")
    # Titles in the sentence (quoted with their year) belong to the evidence or the item.
    allowed = {e.title for e in out.evidence} | {item.title}
    named = [t for t in allowed if t and t.split(",")[0] in out.text]
    assert named, out.text


def test_explain_bad_input(client):
    with pytest.raises(recfuse.RpcError) as e:
        client.explain(user_id="196", item_id="999999")
    assert e.value.code == Code.NOT_FOUND and "999999" in e.value.message
    with pytest.raises(ValueError):
        client.explain(user_id="196", item_id="")
    with pytest.raises(recfuse.RpcError) as e:
        client.call("Explain", pb.ExplainRequest(user=pb.User(id="196"), item_id=""), pb.ExplainResponse)
    assert e.value.code == Code.INVALID_ARGUMENT
    llm = client.explain(user_id="196", item_id="1", style=pb.EXPLAIN_STYLE_LLM)
    assert llm.meta.degraded and "LLM" in llm.meta.degraded_reason
