"""The text engine and the sentence-encoder CLI, end to end: a real `recfuse serve` whose
bundle carries all-MiniLM-L6-v2 profile embeddings, and `recfuse embed` / `tokenize`."""
import json
import math
import struct
import subprocess

import pytest

import recfuse

import os

from conftest import MODELS, ROOT, ServerProc, recfuse_bin

MODEL = MODELS / "all-MiniLM-L6-v2"


def test_free_text_preference_for_a_user_with_no_history(client):
    top = client.retrieve(preference="an animated film for young children", engine="text", k=10)
    assert top.meta.engine == "text" and not top.meta.degraded, top.meta.degraded_reason
    kids = [it for it in top.items if {"Animation", "Children's"} & set(it.genres)]
    assert len(kids) >= 7, [(it.title, list(it.genres)) for it in top.items]
    scores = [it.score for it in top.items]
    assert scores == sorted(scores, reverse=True) and all(-1.0001 <= s <= 1.0001 for s in scores)


def test_rank_by_preference(client):
    cands = ["1", "98", "181", "313", "50"]  # Toy Story, Silence of the Lambs, Return of the Jedi, Titanic, Star Wars
    ranked = client.rank(item_ids=cands, preference="space opera with starships and rebels", engine="text")
    assert {ranked.items[0].item_id, ranked.items[1].item_id} == {"50", "181"}


def test_stored_user_profile_and_blend(client):
    mine = client.retrieve(user_id="1", engine="text", k=5)
    assert mine.meta.engine == "text" and not mine.meta.degraded
    blended = client.retrieve(user_id="1", engine="text", k=5, preference="horror")
    assert [i.item_id for i in blended.items] != [i.item_id for i in mine.items]


def test_nothing_to_go_on_falls_back_with_the_reason(client):
    top = client.retrieve(engine="text", k=5)
    assert top.meta.degraded and top.meta.engine == "popularity"
    assert "no preference text" in top.meta.degraded_reason
    assert len(top.items) == 5


def test_info_lists_the_text_engine(client):
    info = client.info()
    text = [e for e in info.engines if e.name == "text"]
    assert text and "all-MiniLM-L6-v2" in text[0].description and "unavailable" not in text[0].description


def test_server_without_the_model_serves_stored_users_and_says_why(bundle_dir, tmp_path):
    s = ServerProc(bundle_dir, models=tmp_path / "no-models")
    try:
        with recfuse.Client(s.ipc, timeout=5) as c:
            stored = c.retrieve(user_id="1", engine="text", k=5)
            assert stored.meta.engine == "text" and not stored.meta.degraded
            free = c.retrieve(preference="comedy", engine="text", k=5)
            assert free.meta.degraded and "text encoder unavailable" in free.meta.degraded_reason
            assert len(free.items) == 5
        assert "serving stored users only" in s.logs()
    finally:
        assert s.stop() == 0


# ------------------------------------------------------------------ CLI

def run(*args, input=None):
    return subprocess.run([recfuse_bin(), *args], input=input, capture_output=True, timeout=300)


def test_embed_jsonl_from_stdin():
    p = run("embed", "--model", str(MODEL), input="Toy Story (1995)\n\nA space opera\r\n".encode())
    assert p.returncode == 0, p.stderr
    rows = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert len(rows) == 3 and all(len(r) == 384 for r in rows)
    assert all(abs(math.sqrt(sum(x * x for x in r)) - 1) < 1e-4 for r in rows)
    assert b"3 sentences" in p.stderr and b"sentences/s" in p.stderr


def test_embed_safetensors(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("one\ntwo\nthree\nfour\n")
    out = tmp_path / "out.safetensors"
    p = run("embed", "--model", str(MODEL), "--input", str(src), "--format", "safetensors", "--output", str(out), "--batch-size", "3")
    assert p.returncode == 0, p.stderr
    raw = out.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["embeddings"]["shape"] == [4, 384] and header["embeddings"]["dtype"] == "F32"
    assert header["__metadata__"]["model"] == "all-MiniLM-L6-v2"


@pytest.mark.parametrize("args,message", [
    (["--format", "csv"], b"--format must be jsonl or safetensors"),
    (["--format", "safetensors"], b"needs --output"),
    (["--batch-size", "0"], b"--batch-size must be positive"),
    (["--model", "/nonexistent"], b"recfuse models fetch"),
    (["--input", "/nonexistent.txt"], b"cannot read /nonexistent.txt"),
])
def test_embed_bad_arguments_are_clear_errors(args, message):
    p = run("embed", "--model", str(MODEL), *args, input=b"x\n")
    assert p.returncode != 0 and message in p.stderr, p.stderr


def test_tokenize_prints_ids_and_pieces():
    p = run("tokenize", "--model", str(MODEL), "--pieces", input="Héllo, Wörld!\n".encode())
    assert json.loads(p.stdout) == ["[CLS]", "hello", ",", "world", "!", "[SEP]"]
    p = run("tokenize", "--model", str(MODEL), input=b"hello\n")
    assert json.loads(p.stdout) == [101, 7592, 102]


def test_profiles_jsonl(tmp_path):
    out = tmp_path / "p.jsonl"
    p = run("profiles", "--dataset", "ml-100k", "--data-dir", os.environ.get("RECFUSE_DATA_DIR", str(ROOT / "data")), "--out", str(out), "--log-level", "warning")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    items = [r for r in rows if r["kind"] == "item"]
    users = [r for r in rows if r["kind"] == "user"]
    assert len(items) == 1682 and len(users) == 943
    assert items[0]["text"] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert users[0]["text"].startswith("User: 24-year-old male technician. Liked: ")
