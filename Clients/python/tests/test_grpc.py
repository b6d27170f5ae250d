"""The gRPC door (`serve --grpc-listen`) with stock grpcio clients: stubs generated from Proto/
by grpcio-tools in the test, every RPC compared with the NNG client's answer for the same
request, deadlines, bad input, the admin token, TLS and mutual TLS, the gRPC health checking
protocol (Check and Watch, NOT_SERVING on shutdown), traceparent and the transport metrics."""
import importlib
import pathlib
import signal
import sys
import threading
import time
import urllib.request

import grpc
import pytest

import recfuse
from recfuse.v1 import recommender_pb2 as rpb

from conftest import ROOT, ServerProc, free_port
from test_tls import pki  # noqa: F401 - the module's certificates fixture

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    """Service stubs generated from Proto/ by grpcio-tools now: recfuse.v1's over the client's
    committed message modules, and grpc.health.v1 (messages and stubs) from its proto, under a
    module name of its own (the `grpc` package is grpcio's)."""
    import importlib.util
    import shutil
    from grpc_tools import protoc
    out = tmp_path_factory.mktemp("grpc-stubs")
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    ours = sorted(str(p.relative_to(ROOT / "Proto")) for p in (ROOT / "Proto" / "recfuse").rglob("*.proto"))
    assert protoc.main(["protoc", f"-I{ROOT / 'Proto'}", f"-I{include}", f"--grpc_python_out={out}", *ours]) == 0
    (out / "rfhealth").mkdir()
    shutil.copy(ROOT / "Proto" / "grpc" / "health" / "v1" / "health.proto", out / "rfhealth" / "health.proto")
    assert protoc.main(["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}",
                        "rfhealth/health.proto"]) == 0

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    from recfuse.v1 import admin_pb2, recommender_pb2
    ns = dict(recommender_pb2=recommender_pb2, admin_pb2=admin_pb2,
              recommender_pb2_grpc=load("rf_recommender_pb2_grpc", out / "recfuse/v1/recommender_pb2_grpc.py"),
              admin_pb2_grpc=load("rf_admin_pb2_grpc", out / "recfuse/v1/admin_pb2_grpc.py"))
    sys.path.insert(0, str(out))
    try:
        ns["health_pb2"] = importlib.import_module("rfhealth.health_pb2")
        ns["health_pb2_grpc"] = importlib.import_module("rfhealth.health_pb2_grpc")
    finally:
        sys.path.remove(str(out))
    return type("Stubs", (), ns)


def nng_reply(client, method, payload: bytes, metadata=None):
    """One raw call over NNG: the decoded Reply envelope."""
    from recfuse.v1 import envelope_pb2
    env = envelope_pb2.Envelope(method=method, payload=payload, deadline_ms=5000)
    for k, v in (metadata or {}).items():
        env.metadata[k] = v
    return envelope_pb2.Reply.FromString(client.call_raw(env.SerializeToString()))


@pytest.fixture(scope="module")
def door(bundle_dir, tmp_path_factory):
    token = tmp_path_factory.mktemp("admin") / "token"
    token.write_text("grpc-admin-token-0123456789\n")
    port = free_port()
    metrics = f"http://127.0.0.1:{free_port()}"
    s = ServerProc(bundle_dir, extra=["--grpc-listen", f"127.0.0.1:{port}", "--max-message-bytes", "65536",
                                      "--admin-token-file", str(token), "--metrics-listen", metrics,
                                      "--log-level", "debug", "--log-format", "json"])
    s.grpc = f"127.0.0.1:{port}"
    s.metrics = metrics
    s.token = "grpc-admin-token-0123456789"
    wait_for_grpc(s.grpc)
    yield s
    s.stop()


def wait_for_grpc(target, creds=None, timeout=30):
    ch = grpc.secure_channel(target, creds) if creds else grpc.insecure_channel(target)
    grpc.channel_ready_future(ch).result(timeout=timeout)
    ch.close()


@pytest.fixture
def channel(door):
    ch = grpc.insecure_channel(door.grpc)
    yield ch
    ch.close()


def same_items(a, b):
    return [(i.item_id, i.score) for i in a.items] == [(i.item_id, i.score) for i in b.items]


