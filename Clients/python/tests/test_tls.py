"""tls+tcp:// listeners: server-authenticated TLS and mutual TLS, with certificates made by
openssl in the test (a CA, a server certificate for 127.0.0.1, a client certificate)."""
import subprocess

import pytest

import recfuse

from conftest import ServerProc, free_port


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=recfuse test CA", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "localhost"), ("client", "recfuse test client"), ("other", "unsigned")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
            "-days", "2", "-extfile", "san.cnf", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.pem",
            "-days", "2", cwd=d)
    # A self-signed client certificate the server's CA never signed.
    openssl("x509", "-req", "-in", "other.csr", "-signkey", "other.key", "-out", "other.pem", "-days", "2", cwd=d)
    return d


def test_tls_and_mutual_tls(bundle_dir, pki):
    tls_url = f"tls+tcp://127.0.0.1:{free_port()}"
    mtls_url = f"tls+tcp://127.0.0.1:{free_port()}"
    plain = ServerProc(bundle_dir, extra=["--listen", tls_url, "--tls-cert", str(pki / "server.pem"),
                                          "--tls-key", str(pki / "server.key")])
    try:
        with recfuse.Client(tls_url, timeout=10, tls_ca_file=str(pki / "ca.pem"), tls_server_name="localhost") as c:
            assert [it.item_id for it in c.retrieve(user_id="196", k=3).items]
        # A client that does not trust the server's CA never gets an answer.
        with recfuse.Client(tls_url, timeout=2, tls_ca_file=str(pki / "other.pem"), tls_server_name="localhost") as c:
            with pytest.raises(recfuse.RpcError):
                c.health()
    finally:
        plain.stop()

    mutual = ServerProc(bundle_dir, extra=["--listen", mtls_url, "--tls-cert", str(pki / "server.pem"),
                                           "--tls-key", str(pki / "server.key"), "--tls-client-ca", str(pki / "ca.pem")])
    try:
        with recfuse.Client(mtls_url, timeout=10, tls_ca_file=str(pki / "ca.pem"), tls_server_name="localhost",
                            tls_cert_file=str(pki / "client.pem"), tls_key_file=str(pki / "client.key")) as c:
            assert c.health().status == recfuse.recommender_pb2.HealthResponse.SERVING
        for cert, key in ((None, None), ("other.pem", "other.key")):  # no certificate; one the CA never signed
            kw = {} if cert is None else dict(tls_cert_file=str(pki / cert), tls_key_file=str(pki / key))
            with recfuse.Client(mtls_url, timeout=2, tls_ca_file=str(pki / "ca.pem"), tls_server_name="localhost", **kw) as c:
                with pytest.raises(recfuse.RpcError):
                    c.health()
        # The C client, with its certificate and key in one PEM file.
        from conftest import ROOT
        (pki / "client-both.pem").write_text((pki / "client.pem").read_text() + (pki / "client.key").read_text())
        rank = str(ROOT / "Clients" / "c" / "build" / "rank")
        out = subprocess.run([rank, "-u", mtls_url, "-U", "196", "-C", str(pki / "ca.pem"), "-S", "localhost",
                              "-K", str(pki / "client-both.pem")], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "top-10 of 100 candidates" in out.stdout, out.stdout + out.stderr
        # The server kept serving through the refused handshakes.
        with recfuse.Client(mutual.ipc, timeout=5) as c:
            assert c.health().status == recfuse.recommender_pb2.HealthResponse.SERVING
    finally:
        mutual.stop()


def test_tls_listener_without_certificates_is_refused(bundle_dir, tmp_path):
    from conftest import recfuse_bin
    r = subprocess.run([recfuse_bin(), "serve", "--bundle", str(bundle_dir), "--listen", f"tls+tcp://127.0.0.1:{free_port()}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "--tls-cert" in r.stderr, r.stderr
