"""Fixtures for the FUSE integration tests: a Hub emulator and real hubmount mounts.

Shared by the read and write suites.  What they give:

  emu            the running emulator (session-wide; hubclient.Emulator)
  hub            control client (no token): seed(), log(), clear_log(), add_faults(), state()
  repo_name      a fresh repo id per test: "acme/t<N>-<testname>"
  mount          factory: mount(source, token=..., opts=[...], cache_dir=..., allow=[regex])
                 -> Mount(path, proc, cache_dir, ...); unmounted at teardown, and every
                 daemon, alive or already gone, must then have exited 0 (when the test
                 passed) and have printed no unexpected "error:" line.  A daemon the test
                 killed with SIGKILL (os.kill / Popen.kill / relhelp.kill9 on its pid: the
                 fixture sees every signal sent through os.kill) may have exited
                 -SIGKILL; any other exit the test means must be declared with
                 m.expect_exit(code).
  run_hubmount   run the binary to completion (start-up errors, --help): CompletedProcess

Tokens (CONFIG): alice is admin of org acme; bob is in no org.
  TOKENS["write"] alice's write token, TOKENS["read"] alice's read token,
  TOKENS["bob"] bob's write token, TOKENS["invalid"] unknown to the emulator.
"""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "hubsim"))

from hubclient import Client, Emulator, seeded_bytes  # noqa: E402,F401

HUBMOUNT = os.environ.get("HUBMOUNT_BIN", os.path.join(ROOT, "build", "hubmount"))


def _sanitized():
    """ASan keeps freed memory in quarantine: RSS bounds mean nothing then."""
    try:
        with open(HUBMOUNT, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized()

TOKENS = {
    "write": "hf_alice_write",
    "read": "hf_alice_read",
    "bob": "hf_bob_write",
    "invalid": "hf_not_a_token_at_all",
}

CONFIG = {
    "users": [{"name": "alice", "orgs": {"acme": "admin"}},
              {"name": "bob", "orgs": {}}],
    "tokens": [{"token": TOKENS["write"], "user": "alice", "role": "write"},
               {"token": TOKENS["read"], "user": "alice", "role": "read"},
               {"token": TOKENS["bob"], "user": "bob", "role": "write"}],
}

# Daemon stderr lines that fail a test unless allow-listed.
BAD_LINE = re.compile(r"hubmount error:|AddressSanitizer|LeakSanitizer|runtime error:")
# Sanitizer reports (HUBMOUNT_BIN built with -Db_sanitize=address,undefined):
# they fail a test always, also for runs expected to fail (run_hubmount).
SANITIZER_LINE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:")


def pytest_runtest_makereport(item, call):
    """Remember each phase's outcome on the item so fixtures know if the test passed."""
    outcome = "passed"
    if call.excinfo is not None:
        outcome = "failed"
    setattr(item, "hm_" + call.when, outcome)


def running_emulator():
    """A started emulator for a fixture to yield from (stopped when the fixture ends)."""
    if not os.path.exists(HUBMOUNT):
        pytest.fail("%s is missing: build first (ninja -C build)" % HUBMOUNT)
    e = Emulator(config=CONFIG).start()
    yield e
    e.cleanup()


@pytest.fixture(scope="session")
def emu():
    yield from running_emulator()


@pytest.fixture
def hub(emu):
    c = Client(emu.url)
    c.clear_faults()
    c.set_config(page_size={"tree": 1000, "commits": 50, "repos": 1000, "paths_info_max": 1000})
    yield c
    c.clear_faults()


_counter = [0]


@pytest.fixture
def repo_name(request):
    _counter[0] += 1
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40].strip("-")
    return "acme/t%d-%s" % (_counter[0], name)


