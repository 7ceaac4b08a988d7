"""Security (docs/reliability.md): the token never appears in argv, /proc/PID/cmdline, the logs
(debug level), the SQLite cache, staging files or any request to the CDN; cache and staging are
0700/0600 whatever the umask; a second local user reads nothing of a private repo's cache and
cannot enter the mount; with allow_other the kernel checks the modes (default_permissions);
TLS verification is on and a self-signed server is refused with a clear message."""
import errno
import glob
import os
import pwd
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import HUBMOUNT, ROOT, SANITIZER_LINE, TOKENS, daemon_env, seeded_bytes, \
    wait_mounted
from relhelp import MiB, read, write

PY = "/usr/bin/python3"
SLOW = ["commit_delay=60", "commit_window=120", "poll=0"]


# ---------------------------------------------------------------- helpers

class Daemon:
    """A mount started by hand where the mount point and cache must be reachable by another
    user (the conftest factory keeps both in pytest's private tmp directory)."""

    def __init__(self, emu, source, base, opts=(), token=TOKENS["write"], home=None):
        self.path = os.path.join(base, "mnt")
        self.cache = os.path.join(base, "cache")
        self.log_path = os.path.join(base, "hubmount.log")
        os.makedirs(self.path, exist_ok=True)
        home = home or os.path.join(base, "home")
        os.makedirs(home, exist_ok=True)
        o = ["endpoint=" + emu.url, "cache_dir=" + self.cache] + list(opts)
        with open(self.log_path, "w") as err:
            self.proc = subprocess.Popen([HUBMOUNT, source, self.path, "-f", "-o", ",".join(o)],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         env=daemon_env(emu, token, home))
        if not wait_mounted(self.path, self.proc):
            raise AssertionError("mount failed:\n" + self.log())

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        subprocess.run(["fusermount3", "-u", "-z", self.path], stderr=subprocess.DEVNULL)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        assert not SANITIZER_LINE.search(self.log())
        return rc


@pytest.fixture
def shared_base(request):
    """A directory other users can traverse (0755), removed afterwards.  Every daemon
    put in `daemons` is stopped and must have exited 0 (when the test passed), also one
    the test stopped itself."""
    base = tempfile.mkdtemp(prefix="hm-sec-", dir="/tmp")
    os.chmod(base, 0o755)
    daemons = []
    yield base, daemons
    problems = []
    for d in daemons:
        rc = d.stop()  # stop() of a daemon already gone returns its exit status
        if rc != 0:
            problems.append("daemon for %s exited %r:\n%s" % (d.path, rc, d.log()[-3000:]))
    shutil.rmtree(base, ignore_errors=True)
    if problems and getattr(request.node, "hm_call", "failed") == "passed":
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def other_user():
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd")
    name = "hmsec%d" % os.getpid()
    r = subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("useradd failed: " + r.stderr)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


PROBE = r"""
import os, sys
for probe in sys.argv[1:]:
    what, _, p = probe.partition(":")
    try:
        if what == "list":
            os.listdir(p)
        elif what == "stat":
            os.stat(p)
        elif what == "write":
            with open(p, "wb") as f:
                f.write(b"intruder")
        else:
            with open(p, "rb") as f:
                f.read(1)
        print("OK", probe)
    except OSError as e:
        print("ERR%d" % e.errno, probe)
"""


