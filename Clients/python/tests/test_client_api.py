"""The Python client's contract: every failure is a recfuse.RpcError subclass, or a TypeError /
ValueError raised before anything is sent; nothing listening is UNAVAILABLE, not a timeout; the
asyncio client and the *_many calls give the sync client's answers; mypy sees typed responses."""
import asyncio
import pathlib
import pickle
import subprocess
import sys
import textwrap
import threading

import pytest

import recfuse
import recfuse.aio
from recfuse import Code

HERE = pathlib.Path(__file__).resolve().parent
CLIENT = HERE.parent


# ------------------------------------------------------------------ misuse: refused before sending

@pytest.mark.parametrize("call, kind, words", [
    (lambda c: c.retrieve(user_id=196), TypeError, "user_id must be a str"),
    (lambda c: c.rank("196", "1 50 181"), TypeError, "must be a list of ids"),
    (lambda c: c.rank("196", [1, 50]), TypeError, "must be a str id"),
    (lambda c: c.rank("196", None), TypeError, "list of str ids"),
    (lambda c: c.retrieve("196", k="10"), TypeError, "k must be an int"),
    (lambda c: c.retrieve("196", k=-1), ValueError, "k must be at least 0"),
    (lambda c: c.retrieve("196", exclude_seen="no"), TypeError, "exclude_seen must be a bool"),
    (lambda c: c.retrieve("196", filters={"no_such_field": 1}), ValueError, "filters"),
    (lambda c: c.retrieve(history="1 2 3"), TypeError, "history must be a list"),
    (lambda c: c.retrieve(history=[("1", float("nan"))]), ValueError, "must be finite"),
    (lambda c: c.retrieve(history=[{"item": "1"}]), ValueError, "unknown keys"),
    (lambda c: c.rerank("196", "1 2"), TypeError, "candidates must be a list"),
    (lambda c: c.rerank("196", ["1"], alpha=float("inf")), ValueError, "alpha must be finite"),
    (lambda c: c.explain("196"), ValueError, "item_id is required"),
    (lambda c: c.explain("196", 50), TypeError, "item_id must be a str"),
    (lambda c: c.health(timeout=0), ValueError, "timeout must be positive"),
    (lambda c: c.health(metadata={"a": 1}), TypeError, "metadata"),
    (lambda c: c.retrieve_many("196"), TypeError, "user_ids must be a list"),
    (lambda c: c.rank_many(["196", "186"], [["1"]]), ValueError, "one list per user"),
    (lambda c: c.retrieve_many(["196"], concurrency=0), ValueError, "concurrency"),
    (lambda c: c.call_raw("text"), TypeError, "data must be bytes"),
    (lambda c: c.call("Rank", {"user": "196"}, recfuse.recommender_pb2.RankResponse), TypeError, "protobuf"),
])
def test_misuse_is_refused_before_sending(tmp_path, call, kind, words):
    # Nothing listens: had anything been sent, the call would fail with Unavailable instead.
    with recfuse.Client(f"ipc://{tmp_path}/nobody.sock", timeout=5) as c:
        with pytest.raises(kind) as e:
            call(c)
    assert words in str(e.value)


@pytest.mark.parametrize("url, kind", [
    ("localhost:7878", ValueError), ("http://127.0.0.1:7878", ValueError), ("tcp://", ValueError),
    ("", ValueError), ([], ValueError), (7878, TypeError), (["ipc:///tmp/a.sock", 7], TypeError),
])
def test_a_bad_url_names_the_accepted_schemes(url, kind):
    with pytest.raises(kind) as e:
        recfuse.Client(url)
    if kind is ValueError and url:
        assert "tcp://" in str(e.value) and "ipc://" in str(e.value)


def test_an_address_nng_cannot_use_is_refused():
    """NNG refuses some addresses when dialling (a ValueError now), others only when it resolves
    them in the background (Unavailable on the first call, saying so)."""
    with pytest.raises(ValueError) as e:
        recfuse.Client("tcp://noport")
    assert "cannot dial 'tcp://noport'" in str(e.value)
    with recfuse.Client("tcp://127.0.0.1:notaport", connect_timeout=0.2) as c:
        with pytest.raises(recfuse.Unavailable) as u:
            c.health()
    assert "address invalid" in u.value.message


# ------------------------------------------------------------------ failures from the network side

