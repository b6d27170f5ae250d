"""The Python client against a live server: normal calls over ipc and tcp, and every kind
of bad input the server must survive."""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pynng
import pytest

import recfuse
from recfuse import Code, recommender_pb2 as pb
from recfuse.v1 import envelope_pb2 as env_pb

from conftest import ROOT, ServerProc, engine_kinds, recfuse_bin


def still_serving(server):
    with recfuse.Client(server.ipc, timeout=5) as c:
        assert c.health().status == pb.HealthResponse.SERVING


# ------------------------------------------------------------------ normal calls

@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_retrieve_top10_with_titles(server, transport):
    url = getattr(server, transport)
    with recfuse.Client(url, timeout=5) as c:
        top = c.retrieve(user_id="196", k=10)
    assert len(top.items) == 10
    assert [it.rank for it in top.items] == list(range(1, 11))
    scores = [it.score for it in top.items]
    assert scores == sorted(scores, reverse=True)
    assert all(it.title for it in top.items)
    assert top.meta.engine == "gat" and not top.meta.degraded
    assert top.meta.bundle_version
    assert len({it.item_id for it in top.items}) == 10


def test_retrieve_excludes_seen_by_default(client, bundle_dir):
    seen = set()
    with open(ROOT / "data" / "ml-100k" / "ml-100k.inter") as f:
        next(f)
        for line in f:
            u, i, *_ = line.split("\t")
            if u == "196":
                seen.add(i)
    top = client.retrieve(user_id="196", k=50)
    assert not seen & {it.item_id for it in top.items}
    with_seen = client.retrieve(user_id="196", k=50, exclude_seen=False)
    assert seen & {it.item_id for it in with_seen.items}


def test_retrieve_paths_over_the_wire(client):
    """The session bundle carries an HNSW index for every dot-product engine: Retrieve names the
    path that served, approximate replies hold exact scores (Rank's), and Info shows the indexes."""
    info = client.info()
    indexed = {e.name: e.index for e in info.engines}
    assert indexed["popularity"] == "" and indexed["cooccurrence"] == ""
    for name in ("gat", "svdpp", "svd"):
        assert indexed[name].startswith("hnsw: 1682 items"), indexed[name]
    assert info.limits.ann_min_items > 1682
    for engine in ("gat", "svdpp"):
        auto = client.retrieve(user_id="196", k=20, engine=engine)
        exact = client.retrieve(user_id="196", k=20, engine=engine, path=pb.RETRIEVAL_PATH_EXACT)
        approx = client.retrieve(user_id="196", k=20, engine=engine, path=pb.RETRIEVAL_PATH_APPROXIMATE)
        assert auto.meta.retrieval == "exact" and exact.meta.retrieval == "exact"
        assert approx.meta.retrieval == "hnsw"
        assert [i.item_id for i in auto.items] == [i.item_id for i in exact.items]
        assert len(approx.items) == 20
        ranked = client.rank(user_id="196", item_ids=[i.item_id for i in approx.items], engine=engine)
        assert [i.score for i in ranked.items] == [i.score for i in approx.items]
        assert len({i.item_id for i in exact.items} & {i.item_id for i in approx.items}) >= 18
    # A selective filter goes exact and says why; an engine without an index likewise.
    rare = client.retrieve(user_id="196", k=10, engine="svdpp", path=pb.RETRIEVAL_PATH_APPROXIMATE,
                           filters={"genres": ["Documentary"]})
    assert rare.meta.retrieval.startswith("exact: about "), rare.meta.retrieval
    assert all("Documentary" in i.genres for i in rare.items)
    pop = client.retrieve(user_id="196", k=5, engine="popularity", path=pb.RETRIEVAL_PATH_APPROXIMATE)
    assert pop.meta.retrieval == "exact: engine 'popularity' has no approximate index"
    # Rank replies name no path.
    assert client.rank(user_id="196", item_ids=["1", "2"]).meta.retrieval == ""


def test_health_and_info(client):
    h = client.health()
    assert h.status == pb.HealthResponse.SERVING and h.uptime_seconds >= 0
    info = client.info()
    assert {e.name for e in info.engines} == engine_kinds() >= {"popularity", "cooccurrence", "ease", "svdpp", "text", "gat"}
    assert info.default_engine == "gat"
    assert info.dataset.name == "ml-100k" and info.dataset.users == 943 and info.dataset.items == 1682
    assert info.dataset.interactions == 100000 and len(info.dataset.fingerprint) == 64
    assert info.limits.max_message_bytes == 65536 and info.limits.max_k == 5000
    assert "/recfuse.v1.Recommender/Rank" in info.methods


