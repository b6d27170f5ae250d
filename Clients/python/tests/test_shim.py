"""librecfuse, the in-process C ABI (Bindings/): the C test under ASan/UBSan, an outside C
program built from recfuse.h + pkg-config only (and its valgrind memcheck run), and the
ctypes example — each checked against what the live server answers for the same bundle."""
import os
import re
import subprocess
import sys

import pytest

from conftest import MODELS, ROOT

BINDINGS = ROOT / "Bindings"
# The suite reuses the debug build; `make -C Bindings` alone builds release.
CONFIG = os.environ.get("RECFUSE_SHIM_CONFIG", "debug")


def make(*targets, **vars):
    args = ["make", "-s", "-C", str(BINDINGS), *targets, f"CONFIG={CONFIG}", *[f"{k}={v}" for k, v in vars.items()]]
    return subprocess.run(args, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def built():
    r = make("example")
    assert r.returncode == 0, r.stdout + r.stderr
    return BINDINGS / "build"


def top10_ids(text):
    return re.findall(r"^\s+\d+\.\s+(\S+)\s+-?[\d.]+$", text, re.M)


def test_c_test_program_under_asan(bundle_dir, built):
    r = make("test", BUNDLE=bundle_dir, MODELS=MODELS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "header matches the exported symbols" in r.stdout
    assert "exports only recfuse_*" in r.stdout, r.stdout + r.stderr
    assert re.search(r"test_shim: \d+ checks passed", r.stdout), r.stdout + r.stderr
    # The outside example built with ASan/UBSan ranks for user 196 cleanly too.
    assert "top-10 for user 196" in r.stdout and len(top10_ids(r.stdout)) == 10, r.stdout
    assert "ERROR: AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr


def test_outside_program_ranks_like_the_server(bundle_dir, built, client):
    r = subprocess.run([str(built / "rank_user"), str(bundle_dir), "196", str(MODELS)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    server = [it.item_id for it in client.retrieve(user_id="196", k=10).items]
    assert top10_ids(r.stdout) == server, r.stdout
    ranked = re.search(r"ranked by svdpp: (.*)$", r.stdout, re.M).group(1).split()
    assert sorted(ranked) == sorted(server)
    assert ranked == [it.item_id for it in client.rank(user_id="196", item_ids=server, engine="svdpp").items]


def test_outside_program_is_valgrind_clean(bundle_dir, built):
    r = subprocess.run(["valgrind", "--tool=memcheck", "--error-exitcode=9", "--leak-check=full",
                        "--errors-for-leak-kinds=definite", str(built / "rank_user"), str(bundle_dir), "196", str(MODELS)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "ERROR SUMMARY: 0 errors" in r.stderr and "definitely lost: 0 bytes" in r.stderr, r.stderr[-4000:]


def test_ctypes_example(bundle_dir, built, client):
    r = subprocess.run([sys.executable, str(ROOT / "Clients" / "python" / "examples" / "embed_ctypes.py"),
                        "--lib", str(built / "stage" / "lib" / "librecfuse.so"), "--bundle", str(bundle_dir),
                        "--models-dir", str(MODELS)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert top10_ids(r.stdout) == [it.item_id for it in client.retrieve(user_id="196", k=10).items], r.stdout
    assert "default gat" in r.stdout
    assert "garbage request -> invalid argument" in r.stdout and "RankRequest" in r.stdout


def test_install_layout(tmp_path, built):
    r = make("install", PREFIX=tmp_path)
    assert r.returncode == 0, r.stderr
    lib = tmp_path / "lib"
    assert (lib / "librecfuse.so.1").is_file() and (tmp_path / "include" / "recfuse.h").exists()
    assert (lib / "librecfuse.so").is_symlink() and os.readlink(lib / "librecfuse.so") == "librecfuse.so.1"
    env = dict(os.environ, PKG_CONFIG_PATH=str(tmp_path / "lib" / "pkgconfig"))
    libs = subprocess.run(["pkg-config", "--cflags", "--libs", "recfuse"], capture_output=True, text=True, env=env)
    assert libs.returncode == 0 and f"-I{tmp_path}/include" in libs.stdout and "-lrecfuse" in libs.stdout, libs
    soname = subprocess.run(["readelf", "-d", str(lib / "librecfuse.so.1")], capture_output=True, text=True)
    assert "Library soname: [librecfuse.so.1]" in soname.stdout
    # Only the C API is exported: no Swift, SwiftProtobuf or BoringSSL symbol to collide with.
    nm = subprocess.run(["nm", "-D", "-g", "--defined-only", str(lib / "librecfuse.so.1")], capture_output=True,
                        text=True)
    names = {line.split()[-1].split("@")[0] for line in nm.stdout.splitlines() if line.strip()}
    assert names and all(n.startswith("recfuse_") or n == "RECFUSE_1" for n in names), sorted(names)[:10]
    assert {"recfuse_open", "recfuse_call", "recfuse_abi_version"} <= names
    # A program (ctypes here) sees the ABI version the header promises.
    import ctypes
    header = (tmp_path / "include" / "recfuse.h").read_text()
    want = int(re.search(r"#define RECFUSE_ABI_VERSION (\d+)", header).group(1))
    assert ctypes.CDLL(str(lib / "librecfuse.so.1")).recfuse_abi_version() == want
