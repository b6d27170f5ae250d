"""Crash-safety of writes: a `recfuse train --out DIR` killed (SIGKILL) at any point of writing
the bundle, or stopped by a full disk, leaves DIR holding a whole bundle that serves; the same
for `recfuse profiles --llm`'s output. Crash points are set with RECFUSE_FAILPOINT (the
process kills itself there), a full disk with a file-size limit (ulimit -f)."""
import json
import os
import pathlib
import shlex
import subprocess

import pytest

import recfuse

from conftest import ROOT, ServerProc, recfuse_bin
from test_rerank import fake_llm  # noqa: F401 - module-scoped scripted LLM

DATA = os.environ.get("RECFUSE_DATA_DIR", str(ROOT / "data"))


def train(out, *engines, env=None, limit_kb=None):
    cmd = [recfuse_bin(), "train", "--dataset", "ml-100k", "--data-dir", DATA, "--out", str(out),
           "--default-engine", engines[0], *[a for e in engines for a in ("--engine", e)]]
    if limit_kb is not None:
        cmd = ["bash", "-c", f"ulimit -f {limit_kb}; exec {shlex.join(cmd)}"]
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)


def version(bundle):
    return json.loads((pathlib.Path(bundle) / "manifest.json").read_text())["version"]


def serves(bundle):
    s = ServerProc(bundle)
    try:
        with recfuse.Client(s.ipc, timeout=5) as c:
            v = c.health().bundle_version
            assert len(c.retrieve(user_id="196", k=5).items) == 5
            return v
    finally:
        s.stop()


@pytest.fixture(scope="module")
def old_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("crash") / "b"
    r = train(out, "popularity")
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("point", ["bundle-after-catalog", "bundle-after-engine", "bundle-before-manifest",
                                   "bundle-after-manifest", "bundle-after-swap"])
def test_a_train_killed_while_writing_leaves_a_whole_bundle(old_bundle, tmp_path, point):
    out = tmp_path / "b"
    subprocess.run(["cp", "-a", str(old_bundle), str(out)], check=True)
    before = version(out)
    r = train(out, "popularity", "cooccurrence", env={"RECFUSE_FAILPOINT": point})
    assert r.returncode == -9, (r.returncode, r.stderr[-2000:])
    after = version(out)
    if point == "bundle-after-swap":
        assert after != before  # the swap had happened: the new bundle is whole
    else:
        assert after == before  # nothing visible had changed
    assert serves(out) == after
    # The next run cleans up the killed run's staging folder and replaces the bundle.
    r = train(out, "popularity")
    assert r.returncode == 0, r.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".b.")], list(tmp_path.iterdir())
    assert serves(out) == version(out) != before


def test_a_full_disk_while_writing_a_bundle_is_a_clear_error(old_bundle, tmp_path):
    out = tmp_path / "b"
    subprocess.run(["cp", "-a", str(old_bundle), str(out)], check=True)
    before = version(out)
    r = train(out, "popularity", limit_kb=64)  # items.jsonl alone is ~100 KB
    assert r.returncode != 0
    assert "cannot write" in r.stderr and "no bundle was replaced" in r.stderr, r.stderr[-2000:]
    assert "File too large" in r.stderr or "too large" in r.stderr.lower(), r.stderr[-2000:]
    assert version(out) == before and serves(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".b.")]


def profiles(out, llm, env=None, limit_kb=None):
    cmd = [recfuse_bin(), "profiles", "--llm", "--kind", "items", "--dataset", "ml-100k", "--data-dir", DATA,
           "--out", str(out), "--llm-base-url", llm, "--llm-model", "normal", "--chunk-size", "64"]
    if limit_kb is not None:
        cmd = ["bash", "-c", f"ulimit -f {limit_kb}; exec {shlex.join(cmd)}"]
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)


def complete_lines(path):
    ids = []
    for line in path.read_text().splitlines():
        ids.append(json.loads(line)["id"])  # every line a whole profile
    return ids


def test_profiles_killed_mid_append_resume_without_loss(fake_llm, tmp_path):  # noqa: F811
    out = tmp_path / "profiles.jsonl"
    r = profiles(out, fake_llm, env={"RECFUSE_FAILPOINT": "profiles-mid-write"})
    assert r.returncode == -9, r.stderr[-2000:]
    text = out.read_text()
    assert text and not text.endswith("\n")  # killed half-way through a chunk: a torn last line
    r = profiles(out, fake_llm)
    assert r.returncode == 0, r.stderr[-2000:]
    ids = complete_lines(out)
    assert len(ids) == 1682 and len(set(ids)) == 1682


def test_profiles_on_a_full_disk_say_so_and_keep_what_was_written(fake_llm, tmp_path):  # noqa: F811
    out = tmp_path / "profiles.jsonl"
    r = profiles(out, fake_llm, limit_kb=200)
    assert r.returncode != 0
    assert "cannot append to" in r.stderr and "resumes after them" in r.stderr, r.stderr[-2000:]
    kept = out.read_text().splitlines()
    assert kept
    # Lines up to the limit are whole (a torn tail, if any, is dropped by the next run).
    r = profiles(out, fake_llm)
    assert r.returncode == 0, r.stderr[-2000:]
    ids = complete_lines(out)
    assert len(ids) == 1682 and len(set(ids)) == 1682
