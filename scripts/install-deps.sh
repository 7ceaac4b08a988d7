#!/bin/sh
# install-deps.sh — install everything the build, the tests and the demo need.
# Idempotent: apt-get skips what is already installed.  Needs root (or sudo).
set -eu

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# valgrind: the unit tests under memcheck (test.sh); clang + libclang-rt-14-dev
# (which ships libFuzzer for clang 14): the fuzz targets (scripts/fuzz.sh).
# libglib2.0-bin: gio, for the trash and file-manager listing tests.
# groff-base, man-db: the man page test renders docs/hubmount.1.
# strace: test_durability watches which flushes close(2) makes.
PACKAGES="
  build-essential meson ninja-build pkg-config
  fuse3 libfuse3-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev libssl-dev
  python3 python3-pytest python3-pytest-timeout python3-hypothesis
  python3-numpy python3-torch
  rsync attr sqlite3 curl ca-certificates procps psmisc strace
  bindfs
  libglib2.0-bin
  groff-base man-db
  valgrind clang libclang-rt-14-dev
"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null

# The conformance suite runs the official @huggingface/hub client on Node.js.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# systemd-analyze (package systemd on Debian 12): test_everyday verifies the units of
# docs/systemd.md with it and skips without it.  Installed only when missing: where systemd
# is already there, installing it again would upgrade systemd and libsystemd0/libudev1 in
# place (and re-exec PID 1 on a machine booted with systemd) for nothing.  On a machine
# without it, it is a package like the others (no init change without systemd-sysv, a
# recommends, which --no-install-recommends leaves out).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

# FUSE needs the device node; fresh containers sometimes lack the module loaded.
if [ ! -e /dev/fuse ]; then
    $SUDO modprobe fuse 2>/dev/null || true
fi
echo "install-deps: done"