def test_every_rpc_answers_as_over_nng(door, channel, stubs):
    stub = stubs.recommender_pb2_grpc.RecommenderStub(channel)
    pb = stubs.recommender_pb2
    with recfuse.Client(door.ipc, timeout=10) as c:
        r = stub.Retrieve(pb.RetrieveRequest(user=pb.User(id="196"), k=10), timeout=10)
        n = c.retrieve(user_id="196", k=10)
        assert len(r.items) == 10 and same_items(r, n)
        assert r.meta.engine == n.meta.engine and r.meta.bundle_version == n.meta.bundle_version

        cands = [i.item_id for i in n.items] + ["1", "50", "181"]
        r = stub.Rank(pb.RankRequest(user=pb.User(id="196"), item_ids=cands), timeout=10)
        assert same_items(r, c.rank("196", cands))

        req = pb.RerankRequest(user=pb.User(id="196"),
                               candidates=[pb.Candidate(item_id=i) for i in cands[:8]], k=5)
        r = stub.Rerank(req, timeout=30)
        n = c.call("/recfuse.v1.Recommender/Rerank", req, rpb.RerankResponse)
        assert len(r.items) == 5 and same_items(r, n)

        r = stub.Explain(pb.ExplainRequest(user=pb.User(id="196"), item_id=cands[0]), timeout=10)
        n = c.explain("196", cands[0])
        assert r.text and r.text == n.text and r.score == n.score and r.meta.engine == n.meta.engine

        assert stub.Health(pb.HealthRequest(), timeout=5).status == pb.HealthResponse.SERVING
        info = stub.Info(pb.InfoRequest(), timeout=5)
        assert info.bundle_version == c.info().bundle_version and info.dataset.items == 1682


def test_bad_input_gets_the_nng_codes_and_messages(door, channel, stubs):
    stub = stubs.recommender_pb2_grpc.RecommenderStub(channel)
    pb = stubs.recommender_pb2
    with recfuse.Client(door.ipc, timeout=10) as c:
        cases = [
            (lambda: stub.Retrieve(pb.RetrieveRequest(user=pb.User(id="196"), engine="nope"), timeout=5),
             lambda: c.retrieve(user_id="196", engine="nope")),
            (lambda: stub.Retrieve(pb.RetrieveRequest(user=pb.User(id="196"), k=10**6), timeout=5),
             lambda: c.retrieve(user_id="196", k=10**6)),
            (lambda: stub.Explain(pb.ExplainRequest(user=pb.User(id="196"), item_id="no-such-item"), timeout=5),
             lambda: c.explain("196", "no-such-item")),
        ]
        for grpc_call, nng_call in cases:
            with pytest.raises(grpc.RpcError) as g:
                grpc_call()
            with pytest.raises(recfuse.RpcError) as n:
                nng_call()
            assert g.value.code().value[0] == n.value.code, (g.value, n.value)
            assert g.value.details() == n.value.message
    # A payload that is not the method's request message.
    raw = channel.unary_unary("/recfuse.v1.Recommender/Rank")
    with pytest.raises(grpc.RpcError) as g:
        raw(b"\xff\xff\xff", timeout=5)
    assert g.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "RankRequest" in g.value.details()
    # An unknown method, and one over the message limit.
    with pytest.raises(grpc.RpcError) as g:
        channel.unary_unary("/recfuse.v1.Recommender/NoSuchThing")(b"", timeout=5)
    assert g.value.code() == grpc.StatusCode.UNIMPLEMENTED
    big = pb.RankRequest(user=pb.User(id="196"), item_ids=[str(i) for i in range(20000)])
    with pytest.raises(grpc.RpcError) as g:
        stub.Rank(big, timeout=10)
    assert g.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "65536" in g.value.details()
    # Far over the limit the transport resets the stream before reading it all.
    with pytest.raises(grpc.RpcError):
        raw(b"\x1a\x01x" * 200000, timeout=10)
    # The server still serves.
    assert stub.Health(pb.HealthRequest(), timeout=5).status == pb.HealthResponse.SERVING