def test_rank_orders_candidates_and_reports_unknown(client):
    cands = [str(i) for i in range(1, 101)] + ["nope", "1"]
    r = client.rank(user_id="196", item_ids=cands, k=0)
    assert len(r.items) == 100
    assert list(r.unknown_items) == ["nope"]
    assert any("duplicate" in w for w in r.meta.warnings)
    scores = [it.score for it in r.items]
    assert scores == sorted(scores, reverse=True)
    # Rank and Retrieve agree on the order of the same items.
    top = client.rank(user_id="196", item_ids=cands[:100], k=5)
    assert [it.item_id for it in top.items] == [it.item_id for it in r.items[:5]]
    assert all(it.components["gat"] == it.score for it in top.items)


def test_engines_and_filters(client):
    for engine in ("popularity", "genre-popularity", "cooccurrence", "ease", "svd", "svdpp"):
        r = client.retrieve(user_id="196", k=5, engine=engine)
        assert r.meta.engine == engine and len(r.items) == 5
    r = client.retrieve(user_id="196", k=20, filters={"genres": ["Horror"], "min_year": 1990, "max_year": 1995})
    assert r.items and all("Horror" in it.genres and 1990 <= it.year <= 1995 for it in r.items)
    r = client.retrieve(user_id="196", k=10, filters={"allow_items": ["1", "2", "3"], "deny_items": ["2"]})
    assert {it.item_id for it in r.items} <= {"1", "3"}


@pytest.mark.parametrize("engine", ["cooccurrence", "ease", "svdpp"])
def test_inline_history_user(client, engine):
    """A user the bundle does not know is scored from inline history (fold-in), not degraded."""
    r = client.retrieve(history=[("50", 5), ("172", 5), ("181", 4)], k=10, engine=engine)
    assert r.meta.engine == engine and not r.meta.degraded
    ids = {it.item_id for it in r.items}
    assert len(ids) == 10 and not ids & {"50", "172", "181"}


def test_concurrent_clients_share_a_socket(server):
    errors = []
    with recfuse.Client(server.tcp, timeout=10) as c:
        def work():
            try:
                for _ in range(25):
                    assert len(c.rank(user_id="196", item_ids=[str(i) for i in range(1, 101)], k=10).items) == 10
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        ts = [threading.Thread(target=work) for _ in range(8)]
        [t.start() for t in ts]
        [t.join() for t in ts]
    assert not errors


# ------------------------------------------------------------------ bad input

def raw_reply(server, data: bytes) -> env_pb.Reply:
    with recfuse.Client(server.ipc, timeout=5) as c:
        raw = c.call_raw(data)
    reply = env_pb.Reply()
    reply.ParseFromString(raw)  # every reply must be a valid envelope
    return reply


def test_garbage_bytes(server):
    rng = random.Random(7)
    for n in (1, 3, 17, 256, 4000):
        data = bytes(rng.randrange(256) for _ in range(n))
        reply = raw_reply(server, data)
        assert reply.status.code in (Code.INVALID_ARGUMENT, Code.UNIMPLEMENTED), reply.status
        assert reply.status.message
    reply = raw_reply(server, b"\xff\xff\xff\xff\xff")
    assert reply.status.code == Code.INVALID_ARGUMENT
    assert "Envelope" in reply.status.message
    still_serving(server)


def test_empty_message(server):
    reply = raw_reply(server, b"")
    assert reply.status.code == Code.INVALID_ARGUMENT and "empty" in reply.status.message
    still_serving(server)


def test_unknown_method(client):
    with pytest.raises(recfuse.RpcError) as e:
        client.call("/recfuse.v1.Recommender/Nope", pb.HealthRequest(), pb.HealthResponse)
    assert e.value.code == Code.UNIMPLEMENTED and "Nope" in e.value.message


def test_payload_that_does_not_decode(server):
    env = env_pb.Envelope(method="/recfuse.v1.Recommender/Rank", payload=b"\x0a\xff\xff\xff\xff\x0f")
    reply = raw_reply(server, env.SerializeToString())
    assert reply.status.code == Code.INVALID_ARGUMENT
    assert "RankRequest" in reply.status.message


