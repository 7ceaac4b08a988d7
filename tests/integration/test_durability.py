"""What close(2) waits for (docs/semantics.md "Durability").

By default close journals the file without waiting for the disk (like close on a local file
system): the file survives kill -9 of the daemon, and after a power loss a file whose staged
bytes never reached the disk is not committed (it would put a damaged file on the Hub).
-o durable_close flushes the staging file at every close; fsync(2) always does."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import wait_until
from relhelp import commits_after, head, kill9, read, write

SLOW = ["commit_delay=60", "commit_window=120", "poll=0"]
QUICK = ["commit_delay=1", "commit_window=30", "poll=0"]


def _staging_files(cache):
    d = os.path.join(cache, "staging")
    return [os.path.join(d, n) for n in os.listdir(d)] if os.path.isdir(d) else []


@pytest.mark.timeout(120)
def test_torn_staging_file_is_not_committed_after_restart(hub, repo_name, mount, tmp_path):
    """A power loss after close can leave the staging file shorter than what was closed
    (allocation on writeback).  Simulated: kill -9 after close, then cut the staging file
    of one of two closed files.  The new daemon commits the whole one, drops the torn one
    with an error naming it, and never shows or commits the torn bytes."""
    hub.seed(repo_name, files={"keep.txt": b"keep\n"})
    base = head(hub, repo_name)
    cache = str(tmp_path / "cache")
    whole, torn = b"whole file\n" * 10, b"T" * 6000
    m = mount(repo_name, opts=SLOW, cache_dir=cache)
    write(m.p("whole.txt"), whole)
    write(m.p("torn.txt"), torn)
    kill9(m)
    hits = [p for p in _staging_files(cache) if open(p, "rb").read() == torn]
    assert len(hits) == 1, "the staging file of torn.txt: %s" % hits
    with open(hits[0], "r+b") as f:
        f.truncate(len(torn) // 2)

    m2 = mount(repo_name, opts=QUICK, cache_dir=cache,
               allow=[r"torn\.txt was closed with 6000 bytes but only 3000 reached the disk"])
    assert read(m2.p("whole.txt")) == whole
    assert not os.path.exists(m2.p("torn.txt"))
    assert "torn.txt was closed with 6000 bytes but only 3000 reached the disk" in m2.stderr()
    assert wait_until(lambda: hub.state(repo_name)["files"].get("whole.txt"), timeout=60)
    files = hub.state(repo_name)["files"]
    assert "torn.txt" not in files
    assert hub.download(repo_name, "whole.txt") == whole
    assert not os.path.exists(hits[0])  # the torn bytes are not kept for a later commit
    assert m2.unmount() == 0
    assert len(commits_after(hub, repo_name, base)) == 1


def _all_traced(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                if any(line.startswith("TracerPid:") and line.split()[1] == "0" for line in f):
                    return False
        except FileNotFoundError:
            pass  # the thread ended
    return True


def _fsyncs_during(m, action):
    """Runs action() with strace on the daemon; returns the fsync/fdatasync lines it saw."""
    out = m.p("..", "strace-%d.txt" % m.proc.pid)
    st = subprocess.Popen(["strace", "-f", "-y", "-qq", "-o", out, "-p", str(m.proc.pid),
                           "-e", "trace=fsync,fdatasync"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # strace attaches thread by thread: wait until every thread has a tracer
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _all_traced(m.proc.pid):
            time.sleep(0.05)
        assert _all_traced(m.proc.pid), "strace did not attach to every thread"
        action()
        time.sleep(0.3)
    finally:
        st.terminate()
        st.wait(10)
    with open(out) as f:
        return [line for line in f if "fsync" in line or "fdatasync" in line]


@pytest.mark.timeout(120)
@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
@pytest.mark.parametrize("durable", [False, True])
def test_close_flushes_staging_file_only_with_durable_close(hub, repo_name, mount, tmp_path,
                                                             durable):
    hub.seed(repo_name, files={"keep.txt": b"keep\n"})
    cache = str(tmp_path / "cache")
    opts = SLOW + (["durable_close"] if durable else [])
    m = mount(repo_name, opts=opts, cache_dir=cache)
    data = os.urandom(3000)
    lines = _fsyncs_during(m, lambda: write(m.p("f.bin"), data))
    staging = [line for line in lines if "/staging/" in line and line.startswith(
        tuple("0123456789")) and "fsync(" in line]
    wal = [line for line in lines if "-wal>" in line]
    if durable:
        assert staging, "no fsync of the staging file at close: %s" % lines
        assert wal, "no flush of the journal's WAL at close: %s" % lines
    else:
        assert staging == [] and wal == [], "close flushed to disk: %s" % lines
    assert read(m.p("f.bin")) == data
    # fsync(2) flushes the staging file whatever the option (and commits).  The file is
    # opened inside the traced action: starting strace forks, and the fork's copy of an
    # open descriptor, closed at exec, is a close (FLUSH) that would journal it first.
    fds = []

    def write_and_fsync():
        fds.append(os.open(m.p("g.bin"), os.O_WRONLY | os.O_CREAT, 0o644))
        os.write(fds[0], data)
        os.fsync(fds[0])
    try:
        lines = _fsyncs_during(m, write_and_fsync)
    finally:
        for fd in fds:
            os.close(fd)
    assert [line for line in lines if "/staging/" in line], lines
    assert hub.download(repo_name, "g.bin") == data
