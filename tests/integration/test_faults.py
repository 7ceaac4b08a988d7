"""Faults under load (docs/reliability.md): random 429/5xx/resets/truncated bodies on every
route while cp -r, rsync -a and parallel readers run; the emulator restarted in the middle of
a copy; the branch force-moved or deleted and re-created by another client; 8 readers and 4
writers against one mount with a watchdog and a memory bound.

These tests run against their own emulator (module scope): they inject faults on every route
and restart it, which must not disturb the other suites."""
import os
import random
import shutil
import subprocess
import threading
import time

import pytest

from conftest import HUBMOUNT, SANITIZED, TOKENS, Client, running_emulator, seeded_bytes, \
    wait_until
from relhelp import MiB, Watchdog, commits_after, head, hub_matches, hub_mismatches, \
    make_tree, read, rule_consumed, vm_hwm_kib, wait_hub, write

FAST = ["commit_delay=1", "commit_window=10", "poll=0"]

# ~10% of all requests, every route and both origins: rate limits with a short
# Retry-After, server errors, connections reset before an answer, bodies cut in half.
FAULT_MIX = [
    {"action": "status", "status": 429, "retry_after": 0, "probability": 0.02},
    {"action": "status", "status": 429, "retry_after": 1, "probability": 0.02},
    {"action": "status", "status": 500, "probability": 0.01},
    {"action": "status", "status": 502, "probability": 0.01},
    {"action": "status", "status": 503, "probability": 0.01},
    {"action": "reset", "probability": 0.015},
    {"action": "truncate", "probability": 0.015},
]

# Daemon lines a fault may cause: a commit attempt that failed and is retried.
FAULT_ALLOW = [r"not committed: .*kept, will retry"]


@pytest.fixture(scope="module")
def emu():
    yield from running_emulator()


def injected(log):
    """Requests the fault rules answered with an error or a reset (truncations are not
    visible in the log: they look like answers)."""
    return sum(1 for e in log if e["status"] in (0, 429, 500, 502, 503))


def seed_readable(hub, repo):
    small = {"docs/f%02d.txt" % i: (b"line %d\n" % i) * (50 + i) for i in range(24)}
    lfs = {"w/a.safetensors": {"size": 2 * MiB + 3, "seed": 51},
           "w/b.safetensors": {"size": 1 * MiB + 7, "seed": 52}}
    hub.seed(repo, files=small, lfs_files=lfs)
    want = dict(small)
    for p, spec in lfs.items():
        want[p] = seeded_bytes(spec["seed"], spec["size"])
    return want


def source_tree(seed, n_small, big):
    files = {"part%d/f%03d.txt" % (i % 4, i): (b"%d:%d\n" % (seed, i)) * (i % 9 + 1)
             for i in range(n_small)}
    for j, size in enumerate(big):
        files["blobs/b%d.bin" % j] = seeded_bytes(seed * 10 + j, size)
    return files


def reader(mnt, want, errors, rounds, wd=None, stop=None):
    paths = list(want)
    rng = random.Random(id(errors) ^ threading.get_ident())
    for _ in range(rounds):
        rng.shuffle(paths)
        for p in paths:
            if stop is not None and stop.is_set():
                return
            try:
                if wd:
                    with wd.op("read " + p):
                        data = read(os.path.join(mnt, p))
                else:
                    data = read(os.path.join(mnt, p))
                if data != want[p]:
                    errors.append("%s: wrong bytes (%d, want %d)" % (p, len(data), len(want[p])))
            except OSError as e:
                errors.append("%s: %s" % (p, e))


ROUNDS = 3