def test_nothing_listening_is_unavailable_not_a_timeout(tmp_path):
    with recfuse.Client(f"ipc://{tmp_path}/nobody.sock", timeout=30, connect_timeout=0.2) as c:
        with pytest.raises(recfuse.Unavailable) as e:
            c.health()
    assert e.value.code == Code.UNAVAILABLE
    assert "nobody.sock" in e.value.message and "within 0.2 s" in e.value.message
    # The reason comes from a real dial: the socket file does not exist.
    assert "no such file" in e.value.message or "refused" in e.value.message


def test_nothing_listening_on_a_tcp_port_is_unavailable():
    from conftest import free_port
    with recfuse.Client(f"tcp://127.0.0.1:{free_port()}", timeout=30, connect_timeout=0.2) as c:
        with pytest.raises(recfuse.Unavailable) as e:
            c.retrieve("196")
    assert "refused" in e.value.message


def test_a_call_after_close_is_cancelled(server):
    c = recfuse.Client(server.ipc, timeout=5)
    assert c.health().status == recfuse.recommender_pb2.HealthResponse.SERVING
    c.close()
    assert c.closed
    for call in (c.health, lambda: c.retrieve("196"), lambda: c.call_raw(b"")):
        with pytest.raises(recfuse.Cancelled) as e:
            call()
        assert e.value.code == Code.CANCELLED and isinstance(e.value, recfuse.RpcError)
    c.close()  # twice is fine


def test_close_while_a_call_waits_cancels_it(bundle_dir):
    """A call blocked on a server that never answers ends as Cancelled when another thread closes."""
    from conftest import ServerProc
    import signal
    s = ServerProc(bundle_dir)
    try:
        c = recfuse.Client(s.ipc, timeout=20)
        c.health()
        s.proc.send_signal(signal.SIGSTOP)
        out = []

        def call():
            try:
                c.health()
                out.append("answered")
            except BaseException as e:  # noqa: BLE001 - what it raised is the point
                out.append(e)
        t = threading.Thread(target=call)
        t.start()
        t.join(0.5)
        c.close()
        t.join(10)
        assert len(out) == 1 and isinstance(out[0], recfuse.Cancelled), out
    finally:
        s.proc.send_signal(signal.SIGCONT)
        s.stop()


def test_server_errors_are_subclasses_per_code(client):
    with pytest.raises(recfuse.InvalidArgument) as e:
        client.retrieve("196", engine="no-such-engine")
    assert e.value.code == Code.INVALID_ARGUMENT and "no-such-engine" in e.value.message
    with pytest.raises(recfuse.NotFound):
        client.explain("196", "no-such-item")
    with pytest.raises(recfuse.Unimplemented):
        client.call("NoSuchMethod", recfuse.recommender_pb2.HealthRequest(), recfuse.recommender_pb2.HealthResponse)
    # Catching the family still works, and the exception survives pickling (multiprocessing).
    with pytest.raises(recfuse.RpcError) as e:
        client.retrieve("196", engine="no-such-engine")
    again = pickle.loads(pickle.dumps(e.value))
    assert type(again) is recfuse.InvalidArgument and again.message == e.value.message


def test_rpc_error_picks_the_subclass_for_its_code():
    assert type(recfuse.RpcError(Code.NOT_FOUND, "x")) is recfuse.NotFound
    assert type(recfuse.RpcError(Code.ABORTED, "x")) is recfuse.RpcError
    assert recfuse.RpcError(99, "x").code == Code.UNKNOWN
    assert str(recfuse.Unavailable(Code.UNAVAILABLE, "down")) == "UNAVAILABLE: down"


# ------------------------------------------------------------------ many users, one socket

def test_retrieve_many_matches_one_by_one(client):
    users = ["196", "186", "22", "244", "166", "298", "115", "253", "305", "6"]
    many = client.retrieve_many(users, k=5, engine="svdpp", concurrency=4)
    assert [[it.item_id for it in r.items] for r in many] == \
        [[it.item_id for it in client.retrieve(u, k=5, engine="svdpp").items] for u in users]


