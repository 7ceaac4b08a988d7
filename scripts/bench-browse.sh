#!/bin/bash
# bench-browse.sh — browsing benchmark of hubmount against the local Hub emulator.
#
# Cold and warm wall time and Hub request counts for
#   ls -l of a namespace directory with --repos repos   (namespace mount, listing pages of 500)
#   gio list -a 'standard::*,thumbnail::*' of a folder of --files files (gio from libglib2.0-bin)
# "cold" = first run on a fresh mount with empty caches; "warm" = the same command again.
# Needs a built build/hubmount (or HUBMOUNT_BIN) and fusermount3.
#
# usage: scripts/bench-browse.sh [--repos N] [--files N] [--reps N] [--workdir DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HUBMOUNT=${HUBMOUNT_BIN:-$ROOT/build/hubmount}
[ -x "$HUBMOUNT" ] || { echo "build hubmount first (ninja -C build)" >&2; exit 1; }
exec /usr/bin/python3 "$ROOT/scripts/bench_browse.py" --bin "$HUBMOUNT" "$@"