@pytest.mark.timeout(300)
def test_random_faults_during_cp_rsync_and_readers(hub, repo_name, mount, tmp_path):
    if not shutil.which("rsync"):
        pytest.skip("rsync not installed")
    want = seed_readable(hub, repo_name)
    base = head(hub, repo_name)
    m = mount(repo_name, opts=FAST, allow=FAULT_ALLOW)
    hub.clear_log()
    hub.add_faults(*FAULT_MIX)
    t0 = time.monotonic()
    sources = {}
    for rnd in range(ROUNDS):
        # writers: cp -r and rsync -a into the writable mount; readers: three threads on
        # a read-only mount with a cold cache, so every read goes to the Hub
        cp_src = source_tree(10 + rnd, 30, [int(1.5 * MiB)])
        rs_src = source_tree(20 + rnd, 30, [MiB + 11])
        make_tree(str(tmp_path / ("cp%d" % rnd)), cp_src)
        make_tree(str(tmp_path / ("rs%d" % rnd)), rs_src)
        sources["cp%d/" % rnd] = cp_src
        sources["rs%d/" % rnd] = rs_src
        ro = mount(repo_name, opts=["poll=0", "ro"], allow=FAULT_ALLOW)
        errors = []
        threads = [threading.Thread(target=reader, args=(ro.path, want, errors, 1))
                   for _ in range(3)]
        for t in threads:
            t.start()
        cp = subprocess.Popen(["cp", "-r", str(tmp_path / ("cp%d" % rnd)), m.p("cp%d" % rnd)],
                              stderr=subprocess.PIPE, text=True)
        rs = subprocess.run(["rsync", "-a", str(tmp_path / ("rs%d" % rnd)) + "/",
                             m.p("rs%d" % rnd) + "/"], capture_output=True, text=True,
                            timeout=200)
        cp_err = cp.communicate(timeout=200)[1]
        for t in threads:
            t.join(200)
        assert cp.returncode == 0, cp_err
        assert rs.returncode == 0, rs.stderr
        assert errors == []
        assert ro.unmount() == 0
    # everything reaches the Hub while the faults go on
    ok = wait_until(lambda: all(hub_matches(hub, repo_name, f, pre) for pre, f in sources.items()),
                    timeout=150, interval=1)
    log = hub.log()
    hub.clear_faults()
    assert ok, [hub_mismatches(hub, repo_name, f, pre)[:3] for pre, f in sources.items()]
    n = injected(log)
    print("\nfault matrix: %d requests, %d answered with an injected error or reset, %.1f s"
          % (len(log), n, time.monotonic() - t0))
    assert n >= 5, "too few faults were injected to mean anything (%d of %d)" % (n, len(log))
    # the seeded content is untouched, nothing stayed pending, nothing extra was committed
    assert hub_matches(hub, repo_name, want)
    # The Hub may hold the last commit before the daemon knows it (an answer lost to a
    # fault: the worker checks the branch and finds it there), so the daemon gets until
    # a deadline to see that on its own; no `hubmount sync`, which would commit for it.
    def status():
        return subprocess.run([HUBMOUNT, "status", m.path], capture_output=True, text=True,
                              timeout=30).stdout
    assert wait_until(lambda: "pending: 0 operation(s)" in status(), timeout=90, interval=1), \
        status()
    st = hub.state(repo_name)["files"]
    extra = [p for p in st if p.split("/")[0] + "/" in sources and
             p.split("/", 1)[1] not in sources[p.split("/")[0] + "/"]]
    assert extra == []
    assert len(commits_after(hub, repo_name, base)) >= 1
    # and a fresh mount reads back exactly the source
    m2 = mount(repo_name, opts=["poll=0"])
    for pre, f in sources.items():
        for p, d in list(f.items())[-4:]:
            assert read(m2.p(pre + p)) == d


@pytest.mark.timeout(240)
def test_fsync_during_faults_does_not_fail(hub, repo_name, mount):
    """A transient fault on the commit route itself (reset, 429, 503) must not turn into an
    fsync error: the attempt checks the branch and sends again."""
    hub.seed(repo_name, files={"a.txt": b"a"})
    base = head(hub, repo_name)
    m = mount(repo_name, opts=["commit_delay=60", "commit_window=120", "poll=0"],
              allow=FAULT_ALLOW)
    for i, rule in enumerate([
            {"action": "reset"},
            {"action": "status", "status": 429, "retry_after": 1},
            {"action": "status", "status": 503},
            {"action": "status", "status": 502},
            {"action": "truncate"}]):
        hub.add_faults(dict(rule, method="POST", path="/commit/", count=1))
        write(m.p("f%d.txt" % i), b"fsync %d" % i)
        fd = os.open(m.p("f%d.txt" % i), os.O_RDONLY)
        try:
            os.fsync(fd)  # must not raise
        finally:
            os.close(fd)
        assert hub.state(repo_name)["files"]["f%d.txt" % i]["size"] == len(b"fsync %d" % i)
    assert len(commits_after(hub, repo_name, base)) == 5  # one per fsync, none twice


# ---------------------------------------------------------------- the emulator restarts