@pytest.fixture
def tmp_home(tmp_path):
    """A HOME without tokens or caches, so the environment never leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    return str(home)


def daemon_env(emu, token, home):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME",
                        "HF_ENDPOINT", "XDG_CACHE_HOME")}
    env["HOME"] = home
    env["HF_HOME"] = os.path.join(home, ".hf")
    if token is not None:
        env["HF_TOKEN"] = token
    return env


class Mount:
    def __init__(self, path, proc, cache_dir, stderr_path, allow):
        self.path = path
        self.proc = proc
        self.cache_dir = cache_dir
        self.stderr_path = stderr_path
        self.allow = [re.compile(a) for a in allow]
        self.unmounted = False
        self.expected_exit = {0}  # exit statuses teardown accepts (see expect_exit)
        self.signals = []         # signals the test sent to the daemon through os.kill

    def expect_exit(self, *codes):
        """Declare the daemon's exit status(es) this test means to cause (e.g. 1, or
        -signal.SIGKILL); teardown accepts them instead of only 0."""
        self.expected_exit = set(codes)

    def accepted_exits(self):
        ok = set(self.expected_exit)
        if signal.SIGKILL in self.signals:
            ok.add(-signal.SIGKILL)  # killed on purpose; a crash is never SIGKILL
        return ok

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def unmount(self, timeout=20):
        """fusermount3 -u -z, then wait for the daemon; returns its exit code."""
        if not self.unmounted:
            subprocess.run(["fusermount3", "-u", "-z", self.path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.unmounted = True
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None

    def bad_lines(self):
        out = []
        for line in self.stderr().splitlines():
            if BAD_LINE.search(line) and not any(a.search(line) for a in self.allow):
                out.append(line)
        return out


def wait_mounted(path, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@pytest.fixture
def mount(emu, tmp_path, tmp_home, request, monkeypatch):
    """Factory: mount(source, token=TOKENS["write"], opts=(), cache_dir=None, allow=(),
    debug=False, env={extra variables})."""
    mounts = []
    n = [0]
    real_kill = os.kill

    def kill(pid, sig):
        # Remember what the test sent to which daemon: a SIGKILL it sent explains
        # an exit status of -9 at teardown, nothing else does.
        for mm in mounts:
            if mm.proc.pid == pid and mm.proc.returncode is None:
                mm.signals.append(sig)
        return real_kill(pid, sig)
    monkeypatch.setattr(os, "kill", kill)

    def make(source, token=TOKENS["write"], opts=(), cache_dir=None, allow=(), debug=False,
             env=None):
        n[0] += 1
        path = str(tmp_path / ("mnt%d" % n[0]))
        os.mkdir(path)
        cache = cache_dir or str(tmp_path / ("cache%d" % n[0]))
        stderr_path = str(tmp_path / ("hubmount%d.log" % n[0]))
        o = ["endpoint=" + emu.url, "cache_dir=" + cache] + list(opts)
        args = [HUBMOUNT, source, path, "-f", "-o", ",".join(o)]
        if debug:
            args.append("-d")
        with open(stderr_path, "w") as err:
            denv = daemon_env(emu, token, tmp_home)
            denv.update(env or {})  # extra variables (HF_HUB_OFFLINE...)
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    env=denv)
        m = Mount(path, proc, cache, stderr_path, allow)
        mounts.append(m)
        if not wait_mounted(path, proc):
            raise AssertionError("mount of %s failed (exit %s):\n%s"
                                 % (source, proc.poll(), m.stderr()))
        return m

    yield make

    passed = getattr(request.node, "hm_call", "failed") == "passed"
    problems = []
    for m in mounts:
        rc = m.unmount()  # the exit status also of a daemon that is already gone
        if passed and rc not in m.accepted_exits():
            problems.append("daemon for %s exited %r (accepted: %s):\n%s"
                            % (m.path, rc, sorted(m.accepted_exits()), m.stderr()))
        bad = m.bad_lines()
        if passed and bad:
            problems.append("unexpected daemon errors for %s:\n%s" % (m.path, "\n".join(bad)))
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def run_hubmount(emu, tmp_path, tmp_home):
    """Run hubmount to completion: run_hubmount(source, token=..., opts=(), args=())."""
    def run(source=None, token=TOKENS["write"], opts=(), args=(), timeout=60):
        cmd = [HUBMOUNT]
        if source is not None:
            mnt = tmp_path / "mnt-run"
            mnt.mkdir(exist_ok=True)
            o = ["endpoint=" + emu.url, "cache_dir=" + str(tmp_path / "cache-run")] + list(opts)
            cmd += [source, str(mnt), "-f", "-o", ",".join(o)]
        cmd += list(args)
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, env=daemon_env(emu, token, tmp_home))
        finally:
            # Always, even after a timeout: a dead FUSE mount is not os.path.ismount(),
            # and it must not outlive the test.
            if source is not None:
                subprocess.run(["fusermount3", "-u", "-z", str(tmp_path / "mnt-run")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if SANITIZER_LINE.search(proc.stderr or ""):
            pytest.fail("sanitizer report from %s:\n%s" % (" ".join(cmd[1:2]), proc.stderr))
        return proc
    return run


def fsync_dir(path):
    """fsync of a directory (on a hubmount mount: asks for a commit now, does not wait)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path, bufsize=1 << 20):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def wait_until(pred, timeout=15.0, interval=0.2):
    """Poll pred() until it is true (returns True) or timeout passes (returns False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
