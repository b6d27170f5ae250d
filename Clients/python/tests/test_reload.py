"""Hot reload: the Admin/Reload RPC and SIGHUP swap the served bundle under load with no
failed request; a bundle that fails to load leaves the old one serving; admin calls need the
token."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

import recfuse
from recfuse import Code

from conftest import Load, ServerProc, free_port, recfuse_bin
from test_metrics import get, sample

TOKEN = "test-admin-token-0123456789"


def version(bundle):
    return json.loads((pathlib.Path(bundle) / "manifest.json").read_text())["version"]


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    """A second, different bundle (popularity and co-occurrence only: seconds to train)."""
    out = tmp_path_factory.mktemp("small") / "b2"
    data = os.environ.get("RECFUSE_DATA_DIR", str(pathlib.Path(__file__).resolve().parents[3] / "data"))
    subprocess.run([recfuse_bin(), "train", "--dataset", "ml-100k", "--data-dir", data, "--engine", "popularity",
                    "--engine", "cooccurrence", "--out", str(out), "--log-level", "warning"], check=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def admin_server(bundle_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("admin")
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    served = tmp / "served"
    shutil.copytree(bundle_dir, served)
    s = ServerProc(served, extra=["--admin-token-file", str(token_file),
                                  "--metrics-listen", f"http://127.0.0.1:{free_port()}"])
    yield s
    s.stop()


def test_admin_calls_need_the_token(admin_server, server):
    with recfuse.Client(admin_server.ipc, timeout=10) as c:
        for token in ("", "wrong-token-wrong-token"):
            with pytest.raises(recfuse.RpcError) as e:
                c.reload(token)
            assert e.value.code == Code.PERMISSION_DENIED and "authorization" in e.value.message
    with recfuse.Client(server.ipc, timeout=10) as c:  # started without a token file
        with pytest.raises(recfuse.RpcError) as e:
            c.reload(TOKEN)
        assert e.value.code == Code.PERMISSION_DENIED and "--admin-token-file" in e.value.message


def test_reload_under_load_drops_nothing(admin_server, bundle_dir, small_bundle, tmp_path):
    v1, v2 = version(bundle_dir), version(small_bundle)
    assert v1 != v2
    client = recfuse.Client(admin_server.ipc, timeout=10)  # thread-safe: one context per call
    load = Load(lambda: client.retrieve(user_id="196", k=10, engine="popularity"),
                check=lambda r: None if len(r.items) == 10 else f"{len(r.items)} items", threads=4, max_calls=20000)
    try:
        time.sleep(0.5)
        with recfuse.Client(admin_server.ipc, timeout=30) as admin:
            r = admin.reload(TOKEN, bundle_dir=str(small_bundle))
            assert r.bundle_version == v2 and r.previous_version == v1 and r.load_seconds > 0
            time.sleep(0.5)
            # A bundle that fails to load: the reply says why, the old bundle keeps serving.
            broken = tmp_path / "broken"
            shutil.copytree(small_bundle, broken)
            (broken / "manifest.json").write_text("{ not json")
            with pytest.raises(recfuse.RpcError) as e:
                admin.reload(TOKEN, bundle_dir=str(broken))
            assert e.value.code != Code.OK and "still serving " + v2 in e.value.message, e.value
            assert admin.health().bundle_version == v2
            # SIGHUP reloads the folder served now (the small bundle); then back to the first.
            admin_server.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 30
            while "reloaded: now serving " + v2 not in admin_server.logs() and time.time() < deadline:
                time.sleep(0.1)
            assert "reloaded: now serving " + v2 in admin_server.logs(), admin_server.logs()[-2000:]
            r = admin.reload(TOKEN, bundle_dir=str(admin_server_dir(admin_server)))
            assert r.bundle_version == v1 and r.previous_version == v2
            time.sleep(0.5)
    finally:
        load.stop()
        client.close()
    seen = {r.meta.bundle_version for r in load.results}
    assert not load.failures, load.failures[:5]
    assert {v1, v2} <= seen and sum(load.counts) > 100, (seen, load.counts)
    assert admin_server.proc.poll() is None
    # The reloads are in the metrics: three swaps, one failure, and the bundle served now.
    text = get(admin_server_metrics(admin_server) + "/metrics")[2]
    assert sample(text, "recfuse_reloads_total", result="ok") == 3, text[-3000:]
    assert sample(text, "recfuse_reloads_total", result="failed") == 1
    assert sample(text, "recfuse_bundle_info", version=v1) == 1
    assert sample(text, "recfuse_bundle_load_duration_seconds") > 0
    assert sample(text, "recfuse_bundle_loaded_time_seconds") > sample(text, "recfuse_start_time_seconds")


def admin_server_metrics(s):
    args = s.proc.args
    return args[args.index("--metrics-listen") + 1]


def admin_server_dir(s):
    """The folder the admin server was started on (its --bundle argument)."""
    args = s.proc.args
    return args[args.index("--bundle") + 1]
