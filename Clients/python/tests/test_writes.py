"""The write path against live servers: Feedback, UpsertUser, UpsertItem and DeleteItem over NNG
and gRPC, recorded in a real SQLite file (durable across SIGTERM and SIGKILL) or in a real
PostgreSQL server that two replicas share."""
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import grpc
import pytest

import recfuse
from recfuse.v1 import admin_pb2, recommender_pb2 as rpb

from conftest import ServerProc, free_port
from test_grpc import stubs  # noqa: F401 - the module's gRPC stubs fixture

TOKEN = "writes-admin-token-0123456789"


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("writes-admin") / "token"
    f.write_text(TOKEN + "\n")
    return f


def store_server(bundle_dir, store, token_file, *extra):
    return ServerProc(bundle_dir, extra=["--store", store, "--admin-token-file", str(token_file), *extra])


def top(client, user, engine="gat", k=10):
    return [i.item_id for i in client.retrieve(user, k=k, engine=engine).items]


def test_feedback_changes_the_next_retrieve_and_survives_a_restart(bundle_dir, token_file, tmp_path):
    store = f"sqlite:{tmp_path / 'store.sqlite'}"
    s = store_server(bundle_dir, store, token_file)
    try:
        with recfuse.Client(s.ipc, timeout=5.0) as c:
            before = top(c, "196")
            r = c.feedback([{"user_id": "196", "item_id": i, "rating": 5, "event_id": f"t-{i}"} for i in before[:3]])
            assert (r.recorded, r.duplicates) == (3, 0)
            after = top(c, "196")
            assert after != before and not set(after) & set(before[:3])
            # The same events again are recognised by their ids.
            again = c.feedback([{"user_id": "196", "item_id": i, "rating": 5, "event_id": f"t-{i}"}
                                for i in before[:3]])
            assert (again.recorded, again.duplicates) == (0, 3)
            # A new user is scored from their feedback alone, by the GAT, not the fallback.
            c.feedback([{"user_id": "brand-new", "item_id": "50", "rating": 5},
                        {"user_id": "brand-new", "item_id": "172", "rating": 5}])
            fresh = c.retrieve("brand-new", k=5, engine="gat")
            assert fresh.meta.engine == "gat" and not fresh.meta.degraded, fresh.meta
            with pytest.raises(recfuse.NotFound, match="not in the catalogue"):
                c.feedback([{"user_id": "196", "item_id": "no-such-item"}])
            with pytest.raises(recfuse.InvalidArgument, match="rating"):
                c.feedback([rpb.FeedbackEvent(user_id="196", item_id="1", rating=float("nan"))])
            assert c.info().store.kind == "sqlite"
        assert s.stop() == 0
        s = store_server(bundle_dir, store, token_file)
        with recfuse.Client(s.ipc, timeout=5.0) as c:
            assert top(c, "196") == after
            info = c.info()
            assert info.store.feedback_events == 5 and info.store.sequence >= 5
    finally:
        s.stop()


def test_catalogue_writes_new_item_by_text_and_delete(bundle_dir, token_file, tmp_path):
    s = store_server(bundle_dir, f"sqlite:{tmp_path / 'store.sqlite'}", token_file)
    try:
        with recfuse.Client(s.ipc, timeout=10.0) as c:
            with pytest.raises(recfuse.PermissionDenied):
                c.upsert_item("wrong-token-0123456789", "space-1", "Orbit")
            w = c.upsert_item(TOKEN, "space-1", "Europa Drift", categories=["Sci-Fi"],
                              fields={"description": "astronauts drift through the frozen oceans of Jupiter's moon "
                                                     "Europa, a slow space survival film"})
            assert {"text", "gat", "popularity"} <= set(w.scored_by), w
            assert any(x.startswith("svdpp:") for x in w.not_scored_by), w
            r = c.retrieve(None, k=5, engine="text",
                           preference="astronauts stranded on a frozen moon of Jupiter, space survival")
            assert r.items[0].item_id == "space-1" and r.items[0].title == "Europa Drift", [i.item_id for i in r.items]
            ranked = c.rank("196", ["space-1", "50"], engine="gat")
            assert {i.item_id for i in ranked.items} == {"space-1", "50"}
            # Deleted: never in a reply again, whatever the engine.
            gone = top(c, "196", engine="popularity", k=1)[0]
            c.delete_item(TOKEN, gone)
            for engine in ("popularity", "gat", "svdpp", "cooccurrence"):
                assert gone not in top(c, "196", engine=engine, k=200), engine
                assert gone not in [i.item_id for i in c.rank("196", [gone, "1"], engine=engine).items]
            with pytest.raises(recfuse.NotFound, match="deleted"):
                c.explain("196", gone)
    finally:
        s.stop()