def as_user(pw, *probes):
    """Runs PROBE as the other user; returns {"what:path": "OK" | "ERR<errno>"}."""
    r = subprocess.run([PY, "-c", PROBE] + list(probes), user=pw.pw_uid, group=pw.pw_gid,
                       extra_groups=[], capture_output=True, text=True, timeout=60,
                       cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        res, _, p = line.partition(" ")
        out[p] = res
    return out


def all_files(root):
    for d, dns, fns in os.walk(root):
        yield d, True
        for n in fns:
            yield os.path.join(d, n), False


# ---------------------------------------------------------------- token hygiene

@pytest.mark.timeout(120)
def test_token_never_leaves_the_process(hub, repo_name, mount, tmp_path, emu):
    token = TOKENS["write"].encode()
    hub.seed(repo_name, files={"a.txt": b"a"}, lfs_files={"w.bin": {"size": 2 * MiB, "seed": 80}})
    hub.set_repo(repo_name, private=True)
    hub.clear_log()
    m = mount(repo_name, opts=SLOW + ["log_level=debug"])
    with open("/proc/%d/cmdline" % m.proc.pid, "rb") as f:
        assert token not in f.read()
    assert read(m.p("w.bin")) == seeded_bytes(80, 2 * MiB)  # CDN download
    write(m.p("up.bin"), os.urandom(3 * MiB))                # CDN upload (LFS)
    write(m.p("small.txt"), b"small")
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    write(m.p("pending.txt"), b"stays pending: a staging file and a journal row")
    held = open(m.p("open.bin"), "wb")  # a staging file being written
    held.write(b"x" * 1000)
    held.flush()
    try:
        for p, is_dir in all_files(m.cache_dir):
            if not is_dir:
                with open(p, "rb") as f:
                    assert token not in f.read(), p
        assert token not in m.stderr().encode()
        log = hub.log()
        cdn = [e for e in log if e["origin"] == "cdn"]
        assert any(e["method"] == "PUT" for e in cdn) and any(e["method"] == "GET" for e in cdn)
        assert not any(e["auth"] for e in cdn)
        assert not any(TOKENS["write"] in (e["query"] or "") for e in log)
    finally:
        held.close()
    # token_file: the file's path is in argv, its content is not
    tf = tmp_path / "tokenfile"
    tf.write_text(TOKENS["write"] + "\n")
    m2 = mount(repo_name, token=None, opts=SLOW + ["token_file=" + str(tf)])
    with open("/proc/%d/cmdline" % m2.proc.pid, "rb") as f:
        cmd = f.read()
    assert str(tf).encode() in cmd and token not in cmd
    assert read(m2.p("a.txt")) == b"a"  # authenticated: the repo is private


# ---------------------------------------------------------------- private cache and staging

@pytest.mark.timeout(120)
def test_cache_and_staging_are_private_whatever_the_umask(hub, repo_name, mount, tmp_path):
    hub.seed(repo_name, files={"a.txt": b"a"}, lfs_files={"w.bin": {"size": MiB, "seed": 81}})
    cache = str(tmp_path / "loose" / "cache")
    old = os.umask(0)
    try:
        m = mount(repo_name, opts=SLOW, cache_dir=cache)
    finally:
        os.umask(old)
    read(m.p("a.txt"))
    read(m.p("w.bin"))
    write(m.p("pending.bin"), b"p" * 5000)
    held = open(m.p("open.txt"), "wb")
    held.write(b"o")
    held.flush()
    try:
        seen = {"dirs": 0, "files": 0}
        for p, is_dir in all_files(cache):
            mode = os.stat(p).st_mode & 0o777
            if is_dir:
                seen["dirs"] += 1
                assert mode & 0o077 == 0, "%s is %o" % (p, mode)
            else:
                seen["files"] += 1
                assert mode & 0o077 == 0, "%s is %o" % (p, mode)
        assert os.stat(cache).st_mode & 0o777 == 0o700
        assert glob.glob(os.path.join(cache, "**", "staging"), recursive=True)
        assert seen["files"] >= 4  # database (+wal/shm), content blocks, staging files
    finally:
        held.close()


@pytest.mark.timeout(120)
def test_other_user_reads_nothing_of_a_private_repo(hub, emu, repo_name, shared_base,
                                                    other_user):
    base, daemons = shared_base
    secret = b"secret weights\n"
    hub.seed(repo_name, files={"secret.txt": secret, "cfg/c.json": b"{}"},
             lfs_files={"w.bin": {"size": MiB, "seed": 82}})
    hub.set_repo(repo_name, private=True)
    d = Daemon(emu, repo_name, base, opts=SLOW)
    daemons.append(d)
    assert read(d.p("secret.txt")) == secret
    read(d.p("w.bin"))
    os.listdir(d.p("cfg"))
    write(d.p("staged.txt"), b"staged secret\n")  # pending: a staging file
    probes = []
    for p, is_dir in all_files(d.cache):
        probes.append(("list:" if is_dir else "read:") + p)
    probes += ["stat:" + d.path, "list:" + d.path, "read:" + d.p("secret.txt")]
    res = as_user(other_user, *probes)
    assert len(res) == len(probes)
    allowed = {p: r for p, r in res.items() if r == "OK"}
    assert allowed == {}, allowed
    # without allow_other the mount refuses every other user outright
    assert res["stat:" + d.path] == "ERR%d" % errno.EACCES


@pytest.mark.timeout(120)
def test_allow_other_applies_default_permissions(hub, emu, repo_name, shared_base, other_user):
    base, daemons = shared_base
    hub.seed(repo_name, files={"public.txt": b"shared\n", "private.txt": b"mine\n"})
    base_head = hub.state(repo_name)["head"]
    d = Daemon(emu, repo_name, base, opts=SLOW + ["allow_other"])
    daemons.append(d)
    os.chmod(d.p("private.txt"), 0o600)
    res = as_user(other_user, "read:" + d.p("public.txt"), "read:" + d.p("private.txt"),
                  "write:" + d.p("public.txt"), "write:" + d.p("intruder.txt"))
    # the 0644 file reads; the 0600 one and every write are refused by the kernel
    eacces = "ERR%d" % errno.EACCES
    assert res == {"read:" + d.p("public.txt"): "OK", "read:" + d.p("private.txt"): eacces,
                   "write:" + d.p("public.txt"): eacces, "write:" + d.p("intruder.txt"): eacces}
    assert not os.path.exists(d.p("intruder.txt"))
    r = subprocess.run([HUBMOUNT, "status", d.path], capture_output=True, text=True, timeout=30)
    assert "pending: 0 operation(s)" in r.stdout
    assert hub.state(repo_name)["head"] == base_head
    assert d.stop() == 0


@pytest.mark.timeout(60)
def test_allow_other_is_off_by_default(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"a"})
    m = mount(repo_name, opts=["poll=0"])
    with open("/proc/self/mountinfo") as f:
        line = [ln for ln in f if " %s " % m.path in ln][0]
    super_opts = line.split(" - ")[1].split()[2].split(",")
    assert "allow_other" not in super_opts
    assert "default_permissions" in super_opts


