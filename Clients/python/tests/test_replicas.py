"""Scale-out: three replicas behind one client socket. NNG spreads requests over them; when
one is killed mid-load, every request still gets an answer (re-sent to a live replica)."""
import signal
import subprocess
import time

import recfuse

from conftest import Load, ServerProc


def test_a_replica_dies_under_load_and_no_request_fails(bundle_dir):
    replicas = [ServerProc(bundle_dir) for _ in range(3)]
    try:
        client = recfuse.Client([r.ipc for r in replicas], timeout=10, resend_time=0.3)
        load = Load(lambda: client.rank(user_id="196", item_ids=["1", "50", "100", "181"], engine="popularity"),
                    check=lambda r: None if len(r.items) == 4 else f"{len(r.items)} items", threads=6, max_calls=5000)
        time.sleep(1.5)
        replicas[0].proc.send_signal(signal.SIGKILL)  # no goodbye: in-flight requests are lost
        replicas[0].proc.wait(10)
        time.sleep(2.0)
        load.stop()
        client.close()
        assert not load.failures, load.failures[:5]
        assert sum(load.counts) > 200, load.counts
        # The survivors still answer on their own.
        for r in replicas[1:]:
            with recfuse.Client(r.ipc, timeout=5) as c:
                assert c.health().status == recfuse.recommender_pb2.HealthResponse.SERVING
    finally:
        for r in replicas:
            r.stop()


def test_a_hung_replica_is_routed_around_within_the_deadline(bundle_dir):
    """SIGSTOP: the replica's connections stay up, it accepts requests and never answers.
    Requests sent to it are re-sent (resend_time; NNG picks the next ready connection, which is
    the hung one a third of the time, so a deadline should allow ~10 re-sends) and answered inside their
    deadline; when it wakes, what it had queued has expired and is dropped unworked."""
    from conftest import free_port
    from test_metrics import get, sample
    base = f"http://127.0.0.1:{free_port()}"
    replicas = [ServerProc(bundle_dir, extra=["--metrics-listen", base])] + [ServerProc(bundle_dir) for _ in range(2)]
    stopped = False
    try:
        # The client's timeout is each request's deadline: an answer that came later (or
        # never) is a DeadlineExceeded failure in the load.
        client = recfuse.Client([r.ipc for r in replicas], timeout=2.0, resend_time=0.1)
        load = Load(lambda: client.rank(user_id="196", item_ids=["1", "50", "100", "181"], engine="popularity"),
                    check=lambda r: None if len(r.items) == 4 else f"{len(r.items)} items", threads=6, max_calls=5000)
        time.sleep(1.0)
        replicas[0].proc.send_signal(signal.SIGSTOP)
        stopped = True
        time.sleep(3.0)
        load.stop()
        assert not load.failures, load.failures[:5]
        assert sum(load.counts) > 200, load.counts
        replicas[0].proc.send_signal(signal.SIGCONT)
        stopped = False
        shed = None
        for _ in range(50):
            status, _, text = get(base + "/metrics")
            shed = sample(text, "recfuse_requests_shed_total", reason="deadline")
            if shed:
                break
            time.sleep(0.1)
        assert shed and shed >= 1, "the woken replica worked on requests whose callers had given up"
        client.close()
    finally:
        if stopped:
            replicas[0].proc.send_signal(signal.SIGCONT)
        for r in replicas:
            r.stop()


def test_c_client_dials_several_replicas(bundle_dir):
    from conftest import ROOT
    replicas = [ServerProc(bundle_dir) for _ in range(2)]
    try:
        rank = str(ROOT / "Clients" / "c" / "build" / "rank")
        out = subprocess.run([rank, "-u", replicas[0].ipc, "-u", replicas[1].tcp, "-U", "196"], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and "top-10 of 100 candidates" in out.stdout and " 10. " in out.stdout, out.stdout + out.stderr
        replicas[0].proc.send_signal(signal.SIGKILL)
        replicas[0].proc.wait(10)
        out = subprocess.run([rank, "-u", replicas[0].ipc, "-u", replicas[1].tcp, "-U", "196"], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and "top-10 of 100 candidates" in out.stdout and " 10. " in out.stdout, out.stdout + out.stderr
    finally:
        for r in replicas:
            r.stop()


def test_c_client_routes_around_a_hung_replica(bundle_dir):
    """The C client's first replica is SIGSTOPped: each call that lands there goes on to the next
    after a quarter of its 5 s timeout, and the tool still prints its full answer."""
    from conftest import ROOT
    replicas = [ServerProc(bundle_dir) for _ in range(3)]
    try:
        replicas[0].proc.send_signal(signal.SIGSTOP)
        rank = str(ROOT / "Clients" / "c" / "build" / "rank")
        urls = [a for r in replicas for a in ("-u", r.ipc)]
        for _ in range(3):
            out = subprocess.run([rank, *urls, "-U", "196"], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0 and "top-10 of 100 candidates" in out.stdout and " 10. " in out.stdout, \
                out.stdout + out.stderr
    finally:
        replicas[0].proc.send_signal(signal.SIGCONT)
        for r in replicas:
            r.stop()
