#!/bin/bash
# fuzz.sh — build the libFuzzer targets of tests/fuzz (clang, ASan + UBSan,
# in build-fuzz/) and run each for a bounded time, seeded with
# tests/fuzz/corpus/<target>/ and tests/fuzz/hub.dict.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS   fuzzing time per target (default 15); 0 = only replay the
#             seed corpus (a quick regression run)
#   TARGET    e.g. fuzz_entries (default: every target)
# Environment:
#   FUZZ_JOBS=N          targets run N at a time (default 2)
#   FUZZ_CORPUS_OUT=DIR  keep the grown corpora in DIR/<target>/ (to merge new
#                        inputs into the seeds; see docs/testing.md)
#   FUZZ_ARTIFACTS=DIR   where crash/leak/timeout inputs go (default build-fuzz/artifacts)
#
# Prints one line per target ("ok" or "FAILED" with the reproducer), then
# "N passed, N failed"; exits 1 if any target failed or the build failed.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${1:-15}
shift 2>/dev/null || true
BUILD=build-fuzz
JOBS=${FUZZ_JOBS:-2}
ART=${FUZZ_ARTIFACTS:-$ROOT/$BUILD/artifacts}

ALL=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
TARGETS=${*:-$ALL}

if ! command -v clang >/dev/null; then
    echo "fuzz: clang is missing (scripts/install-deps.sh installs it)"
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- build ---------------------------------------------------------------------
opts=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true)
if [ -f "$BUILD/build.ninja" ]; then
    meson configure "$BUILD" "${opts[@]}" >/dev/null
else
    CC=clang meson setup "$BUILD" "${opts[@]}" >/dev/null
fi
# shellcheck disable=SC2046
if ! ninja -C "$BUILD" $(for t in $TARGETS; do echo "tests/fuzz/$t"; done) >"$BUILD/fuzz-build.log" 2>&1; then
    tail -40 "$BUILD/fuzz-build.log"
    echo "fuzz: build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

WORK=$(mktemp -d /tmp/hubmount-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$ART"
[ -n "${FUZZ_CORPUS_OUT:-}" ] && mkdir -p "$FUZZ_CORPUS_OUT"

# Leaks are errors; UB aborts (the targets are built with
# -fno-sanitize-recover, the option is for the library's own checks).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_one() { # target -> writes $WORK/<target>.result ("ok ..." or "FAILED ...")
    local t=$1
    local bin=$BUILD/tests/fuzz/$t
    local grow=${FUZZ_CORPUS_OUT:+$FUZZ_CORPUS_OUT/$t}
    grow=${grow:-$WORK/corpus-$t}
    mkdir -p "$grow"
    local seeds=tests/fuzz/corpus/$t
    local limit=(-max_total_time="$SECONDS_EACH")
    [ "$SECONDS_EACH" = 0 ] && limit=(-runs=0)
    local log=$WORK/$t.log
    local start=$SECONDS
    # The first corpus dir receives new inputs; the seeds are only read.
    timeout $((SECONDS_EACH + 120)) "$bin" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
        -dict=tests/fuzz/hub.dict -artifact_prefix="$ART/$t-" -print_final_stats=1 \
        "$grow" "$seeds" >"$log" 2>&1
    local rc=$?
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        echo "ok $t: ${runs:-?} runs in $((SECONDS - start)) s" >"$WORK/$t.result"
    else
        {
            echo "FAILED $t (exit $rc) after ${runs:-?} runs; reproduce with:"
            local a
            for a in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log"); do
                echo "    $BUILD/tests/fuzz/$t $a"
            done
            grep -E 'ERROR|runtime error|invariant|#[0-9]+ 0x' "$log" | head -30 | sed 's/^/    /'
        } >"$WORK/$t.result"
    fi
}

running=0
for t in $TARGETS; do
    if [ ! -x "$BUILD/tests/fuzz/$t" ]; then
        echo "FAILED $t: no such target" >"$WORK/$t.result"
        continue
    fi
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

PASS=0
FAIL=0
for t in $TARGETS; do
    r=$(cat "$WORK/$t.result" 2>/dev/null || echo "FAILED $t: no result")
    echo "$r"
    case $r in ok*) PASS=$((PASS + 1)) ;; *) FAIL=$((FAIL + 1)) ;; esac
done
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