def test_k_zero_means_default_and_huge_k_is_refused(client):
    assert len(client.retrieve(user_id="196", k=0).items) == 10
    with pytest.raises(recfuse.RpcError) as e:
        client.retrieve(user_id="196", k=2**31)
    assert e.value.code == Code.INVALID_ARGUMENT and "max_k" in e.value.message
    # k above the catalogue (but within max_k) returns every unseen item.
    r = client.retrieve(user_id="196", k=4000)
    assert len(r.items) == 1682 - 39  # user 196 rated 39 films


def test_unknown_user_falls_back_to_popularity(client):
    r = client.retrieve(user_id="no-such-user", k=5)
    assert r.meta.degraded and r.meta.engine == "popularity" and r.meta.requested_engine == "gat"
    assert "no positively rated history" in r.meta.degraded_reason
    assert any("unknown user id 'no-such-user'" in w for w in r.meta.warnings)
    assert [it.item_id for it in r.items] == ["50", "258", "100", "181", "294"]  # most-rated films of ml-100k


def test_nan_rating_in_history(client):
    # The client refuses it before sending; the server refuses it from any other client.
    with pytest.raises(ValueError):
        client.retrieve(history=[("50", float("nan"))])
    req = pb.RetrieveRequest(user=pb.User(history=[pb.HistoryItem(item_id="50", rating=float("nan"))]))
    with pytest.raises(recfuse.InvalidArgument) as e:
        client.call("Retrieve", req, pb.RetrieveResponse)
    assert e.value.code == Code.INVALID_ARGUMENT and "finite" in e.value.message


def test_expired_deadline(server):
    env = env_pb.Envelope(method="/recfuse.v1.Recommender/Retrieve", deadline_unix_ms=int(time.time() * 1000) - 1000,
                          payload=pb.RetrieveRequest(user=pb.User(id="196")).SerializeToString())
    reply = raw_reply(server, env.SerializeToString())
    assert reply.status.code == Code.DEADLINE_EXCEEDED
    assert not reply.payload


def test_message_over_the_size_limit(server):
    """NNG drops a message over NNG_OPT_RECVMAXSZ and its connection: the client gets its
    timeout, the server logs it and keeps serving."""
    big = recfuse.recommender_pb2.RankRequest(user=pb.User(id="196"), item_ids=[str(i) for i in range(20000)])
    with recfuse.Client(server.ipc, timeout=1.0) as c:
        with pytest.raises(recfuse.DeadlineExceeded):
            c.call("Rank", big, pb.RankResponse)
    still_serving(server)
    assert "sent a message over 65536 bytes" in server.logs()


def test_too_many_candidates_within_the_message_limit(bundle_dir):
    s = ServerProc(bundle_dir, extra=["--max-candidates", "50"])
    try:
        with recfuse.Client(s.ipc, timeout=5) as c:
            with pytest.raises(recfuse.RpcError) as e:
                c.rank(user_id="196", item_ids=[str(i) for i in range(1, 52)])
            assert e.value.code == Code.RESOURCE_EXHAUSTED and "max_candidates" in e.value.message
    finally:
        assert s.stop() == 0


def test_a_server_that_never_answers_is_a_timeout_not_a_hang(bundle_dir):
    """Connected, then silent (SIGSTOP): the call ends at its timeout with DeadlineExceeded."""
    import signal
    s = ServerProc(bundle_dir)
    try:
        with recfuse.Client(s.ipc, timeout=0.5) as c:
            c.health()
            s.proc.send_signal(signal.SIGSTOP)
            with pytest.raises(recfuse.DeadlineExceeded):
                c.health()
    finally:
        s.proc.send_signal(signal.SIGCONT)
        s.stop()


# ------------------------------------------------------------------ lifecycle

def test_graceful_shutdown_finishes_in_flight_requests(bundle_dir):
    s = ServerProc(bundle_dir, extra=["--contexts", "1"])
    results, errors = [], []
    stop = threading.Event()

    def load():
        with recfuse.Client(s.ipc, timeout=5) as c:
            while not stop.is_set():
                try:
                    results.append(len(c.rank(user_id="196", item_ids=[str(i) for i in range(1, 1683)]).items))
                except recfuse.RpcError as e:
                    errors.append(e)
                    return
    ts = [threading.Thread(target=load) for _ in range(4)]
    [t.start() for t in ts]
    time.sleep(0.5)
    code = s.stop(signal.SIGINT)
    stop.set()
    [t.join() for t in ts]
    assert code == 0, s.final_logs[-3000:]
    assert "shutting down" in s.final_logs and "stopped" in s.final_logs
    assert results and all(n == 1682 for n in results)
    # After shutdown the clients see timeouts/unavailability, never a corrupt reply.
    assert all(isinstance(e, recfuse.RpcError) for e in errors)


