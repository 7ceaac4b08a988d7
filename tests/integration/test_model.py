"""Model-based random testing: random sequences of file operations run on a hubmount mount
AND on a local reference directory (the kernel's own filesystem), compared after every step.

Hypothesis' stateful testing draws the sequences: create, writes at random offsets, appends,
truncate/ftruncate, renames of files and folders (over existing targets too), unlink, mkdir,
rmdir, fsync, reads, close/reopen of up to three descriptors, `hubmount sync`, remount
(unmount, then mount again on the same cache directory) and emulator faults (503/500/429
bursts, resets, truncated answers on one route; transient, so they must never reach the
program as an error).  After each step the two trees must be equal (names, types, sizes,
bytes) and so must each operation's result or errno.  After each sequence everything is
committed (`hubmount sync`), and the Hub's tree is compared byte for byte with the reference.

CI runs a bounded, derandomized number of examples (a fixed set, so a CI failure is a real
regression, not bad luck).  A longer, random run:

    HUBMOUNT_MODEL_EXAMPLES=300 scripts/model-test.sh

Every failing sequence found is kept below as a plain test (test_regression_*), written out
from Hypothesis' report: call the machine's methods in order, then teardown().

Deliberate differences from a local filesystem that the model allows (docs/semantics.md,
"Differences from POSIX"): empty directories never reach the Hub (the final comparison is of
files), modes/times/owners are not compared, and the Hub's own `.gitattributes` is ignored.
"""
import contextlib
import errno
import hashlib
import itertools
import os
import re
import shutil
import stat
import subprocess
import time

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, Verbosity, settings, strategies as st  # noqa: E402
from hypothesis.stateful import (RuleBasedStateMachine, initialize, rule,  # noqa: E402
                                 run_state_machine_as_test)

from conftest import (HUBMOUNT, TOKENS, Client, Mount, daemon_env, fsync_dir,  # noqa: E402
                      seeded_bytes, wait_mounted)

EXAMPLES = int(os.environ.get("HUBMOUNT_MODEL_EXAMPLES", "0") or 0)
STEPS = int(os.environ.get("HUBMOUNT_MODEL_STEPS", "0") or 0)
LONG = EXAMPLES > 0

# The names a sequence plays with: few, so that operations collide (rename over an
# existing target, a file where a directory was, rmdir of a non-empty directory...).
PATHS = ["a", "b", "d", "e", "d/a", "d/b", "d/e", "e/a", "e/d", "d/e/a", "d/e/c"]
SEED_FILES = {"a": b"seed a\n", "d/b": b"\0seed lfs\n" * 3, "d/e/c": b"seed c\n"}
# One committed file larger than the 1 MiB chunks of copy-on-write and reads.
BIG = ("e/a", 1024 * 1024 + 300, 5)  # path, size, seed of the emulator's bytes
# Open flags: read, read-write, append, create, truncate.
FLAGS = {
    "r": os.O_RDONLY,
    "rw": os.O_RDWR,
    "a": os.O_WRONLY | os.O_APPEND,
    "rwc": os.O_RDWR | os.O_CREAT,
    "wt": os.O_WRONLY | os.O_TRUNC,
}
SLOTS = 3
# Transient faults: each goes away by itself after `count` requests.
FAULTS = {
    "commit-503": {"method": "POST", "path": "/commit/", "action": "status", "status": 503,
                   "count": 1},
    "commit-reset": {"method": "POST", "path": "/commit/", "action": "reset", "count": 1},
    "commit-lost-answer": {"method": "POST", "path": "/commit/", "action": "truncate",
                           "count": 1},
    "preupload-500": {"method": "POST", "path": "/preupload/", "action": "status",
                      "status": 500, "count": 2},
    "paths-info-reset": {"path": "/paths-info/", "action": "reset", "count": 1},
    "lfs-batch-503": {"path": "/info/lfs/objects/batch", "action": "status", "status": 503,
                      "count": 1},
    "lfs-put-503": {"method": "PUT", "origin": "cdn", "path": "/", "action": "status",
                    "status": 503, "count": 1},
    "resolve-429": {"path": "/resolve/", "action": "status", "status": 429, "retry_after": 1,
                    "count": 1},
    "cdn-truncate": {"method": "GET", "origin": "cdn", "path": "/", "action": "truncate",
                     "count": 1},
    "tree-503": {"path": "/tree/", "action": "status", "status": 503, "count": 1},
}
# Daemon log lines that transient faults may legitimately cause.
ALLOW = [re.compile(r"not committed"), re.compile(r"will retry")]

