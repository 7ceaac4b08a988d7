#!/bin/bash
# demo.sh — see hubmount work end to end on this machine, with no internet:
# installs dependencies, builds, starts the bundled Hub emulator with a demo
# org and repo (README.md, config.json, a 20 MiB LFS file), mounts it under
# ./demo-mnt/, copies a file in, waits for the commit and prints what
# happened.  Ctrl-C (or the end of the demo) unmounts and stops everything.
#
#   scripts/demo.sh            run the demo and keep the mount until Ctrl-C
#   DEMO_EXIT=1 scripts/demo.sh    run it and clean up at once
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
STATE="$ROOT/.demo"
MNT="$ROOT/demo-mnt/acme/demo-model"
TOKEN=hf_demo_alice_write

if [ "${HUBMOUNT_SKIP_DEPS:-0}" != 1 ]; then scripts/install-deps.sh; fi
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null || { echo "build failed"; exit 1; }

EMU_PID=""; MOUNT_PID=""
cleanup() {
    trap - INT TERM EXIT
    echo; echo "demo: cleaning up"
    if mountpoint -q "$MNT" 2>/dev/null; then fusermount3 -u -z "$MNT"; fi
    if [ -n "$MOUNT_PID" ]; then
        for _ in $(seq 1 50); do kill -0 "$MOUNT_PID" 2>/dev/null || break; sleep 0.2; done
        kill "$MOUNT_PID" 2>/dev/null
    fi
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null; fi
    rm -rf "$STATE" "$ROOT/demo-mnt"
}
trap cleanup INT TERM EXIT

rm -rf "$STATE"; mkdir -p "$STATE/data" "$MNT"
cat >"$STATE/config.json" <<JSON
{"users": [{"name": "alice", "orgs": {"acme": "admin"}}],
 "tokens": [{"token": "$TOKEN", "user": "alice", "role": "write"}]}
JSON

$PY tests/hubsim/hubsim.py --port 0 --data "$STATE/data" --config "$STATE/config.json" \
    >"$STATE/emu.out" 2>"$STATE/emu.err" &
EMU_PID=$!
for _ in $(seq 1 100); do grep -q '^hubsim ready on ' "$STATE/emu.out" && break; sleep 0.1; done
URL=$(sed -n 's/^hubsim ready on //p' "$STATE/emu.out" | head -1)
[ -n "$URL" ] || { echo "emulator did not start"; cat "$STATE/emu.err"; exit 1; }
echo "demo: Hub emulator on $URL"

# Create the demo repo through the Hub API (preupload, LFS upload, commit).
$PY - "$URL" "$TOKEN" <<'PYEOF' || exit 1
import os, sys
sys.path.insert(0, "tests/hubsim")
import hubclient
url, token = sys.argv[1], sys.argv[2]
hub = hubclient.Client(url, token)
hub.create_repo("acme/demo-model")
big = hubclient.seeded_bytes(7, 20 * 1024 * 1024)
result = hub.upload("acme/demo-model", {
    "README.md": b"# demo-model\nA repo served by the hubmount demo.\n",
    "config.json": b'{"hidden_size": 64, "num_layers": 2}\n',
    "model.safetensors": big,
}, summary="demo: initial upload")
print("demo: uploaded README.md, config.json, model.safetensors (20 MiB, LFS)"
      f" -> commit {result['commitOid'][:12]}")
PYEOF

echo "demo: mounting acme/demo-model at $MNT"
HF_TOKEN=$TOKEN build/hubmount acme/demo-model "$MNT" -f \
    -o endpoint="$URL",cache_dir="$STATE/cache",commit_delay=2 2>"$STATE/mount.log" &
MOUNT_PID=$!
for _ in $(seq 1 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
mountpoint -q "$MNT" || { echo "mount failed:"; cat "$STATE/mount.log"; exit 1; }

echo "demo: ls -l $MNT"; ls -l "$MNT"
echo "demo: head -c 64 config.json: $(head -c 64 "$MNT/config.json")"
echo "demo: copying scripts/demo.sh into the mount as notes/demo.sh"
mkdir -p "$MNT/notes" && cp scripts/demo.sh "$MNT/notes/demo.sh"
echo "demo: hubmount status:"; build/hubmount status "$MNT" | sed 's/^/   /'
echo "demo: hubmount sync (commit now and wait; otherwise it happens after 2 quiet seconds)"
build/hubmount sync "$MNT" || { echo "demo: sync failed"; cat "$STATE/mount.log"; exit 1; }
$PY - "$URL" <<'PYEOF'
import json, sys, urllib.request
url = sys.argv[1]
state = json.load(urllib.request.urlopen(f"{url}/__emulator/state/model/acme/demo-model"))
print(f"demo: the Hub's main is now commit {state['head']} ({len(state['commits'])} commits); its files:")
for path, f in sorted(state["files"].items()):
    print(f"   {path:28} {f['size']:>10} bytes{'  (LFS)' if f.get('lfs') else ''}")
PYEOF

if [ "${DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo "demo: the mount stays at $MNT — press Ctrl-C to unmount and stop everything"
wait "$MOUNT_PID"
