#!/bin/bash
# bench-read.sh — read-path benchmark of hubmount against the local Hub emulator.
#
# One run prints a table of medians over --reps repetitions:
#   (a) curl -o /dev/null of the file's /resolve URL (public repo, no token, so
#       following the 302 to the CDN sends no Authorization anywhere)
#   (b) cold cat through a fresh mount with an empty cache directory
#   (c) warm re-read through the mount: every byte in hubmount's block cache,
#       the kernel page cache dropped (so the bytes come from local disk)
#   (d) c minus FUSE: cat of the block cache's object file for the same
#       content, right after c, with the page cache dropped the same way
#   (e) cold cat of a local copy of the file through bindfs (a trivial FUSE
#       passthrough: what FUSE itself allows on this machine)
# plus the ratios b/e, b/a, c/d; cold, warm-remount and warm find / ls -lR of a
# 10,000-file repo; a 4 KiB read at a cold offset; the daemon's peak RSS
# (VmHWM) while reading the 1 GiB file and while reading a 4 GiB file.
# The daemon's CPU time (user + system) during (b) and (c) is printed too: on
# a shared, loaded machine it moves less than the wall-clock times.
# With --before BIN, (b), (c) and (d) are also measured for another hubmount
# binary (an older build), interleaved with this one's repetitions, so a
# change is compared under the same conditions; its rows are marked "before".
#
# "Drop caches" is `sync; echo 3 > /proc/sys/vm/drop_caches`.  Before every
# timed read of (a) and (b) the emulator's copy of the file is read back into
# the page cache: the emulator stands in for a network and a CDN, whose disk
# is not what we measure.  Needs root (drop_caches, bindfs), a built
# build/hubmount, and curl, bindfs, fusermount3; --deps installs them through
# scripts/install-deps.sh.  Everything the script starts (emulator, daemons,
# bindfs) is stopped by PID and unmounted with fusermount3 -u -z at exit.
#
# usage: scripts/bench-read.sh [--deps] [--reps N] [--size MIB] [--files N]
#                              [--big-size MIB] [--workdir DIR] [--keep]
#                              [--before OTHER_HUBMOUNT_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HUBMOUNT=${HUBMOUNT_BIN:-$ROOT/build/hubmount}
PY=/usr/bin/python3
REPS=3
SIZE_MIB=1024
NFILES=10000
BIG_MIB=4096
WORKBASE=/var/tmp
KEEP=0
DEPS=0
BEFORE=

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    cat <<EOF
options:
  --deps          install what is missing with scripts/install-deps.sh first
  --reps N        repetitions per figure, medians reported (default $REPS)
  --size MIB      size of the throughput file (default $SIZE_MIB)
  --files N       files in the listing repo; 0 skips the listings (default $NFILES)
  --big-size MIB  file read for the peak-RSS figure; 0 skips it (default $BIG_MIB)
  --workdir DIR   where the temporary directory goes (default $WORKBASE)
  --keep          keep the temporary directory
  --before BIN    also measure (b), (c), (d) with another hubmount binary
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --deps) DEPS=1 ;;
    --reps) REPS=$2; shift ;;
    --size) SIZE_MIB=$2; shift ;;
    --files) NFILES=$2; shift ;;
    --big-size) BIG_MIB=$2; shift ;;
    --workdir) WORKBASE=$2; shift ;;
    --keep) KEEP=1 ;;
    --before) BEFORE=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench-read: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in "$REPS" "$SIZE_MIB" "$NFILES" "$BIG_MIB"; do
    case "$v" in ''|*[!0-9]*) echo "bench-read: not a number: $v" >&2; exit 2 ;; esac
done
if [ "$REPS" -lt 1 ] || [ "$SIZE_MIB" -lt 1 ]; then
    echo "bench-read: --reps and --size must be positive" >&2
    exit 2
fi

if [ "$DEPS" = 1 ]; then
    "$ROOT/scripts/install-deps.sh"
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "bench-read: needs root (drop_caches between runs)" >&2
    exit 1