# ---------------------------------------------------------------- TLS

def test_tls_verification_is_never_disabled_in_the_source():
    bad = re.compile(r"CURLOPT_SSL_VERIFY(PEER|HOST|STATUS)\s*,\s*0|CURLSSLOPT_NO_REVOKE|"
                     r"CURLOPT_PROXY_SSL_VERIFY(PEER|HOST)\s*,\s*0")
    for src in glob.glob(os.path.join(ROOT, "hub", "*.c")) + \
            glob.glob(os.path.join(ROOT, "fs", "*.c")):
        with open(src) as f:
            assert not bad.search(f.read()), src
    r = subprocess.run([HUBMOUNT, "--help"], capture_output=True, text=True, timeout=30)
    assert not re.search(r"insecure|no_?verify|ssl_?verify", r.stdout + r.stderr, re.I)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


@pytest.mark.timeout(120)
def test_self_signed_tls_server_is_refused(tmp_path, tmp_home):
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI missing")
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "https://127.0.0.1:%d" % srv.server_address[1]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        env = daemon_env(None, TOKENS["write"], tmp_home)
        r = subprocess.run([HUBMOUNT, "acme/x", str(mnt), "-f", "-o",
                            "endpoint=%s,cache_dir=%s" % (url, tmp_path / "cache")],
                           capture_output=True, text=True, timeout=60, env=env)
    finally:
        srv.shutdown()
        srv.server_close()
        if os.path.ismount(str(mnt)):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)])
    assert r.returncode == 5, r.stderr  # HM_EXIT_NETWORK: the Hub cannot be reached
    assert not os.path.ismount(str(mnt))
    assert "TLS certificate of %s is not trusted" % url in r.stderr, r.stderr
    assert TOKENS["write"] not in r.stderr
    assert not SANITIZER_LINE.search(r.stderr)