def test_grpc_timeout_is_the_deadline(door, channel, stubs):
    stub = stubs.recommender_pb2_grpc.RecommenderStub(channel)
    pb = stubs.recommender_pb2
    with pytest.raises(grpc.RpcError) as g:
        stub.Retrieve(pb.RetrieveRequest(user=pb.User(id="196"), k=10), timeout=0.000001)
    assert g.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # A generous deadline is not hit.
    assert len(stub.Retrieve(pb.RetrieveRequest(user=pb.User(id="196"), k=10), timeout=30).items) == 10


def test_admin_token_comes_from_metadata(door, channel, stubs):
    admin = stubs.admin_pb2_grpc.AdminStub(channel)
    with pytest.raises(grpc.RpcError) as g:
        admin.Reload(stubs.admin_pb2.ReloadRequest(), timeout=30)
    assert g.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as g:
        admin.Reload(stubs.admin_pb2.ReloadRequest(), timeout=30, metadata=[("authorization", "Bearer wrong")])
    assert g.value.code() == grpc.StatusCode.PERMISSION_DENIED
    r = admin.Reload(stubs.admin_pb2.ReloadRequest(), timeout=120, metadata=[("authorization", f"Bearer {door.token}")])
    assert r.bundle_version


def test_traceparent_is_echoed_and_logged(door, channel, stubs):
    stub = stubs.recommender_pb2_grpc.RecommenderStub(channel)
    pb = stubs.recommender_pb2
    _, call = stub.Rank.with_call(pb.RankRequest(user=pb.User(id="22"), item_ids=["1", "2"]), timeout=5,
                                  metadata=[("traceparent", TRACEPARENT), ("x-request-id", "grpc-trace-test")])
    assert dict(call.initial_metadata())["traceparent"] == TRACEPARENT
    # On an error the header comes back in the trailers.
    with pytest.raises(grpc.RpcError) as g:
        stub.Rank(pb.RankRequest(user=pb.User(id="22"), engine="nope"), timeout=5,
                  metadata=[("traceparent", TRACEPARENT)])
    assert dict(g.value.trailing_metadata())["traceparent"] == TRACEPARENT
    # A malformed header is ignored, not echoed.
    _, call = stub.Rank.with_call(pb.RankRequest(user=pb.User(id="22"), item_ids=["1"]), timeout=5,
                                  metadata=[("traceparent", "00-zz-00")])
    assert "traceparent" not in dict(call.initial_metadata())
    # NNG: from the envelope's metadata into the reply's.
    with recfuse.Client(door.ipc, timeout=5) as c:
        reply = nng_reply(c, "/recfuse.v1.Recommender/Health", b"", {"traceparent": TRACEPARENT})
        assert reply.status.code == 0 and reply.metadata["traceparent"] == TRACEPARENT
    import json
    deadline = time.time() + 5
    while True:
        # Only whole lines: the server may be writing the last one as the test reads the file.
        text = door.logs()
        text = text[:text.rfind("\n") + 1]
        lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
        mine = [l for l in lines if l.get("request_id") == "grpc-trace-test"]
        if mine or time.time() > deadline:
            break
        time.sleep(0.1)
    assert mine, "no JSON log line for the traced request"
    line = mine[0]
    assert line["trace_id"] == TRACEPARENT.split("-")[1] and line["method"].endswith("/Rank")
    assert line["status"] == "OK" and int(line["micros"]) > 0 and line["level"] == "debug" and line["time"]


def test_metrics_count_each_transport(door, channel, stubs):
    stub = stubs.recommender_pb2_grpc.RecommenderStub(channel)
    stub.Info(stubs.recommender_pb2.InfoRequest(), timeout=5)
    with recfuse.Client(door.ipc, timeout=5) as c:
        c.info()
    text = urllib.request.urlopen(door.metrics + "/metrics", timeout=5).read().decode()
    for t in ("grpc", "nng"):
        assert f'recfuse_requests_total{{transport="{t}",method="Info",code="OK"}}' in text, text
    assert 'recfuse_degraded_replies_total{reason="fallback_engine"}' in text


