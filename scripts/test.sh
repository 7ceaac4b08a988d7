#!/bin/bash
# test.sh — install dependencies, build, run every test suite, print one line
# "N passed, N failed" and exit non-zero if anything failed.
#
# Suites: C unit tests (TAP, some against a live emulator), the emulator's own
# tests, the conformance suite (official @huggingface/hub client against the
# emulator), the FUSE integration tests (real mounts), and the checking runs
# (docs/testing.md): "asan" (a second build, build-asan, with
# AddressSanitizer + UndefinedBehaviorSanitizer: every unit test and a slice
# of the integration tests against its daemon), "valgrind" (the unit tests of
# the normal build under memcheck) and "fuzz" (each libFuzzer target of
# tests/fuzz for a few seconds, scripts/fuzz.sh).
#
# Environment:
#   HUBMOUNT_SKIP_DEPS=1   skip scripts/install-deps.sh (developer machines)
#   HUBMOUNT_SUITES="unit hubsim conformance integration asan valgrind fuzz"   subset to run
#   PYTEST_ARGS="-k name"  extra pytest arguments
#   HUBMOUNT_FUZZ_SECONDS=N  fuzzing time per target in the fuzz suite (default 10)
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUITES=${HUBMOUNT_SUITES:-"unit hubsim conformance integration asan valgrind fuzz"}
PY=/usr/bin/python3

if [ "${HUBMOUNT_SKIP_DEPS:-0}" != 1 ]; then
    scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }
fi

PASSED=0
FAILED=0
# Each suite line also says how long the suite took (since the previous line).
T_LAST=$SECONDS
add() {
    PASSED=$((PASSED + $1)); FAILED=$((FAILED + $2))
    echo "== $3: $1 passed, $2 failed ($((SECONDS - T_LAST)) s)"; T_LAST=$SECONDS
}

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

T_LAST=$SECONDS  # the build is not part of the first suite's time
WORK=$(mktemp -d /tmp/hubmount-test.XXXXXX)
EMU_PID=""
cleanup() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Start an emulator for the C tests that talk HTTP; its URL goes in HUBSIM_URL.
# One per run: the sanitizer and valgrind suites reuse it.
start_emulator() {
    [ -n "$EMU_PID" ] && return 0
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
# run_unit BUILD_DIR NAME [WRAPPER...]: every BUILD_DIR/tests/unit/test_*,
# TAP lines counted.  A crash, a timeout, a non-zero exit (sanitizer or
# valgrind error) or a sanitizer report counts as one more failure.
# UNIT_SKIP: space-separated test names left out (said in the output).
run_unit() {
    local dir=$1 name=$2; shift 2
    local p=0 f=0 t out rc ok bad
    if [ -f tests/unit/hubsim.json ]; then start_emulator || f=$((f + 1)); fi
    for t in "$dir"/tests/unit/test_*; do
        [ -x "$t" ] && [ -f "$t" ] || continue
        if [[ " ${UNIT_SKIP:-} " == *" $(basename "$t") "* ]]; then
            echo "--- $name: $(basename "$t") skipped"; continue
        fi
        out="$WORK/$(basename "$dir")-$(basename "$t").tap"
        timeout "${UNIT_TIMEOUT:-300}" "$@" "$t" >"$out" 2>&1
        rc=$?
        ok=$(grep -c '^ok ' "$out"); bad=$(grep -c '^not ok ' "$out")
        if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi  # crash, timeout, checker error
        if [ "$bad" -eq 0 ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out"; then
            bad=1
        fi
        if [ "$bad" -ne 0 ]; then
            echo "--- $t (exit $rc)"; grep -v '^ok ' "$out" | tail -60
        fi
        p=$((p + ok)); f=$((f + bad))
    done
    add "$p" "$f" "$name"
}

if [[ " $SUITES " == *" unit "* ]]; then
    run_unit build "C unit tests"
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

# ---- sanitizers: a second build with ASan + UBSan ---------------------------------
# Every unit test, then a slice of the integration tests with the ASan
# daemon (conftest.py runs $HUBMOUNT_BIN and fails a test whose daemon
# printed a sanitizer report or did not exit 0 — LeakSanitizer makes it
# exit non-zero).  The slice: reads, errors, a write + commit, retries.
ASAN_SLICE="test_read_every_file_and_cp_r or test_missing_paths_are_enoent \
 or test_find_ls_stat_with_tiny_tree_pages or test_xattrs \
 or test_persistent_server_errors_are_eio_and_the_daemon_recovers \
 or test_gated_content_is_eacces_at_open or test_transient_5xx_are_retried \
 or test_overwrite_append_pwrite_truncate or test_fsync_of_written_file_commits \
 or test_rename_committed_lfs_file_reuses_object or test_stale_parent_rebases_and_keeps_other_commits \
 or test_upload_faults_are_retried or test_unlink_rmdir_and_local_only_files \
 or test_startup_errors or test_sigterm_unmounts_cleanly \
 or test_name_at_rev_lookups or test_noise_namespace_mount or test_mkdir_creates_private_repo \
 or test_hub_mount_reads_and_writes_a_repo \
 or test_hf_cache_content_is_served_without_downloading \
 or test_debug_log_has_commit_lines_and_never_the_token \
 or test_hostile_listing_is_eio or test_hostile_content_is_eio or test_endless_body_is_cut \
 or test_100000_entries_and_10_mib_json or test_fsync_during_faults_does_not_fail \
 or (test_kill_9_at_each_stage and commit_sent) or test_token_never_leaves_the_process"
if [[ " $SUITES " == *" asan "* ]]; then
    san_opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true)
    if [ -f build-asan/build.ninja ]; then
        meson configure build-asan "${san_opts[@]}" >/dev/null
    else
        meson setup build-asan "${san_opts[@]}" >/dev/null
    fi
    if ninja -C build-asan >"$WORK/asan-build.log" 2>&1; then
        # Assignments before a function call are exported for that call only.
        asan=detect_leaks=1:abort_on_error=1
        ubsan=halt_on_error=1:print_stacktrace=1
        ASAN_OPTIONS=$asan UBSAN_OPTIONS=$ubsan run_unit build-asan "C unit tests (asan)"
        if [ -d tests/integration ]; then
            ASAN_OPTIONS=$asan UBSAN_OPTIONS=$ubsan HUBMOUNT_BIN=$ROOT/build-asan/hubmount \
                run_pytest "integration (asan)" tests/integration -k "$ASAN_SLICE"
        fi
    else
        tail -40 "$WORK/asan-build.log"
        add 0 1 "asan build"
    fi
fi

# ---- valgrind: the unit tests of the normal build under memcheck ------------------
if [[ " $SUITES " == *" valgrind "* ]]; then
    if command -v valgrind >/dev/null; then
        UNIT_TIMEOUT=600 run_unit build "C unit tests (valgrind)" \
            valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite --error-exitcode=99
    else
        add 0 1 "valgrind (not installed)"
    fi
fi

# ---- fuzzing: each libFuzzer target for a few seconds -----------------------------
if [[ " $SUITES " == *" fuzz "* ]] && [ -x scripts/fuzz.sh ]; then
    scripts/fuzz.sh "${HUBMOUNT_FUZZ_SECONDS:-10}" >"$WORK/fuzz.out" 2>&1
    grep -vE '^ok |^[0-9]+ passed, [0-9]+ failed$' "$WORK/fuzz.out"
    read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$WORK/fuzz.out" | tail -1)
    add "${p:-0}" "${f:-1}" "fuzz (libFuzzer targets)"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