data_st = st.one_of(st.binary(max_size=24),
                    st.text("xyz\n", max_size=24).map(str.encode))
path_st = st.sampled_from(PATHS)
slot_st = st.integers(0, SLOTS - 1)
# Counted over a run, printed at its end (pytest -s): examples, operations compared,
# of which failed with the same errno on both sides, remounts, faults injected.
STATS = {"examples": 0, "ops": 0, "errnos": 0, "remounts": 0, "faults": 0, "syncs": 0}
# Offsets and sizes: near the start, or around the 1 MiB chunk boundary.
off_st = st.one_of(st.integers(0, 64), st.integers(1024 * 1024 - 40, 1024 * 1024 + 40))


def outcome(fn, *args):
    """('ok', value) or ('err', errno name) of fn(*args)."""
    try:
        return ("ok", fn(*args))
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, e.errno))


def snapshot(root, skip_root=()):
    """{relative path: "dir" or bytes} of a tree, read with plain syscalls."""
    out = {}

    def walk(rel):
        full = os.path.join(root, rel) if rel else root
        for name in sorted(os.listdir(full)):
            if not rel and name in skip_root:
                continue
            r = os.path.join(rel, name) if rel else name
            p = os.path.join(root, r)
            if os.path.isdir(p):
                out[r] = "dir"
                walk(r)
            else:
                with open(p, "rb") as f:
                    out[r] = f.read()
                assert os.stat(p).st_size == len(out[r]), "size of %s" % r
    walk("")
    return out


def files_only(snap):
    return {p: v for p, v in snap.items() if v != "dir"}


def diff(a, b):
    lines = []
    for p in sorted(set(a) | set(b)):
        if a.get(p) != b.get(p):
            lines.append("  %s: mount=%r ref=%r" % (p, a.get(p, "<absent>"), b.get(p, "<absent>")))
    return "\n".join(lines)


EXAMPLE_IDS = itertools.count(1)  # one repo per example, unique within the emulator's life


class Env:
    """What a machine needs from pytest: the emulator, a scratch directory, a HOME."""

    def __init__(self, emu, base, home):
        self.emu = emu
        self.hub = Client(emu.url)
        self.base = base
        self.home = home