def test_health_check_and_watch(door, channel, stubs):
    h = stubs.health_pb2
    stub = stubs.health_pb2_grpc.HealthStub(channel)
    for name in ("", "recfuse.v1.Recommender"):
        assert stub.Check(h.HealthCheckRequest(service=name), timeout=5).status == h.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as g:
        stub.Check(h.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert g.value.code() == grpc.StatusCode.NOT_FOUND
    watch = stub.Watch(h.HealthCheckRequest(service=""), timeout=10)
    assert next(watch).status == h.HealthCheckResponse.SERVING
    watch.cancel()
    unknown = stub.Watch(h.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert next(unknown).status == h.HealthCheckResponse.SERVICE_UNKNOWN
    unknown.cancel()
    # The same Check over NNG, under the same method name.
    with recfuse.Client(door.ipc, timeout=5) as c:
        payload = h.HealthCheckRequest(service="").SerializeToString()
        reply = nng_reply(c, "/grpc.health.v1.Health/Check", payload)
        assert h.HealthCheckResponse.FromString(reply.payload).status == h.HealthCheckResponse.SERVING
        reply = nng_reply(c, "/grpc.health.v1.Health/Check", h.HealthCheckRequest(service="nope").SerializeToString())
        assert reply.status.code == grpc.StatusCode.NOT_FOUND.value[0]


def test_shutdown_turns_health_to_not_serving(bundle_dir, stubs):
    port = free_port()
    s = ServerProc(bundle_dir, extra=["--grpc-listen", f"127.0.0.1:{port}"])
    try:
        wait_for_grpc(f"127.0.0.1:{port}")
        ch = grpc.insecure_channel(f"127.0.0.1:{port}")
        h = stubs.health_pb2
        watch = stubs.health_pb2_grpc.HealthStub(ch).Watch(h.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == h.HealthCheckResponse.SERVING
        seen = []
        t = threading.Thread(target=lambda: seen.extend(m.status for m in watch))
        t.start()
        s.proc.send_signal(signal.SIGTERM)
        t.join(30)
        assert seen and seen[-1] == h.HealthCheckResponse.NOT_SERVING, seen
        assert s.proc.wait(30) == 0
        ch.close()
    finally:
        s.stop()


def test_tls_and_mutual_tls_on_the_grpc_port(bundle_dir, stubs, pki):  # noqa: F811
    ca = (pki / "ca.pem").read_bytes()
    opts = (("grpc.ssl_target_name_override", "localhost"),)
    h = stubs.health_pb2
    for mutual in (False, True):
        port = free_port()
        extra = ["--grpc-listen", f"127.0.0.1:{port}", "--tls-cert", str(pki / "server.pem"),
                 "--tls-key", str(pki / "server.key")]
        if mutual:
            extra += ["--tls-client-ca", str(pki / "ca.pem")]
        s = ServerProc(bundle_dir, extra=extra)
        try:
            good = grpc.ssl_channel_credentials(
                root_certificates=ca,
                private_key=(pki / "client.key").read_bytes() if mutual else None,
                certificate_chain=(pki / "client.pem").read_bytes() if mutual else None)
            wait_for_grpc(f"127.0.0.1:{port}", good)
            with grpc.secure_channel(f"127.0.0.1:{port}", good, options=opts) as ch:
                r = stubs.health_pb2_grpc.HealthStub(ch).Check(h.HealthCheckRequest(), timeout=10)
                assert r.status == h.HealthCheckResponse.SERVING
            # A client that does not trust the server's certificate; then (mutual) one without
            # a certificate, and one with a certificate the CA never signed.
            bad = [grpc.ssl_channel_credentials(root_certificates=(pki / "other.pem").read_bytes())]
            if mutual:
                bad += [grpc.ssl_channel_credentials(root_certificates=ca),
                        grpc.ssl_channel_credentials(root_certificates=ca,
                                                     private_key=(pki / "other.key").read_bytes(),
                                                     certificate_chain=(pki / "other.pem").read_bytes())]
            for creds in bad:
                with grpc.secure_channel(f"127.0.0.1:{port}", creds, options=opts) as ch:
                    with pytest.raises(grpc.RpcError) as g:
                        stubs.health_pb2_grpc.HealthStub(ch).Check(h.HealthCheckRequest(), timeout=5)
                    assert g.value.code() == grpc.StatusCode.UNAVAILABLE
            # Plaintext to a TLS port fails too.
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                with pytest.raises(grpc.RpcError):
                    stubs.health_pb2_grpc.HealthStub(ch).Check(h.HealthCheckRequest(), timeout=5)
        finally:
            s.stop()