def test_sigkill_loses_no_acknowledged_write(bundle_dir, token_file, tmp_path):
    store = f"sqlite:{tmp_path / 'store.sqlite'}"
    s = store_server(bundle_dir, store, token_file)
    acked = []
    stop = threading.Event()

    def writer():
        with recfuse.Client(s.ipc, timeout=5.0) as c:
            for n in range(50_000):
                if stop.is_set():
                    return
                batch = [{"user_id": f"k{(n * 4 + j) % 97}", "item_id": str(1 + (n * 4 + j) % 1682), "rating": 4,
                          "event_id": f"kill-{n}-{j}"} for j in range(4)]
                try:
                    c.feedback(batch)
                except recfuse.RpcError:
                    return  # the server died under the call: not acknowledged
                acked.extend(e["event_id"] for e in batch)

    t = threading.Thread(target=writer)
    t.start()
    deadline = time.time() + 60
    while len(acked) < 2000 and time.time() < deadline and t.is_alive():
        time.sleep(0.05)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(10)
    stop.set()
    t.join(30)
    s.stop()
    assert len(acked) >= 2000
    s = store_server(bundle_dir, store, token_file)
    try:
        with recfuse.Client(s.ipc, timeout=10.0) as c:
            assert c.info().store.feedback_events >= len(acked)
            # Every acknowledged event is in the store: sent again, each is a duplicate.
            for i in range(0, len(acked), 1000):
                ids = acked[i:i + 1000]
                r = c.feedback([{"user_id": "x", "item_id": "1", "event_id": e} for e in ids])
                assert (r.recorded, r.duplicates) == (0, len(ids))
    finally:
        s.stop()