def test_rank_many_with_shared_and_per_user_candidates(client):
    users = ["196", "186", "22"]
    shared = ["1", "50", "100", "181"]
    got = client.rank_many(users, shared, engine="svdpp")
    assert [sorted(it.item_id for it in r.items) for r in got] == [sorted(shared)] * 3
    per_user = [["1", "2"], ["50"], ["100", "181", "7"]]
    got = client.rank_many(users, per_user, engine="svdpp")
    assert [sorted(it.item_id for it in r.items) for r in got] == [sorted(x) for x in per_user]


def test_many_raises_the_first_failure_or_returns_it_in_place(client):
    with pytest.raises(recfuse.InvalidArgument):
        client.retrieve_many(["196", "186"], engine="no-such-engine")
    out = client.rank_many(["196", "186"], [["1"], ["2"]], engine="svdpp", return_exceptions=True)
    assert all(isinstance(r, recfuse.recommender_pb2.RankResponse) for r in out)
    out = client.retrieve_many(["196", "186"], engine="no-such-engine", return_exceptions=True)
    assert all(isinstance(r, recfuse.InvalidArgument) for r in out)
    assert client.retrieve_many([]) == []


# ------------------------------------------------------------------ asyncio

def test_aio_client_gives_the_sync_answers(server):
    async def main():
        async with recfuse.aio.Client(server.ipc, timeout=10) as c:
            health = await c.health()
            top = await c.retrieve("196", k=5, engine="svdpp")
            ranked = await c.rank("196", ["1", "50", "100"], engine="svdpp")
            many = await c.retrieve_many(["196", "186", "22"], k=5, engine="svdpp")
            explained = await c.explain("196", top.items[0].item_id)
            with pytest.raises(recfuse.InvalidArgument):
                await c.retrieve("196", engine="no-such-engine")
            with pytest.raises(TypeError):
                await c.rank("196", "1 50 181")
            # Many calls in flight from one event loop.
            burst = await asyncio.gather(*[c.rank(u, ["1", "50"], engine="svdpp") for u in ["196"] * 32])
            return health, top, ranked, many, explained, burst
        
    health, top, ranked, many, explained, burst = asyncio.run(main())
    assert health.status == recfuse.recommender_pb2.HealthResponse.SERVING
    with recfuse.Client(server.ipc, timeout=10) as s:
        assert [i.item_id for i in top.items] == [i.item_id for i in s.retrieve("196", k=5, engine="svdpp").items]
        assert [i.item_id for i in ranked.items] == \
            [i.item_id for i in s.rank("196", ["1", "50", "100"], engine="svdpp").items]
        assert [[i.item_id for i in r.items] for r in many] == \
            [[i.item_id for i in s.retrieve(u, k=5, engine="svdpp").items] for u in ["196", "186", "22"]]
    assert explained.text
    assert len(burst) == 32 and all(len(r.items) == 2 for r in burst)


def test_aio_unavailable_cancelled_and_deadline(tmp_path, bundle_dir):
    from conftest import ServerProc
    import signal

    async def nobody():
        async with recfuse.aio.Client(f"ipc://{tmp_path}/nobody.sock", timeout=30, connect_timeout=0.2) as c:
            await c.health()
    with pytest.raises(recfuse.Unavailable):
        asyncio.run(nobody())

    s = ServerProc(bundle_dir)
    try:
        async def closed_and_hung():
            c = recfuse.aio.Client(s.ipc, timeout=1.0)
            await c.health()
            s.proc.send_signal(signal.SIGSTOP)
            with pytest.raises(recfuse.DeadlineExceeded):
                await c.health()
            await c.close()
            with pytest.raises(recfuse.Cancelled):
                await c.health()
        asyncio.run(closed_and_hung())
    finally:
        s.proc.send_signal(signal.SIGCONT)
        s.stop()


# ------------------------------------------------------------------ types

def test_mypy_passes_on_the_package_and_examples():
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "recfuse", "examples"], cwd=CLIENT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_sees_response_types_not_any(tmp_path):
    """A typo in a response field is a mypy error: the generated modules' stubs are in the package."""
    bad = tmp_path / "typo.py"
    bad.write_text(textwrap.dedent("""
        import recfuse
        with recfuse.Client("ipc:///tmp/x.sock") as c:
            top = c.retrieve("196")
            print(top.itemz)
            score: str = top.items[0].score
    """))
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(bad)], cwd=CLIENT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout
    assert '"RetrieveResponse" has no attribute "itemz"' in r.stdout
    assert 'expression has type "float", variable has type "str"' in r.stdout
