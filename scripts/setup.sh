#!/usr/bin/env bash
# Installs what recfuse needs on a fresh Debian machine, idempotently:
#   - Debian packages (apt-get, as root or through sudo) for the system libraries and tools;
#   - a Python venv in .venv with the Python client (editable), pytest, and the test-only
#     reference tokenizer (HF tokenizers) and numpy.
# Swift itself (6.1 or newer) must already be on PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

command -v swift >/dev/null || { echo "setup: swift (6.1+) is not on PATH; install the Swift toolchain first" >&2; exit 1; }

pkgs=(libnng-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libcurl4-openssl-dev
      libopenblas-dev liblapacke-dev libhnswlib-dev g++ pkg-config make gcc valgrind
      libsqlite3-dev libpq-dev postgresql)
# postgresql: the write store's shared option; the tests start a server of their own from its
# binaries (the package's default cluster is not used).
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv 2>/dev/null || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  }
fi
stamp=.venv/.recfuse-deps
if [ ! -f "$stamp" ] || [ Clients/python/pyproject.toml -nt "$stamp" ] || [ scripts/reference/requirements.txt -nt "$stamp" ]; then
  echo "setup: installing the Python client, test tools and the tokenizer reference into .venv" >&2
  .venv/bin/pip install -q --disable-pip-version-check -e "Clients/python[test]" -r scripts/reference/requirements.txt
  touch "$stamp"
fi