fi
for tool in curl bindfs fusermount3 mountpoint "$PY"; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "bench-read: $tool is missing (run with --deps)" >&2; exit 1; }
done
[ -x "$HUBMOUNT" ] || { echo "bench-read: $HUBMOUNT is missing (ninja -C build)" >&2; exit 1; }
if [ -n "$BEFORE" ] && [ ! -x "$BEFORE" ]; then
    echo "bench-read: --before $BEFORE is not an executable" >&2
    exit 2
fi

need_mib=$((SIZE_MIB * 3 + BIG_MIB * 2 + 1024))
avail_mib=$(df -Pm "$WORKBASE" | awk 'NR == 2 { print $4 }')
if [ "$avail_mib" -lt "$need_mib" ]; then
    echo "bench-read: needs ${need_mib} MiB free in $WORKBASE, has ${avail_mib} MiB" >&2
    exit 1
fi

W=$(mktemp -d "$WORKBASE/hubmount-bench.XXXXXX")
PIDS=()   # every process we started (emulator, daemons, bindfs)
MOUNTS=() # every mountpoint we mounted

cleanup() {
    local m p
    for m in "${MOUNTS[@]}"; do
        if mountpoint -q "$m" 2>/dev/null; then fusermount3 -u -z "$m" 2>/dev/null || true; fi
    done
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || continue
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
        wait "$p" 2>/dev/null || true
    done
    if [ "$KEEP" = 1 ]; then
        echo "bench-read: kept $W"
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# time_cmd CMD...: run it, print the elapsed seconds
time_cmd() {
    local t0 t1
    t0=$(now_ns)
    "$@" >/dev/null
    t1=$(now_ns)
    secs "$t0" "$t1"
}
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", x / y }'; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # user + system
# cpu_since PID TICKS: CPU seconds PID used since cpu_ticks said TICKS
cpu_since() { awk -v a="$2" -v b="$(cpu_ticks "$1")" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }'; }

# ---- the emulator -----------------------------------------------------------
cat > "$W/hubsim.json" <<'EOF'
{"users": [{"name": "bench", "orgs": {"acme": "admin"}}],
 "tokens": [{"token": "hf_bench_write", "user": "bench", "role": "write"}]}
EOF
mkdir -p "$W/home" "$W/hubsim"
"$PY" "$ROOT/tests/hubsim/hubsim.py" --port 0 --data "$W/hubsim" --config "$W/hubsim.json" \
    > "$W/hubsim.out" 2> "$W/hubsim.err" &
PIDS+=($!)
URL=
for _ in $(seq 100); do
    URL=$(sed -n 's/^hubsim ready on //p' "$W/hubsim.out")
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || { log "bench-read: the emulator did not start:"; cat "$W/hubsim.err" >&2; exit 1; }

# control API: POST JSON from stdin
control() { curl -sf --max-time 900 -X POST -H 'Content-Type: application/json' --data-binary @- "$URL$1"; }
cdn_bytes() {
    curl -sf "$URL/__emulator/log" | "$PY" -c \
        'import json, sys; print(sum(e["bytes"] for e in json.load(sys.stdin) if e["origin"] == "cdn"))'
}
blob_path() { # emulator's file for a sha256
    echo "$W/hubsim/objects/sha256/${1:0:2}/$1"
}
lfs_sha256() { # repo path -> sha256
    curl -sf "$URL/__emulator/state/model/$1" | "$PY" -c \
        'import json, sys; print(json.load(sys.stdin)["files"][sys.argv[1]]["sha256"])' "$2"
}

SIZE=$((SIZE_MIB * 1024 * 1024))
log "seeding a ${SIZE_MIB} MiB LFS file and a ${NFILES}-file repo ..."
printf '{"repo": "acme/bench-big", "lfs_files": {"big.bin": {"size": %d, "seed": 7}}}' "$SIZE" |
    control /__emulator/seed >/dev/null
[ "$NFILES" -eq 0 ] || "$PY" - "$NFILES" <<'EOF' | control /__emulator/seed >/dev/null
import base64, json, sys
n = int(sys.argv[1])
files = {"d%03d/f%05d.txt" % (i // 100, i): base64.b64encode(b"file %d\n" % i).decode()
         for i in range(n)}
json.dump({"repo": "acme/bench-tree", "files": files}, sys.stdout)
EOF
SHA=$(lfs_sha256 acme/bench-big big.bin)
BLOB=$(blob_path "$SHA")
[ -f "$BLOB" ] || { log "bench-read: emulator blob $BLOB not found"; exit 1; }
warm_blob() { cat "$1" > /dev/null; }

# ---- mounts -------------------------------------------------------------------
HM_PID=
HM_BIN=$HUBMOUNT # the binary hm_mount starts
# hm_mount REPO MNT CACHE: start the daemon in the foreground (so its PID is
# the daemon's), anonymous, and wait for the mount
hm_mount() {
    mkdir -p "$2"
    HOME=$W/home HF_HOME=$W/home/.hf env -u HF_TOKEN -u HF_ENDPOINT -u XDG_CACHE_HOME \
        "$HM_BIN" "$1" "$2" -f -o "endpoint=$URL,cache_dir=$3" 2>> "$W/hubmount.log" &
    HM_PID=$!
    PIDS+=("$HM_PID")
    MOUNTS+=("$2")
    for _ in $(seq 200); do
        mountpoint -q "$2" && return 0
        kill -0 "$HM_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "bench-read: mount of $1 failed:"
    tail -5 "$W/hubmount.log" >&2
    exit 1
}
# forget a reaped PID, so the cleanup can never signal a reused one
forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
hm_umount() {
    fusermount3 -u -z "$1"
    wait "$HM_PID" 2>/dev/null || true
    forget_pid "$HM_PID"
}

MNT=$W/mnt
CACHE=$W/cache
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
log "load average before the runs: $LOAD_START"

# (a) curl
A=()
for _ in $(seq "$REPS"); do
    drop_caches
    warm_blob "$BLOB"
    A+=("$(time_cmd curl -sfL -o /dev/null "$URL/acme/bench-big/resolve/main/big.bin")")
done

# (b) cold cat, (c) warm re-read, (d) the cached object read directly;
# one repetition of each binary in turn (this one first)
B=() C=() D=() HOT=() BB=() BC=() BD=() BHOT=()
CB=() CC=() BCB=() BCC=() # the daemon's CPU seconds during (b) and (c)
PEAK_1G=0 BPEAK_1G=0
for _ in $(seq "$REPS"); do
    for which in this before; do
        if [ "$which" = before ]; then
            [ -n "$BEFORE" ] || continue
            HM_BIN=$BEFORE
        else
            HM_BIN=$HUBMOUNT
        fi
        rm -rf "$CACHE"
        hm_mount acme/bench-big "$MNT" "$CACHE"
        stat "$MNT/big.bin" > /dev/null # metadata: not what (b) measures
        drop_caches
        warm_blob "$BLOB"
        c0=$(cpu_ticks "$HM_PID")
        tb=$(time_cmd cat "$MNT/big.bin")
        cb=$(cpu_since "$HM_PID" "$c0")
        h=$(hwm_kib "$HM_PID")
        OBJ=$CACHE/blocks/objects/${SHA:0:2}/$SHA
        [ -f "$OBJ" ] || { log "bench-read: no cache object at $OBJ"; exit 1; }
        drop_caches
        c0=$(cpu_ticks "$HM_PID")
        tc=$(time_cmd cat "$MNT/big.bin")
        cc=$(cpu_since "$HM_PID" "$c0")
        thot=$(time_cmd cat "$MNT/big.bin")
        drop_caches
        td=$(time_cmd cat "$OBJ")
        hm_umount "$MNT"
        if [ "$which" = before ]; then
            BB+=("$tb") BC+=("$tc") BHOT+=("$thot") BD+=("$td") BCB+=("$cb") BCC+=("$cc")
            [ "$h" -gt "$BPEAK_1G" ] && BPEAK_1G=$h
        else
            B+=("$tb") C+=("$tc") HOT+=("$thot") D+=("$td") CB+=("$cb") CC+=("$cc")
            [ "$h" -gt "$PEAK_1G" ] && PEAK_1G=$h
        fi
    done
done
HM_BIN=$HUBMOUNT

# (e) bindfs over a local copy, and the same copy without FUSE
mkdir -p "$W/local" "$W/bindfs"
cp "$BLOB" "$W/local/big.bin"
bindfs -f "$W/local" "$W/bindfs" 2>> "$W/bindfs.log" &
BINDFS_PID=$!
PIDS+=("$BINDFS_PID")
MOUNTS+=("$W/bindfs")
for _ in $(seq 100); do mountpoint -q "$W/bindfs" && break; sleep 0.05; done
mountpoint -q "$W/bindfs" || { log "bench-read: bindfs did not mount"; exit 1; }
E=() L=()
for _ in $(seq "$REPS"); do
    drop_caches
    E+=("$(time_cmd cat "$W/bindfs/big.bin")")
    drop_caches
    L+=("$(time_cmd cat "$W/local/big.bin")")
done
fusermount3 -u -z "$W/bindfs"
wait "$BINDFS_PID" 2>/dev/null || true
forget_pid "$BINDFS_PID"

# 4 KiB reads at cold offsets: latency and bytes fetched from the CDN
rm -rf "$CACHE"
hm_mount acme/bench-big "$MNT" "$CACHE"
stat "$MNT/big.bin" > /dev/null
R=() RB=()
for i in $(seq "$REPS"); do
    # spread over the file, never in a block fetched before
    blk=$(( (SIZE / 4096) * (2 * i - 1) / (2 * REPS + 1) + 17 ))
    curl -sf -X POST "$URL/__emulator/log/clear" > /dev/null
    R+=("$(time_cmd dd if="$MNT/big.bin" of=/dev/null bs=4096 count=1 skip="$blk" status=none)")
    RB+=("$(cdn_bytes)")
done
hm_umount "$MNT"

# listings of the 10,000-file repo
list_find() { find "$1" | wc -l; }
list_ls() { ls -lR "$1" > /dev/null; }
TMNT=$W/tmnt
TCACHE=$W/tcache
FC=() LC=() FR=() LR=() FW=() LW=()
for _ in $(seq "$REPS"); do
    [ "$NFILES" -gt 0 ] || break
    rm -rf "$TCACHE"
    hm_mount acme/bench-tree "$TMNT" "$TCACHE"
    drop_caches
    FC+=("$(time_cmd list_find "$TMNT")")
    hm_umount "$TMNT"
    rm -rf "$TCACHE"
    hm_mount acme/bench-tree "$TMNT" "$TCACHE"
    drop_caches
    LC+=("$(time_cmd list_ls "$TMNT")")
    hm_umount "$TMNT"
    hm_mount acme/bench-tree "$TMNT" "$TCACHE" # the metadata cache is warm now
    FR+=("$(time_cmd list_find "$TMNT")")
    FW+=("$(time_cmd list_find "$TMNT")")
    hm_umount "$TMNT"
    hm_mount acme/bench-tree "$TMNT" "$TCACHE"
    LR+=("$(time_cmd list_ls "$TMNT")")
    LW+=("$(time_cmd list_ls "$TMNT")")
    hm_umount "$TMNT"
done
NLISTED=0
if [ "$NFILES" -gt 0 ]; then
    hm_mount acme/bench-tree "$TMNT" "$TCACHE"
    NLISTED=$(find "$TMNT" -type f | wc -l)
    hm_umount "$TMNT"
fi

# peak RSS while reading a big file sequentially
PEAK_BIG=- BIG_T=-
if [ "$BIG_MIB" -gt 0 ]; then
    log "seeding a ${BIG_MIB} MiB LFS file ..."
    BIG=$((BIG_MIB * 1024 * 1024))
    printf '{"repo": "acme/bench-huge", "lfs_files": {"huge.bin": {"size": %d, "seed": 8}}}' "$BIG" |
        control /__emulator/seed >/dev/null
    rm -rf "$CACHE"
    hm_mount acme/bench-huge "$MNT" "$CACHE"
    BIG_T=$(time_cmd cat "$MNT/huge.bin")
    PEAK_BIG=$(hwm_kib "$HM_PID")
    hm_umount "$MNT"
    rm -rf "$CACHE"
fi

# ---- the table -------------------------------------------------------------------
a=$(median "${A[@]}") b=$(median "${B[@]}") c=$(median "${C[@]}") d=$(median "${D[@]}")
e=$(median "${E[@]}") l=$(median "${L[@]}") hot=$(median "${HOT[@]}")
row() { printf '  %-66s %7s s %6s MB/s\n' "$1" "$2" "$(mbps "$SIZE" "$2")"; }
lrow() { printf '  %-66s %7s s\n' "$1" "$2"; }
echo
echo "hubmount read benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "kernel $(uname -r), load average at start $LOAD_START; medians of $REPS"
echo
printf '  %-66s %9s %11s\n' "${SIZE_MIB} MiB LFS file" time throughput
row "(a) curl -o /dev/null of /resolve (302 to the CDN)" "$a"
row "(b) cold cat through a fresh mount, empty cache" "$b"
row "(c) warm re-read via the mount (block cache, page cache dropped)" "$c"
row "(d) cat of the cache's object file (page cache dropped)" "$d"
row "(e) cold cat of a local copy through bindfs" "$e"
row "    cold cat of the local copy without FUSE" "$l"
row "    re-read through the mount, page cache hot" "$hot"
echo
printf '  ratios: b/e %s (goal >= 0.8)   b/a %s   c/d %s (goal >= 0.8)\n' \
    "$(ratio "$e" "$b")" "$(ratio "$a" "$b")" "$(ratio "$d" "$c")"
printf '  daemon CPU time (user + system): %s s during (b), %s s during (c)\n' \
    "$(median "${CB[@]}")" "$(median "${CC[@]}")"
echo "  every run (s): a ${A[*]} | b ${B[*]} | c ${C[*]} | d ${D[*]} | e ${E[*]}"
if [ -n "$BEFORE" ]; then
    echo "  every run before (s): b ${BB[*]} | c ${BC[*]} | d ${BD[*]}"
fi
if [ -n "$BEFORE" ]; then
    bb=$(median "${BB[@]}") bc=$(median "${BC[@]}") bd=$(median "${BD[@]}")
    echo
    echo "  before: $BEFORE (repetitions interleaved with the rows above)"
    row "(b) before: cold cat through a fresh mount, empty cache" "$bb"
    row "(c) before: warm re-read via the mount" "$bc"
    row "(d) before: cat of the cache's object file" "$bd"
    row "    before: re-read through the mount, page cache hot" "$(median "${BHOT[@]}")"
    printf '  ratios before: b/e %s   b/a %s   c/d %s\n' \
        "$(ratio "$e" "$bb")" "$(ratio "$a" "$bb")" "$(ratio "$bd" "$bc")"
    printf '  daemon CPU time before: %s s during (b), %s s during (c)\n' \
        "$(median "${BCB[@]}")" "$(median "${BCC[@]}")"
    printf '  peak RSS (VmHWM) before, cold %s MiB reads: %s MiB\n' "$SIZE_MIB" "$((BPEAK_1G / 1024))"
fi
if [ "$NFILES" -gt 0 ]; then
    echo
    echo "  ${NFILES}-file repo (${NLISTED} files listed)"
    lrow "find, cold (new mount, empty cache)" "$(median "${FC[@]}")"
    lrow "find, warm remount (metadata cache filled)" "$(median "${FR[@]}")"
    lrow "find, warm (same mount, second run)" "$(median "${FW[@]}")"
    lrow "ls -lR, cold (new mount, empty cache)" "$(median "${LC[@]}")"
    lrow "ls -lR, warm remount (metadata cache filled)" "$(median "${LR[@]}")"
    lrow "ls -lR, warm (same mount, second run; goal < 0.5 s)" "$(median "${LW[@]}")"
fi
echo
lrow "4 KiB read at a cold offset of the ${SIZE_MIB} MiB file" "$(median "${R[@]}")"
printf '  %-66s %7s KiB\n' "    fetched from the CDN for it" "$(( $(median "${RB[@]}") / 1024 ))"
printf '  %-66s %7s MiB\n' "peak RSS (VmHWM) of the daemon, cold ${SIZE_MIB} MiB reads" "$((PEAK_1G / 1024))"
if [ "$BIG_MIB" -gt 0 ]; then
    printf '  %-66s %7s MiB   (%s s, %s MB/s)\n' "peak RSS (VmHWM) of the daemon, cold ${BIG_MIB} MiB read" \
        "$((PEAK_BIG / 1024))" "$BIG_T" "$(mbps "$BIG" "$BIG_T")"
fi
