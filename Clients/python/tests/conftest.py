"""Fixtures: a real `recfuse serve` process on ipc:// and tcp://127.0.0.1, serving a bundle
trained on ml-100k (the test script fetches the data first)."""
import contextlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "Clients" / "python"))

import recfuse  # noqa: E402


MODELS = pathlib.Path(os.environ.get("RECFUSE_MODELS_DIR", ROOT / "models"))


def recfuse_bin() -> str:
    env = os.environ.get("RECFUSE_BIN")
    if env:
        return env
    for cfg in ("debug", "release"):
        p = ROOT / ".build" / cfg / "recfuse"
        if p.exists():
            return str(p)
    pytest.fail("no recfuse binary: run `swift build` (or set RECFUSE_BIN)")


FAKE_LLM = ROOT / "Tests" / "RecTestSupport" / "fake_openai.py"


@contextlib.contextmanager
def fake_llm_server(*args: str):
    """The scripted OpenAI-compatible server on a free loopback port (extra args: its
    slow-answer delay); yields its base URL without "/v1"."""
    p = subprocess.Popen([sys.executable, "-u", str(FAKE_LLM), "0", *args], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        p.kill()
        p.wait()


def dead_http_url() -> str:
    """An http://127.0.0.1 base URL that nothing listens on (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory) -> pathlib.Path:
    data = pathlib.Path(os.environ.get("RECFUSE_DATA_DIR", ROOT / "data"))
    out = tmp_path_factory.mktemp("bundle") / "test"
    # The default engine is named, so the bundle trains once (choosing it by validation trains
    # every engine twice; test_cli.py covers that path on a smaller bundle).
    subprocess.run([recfuse_bin(), "train", "--dataset", "ml-100k", "--data-dir", str(data), "--out", str(out),
                    "--models-dir", str(MODELS), "--default-engine", "gat", "--log-level", "warning",
                    # Every dot-product engine gets an HNSW index, narrow enough to be used at 1682 items.
                    "--ann-min-items", "0", "--hnsw-ef-search", "64"], check=True, timeout=600)
    return out


def engine_kinds() -> set:
    """Every kind `recfuse engines --json` lists (what a bundle trained with --engine all holds)."""
    out = subprocess.run([recfuse_bin(), "engines", "--json"], check=True, capture_output=True, text=True, timeout=60).stdout
    return {json.loads(line)["kind"] for line in out.splitlines() if line.strip()}


class ServerProc:
    def __init__(self, bundle, extra=(), models=MODELS):
        self.dir = tempfile.mkdtemp(prefix="rf-")
        self.ipc = f"ipc://{self.dir}/rf.sock"
        self.tcp = f"tcp://127.0.0.1:{free_port()}"
        self.log = open(os.path.join(self.dir, "server.log"), "w+")
        self.proc = subprocess.Popen(
            [recfuse_bin(), "serve", "--bundle", str(bundle), "--listen", self.ipc, "--listen", self.tcp,
             "--models-dir", str(models), *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.logs()}")
            try:
                with recfuse.Client(self.ipc, timeout=0.5) as c:
                    c.health()
                break
            except recfuse.RpcError as e:
                if time.time() > deadline:
                    # What the server said is the only clue to why it never answered.
                    raise RuntimeError(f"server did not answer Health within 30 s ({e}); its log:\n"
                                       f"{self.logs()[-4000:]}") from e
                time.sleep(0.1)

    def logs(self) -> str:
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.final_logs = self.logs()  # kept for assertion messages after the directory is gone
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


@pytest.fixture(scope="session")
def server(bundle_dir):
    # A small NNG message limit so the oversize test does not need megabytes.
    s = ServerProc(bundle_dir, extra=["--max-message-bytes", "65536", "--max-k", "5000"])
    yield s
    s.stop()


@pytest.fixture
def client(server):
    with recfuse.Client(server.ipc, timeout=5.0) as c:
        yield c


class Load:
    """`threads` threads calling `call()` in a loop until `stop()` (at most `max_calls` each):
    a call that raises or whose `check(result)` returns a message counts as a failure."""

    def __init__(self, call, check=lambda r: None, threads=4, max_calls=20000):
        import threading
        self._stop = threading.Event()
        self.failures, self.counts, self.results = [], [], []
        self._call, self._check, self._max = call, check, max_calls
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self):
        n = 0
        while not self._stop.is_set() and n < self._max:
            try:
                r = self._call()
                self.results.append(r)
                problem = self._check(r)
                if problem:
                    self.failures.append(problem)
            except Exception as e:  # noqa: BLE001 - any failure counts
                self.failures.append(repr(e))
            n += 1
        self.counts.append(n)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(60)
