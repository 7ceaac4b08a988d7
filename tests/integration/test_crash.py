"""Crash matrix (docs/reliability.md): kill -9 of the daemon at each stage of the write path,
then a new hubmount on the same cache directory.  Every closed file must end committed exactly
once with its bytes, a file still open at the kill (not closed, so not durable) must not be
committed, and a committed file being rewritten in place keeps its old content on the Hub.

The stages: mid-write (files still open), during an LFS upload (a latency fault holds the CDN
PUT), during a multipart completion (held on the hub origin), after the commit request was sent
and before its answer (held on the commit route).  kill -9 after close with nothing in flight is
test_write.py::test_kill_9_after_close_commits_exactly_once_on_restart; it is also part of each
case here (the closed files)."""
import os

import pytest

from conftest import seeded_bytes, wait_until
from relhelp import MiB, commits_after, head, hub_mismatches, kill9, read, rule_consumed, \
    sha256, write

SLOW = ["commit_delay=60", "commit_window=120", "poll=0"]
QUICK = ["commit_delay=1", "commit_window=30", "poll=0"]

# (stage, fault rule holding the request the kill must interrupt); latency_ms doubles as
# the rule's marker for rule_consumed().
STAGES = {
    "mid_write": None,
    "lfs_upload": {"method": "PUT", "path": "^/(upload|part)/", "origin": "cdn", "action": "latency",
                   "latency_ms": 2501, "count": 1},
    "multipart_complete": {"method": "POST", "path": "^/__lfs/complete/", "origin": "hub",
                           "action": "latency", "latency_ms": 2502, "count": 1},
    "commit_sent": {"method": "POST", "path": "/commit/", "action": "latency",
                    "latency_ms": 2503, "count": 1},
}


@pytest.fixture
def chunked(hub):
    """1 MiB multipart parts for this test (the emulator setting is global: restored)."""
    hub.set_config(multipart_chunk_size=MiB)
    yield
    hub.set_config(multipart_chunk_size=5 * MiB)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_9_at_each_stage(hub, repo_name, mount, tmp_path, stage, chunked):
    hub.seed(repo_name, files={"keep.txt": b"keep\n", "inplace.txt": b"committed version\n"},
             lfs_files={"old.bin": {"size": 2 * MiB, "seed": 70}})
    base = head(hub, repo_name)
    cache = str(tmp_path / "cache")
    rule = STAGES[stage]
    closed = {
        "a.txt": b"closed before the kill\n",
        "dir/b.txt": b"b" * 5000,
        # LFS by .gitattributes (*.bin), unique bytes (the emulator's object store is
        # shared): uploaded in 4 parts of 1 MiB with the multipart fixture
        "big.bin": os.urandom(3 * MiB + 100),
    }
    m = mount(repo_name, opts=SLOW if rule is None else QUICK, cache_dir=cache)
    os.mkdir(m.p("dir"))
    if rule is not None:
        hub.add_faults(rule)
    for p, d in closed.items():
        write(m.p(p), d)
    # still open at the kill: a new file half written, a committed file changed in place
    f_new = open(m.p("open_new.bin"), "wb")
    f_new.write(seeded_bytes(72, MiB))
    f_new.flush()
    f_old = os.open(m.p("inplace.txt"), os.O_RDWR)
    os.pwrite(f_old, b"HALF", 0)
    if rule is not None:
        assert wait_until(lambda: rule_consumed(hub, rule["latency_ms"]), timeout=30), \
            "the %s request never reached the emulator: %s" % (
                stage, [(e["method"], e["path"], e["status"]) for e in hub.log()][-12:])
    kill9(m)
    for close in (f_new.close, lambda: os.close(f_old)):
        try:
            close()
        except OSError:
            pass  # the mount is gone
    if rule is not None:
        # the held request ends without its client; the emulator logs a request when it
        # has ended, with the latency the rule applied (the marker)
        assert wait_until(lambda: [e for e in hub.log()
                                   if e.get("latency_ms") == rule["latency_ms"]], timeout=30), \
            "the held %s request did not end" % stage
    before = len(commits_after(hub, repo_name, base))
    # the held commit request was complete: the Hub applied it though nobody got the answer
    assert before == (1 if stage == "commit_sent" else 0)
    hub.clear_log()

    # a new daemon on the same cache directory finishes the job
    m2 = mount(repo_name, opts=QUICK, cache_dir=cache)
    assert read(m2.p("a.txt")) == closed["a.txt"]  # visible before (or after) the commit
    assert not os.path.exists(m2.p("open_new.bin"))  # never closed: not durable, not shown
    assert read(m2.p("inplace.txt")) == b"committed version\n"
    assert wait_until(lambda: not hub_mismatches(hub, repo_name, closed), timeout=60), \
        hub_mismatches(hub, repo_name, closed)
    assert wait_until(lambda: b"pending: 0 operation" in _status(m2), timeout=30)
    new = commits_after(hub, repo_name, base)
    assert len(new) == 1, "%d commits for one batch of closed files (stage %s)" % (len(new),
                                                                                   stage)
    log = hub.log()
    puts = [e for e in log if e["origin"] == "cdn" and e["method"] == "PUT"]
    if stage in ("mid_write", "lfs_upload"):
        assert puts, "big.bin was not uploaded after the restart"  # the killed PUT stored nothing
    else:
        assert puts == []  # the held completion finished the object; the commit, the files
    if stage == "commit_sent":
        assert "already on the Hub" in m2.stderr()
        assert not [e for e in log if e["method"] == "POST" and "/commit/" in e["path"]]
    st = hub.state(repo_name)["files"]
    assert "open_new.bin" not in st
    assert hub.download(repo_name, "inplace.txt") == b"committed version\n"
    assert st["old.bin"]["sha256"] == sha256(seeded_bytes(70, 2 * MiB))
    assert st["keep.txt"]["size"] == 5
    # a third start has nothing left to do: after `hubmount sync` (returns when everything
    # pending, replayed journal included, is committed) the head has not moved
    assert m2.unmount() == 0
    top = head(hub, repo_name)
    hub.clear_log()
    m3 = mount(repo_name, opts=QUICK, cache_dir=cache)
    assert read(m3.p("big.bin")) == closed["big.bin"]
    _sync(m3)
    assert head(hub, repo_name) == top
    assert b"pending: 0 operation" in _status(m3)
    assert not [e for e in hub.log() if e["method"] == "POST" and "/commit/" in e["path"]]


def _sync(m):
    import subprocess
    from conftest import HUBMOUNT
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _status(m):
    import subprocess
    from conftest import HUBMOUNT
    r = subprocess.run([HUBMOUNT, "status", m.path], capture_output=True, timeout=30)
    return r.stdout
