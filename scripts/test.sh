#!/bin/bash
# test.sh — install dependencies, build, run every test suite, print one line
# "N passed, N failed" and exit non-zero if anything failed.
#
# Suites: C unit tests (TAP, some against a live emulator), the emulator's own
# tests, the conformance suite (official @huggingface/hub client against the
# emulator), and the FUSE integration tests (real mounts).
#
# Environment:
#   HUBMOUNT_SKIP_DEPS=1   skip scripts/install-deps.sh (developer machines)
#   HUBMOUNT_SUITES="unit hubsim conformance integration"   subset to run
#   PYTEST_ARGS="-k name"  extra pytest arguments
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUITES=${HUBMOUNT_SUITES:-"unit hubsim conformance integration"}
PY=/usr/bin/python3

if [ "${HUBMOUNT_SKIP_DEPS:-0}" != 1 ]; then
    scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }
fi

PASSED=0
FAILED=0
add() { PASSED=$((PASSED + $1)); FAILED=$((FAILED + $2)); echo "== $3: $1 passed, $2 failed"; }

# ---- build (warnings are errors) -----------------------------------------
if [ -d build ]; then
    meson configure build -Dwerror=true >/dev/null
else
    meson setup build -Dwerror=true >/dev/null
fi
if ! ninja -C build; then
    echo "build failed"
    echo "$PASSED passed, $((FAILED + 1)) failed"
    exit 1
fi

WORK=$(mktemp -d /tmp/hubmount-test.XXXXXX)
EMU_PID=""
cleanup() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Start an emulator for the C tests that talk HTTP; its URL goes in HUBSIM_URL.
start_emulator() {
    mkdir -p "$WORK/emu"
    $PY tests/hubsim/hubsim.py --port 0 --data "$WORK/emu" \
        --config tests/unit/hubsim.json >"$WORK/emu.out" 2>"$WORK/emu.err" &
    EMU_PID=$!
    for _ in $(seq 1 100); do
        if grep -q '^hubsim ready on ' "$WORK/emu.out" 2>/dev/null; then
            HUBSIM_URL=$(sed -n 's/^hubsim ready on //p' "$WORK/emu.out" | head -1)
            export HUBSIM_URL
            return 0
        fi
        sleep 0.1
    done
    echo "emulator did not start:"; cat "$WORK/emu.err"
    return 1
}

# ---- C unit tests ----------------------------------------------------------
if [[ " $SUITES " == *" unit "* ]]; then
    p=0; f=0
    if [ -f tests/unit/hubsim.json ]; then start_emulator || f=$((f + 1)); fi
    for t in build/tests/unit/test_*; do
        [ -x "$t" ] && [ -f "$t" ] || continue
        out="$WORK/$(basename "$t").tap"
        timeout 300 "$t" >"$out" 2>&1
        rc=$?
        ok=$(grep -c '^ok ' "$out"); bad=$(grep -c '^not ok ' "$out")
        if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi  # crash or timeout
        if [ "$bad" -ne 0 ]; then
            echo "--- $t (exit $rc)"; grep -v '^ok ' "$out" | tail -40
        fi
        p=$((p + ok)); f=$((f + bad))
    done
    add "$p" "$f" "C unit tests"
fi

# ---- pytest suites -------------------------------------------------------------
run_pytest() { # name, paths...
    local name=$1; shift
    local xml="$WORK/$name.xml"
    $PY -m pytest -p no:cacheprovider -q --junitxml="$xml" ${PYTEST_ARGS:-} "$@"
    local rc=$?
    if [ -f "$xml" ]; then
        read -r p f < <($PY - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skip = sum(int(s.get("skipped", 0)) for s in suites)
print(t - bad - skip, bad)
PYEOF
        )
    else
        p=0; f=1
    fi
    # pytest exit 5 = no tests collected: that is a failure of the suite here.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    add "$p" "$f" "$name"
}

if [[ " $SUITES " == *" hubsim "* ]] && [ -d tests/hubsim ]; then
    run_pytest hubsim tests/hubsim
fi

# ---- conformance: the official client against the emulator ----------------------
if [[ " $SUITES " == *" conformance "* ]] && [ -f tests/conformance/package.json ]; then
    out="$WORK/conformance.tap"
    if (cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        (cd tests/conformance && timeout 900 node --test --test-reporter=tap) >"$out" 2>&1
        rc=$?
        p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -1); p=${p:-0}
        f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -1); f=${f:-0}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        if [ "$f" -ne 0 ]; then grep -B2 -A30 '^not ok' "$out" | head -150; fi
        add "$p" "$f" "conformance"
    else
        add 0 1 "conformance (npm ci)"
    fi
fi

# ---- FUSE integration tests -------------------------------------------------------
if [[ " $SUITES " == *" integration "* ]] && [ -d tests/integration ]; then
    run_pytest integration tests/integration
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
