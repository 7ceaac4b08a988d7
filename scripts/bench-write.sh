#!/bin/bash
# bench-write.sh — write-path benchmark of hubmount against the local Hub emulator.
#
# One run prints a table of medians over --reps repetitions (see
# scripts/bench_write.py for what each case measures):
#   cp of a --size MiB file into the mount until committed   vs  cp to local disk + upload (same route)
#   rsync -a of --files small files until committed           vs  rsync to disk + @huggingface/hub
#   peak RSS of the daemon while writing a --big MiB file
# Needs a built build/hubmount (or HUBMOUNT_BIN), curl, rsync, fusermount3; the official-client
# baseline needs node and tests/conformance/node_modules (npm ci there).
#
# usage: scripts/bench-write.sh [--reps N] [--size MIB] [--files N] [--big MIB] [--workdir DIR]
#                                [--before OTHER_HUBMOUNT_BINARY]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HUBMOUNT=${HUBMOUNT_BIN:-$ROOT/build/hubmount}
[ -x "$HUBMOUNT" ] || { echo "build hubmount first (ninja -C build)" >&2; exit 1; }
exec /usr/bin/python3 "$ROOT/scripts/bench_write.py" --bin "$HUBMOUNT" "$@"
