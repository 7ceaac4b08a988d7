"""Helpers shared by the reliability suites (test_faults.py, test_crash.py, test_hostile.py,
test_security.py): commit counting through the emulator's state, local trees compared with
the Hub's, killing a daemon, a watchdog for operations that must not hang."""
import hashlib
import os
import signal
import subprocess
import threading
import time

from conftest import wait_until

MiB = 1024 * 1024


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def head(hub, repo):
    return hub.state(repo)["head"]


def commits_after(hub, repo, base):
    """Commits on main newer than `base`, newest first."""
    out = []
    for sha in hub.state(repo)["commits"]:
        if sha == base:
            break
        out.append(sha)
    return out


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def make_tree(root, files):
    """files: {relpath: bytes} written under root."""
    for p, d in files.items():
        full = os.path.join(root, p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        write(full, d)


def hub_matches(hub, repo, files, prefix=""):
    """True when every path of `files` is on the Hub's main with exactly these bytes
    (compared by sha256 and size through the emulator's state)."""
    st = hub.state(repo)["files"]
    for p, d in files.items():
        e = st.get(prefix + p)
        if not e or e["size"] != len(d) or e["sha256"] != sha256(d):
            return False
    return True


def hub_mismatches(hub, repo, files, prefix=""):
    st = hub.state(repo)["files"]
    bad = []
    for p, d in files.items():
        e = st.get(prefix + p)
        if not e:
            bad.append((p, "missing"))
        elif e["size"] != len(d) or e["sha256"] != sha256(d):
            bad.append((p, "size %d sha %s != %d %s" % (e["size"], e["sha256"][:12], len(d),
                                                         sha256(d)[:12])))
    return bad


def kill9(m):
    """kill -9 the daemon of mount m, then lazily unmount what it left behind."""
    os.kill(m.proc.pid, signal.SIGKILL)
    m.proc.wait()
    subprocess.run(["fusermount3", "-u", "-z", m.path], stderr=subprocess.DEVNULL)
    m.unmounted = True


def rule_consumed(hub, marker):
    """True once the fault rule carrying `marker` (a unique latency_ms value) is gone, i.e.
    a request matched it: that request is now inside the emulator, its answer pending."""
    return not any(r.get("latency_ms") == marker for r in hub.json("GET", "/__emulator/faults"))


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Watchdog:
    """Fails the test if any single operation runs longer than `bound` seconds.

        with wd.op("read a.bin"):
            ...
    A stuck FUSE call never returns to Python, so the check runs in its own thread and
    records the operation (the test asserts wd.hung == [] after joining its workers)."""

    def __init__(self, bound):
        self.bound = bound
        self.lock = threading.Lock()
        self.running = {}
        self.hung = []
        self.longest = 0.0
        self.n_ops = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.5):
            now = time.monotonic()
            with self.lock:
                for key, (what, t0) in list(self.running.items()):
                    if now - t0 > self.bound:
                        self.hung.append("%s: over %d s" % (what, self.bound))
                        del self.running[key]

    def op(self, what):
        wd = self

        class _Op:
            def __enter__(self):
                self.key = object()
                with wd.lock:
                    wd.running[self.key] = (what, time.monotonic())
                return self

            def __exit__(self, *exc):
                with wd.lock:
                    item = wd.running.pop(self.key, None)
                    wd.n_ops += 1
                    if item:
                        wd.longest = max(wd.longest, time.monotonic() - item[1])
                return False
        return _Op()

    def close(self):
        self.stop.set()
        self.thread.join()


def wait_hub(hub, repo, files, timeout, prefix=""):
    return wait_until(lambda: hub_matches(hub, repo, files, prefix), timeout=timeout, interval=0.5)
