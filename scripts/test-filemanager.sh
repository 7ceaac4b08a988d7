#!/bin/bash
# test-filemanager.sh — a real file manager (PCManFM, thumbnails on) under Xvfb on a
# namespace mount against the local Hub emulator: opens the namespace root, models/, and a
# repo folder with 200 images and a few large LFS files; keeps screenshots as artefacts and
# asserts from the emulator's request log that no large file was downloaded whole, that the
# bytes fetched stay under a bound, and that nothing was committed.  Not in the default
# suite (slow, needs a display server): run it by hand or in a nightly job.
# Needs: xvfb, pcmanfm, imagemagick (import) — scripts/install-deps.sh does not install them.
#
# usage: scripts/test-filemanager.sh [--out DIR] [--settle SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HUBMOUNT=${HUBMOUNT_BIN:-$ROOT/build/hubmount}
[ -x "$HUBMOUNT" ] || { echo "build hubmount first (ninja -C build)" >&2; exit 1; }
for t in Xvfb pcmanfm import; do
    command -v "$t" >/dev/null || { echo "missing $t: apt-get install xvfb pcmanfm imagemagick" >&2; exit 2; }
done
exec /usr/bin/python3 "$ROOT/scripts/filemanager_test.py" --bin "$HUBMOUNT" "$@"
