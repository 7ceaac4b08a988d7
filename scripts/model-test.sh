#!/bin/bash
# model-test.sh — a long run of the model-based random test (tests/integration/test_model.py):
# random operation sequences on a mount and on a local directory, compared after every
# step, then the Hub's tree compared with the directory.  CI runs a small fixed set of
# examples; this runs as many random ones as asked, shrinks a failure to a short sequence
# and prints it as code (copy it into a test_regression_* of test_model.py).
#
#   scripts/model-test.sh                 # 300 examples of up to 50 steps
#   scripts/model-test.sh 2000 80         # EXAMPLES STEPS
#   HUBMOUNT_MODEL_SEED=1234 scripts/model-test.sh 300   # replay one random run
#   HUBMOUNT_MODEL_VERBOSE=1 ...          # print every example tried
#
# Needs a build (ninja -C build; HUBMOUNT_BIN=... for another binary), FUSE and root or
# fusermount3.  Prints the counts (examples, operations, remounts, faults) at the end.
set -eu
cd "$(dirname "$0")/.."
if [ -z "${HUBMOUNT_BIN:-}" ]; then
    ninja -C build hubmount >/dev/null
fi
export HUBMOUNT_MODEL_EXAMPLES=${1:-${HUBMOUNT_MODEL_EXAMPLES:-300}}
export HUBMOUNT_MODEL_STEPS=${2:-${HUBMOUNT_MODEL_STEPS:-50}}
args=(tests/integration/test_model.py -k "test_model and not regression" -s -q
      -p no:cacheprovider)
if [ -n "${HUBMOUNT_MODEL_SEED:-}" ]; then
    args+=("--hypothesis-seed=$HUBMOUNT_MODEL_SEED")
fi
exec /usr/bin/python3 -m pytest "${args[@]}"