def test_writes_over_grpc(bundle_dir, token_file, tmp_path, stubs):  # noqa: F811
    port = free_port()
    s = store_server(bundle_dir, f"sqlite:{tmp_path / 'store.sqlite'}", token_file, "--grpc-listen",
                     f"127.0.0.1:{port}")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            rec = stubs.recommender_pb2_grpc.RecommenderStub(ch)
            admin = stubs.admin_pb2_grpc.AdminStub(ch)
            r = rec.Feedback(rpb.FeedbackRequest(events=[rpb.FeedbackEvent(user_id="g1", item_id="50", rating=5)]),
                             timeout=10)
            assert r.recorded == 1
            w = rec.UpsertUser(rpb.UpsertUserRequest(user_id="g1", age=33,
                                                     attributes=[rpb.Field(name="city", value="Oslo")]), timeout=10)
            assert not w.duplicate
            with pytest.raises(grpc.RpcError) as e:
                admin.UpsertItem(admin_pb2.UpsertItemRequest(item_id="g-new", title="X"), timeout=10)
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
            w = admin.UpsertItem(admin_pb2.UpsertItemRequest(item_id="g-new", title="Glacier"), timeout=10,
                                 metadata=[("authorization", f"Bearer {TOKEN}")])
            assert "popularity" in w.scored_by
            with pytest.raises(grpc.RpcError) as e:
                rec.Feedback(rpb.FeedbackRequest(events=[rpb.FeedbackEvent(user_id="g1", item_id="zzz")]), timeout=10)
            assert e.value.code() == grpc.StatusCode.NOT_FOUND
        with recfuse.Client(s.ipc, timeout=5.0) as c:
            seen = c.retrieve("g1", k=1682, engine="popularity")
            assert "50" not in [i.item_id for i in seen.items]  # exclude_seen covers the gRPC-recorded event
            assert "g-new" in [i.item_id for i in seen.items]
    finally:
        s.stop()


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of Debian's packages in a temporary folder, on a free loopback port."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        pytest.fail("PostgreSQL is not installed (scripts/setup.sh installs it)")
    initdb, pg_ctl = os.path.join(bins[-1], "initdb"), os.path.join(bins[-1], "pg_ctl")
    root = tempfile.mkdtemp(prefix="rf-pg-")
    as_user = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), free_port()
    subprocess.run(as_user + [initdb, "-D", data, "-U", "recfuse", "--auth=trust", "-E", "UTF8"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run(as_user + [pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w", "-t", "60", "-o",
                              f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgres://recfuse@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def wait_for(check, what, timeout=10.0):
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.05)


def test_two_replicas_share_one_postgres_store(bundle_dir, token_file, postgres):
    a = store_server(bundle_dir, postgres, token_file, "--store-poll", "0.1")
    b = store_server(bundle_dir, postgres, token_file, "--store-poll", "0.1")
    try:
        with recfuse.Client(a.ipc, timeout=5.0) as ca, recfuse.Client(b.ipc, timeout=5.0) as cb:
            assert ca.info().store.kind == "postgres"
            before = top(cb, "196")
            r = ca.feedback([{"user_id": "196", "item_id": i, "rating": 5, "event_id": f"pg-{i}"} for i in before[:3]])
            assert r.recorded == 3
            # The writing replica serves it at once; the other within its poll.
            assert not set(top(ca, "196")) & set(before[:3])
            wait_for(lambda: not set(top(cb, "196")) & set(before[:3]), "replica b serves a's feedback")
            # Both replicas write concurrently; each event is stored once and both see all.
            def burst(c, tag):
                for n in range(50):
                    c.feedback([{"user_id": f"{tag}{n % 7}", "item_id": str(1 + n), "event_id": f"{tag}-{n}"}])
            ta = threading.Thread(target=burst, args=(ca, "ra"))
            tb = threading.Thread(target=burst, args=(cb, "rb"))
            ta.start(), tb.start()
            ta.join(60), tb.join(60)
            total = 3 + 100
            wait_for(lambda: ca.info().store.feedback_events == total and cb.info().store.feedback_events == total,
                     "both replicas count every event")
            # The event id is global: a duplicate through the other replica is recognised.
            dup = cb.feedback([{"user_id": "196", "item_id": before[0], "rating": 5, "event_id": f"pg-{before[0]}"}])
            assert (dup.recorded, dup.duplicates) == (0, 1)
            # Catalogue changes reach the other replica.
            ca.upsert_item(TOKEN, "pg-new", "Harbour Lights", categories=["Drama"])
            wait_for(lambda: "pg-new" in top(cb, "196", engine="popularity", k=2000), "b serves a's new item")
            gone = top(cb, "196", engine="popularity", k=1)[0]
            cb.delete_item(TOKEN, gone)
            wait_for(lambda: gone not in top(ca, "196", engine="popularity", k=2000), "a hides b's deleted item")
        # A replica started later begins where the store is.
        c_ = store_server(bundle_dir, postgres, token_file)
        try:
            with recfuse.Client(c_.ipc, timeout=5.0) as cc:
                assert cc.info().store.feedback_events == 103
                assert gone not in top(cc, "196", engine="popularity", k=2000)
        finally:
            c_.stop()
    finally:
        a.stop()
        b.stop()


# ---------------------------------------------------------------- retraining


def test_retrain_swaps_in_under_load_with_zero_failed_requests(bundle_dir, token_file, tmp_path):
    from conftest import Load
    retrained = tmp_path / "retrained"
    # Tolerance 1: any judged retrain is kept, so the test checks the mechanics (train in a child,
    # judge, swap under load); whether a worse bundle is kept is the tolerance's business.
    s = store_server(bundle_dir, f"sqlite:{tmp_path / 'store.sqlite'}", token_file, "--retrain-dir",
                     str(retrained), "--retrain-tolerance", "1", "--retrain-min-users", "5")
    try:
        with recfuse.Client(s.ipc, timeout=10.0) as c:
            with pytest.raises(recfuse.PermissionDenied):
                c.retrain("not-the-token-0123456789")
            # Too little recorded feedback to judge by: not swapped, and the reply says why.
            c.feedback([{"user_id": "1", "item_id": "50", "rating": 5}])
            r = c.retrain(TOKEN, timeout=900)
            assert not r.swapped and "too few held-out users" in r.message, r
            before = c.info().bundle_version
            # Round-robin over 40 users, so each user's latest event is among the held-out ones.
            events = []
            for n in range(6):
                for u in range(1, 41):
                    events.append({"user_id": str(u), "item_id": str(1 + (u * 37 + n * 11) % 1682), "rating": 5})
            c.feedback(events)
            load = Load(lambda: c.rank("196", [str(i) for i in range(1, 101)], engine="gat"),
                        check=lambda r: None if len(r.items) == 100 else f"{len(r.items)} items", threads=3)
            try:
                r = c.retrain(TOKEN, timeout=900)
            finally:
                load.stop()
            assert r.swapped, r.message
            assert r.bundle_version != before and r.previous_version == before
            assert r.holdout_users >= 5 and r.trained_events > 0 and 0 <= r.candidate_ndcg10 <= 1
            assert "NDCG@10" in r.message and r.bundle_dir.startswith(str(retrained))
            assert load.failures == [] and sum(load.counts) > 0, load.failures[:3]
            info = c.info()
            assert info.bundle_version == r.bundle_version
            # The new bundle knows what was recorded; the store still serves everything on top.
            assert info.dataset.interactions > 100_000 and info.store.feedback_events == 241
    finally:
        s.stop()


def test_bad_write_flags_are_refused_by_name(bundle_dir, tmp_path):
    from conftest import recfuse_bin
    cases = [
        (["--store", f"sqlite:{tmp_path / 's.sqlite'}", "--write-priority", "urgent"], "--write-priority"),
        (["--write-priority", "urgent"], "--write-priority"),
        (["--retrain-every", "5m"], "--retrain-every needs --store"),
        (["--store", "mysql://db/x"], "--store 'mysql://db/x'"),
        (["--store", f"sqlite:{tmp_path / 's.sqlite'}", "--retrain-every", "soon"], "duration 'soon'"),
    ]
    for flags, needle in cases:
        p = subprocess.run([recfuse_bin(), "serve", "--bundle", str(bundle_dir), "--listen",
                            f"ipc://{tmp_path}/bad.sock", *flags], capture_output=True, text=True, timeout=120)
        assert p.returncode != 0 and needle in p.stdout + p.stderr, (flags, p.stdout + p.stderr)
