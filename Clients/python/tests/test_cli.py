"""The command line as a user drives it: choosing the default engine, engine flags, the
split-file protocol, and metric labels that survive any bundle name."""
import json
import os
import pathlib
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import recfuse

from conftest import ServerProc, free_port, recfuse_bin

DATA = os.environ.get("RECFUSE_DATA_DIR", str(pathlib.Path(__file__).resolve().parents[3] / "data"))


def run(*args, check=True):
    return subprocess.run([recfuse_bin(), *args, "--log-level", "info"], capture_output=True, text=True, timeout=600,
                          check=check)


@pytest.fixture(scope="module")
def chosen(tmp_path_factory):
    """Three cheap engines and no --default-engine: training picks one by validation NDCG@10."""
    out = tmp_path_factory.mktemp("chosen") / "b"
    r = run("train", "--dataset", "ml-100k", "--data-dir", DATA, "--engine", "popularity", "--engine", "cooccurrence",
            "--engine", "ease", "--ease-lambda", "300", "--out", str(out))
    return out, r.stderr


def test_the_default_engine_is_the_best_on_validation(chosen):
    out, log = chosen
    manifest = json.loads((out / "manifest.json").read_text())
    figures = {e["name"]: e["metrics"]["validation_ndcg10"] for e in manifest["engines"]}
    assert set(figures) == {"popularity", "cooccurrence", "ease"} and all(0 < v < 1 for v in figures.values())
    assert manifest["default_engine"] == max(figures, key=figures.get)
    assert figures["ease"] > figures["popularity"], figures
    assert "validation NDCG@10" in log
    ease = next(e for e in manifest["engines"] if e["name"] == "ease")
    assert ease["params"]["lambda"] == "300.0" and ease["params"]["min_rating"] == "0.0"
    s = ServerProc(out)
    try:
        with recfuse.Client(s.ipc, timeout=10) as c:
            assert c.info().default_engine == manifest["default_engine"]
            assert c.retrieve(user_id="196", k=3).meta.engine == manifest["default_engine"]
    finally:
        s.stop()
    s = ServerProc(out, extra=["--default-engine", "popularity"])
    try:
        with recfuse.Client(s.ipc, timeout=10) as c:
            assert c.info().default_engine == "popularity"
    finally:
        s.stop()
    bad = subprocess.run([recfuse_bin(), "serve", "--bundle", str(out), "--listen", "ipc:///tmp/rf-never.sock",
                          "--default-engine", "gat"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "default engine 'gat' is not in" in bad.stderr


@pytest.mark.parametrize("args, message", [
    (["--ease-lamda", "3"], "ease takes --ease-lambda"),
    (["--ease-lambda", "-3"], "ease lambda: -3 is not"),
    (["--gat-heads", "4,x"], "gat heads"),
    (["--engine", "popularity", "--svd-factors", "8"], "svd is not trained"),
])
def test_bad_engine_flags_fail_before_training(tmp_path, args, message):
    r = run("train", "--dataset", "ml-100k", "--data-dir", DATA, "--out", str(tmp_path / "b"), *args, check=False)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert not (tmp_path / "b").exists()


def test_ease_refuses_a_catalogue_over_its_memory_limit(tmp_path):
    # ml-100k's 1,682 items need 34 MB to train EASE: over a 1 MB limit, refused with the figures.
    r = run("train", "--dataset", "ml-100k", "--data-dir", DATA, "--out", str(tmp_path / "b"), "--engine", "ease",
            "--ease-max-memory-mb", "1", check=False)
    assert r.returncode != 0, r.stderr
    assert "RESOURCE_EXHAUSTED" in r.stderr and "1682 items" in r.stderr and "34 MB to train" in r.stderr, r.stderr
    assert "--ease-max-memory-mb" in r.stderr and "rp3beta" in r.stderr
    assert not (tmp_path / "b").exists()


def test_engines_lists_every_kind_with_its_flags():
    lines = [json.loads(line) for line in run("engines", "--json").stdout.splitlines()]
    kinds = {k["kind"]: k for k in lines}
    assert kinds["popularity"] == lines[0]
    lam = next(p for p in kinds["ease"]["parameters"] if p["name"] == "lambda")
    assert lam["flag"] == "--ease-lambda" and lam["default"] == "500.0"
    assert kinds["text"]["needs_encoder"] and not kinds["svdpp"]["needs_encoder"]


def test_a_split_file_implies_its_protocol(tmp_path):
    split = tmp_path / "split.tsv"
    run("eval", "--dataset", "ml-100k", "--data-dir", DATA, "--engine", "popularity", "--seed", "3", "--export-split", str(split))
    r = run("eval", "--dataset", "ml-100k", "--data-dir", DATA, "--engine", "popularity", "--split-file", str(split), "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["protocol"] for row in rows] == ["split-file"]
    # The same split read as a file scores exactly what the seeded random protocol does.
    same = run("eval", "--dataset", "ml-100k", "--data-dir", DATA, "--engine", "popularity", "--seed", "3", "--json")
    assert json.loads(same.stdout)["metrics"]["ndcg@10"] == rows[0]["metrics"]["ndcg@10"]
    clash = run("eval", "--dataset", "ml-100k", "--data-dir", DATA, "--protocol", "temporal", "--split-file", str(split), check=False)
    assert clash.returncode != 0 and "--split-file goes with --protocol split-file" in clash.stderr


def test_metric_labels_are_escaped(tmp_path):
    """A bundle name with a quote, a backslash and a newline still gives a scrape that a
    stock Prometheus parser reads, with the name intact in the label."""
    out = tmp_path / "odd"
    name = 'shop"v2\\\nx'
    run("train", "--dataset", "ml-100k", "--data-dir", DATA, "--engine", "popularity", "--out", str(out), "--name", name)
    base = f"http://127.0.0.1:{free_port()}"
    s = ServerProc(out, extra=["--metrics-listen", base])
    try:
        with recfuse.Client(s.ipc, timeout=10) as c:
            version = c.health().bundle_version
        assert version.startswith(name + "@")
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        s.stop()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    info = families["recfuse_bundle_info"].samples
    assert [x.labels["version"] for x in info] == [version]
    assert "recfuse_requests" in families and "recfuse_bundle_load_duration_seconds" in families


def clean_env():
    return {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "RECFUSE_BLAS_RETUNE")}


def blas_line(tmp_path, **env):
    r = subprocess.run([recfuse_bin(), "train", "--dataset", "ml-100k", "--data-dir", DATA, "--engine", "popularity",
                        "--out", str(tmp_path / "b"), "--log-level", "info"], capture_output=True, text=True,
                       timeout=600, check=True, env={**clean_env(), **env})
    return next(l for l in r.stderr.splitlines() if "OpenBLAS kernels:" in l).split("OpenBLAS kernels: ", 1)[1]


def test_openblas_uses_the_vector_kernels_the_processor_has(tmp_path):
    """OpenBLAS 0.3.21 falls back to its SSE3 kernels ("Prescott") on processor models it does not
    know; recfuse replaces that fallback at load time, and leaves an explicit choice alone."""
    flags = set(pathlib.Path("/proc/cpuinfo").read_text().split())
    line = blas_line(tmp_path)
    if "avx2" in flags:
        assert not line.startswith("Prescott"), line
    if "chose Prescott" in line:
        assert line.split()[0] in ("SkylakeX", "Haswell", "Sandybridge"), line
    assert blas_line(tmp_path, OPENBLAS_CORETYPE="Prescott") == "Prescott"
    assert "chose" not in blas_line(tmp_path, RECFUSE_BLAS_RETUNE="0")