@pytest.mark.timeout(240)
def test_emulator_restart_mid_copy(hub, emu, repo_name, mount, tmp_path):
    want = seed_readable(hub, repo_name)
    base = head(hub, repo_name)
    src = source_tree(3, 30, [int(1.5 * MiB)])
    make_tree(str(tmp_path / "src"), src)
    m = mount(repo_name, opts=FAST, allow=FAULT_ALLOW)
    url = emu.url
    # a slow commit: the restart lands while it is in flight (held by the emulator: the
    # latency runs before the commit is applied; latency_ms is the rule's marker)
    # (4 s: far longer than the emulator takes to stop, so the held commit dies with it)
    hub.add_faults({"method": "POST", "path": "/commit/", "action": "latency",
                    "latency_ms": 4001, "count": 1})
    errors = []
    rd = threading.Thread(target=reader, args=(m.path, want, errors, 2))
    rd.start()
    cp = subprocess.Popen(["cp", "-r", str(tmp_path / "src"), m.p("src")],
                          stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: rule_consumed(hub, 4001), timeout=60), \
        "no commit reached the emulator"
    emu.stop()
    time.sleep(2.0)  # requests meanwhile are refused: retried with backoff
    emu.start()
    assert emu.url == url, "the emulator came back on another port"
    cp_err = cp.communicate(timeout=120)[1]
    rd.join(120)
    assert cp.returncode == 0, cp_err
    assert errors == []
    hub2 = Client(emu.url)
    assert wait_hub(hub2, repo_name, src, timeout=120, prefix="src/"), \
        hub_mismatches(hub2, repo_name, src, "src/")[:5]
    assert hub_matches(hub2, repo_name, want)
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # exactly once, through the emulator's tree at each commit since `base`: no commit leaves
    # the tree unchanged, and each source file is added (changed) by one commit only
    commits = list(reversed(commits_after(hub2, repo_name, base)))
    assert commits
    prev = hub2.state(repo_name, rev=base)["files"]
    changed_by = {}
    for sha in commits:
        tree = hub2.state(repo_name, rev=sha)["files"]
        assert tree != prev, "commit %s changes nothing" % sha
        for p, e in tree.items():
            if prev.get(p) != e:
                changed_by.setdefault(p, []).append(sha)
        assert set(prev) <= set(tree), "commit %s deleted %s" % (sha, set(prev) - set(tree))
        prev = tree
    twice = {p: c for p, c in changed_by.items() if len(c) != 1}
    assert twice == {}, twice
    assert set(changed_by) == {"src/" + p for p in src}
    # the daemon saw the held commit cut off and dealt with it: found it on the Hub, or
    # sent it again (once: the trees above)
    log = m.stderr()
    assert "commit answer lost" in log, log[-3000:]
    assert "already on the Hub" in log or "sending again" in log, log[-3000:]


# ---------------------------------------------------------------- another client moves the branch

@pytest.mark.timeout(180)
def test_branch_force_moved_by_another_client(hub, emu, repo_name, mount):
    hub.seed(repo_name, files={"base.txt": b"base"})
    base = head(hub, repo_name)
    other = Client(emu.url, token=TOKENS["write"])
    m = mount(repo_name, opts=["commit_delay=60", "commit_window=120", "poll=1"])
    # ours, committed
    write(m.p("ours1.txt"), b"one")
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    ours1 = head(hub, repo_name)
    # ours, pending
    write(m.p("ours2.txt"), b"two")
    # another client force-moves main back to the base commit and commits there
    other.json("POST", "/api/models/%s/branch/main" % repo_name,
               {"startingPoint": base, "overwrite": True})
    other.upload(repo_name, {"theirs.txt": b"theirs"}, summary="other client")
    theirs = head(hub, repo_name)
    assert ours1 not in hub.state(repo_name)["commits"]
    # the mount follows the branch; the pending file is still there and gets committed on top
    assert wait_until(lambda: os.path.exists(m.p("theirs.txt")), timeout=20)
    assert read(m.p("ours2.txt")) == b"two"
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    st = hub.state(repo_name)
    assert st["commits"][1] == theirs  # on top of the other client's commit
    assert set(p for p in st["files"] if not p.startswith(".")) == \
        {"base.txt", "theirs.txt", "ours2.txt"}
    # what the force-move dropped is gone here too (the branch is the truth)
    assert wait_until(lambda: not os.path.exists(m.p("ours1.txt")), timeout=20)
    assert read(m.p("ours2.txt")) == b"two" and read(m.p("theirs.txt")) == b"theirs"