class HubModel(RuleBasedStateMachine):
    ENV = None  # set by the tests below
    # more -o options (HUBMOUNT_MODEL_OPTS="log_level=debug" to see what the daemon did)
    EXTRA = [o for o in os.environ.get("HUBMOUNT_MODEL_OPTS", "").split(",") if o]

    def __init__(self):
        super().__init__()
        self.mnt = None
        self.fds = [None] * SLOTS  # (mount fd, reference fd) per slot
        self.log = []

    # ------------------------------------------------------------ set-up and tear-down
    @initialize(delay=st.sampled_from([1, 60]))
    def setup(self, delay=60):
        env = self.ENV
        k = next(EXAMPLE_IDS)
        STATS["examples"] += 1
        self.dir = os.path.join(env.base, "ex%d" % k)
        os.makedirs(self.dir)
        self.repo = "acme/model-%d-%d" % (os.getpid(), k)
        self.hub = env.hub
        self.hub.clear_faults()
        self.hub.seed(self.repo, files=SEED_FILES,
                      lfs_files={BIG[0]: {"size": BIG[1], "seed": BIG[2]}})
        self.ref = os.path.join(self.dir, "ref")
        for p, d in dict(SEED_FILES, **{BIG[0]: seeded_bytes(BIG[2], BIG[1])}).items():
            os.makedirs(os.path.dirname(os.path.join(self.ref, p)), exist_ok=True)
            with open(os.path.join(self.ref, p), "wb") as f:
                f.write(d)
        self.cache = os.path.join(self.dir, "cache")
        self.opts = ["commit_delay=%d" % delay, "commit_window=%d" % max(delay, 30), "poll=0"]
        self.n_mounts = 0
        self._mount()
        self.check()

    def _mount(self):
        env = self.ENV
        self.n_mounts += 1
        path = os.path.join(self.dir, "mnt%d" % self.n_mounts)
        os.mkdir(path)
        log = os.path.join(self.dir, "hubmount%d.log" % self.n_mounts)
        o = ["endpoint=" + env.emu.url, "cache_dir=" + self.cache] + self.opts + self.EXTRA
        with open(log, "w") as err:
            proc = subprocess.Popen([HUBMOUNT, self.repo, path, "-f", "-o", ",".join(o)],
                                    stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    env=daemon_env(env.emu, TOKENS["write"], env.home))
        self.mnt = Mount(path, proc, self.cache, log, [a.pattern for a in ALLOW])
        if not wait_mounted(path, proc):
            raise AssertionError("mount failed (exit %s):\n%s" % (proc.poll(), self.mnt.stderr()))

    def check_fresh_mount(self):
        """What another machine sees: a read-only mount with an empty cache reads the same
        files as the reference (through the read path: listings, ranges, the CDN)."""
        self.hub.clear_faults()
        keep_cache, keep_opts = self.cache, self.opts
        self.cache = os.path.join(self.dir, "cache-fresh")
        self.opts = ["ro", "poll=0"]
        try:
            self._mount()
            got = files_only(snapshot(self.mnt.path, skip_root=(".gitattributes",)))
            want = files_only(snapshot(self.ref))
            assert got == want, "a fresh mount differs from the reference:\n" + diff(got, want)
            self._unmount()
        finally:
            self.cache, self.opts = keep_cache, keep_opts

    def _unmount(self):
        rc = self.mnt.unmount(timeout=120)
        bad = self.mnt.bad_lines()
        assert rc == 0, "daemon exited %r:\n%s" % (rc, self.mnt.stderr()[-3000:])
        assert not bad, "daemon errors:\n" + "\n".join(bad)

    def teardown(self):
        """Commit everything; the Hub's tree must then equal the reference."""
        if self.mnt is None:
            return
        try:
            if self.mnt.proc.poll() is None:
                self.close_all()
                self.sync()
                self._unmount()
                self.check_fresh_mount()
        finally:
            self.cleanup()

    def cleanup(self):
        """Unmount and forget, whatever state the example left (no checks)."""
        if self.mnt is None:
            return
        for i, pair in enumerate(self.fds):
            self.fds[i] = None
            for fd in pair or ():
                try:
                    os.close(fd)
                except OSError:
                    pass
        if not self.mnt.unmounted:
            self.mnt.unmount()
        self.mnt = None
        self.hub.clear_faults()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------ helpers
    def m(self, p):
        return os.path.join(self.mnt.path, p)

    def r(self, p):
        return os.path.join(self.ref, p)

    def both(self, what, fn_m, fn_r):
        """Run an operation on both sides; results and errnos must be equal."""
        STATS["ops"] += 1
        got, want = outcome(fn_m), outcome(fn_r)
        if got[0] == "err":
            STATS["errnos"] += 1
        assert got == want, "%s: mount gave %r, reference gave %r" % (what, got, want)
        return got

    def check(self):
        assert self.mnt.proc.poll() is None, "daemon died:\n" + self.mnt.stderr()[-3000:]
        got = snapshot(self.mnt.path, skip_root=(".gitattributes",))
        want = snapshot(self.ref)
        assert got == want, "trees differ:\n" + diff(got, want)
        for i, pair in enumerate(self.fds):
            if pair and stat.S_ISREG(os.fstat(pair[1]).st_mode):
                a, b = os.fstat(pair[0]).st_size, os.fstat(pair[1]).st_size
                assert a == b, "slot %d: fstat size %d, reference %d" % (i, a, b)

    def check_hub(self):
        """The branch head holds exactly the reference's files, byte for byte (sha256 from
        the emulator's state: no download, so no fault meant for the daemon is used up)."""
        files = self.hub.state(self.repo)["files"]
        got = {p: (e["size"], e["sha256"]) for p, e in files.items() if p != ".gitattributes"}
        ref = files_only(snapshot(self.ref))
        want = {p: (len(d), hashlib.sha256(d).hexdigest()) for p, d in ref.items()}
        if got != want:
            self.hub.clear_faults()
            hub = {p: self.hub.download(self.repo, p) for p in got}
            raise AssertionError("Hub tree differs from the reference:\n" + diff(hub, ref))

    def _close_slot(self, i):
        pair = self.fds[i]
        self.fds[i] = None
        if not pair:
            return None
        return self.both("close slot %d" % i, lambda: os.close(pair[0]),
                         lambda: os.close(pair[1]))

    def close_all(self):
        for i in range(SLOTS):
            self._close_slot(i)

    # ------------------------------------------------------------ path operations
    @rule(path=path_st, data=data_st)
    def create(self, path, data):
        """open(O_WRONLY|O_CREAT|O_TRUNC) + write + close: what cp and editors do."""
        def go(p):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                return os.write(fd, data)
            finally:
                os.close(fd)
        self.both("create %s" % path, lambda: go(self.m(path)), lambda: go(self.r(path)))
        self.check()

    @rule(path=path_st, size=off_st)
    def truncate(self, path, size):
        self.both("truncate %s %d" % (path, size), lambda: os.truncate(self.m(path), size),
                  lambda: os.truncate(self.r(path), size))
        self.check()

    @rule(src=path_st, dst=path_st)
    def rename(self, src, dst):
        self.both("rename %s %s" % (src, dst), lambda: os.rename(self.m(src), self.m(dst)),
                  lambda: os.rename(self.r(src), self.r(dst)))
        self.check()

    @rule(path=path_st)
    def unlink(self, path):
        self.both("unlink %s" % path, lambda: os.unlink(self.m(path)),
                  lambda: os.unlink(self.r(path)))
        self.check()

    @rule(path=path_st)
    def mkdir(self, path):
        self.both("mkdir %s" % path, lambda: os.mkdir(self.m(path)),
                  lambda: os.mkdir(self.r(path)))
        self.check()

    @rule(path=path_st)
    def rmdir(self, path):
        self.both("rmdir %s" % path, lambda: os.rmdir(self.m(path)),
                  lambda: os.rmdir(self.r(path)))
        self.check()

    # ------------------------------------------------------------ descriptors
    @rule(slot=slot_st, path=path_st, flags=st.sampled_from(sorted(FLAGS)))
    def open(self, slot, path, flags):
        self._close_slot(slot)
        f = FLAGS[flags]
        a = outcome(lambda: os.open(self.m(path), f, 0o644))
        b = outcome(lambda: os.open(self.r(path), f, 0o644))
        if a[0] == "ok" and b[0] == "ok":
            self.fds[slot] = (a[1], b[1])
        else:
            for x in (a, b):
                if x[0] == "ok":
                    os.close(x[1])
            assert a == b, "open %s %s: mount gave %r, reference gave %r" % (path, flags, a, b)
        self.check()

    @rule(slot=slot_st, off=off_st, data=data_st)
    def pwrite(self, slot, off, data):
        pair = self.fds[slot]
        if not pair:
            return
        self.both("pwrite slot %d" % slot, lambda: os.pwrite(pair[0], data, off),
                  lambda: os.pwrite(pair[1], data, off))
        self.check()

    @rule(slot=slot_st, data=data_st)
    def write(self, slot, data):
        """write(2) at the descriptor's position (the end for O_APPEND)."""
        pair = self.fds[slot]
        if not pair:
            return
        self.both("write slot %d" % slot, lambda: os.write(pair[0], data),
                  lambda: os.write(pair[1], data))
        self.check()

    @rule(slot=slot_st, off=off_st, n=st.integers(0, 100))
    def pread(self, slot, off, n):
        pair = self.fds[slot]
        if not pair:
            return
        self.both("pread slot %d" % slot, lambda: os.pread(pair[0], n, off),
                  lambda: os.pread(pair[1], n, off))

    @rule(slot=slot_st, size=off_st)
    def ftruncate(self, slot, size):
        pair = self.fds[slot]
        if not pair:
            return
        self.both("ftruncate slot %d" % slot, lambda: os.ftruncate(pair[0], size),
                  lambda: os.ftruncate(pair[1], size))
        self.check()

    @rule(slot=slot_st)
    def fsync(self, slot):
        """fsync of a file commits now and returns the commit's result: must be 0."""
        pair = self.fds[slot]
        if not pair:
            return
        self.both("fsync slot %d" % slot, lambda: os.fsync(pair[0]), lambda: os.fsync(pair[1]))
        self.check()

    @rule(path=path_st)
    def fsync_dir(self, path):
        """fsync of a directory: asks for a commit, does not wait."""
        self.both("fsync dir %s" % path, lambda: fsync_dir(self.m(path)),
                  lambda: fsync_dir(self.r(path)))
        self.check()

    @rule(slot=slot_st)
    def close(self, slot):
        self._close_slot(slot)
        self.check()

    # ------------------------------------------------------------ the mount itself
    @rule()
    def sync(self):
        """hubmount sync: commit everything pending; then, when no descriptor is open, the
        Hub's tree must equal the reference."""
        STATS["syncs"] += 1
        r = subprocess.run([HUBMOUNT, "sync", self.mnt.path], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, "hubmount sync: %s%s" % (r.stdout, r.stderr)
        if not any(self.fds):
            self.check_hub()
        self.check()

    @rule()
    def remount(self):
        """Close everything, unmount (drains the commits), mount again on the same cache."""
        STATS["remounts"] += 1
        self.close_all()
        self._unmount()
        self._mount()
        self.check()

    @rule(kind=st.sampled_from(sorted(FAULTS)))
    def fault(self, kind):
        """One fault rule at a time (it replaces one not used up yet): stacked rules on one
        route make a persistent failure (e.g. 3 x 2 preupload 500s outlast the 6 tries of a
        request), which rightly reaches the program as EIO."""
        STATS["faults"] += 1
        self.hub.clear_faults()
        self.hub.add_faults(dict(FAULTS[kind]))


def model_settings(examples, steps):
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                    derandomize=not LONG, database=None, print_blob=True,
                    # CI reports a failure at once (a shrink would outlast its timeout)
                    phases=list(Phase) if LONG else [Phase.explicit, Phase.reuse,
                                                     Phase.generate],
                    verbosity=Verbosity.verbose if os.environ.get("HUBMOUNT_MODEL_VERBOSE")
                    else Verbosity.normal,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture
def model_env(emu, tmp_path, tmp_home):
    HubModel.ENV = Env(emu, str(tmp_path), tmp_home)
    yield HubModel.ENV
    HubModel.ENV = None


@pytest.mark.timeout(3600 * 8 if LONG else 300)
def test_model(model_env):
    t0 = time.monotonic()
    try:
        run_state_machine_as_test(HubModel, settings=model_settings(EXAMPLES or 40, STEPS or 30))
    finally:
        print("\nmodel: %s in %.0f s" % (", ".join("%d %s" % (v, k) for k, v in STATS.items()),
                                         time.monotonic() - t0))


# ---------------------------------------------------------------- regressions
# Sequences the model found, written out as plain tests.


@contextlib.contextmanager
def machine(delay=60):
    """A HubModel to drive by hand, as Hypothesis' report prints it; teardown() at the end
    (commit, compare the Hub with the reference, unmount)."""
    state = HubModel()
    try:
        state.setup(delay=delay)
        yield state
        state.teardown()
    finally:
        state.cleanup()


@pytest.mark.timeout(120)
def test_regression_emptied_committed_folder_survives_the_commit(model_env):
    """The last file of a committed folder deleted, then a commit (here: the unmount): the
    folder vanished from the view (the Hub has no empty folders).  POSIX keeps it until
    rmdir; a program writing into it next got ENOENT."""
    with machine(delay=1) as state:
        state.unlink(path="d/e/c")
        state.remount()
        state.create(path="d/e/a", data=b"again")
        state.unlink(path="d/e/a")
        state.rename(src="d/e", dst="e")  # the kept folder moves like any other
        state.sync()


@pytest.mark.timeout(120)
def test_regression_fstat_of_a_file_replaced_by_rename(model_env):
    """fstat of a descriptor whose file was replaced by rename(2) showed the size of the
    file now at that name, not of its own (getattr refreshed an unhashed node by path)."""
    with machine(delay=1) as state:
        state.open(flags="a", path="a", slot=0)
        state.rename(dst="a", src="d/b")
        state.write(data=b"\0", slot=0)
        state.pread(slot=0, off=0, n=100)
        state.close(slot=0)


@pytest.mark.timeout(120)
def test_regression_rmdir_of_a_directory_that_replaced_a_committed_file(model_env):
    """A committed file deleted (or moved away), a directory made at its name, then rmdir
    of that directory: EIO.  Its emptiness was checked by listing the commit's tree at
    that path, which the Hub answers with the file itself.  (Found by the long run in a
    sequence of 25 steps with faults; these are the steps that matter.)"""
    with machine(delay=60) as state:
        state.unlink(path="a")
        state.mkdir(path="a")
        state.rmdir(path="a")
        state.rename(dst="b", src="d/b")
        state.mkdir(path="d/b")
        state.mkdir(path="d/b/e")
        state.rmdir(path="d/b")
        state.rename(src="d/b", dst="e/d")
        state.rmdir(path="e/d/e")
        state.rmdir(path="e/d")


@pytest.mark.timeout(120)
def test_regression_folder_renamed_away_and_back(model_env):
    """A committed folder renamed away and back before the commit: its files were lost.
    The commit said `deletedFolder d/e` + `file d/e/c`, and the file was dropped as
    "identical content already there" (preupload compares with the parent commit, where
    the delete had not happened yet).  (Long run, 18 steps; shrunk by hand.)"""
    with machine(delay=60) as state:
        state.rename(dst="d/x", src="d/b")
        state.remount()
        state.rename(dst="d/b", src="d/e")
        state.rename(dst="d/e", src="d/b")
        state.remount()
        state.rename(src="e", dst="f")  # the same with an LFS file
        state.rename(src="f", dst="e")
        state.sync()


@pytest.mark.timeout(120)
def test_regression_rename_of_a_directory_that_replaced_a_committed_file(model_env):
    """A committed file moved away, a folder renamed to its name, then renamed again:
    EIO (the directory counted as a folder of the commit, whose tree was then listed)."""
    with machine(delay=60) as state:
        state.rename(dst="d/a", src="d/b")
        state.rename(dst="d/b", src="d/e")
        state.rename(dst="e/d", src="d/a")
        state.rename(dst="d/e", src="d/b")
        state.remount()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("truncate", [True, False])
def test_regression_folder_renamed_while_its_changed_file_is_committed(model_env, truncate):
    """A committed file truncated, the commit of that change under way (retried after a
    503), and its folder renamed meanwhile: the old bytes came back at the new name.
    rename listed the folder at the commit it saw, the commit landed while the listing
    was retried (503), the file's pending row left the index, and the file looked
    untouched: its OLD LFS object was reused at the new path.  Now the listing is sorted
    out after the pending files moved, and taken again when the commit moved under it.
    (Long run, as found; fails about 6 runs in 10 without the fix, timing; without the
    truncate it is the case a first fix broke.)"""
    with machine(delay=1) as state:
        state.create(data=b"xzy\n", path="d")
        state.truncate(path="d/a", size=1048552)
        state.fault(kind="commit-503")
        if truncate:
            state.truncate(path="e/a", size=58)
        state.open(flags="r", path="d", slot=1)
        state.unlink(path="d/e/c")
        state.unlink(path="d/e")
        state.truncate(path="d/a", size=1048536)
        state.rename(dst="a", src="d/e")
        state.fsync(slot=1)  # fsync of a directory: commit now, without waiting
        state.create(data=b"yy", path="d/b")
        state.fault(kind="tree-503")  # the rename's listing waits 1 s: the commit lands
        state.mkdir(path="e")
        state.open(flags="rwc", path="e/a", slot=2)
        state.rename(dst="d/e", src="e")
        state.remount()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("change", ["truncate", "unlink"])
def test_regression_folder_renamed_while_the_commit_of_its_change_lands(model_env, change):
    """The race above, made certain: the commit of a change to e/a is answered 1.5 s late,
    and the rename of e, started meanwhile, lists e at the commit before it, answered 3 s
    late.  That listing still has the old e/a while e/a's pending row has left the index:
    the old bytes came back at f/a (truncate), or the deleted file did (unlink)."""
    with machine(delay=60) as state:
        if change == "truncate":
            state.truncate(path="e/a", size=58)
        else:
            state.unlink(path="e/a")
        state.hub.clear_faults()
        state.hub.add_faults({"method": "POST", "path": "/commit/", "action": "latency",
                              "latency_ms": 1500, "count": 1})
        state.fsync_dir(path="d")  # commit now, without waiting
        # the next listing of e on the Hub is the rename's (the mount's own is cached)
        state.hub.add_faults({"method": "GET", "path": r"/tree/[0-9a-f]{40}/e$",
                              "action": "latency", "latency_ms": 3000, "count": 1})
        state.rename(src="e", dst="f")
        state.sync()


@pytest.mark.timeout(120)
def test_regression_folder_renamed_away_back_and_away(model_env):
    """A committed folder renamed away, back, and away again: it came back at its first
    name with its committed files.  The second rename left the folder delete of the first
    at e; the third found e hidden by it (not remote), and its delete of e without a
    remote folder there dropped that delete and recorded none.  (Long run, 200 examples of
    80 steps, in a sequence of 25 renames; shrunk by hand.)"""
    with machine(delay=60) as state:
        state.rename(src="e", dst="x")
        state.rename(src="x", dst="e")
        state.rename(src="e", dst="z")
        state.remount()
        state.rename(src="d/e", dst="y")  # the same with a regular file, then a commit
        state.rename(src="y", dst="d/e")
        state.rename(src="d/e", dst="d/x")
        state.sync()


@pytest.mark.timeout(120)
def test_regression_rmdir_of_a_folder_holding_a_directory_made_where_a_file_was(model_env):
    """A committed file deleted, a directory made at its name, then rmdir of its folder:
    0 instead of ENOTEMPTY, and both were gone.  The emptiness check found the file
    deleted here, and the directory was not among the local children (left to the read
    path, as for a folder of the commit).  (Long run, 300 examples of 60 steps; shrunk by
    hand from 11 steps.)"""
    with machine(delay=60) as state:
        state.unlink(path="e/a")
        state.mkdir(path="e/a")
        state.rmdir(path="e")
        state.rename(src="d", dst="e/a")  # a folder renamed over that (empty) directory
        state.sync()
