#!/bin/bash
# bench-write.sh — write-path benchmark of hubmount against the local Hub emulator.
#
# One run prints a table of medians over --reps repetitions (see
# scripts/bench_write.py for what each case measures):
#   cp of a --size MiB file into the mount until committed   vs  cp to local disk + upload (same route)
#   rsync -a of --files small files until committed           vs  rsync to disk + @huggingface/hub
#   peak RSS of the daemon while writing a --big MiB file
# plus reference rows for rsync: to local disk, to local disk with --fsync, into bindfs (the
# FUSE ceiling of the machine), and the hubmount time split into rsync / hubmount sync.
# Needs a built build/hubmount (or HUBMOUNT_BIN), curl, rsync, bindfs, fusermount3; the
# official-client baseline needs node and tests/conformance/node_modules (npm ci there);
# --profile (FUSE requests, fsyncs and SQLite transactions per file) uses strace if present.
#
# usage: scripts/bench-write.sh [--reps N] [--size MIB] [--files N] [--big MIB] [--workdir DIR]
#                                [--before OTHER_HUBMOUNT_BINARY] [--cases cp,rsync,rss]
#                                [--profile]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HUBMOUNT=${HUBMOUNT_BIN:-$ROOT/build/hubmount}
[ -x "$HUBMOUNT" ] || { echo "build hubmount first (ninja -C build)" >&2; exit 1; }
exec /usr/bin/python3 "$ROOT/scripts/bench_write.py" --bin "$HUBMOUNT" "$@"