@pytest.mark.timeout(180)
def test_branch_deleted_and_recreated(hub, emu, repo_name, mount):
    hub.seed(repo_name, files={"base.txt": b"base"})
    hub.seed(repo_name, files={"dev.txt": b"dev"}, branch="dev")
    other = Client(emu.url, token=TOKENS["write"])
    m = mount(repo_name + "@dev", opts=["commit_delay=60", "commit_window=120", "poll=1"],
              allow=[r"not committed"])
    write(m.p("pending.txt"), b"kept")
    other.json("DELETE", "/api/models/%s/branch/dev" % repo_name)
    # committing now fails (the branch is gone): the change stays pending, reads go on
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    # two polls of the missing branch (the poller's warning for each), then reads go on
    assert wait_until(lambda: m.stderr().count("cannot probe %s@dev" % repo_name) >= 2,
                      timeout=30), m.stderr()[-3000:]
    assert read(m.p("pending.txt")) == b"kept"
    assert read(m.p("dev.txt")) == b"dev"  # the last commit shown stays
    other.json("POST", "/api/models/%s/branch/dev" % repo_name, {"startingPoint": "main"})
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    st = hub.state(repo_name, rev="dev")["files"]
    assert "pending.txt" in st and "base.txt" in st


# ---------------------------------------------------------------- load

LOAD_SECONDS = float(os.environ.get("HUBMOUNT_LOAD_SECONDS", "15"))


@pytest.mark.timeout(300)
def test_8_readers_4_writers_no_deadlock_bounded_memory(hub, repo_name, mount):
    small = {"r/s%02d.txt" % i: os.urandom(1000 + 300 * i) for i in range(16)}
    lfs = {"r/big%d.bin" % i: {"size": 6 * MiB + i, "seed": 60 + i} for i in range(3)}
    hub.seed(repo_name, files=small, lfs_files=lfs)
    want = dict(small)
    for p, spec in lfs.items():
        want[p] = seeded_bytes(spec["seed"], spec["size"])
    m = mount(repo_name, opts=["commit_delay=1", "commit_window=5", "poll=2"])
    wd = Watchdog(60)
    stop = threading.Event()
    errors = []
    written = {}
    wlock = threading.Lock()

    def writer(k):
        rng = random.Random(k)
        i = 0
        while not stop.is_set():
            name = "w%d/f%03d.bin" % (k, i % 25)
            data = rng.randbytes(rng.choice([100, 5000, 300000, 2 * MiB]))
            try:
                with wd.op("write " + name):
                    os.makedirs(m.p("w%d" % k), exist_ok=True)
                    write(m.p(name), data)
                with wlock:
                    written[name] = data
                with wd.op("read back " + name):
                    got = read(m.p(name))
                    if got != data:
                        errors.append("%s: read back differs (%d bytes, wrote %d, same prefix %s, "
                                      "size %d)" % (name, len(got), len(data),
                                                    got[:len(data)] == data[:len(got)],
                                                    os.stat(m.p(name)).st_size))
                if i % 7 == 6:
                    with wd.op("rename in w%d" % k):
                        os.rename(m.p(name), m.p(name + ".moved"))
                        with wlock:
                            written[name + ".moved"] = written.pop(name)
                if i % 11 == 10:
                    with wd.op("fsync " + name):
                        fd = os.open(m.p("w%d" % k), os.O_RDONLY)
                        os.fsync(fd)
                        os.close(fd)
            except OSError as e:
                errors.append("%s: %s" % (name, e))
            i += 1

    def reading():
        while not stop.is_set():
            reader(m.path, want, errors, 1, wd=wd, stop=stop)
            try:
                with wd.op("listing"):
                    for _ in os.walk(m.path):
                        pass
            except OSError as e:
                errors.append("walk: %s" % e)

    threads = [threading.Thread(target=reading) for _ in range(8)]
    threads += [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    stop.set()
    for t in threads:
        t.join(120)
    wd.close()
    assert not any(t.is_alive() for t in threads), "a worker is stuck: %s" % wd.running
    assert wd.hung == []
    assert errors == [], errors[:10]
    # everything written is committed, byte for byte
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert wait_hub(hub, repo_name, written, timeout=60), hub_mismatches(hub, repo_name,
                                                                         written)[:5]
    hwm = vm_hwm_kib(m.proc.pid)
    print("\nload: %d operations in %.0f s, longest %.2f s, %d files written, daemon VmHWM %d MiB"
          % (wd.n_ops, LOAD_SECONDS, wd.longest, len(written), hwm // 1024))
    if not SANITIZED:
        assert hwm < 400 * 1024, "daemon peak RSS %d MiB" % (hwm // 1024)
