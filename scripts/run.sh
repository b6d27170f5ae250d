#!/usr/bin/env bash
# The main job: install what is missing, build, fetch MovieLens-100k and the MiniLM
# sentence encoder, train the default
# bundle if there is none, and serve it on ipc and tcp loopback until Ctrl-C.
#   RECFUSE_IPC (default ipc:///tmp/recfuse.sock), RECFUSE_TCP (default tcp://127.0.0.1:7878)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ipc=${RECFUSE_IPC:-ipc:///tmp/recfuse.sock}
tcp=${RECFUSE_TCP:-tcp://127.0.0.1:7878}

bash scripts/setup.sh
echo "== building (release)" >&2
swift build -c release --product recfuse
bin=$(swift build -c release --show-bin-path)/recfuse
make -s -C Clients/c

echo "== fetching ml-100k and all-MiniLM-L6-v2" >&2
"$bin" data fetch ml-100k --data-dir data
"$bin" models fetch all-MiniLM-L6-v2 --models-dir models
if [ ! -f bundles/default/manifest.json ]; then
  echo "== training the default bundle" >&2
  "$bin" train --dataset ml-100k --data-dir data --out bundles/default
fi

cat >&2 <<MSG

== serving bundles/default on $ipc and $tcp (Ctrl-C to stop). Query it from another shell:
   .venv/bin/python Clients/python/examples/quickstart.py --url $ipc --user 196
   Clients/c/build/rank -u $tcp -U 196

MSG
# Writes (Feedback, UpsertUser; UpsertItem and DeleteItem with --admin-token-file) are recorded
# in run/store.sqlite and served from the next request on.
mkdir -p run
exec "$bin" serve --bundle bundles/default --listen "$ipc" --listen "$tcp" --store sqlite:run/store.sqlite