def test_listen_failure_is_reported(bundle_dir, tmp_path):
    p = subprocess.run([os.environ.get("RECFUSE_BIN") or str(ROOT / ".build/debug/recfuse"), "serve", "--bundle",
                        str(bundle_dir), "--listen", "bogus://x"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "bogus://x" in p.stderr


def test_corrupt_bundle_is_refused(bundle_dir, tmp_path):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(bundle_dir, bad)
    with open(bad / "engines" / "cooccurrence.safetensors", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02\x03")
    p = subprocess.run([os.environ.get("RECFUSE_BIN") or str(ROOT / ".build/debug/recfuse"), "serve", "--bundle",
                        str(bad), "--listen", f"ipc://{tmp_path}/x.sock"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "cooccurrence.safetensors" in p.stderr and "corrupt" in p.stderr


# ------------------------------------------------------------------ examples

@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_quickstart_prints_top10(server, transport):
    p = subprocess.run([sys.executable, str(ROOT / "Clients/python/examples/quickstart.py"), "--url",
                        getattr(server, transport), "--user", "196"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "Clients/python")})
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stdout.splitlines() if l.strip()[:3].strip().rstrip(".").isdigit()]
    assert len(lines) == 10
    # The example prints what the server ranks first for the user.
    with recfuse.Client(getattr(server, transport), timeout=5) as c:
        top = c.retrieve(user_id="196", k=10)
    assert top.items[0].title in lines[0] and top.items[9].title in lines[9]


C_BUILD = ROOT / "Clients" / "c" / "build"


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_c_example_prints_top10(server, transport):
    exe = C_BUILD / "rank"
    if not exe.exists():
        pytest.fail("C example not built: run `make -C Clients/c`")
    p = subprocess.run([str(exe), "-u", getattr(server, transport), "-U", "196"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "top-10 of 100 candidates (from Retrieve) for user 196" in p.stdout
    assert len([l for l in p.stdout.splitlines() if l[:4].strip().endswith(".")]) == 10


def test_c_example_ranks_given_ids_and_fails_loudly(server):
    """Candidates from the command line, in any id scheme; ids the server does not know, or a
    failed call, are a message and a non-zero exit, never a silent empty list."""
    exe = str(C_BUILD / "rank")
    p = subprocess.run([exe, "-u", server.ipc, "-U", "196", "-k", "2", "1", "50", "181", "no-such-item"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "top-2 of 4 candidates (given) for user 196" in p.stdout and "1 unknown candidates left out" in p.stderr
    p = subprocess.run([exe, "-u", server.ipc, "-U", "u001", "sku-1", "sku-2"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and "none of the 2 candidates is known to the server (unknown: sku-1" in p.stderr
    p = subprocess.run([exe, "-u", server.ipc, "-e", "no-such-engine"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "Retrieve failed (status 3)" in p.stderr and "no-such-engine" in p.stderr


def test_c_client_test_program(server):
    exe = C_BUILD / "test_client"
    if not exe.exists():
        pytest.fail("C test not built: run `make -C Clients/c`")
    p = subprocess.run([str(exe), server.tcp], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert " 0 failed" in p.stdout


def test_bench_command_reports_both_targets(server):
    """`recfuse bench` (bounded: 400 requests over 4 clients): JSON rows for the server and
    the echo, every request answered OK."""
    import json as _json
    out = subprocess.run([recfuse_bin(), "bench", "--url", server.ipc, "--method", "rank", "--clients", "4",
                          "--count", "400", "--duration", "60", "--warmup", "5", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [_json.loads(line) for line in out.stdout.splitlines()]
    assert [r["target"] for r in rows] == ["recfuse", "nng echo"]
    for r in rows:
        assert r["requests"] == 400 and r["errors"] == 0 and r["clients"] == 4
        assert 0 < r["p50_us"] <= r["p99_us"] <= r["p999_us"] <= r["max_us"]
    # The echo ran as a child process (`recfuse echo`); it is gone, and so is its socket file.
    import glob

    def cmdline(path):
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:  # the process exited meanwhile
            return b""
    children = [p for p in glob.glob("/proc/[0-9]*/cmdline") if b"rf-bench-echo" in cmdline(p)]
    assert children == [] and glob.glob("/tmp/rf-bench-echo-*.sock") == []
