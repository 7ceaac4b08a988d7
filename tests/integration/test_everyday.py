"""Everyday use: a normal user mounting, mount(8)/fstab/systemd, the man page, logging,
upload progress and `hubmount status --json`, offline mode, reuse of the Hugging Face cache.

Tests that change the machine (a user, a symlink in /usr/local/bin, the mode of /dev/fuse)
run as root only, undo what they did, and skip elsewhere.
"""
import errno
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import time

import pytest

from conftest import HUBMOUNT, ROOT, TOKENS, seeded_bytes, wait_until

IS_ROOT = os.geteuid() == 0
MAN = os.path.join(ROOT, "docs", "hubmount.1")
SYSTEMD_DOC = os.path.join(ROOT, "docs", "systemd.md")


def hub_file(hub, repo, path):
    return hub.state(repo)["files"][path]


def content_requests(log):
    """Requests for file content: /resolve/ on the Hub and anything on the CDN."""
    return [e for e in log if e["origin"] == "cdn" or "/resolve/" in e["path"]]


def status_json(path):
    r = subprocess.run([HUBMOUNT, "status", "--json", path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def sync(path):
    r = subprocess.run([HUBMOUNT, "sync", path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def mount_table_has(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


# ---------------------------------------------------------------- man page, install

def render_man():
    """The man page as plain text, without hyphenation or line breaks inside words."""
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-rLL=250n", "-rHY=0", "-P", "-cbou",
                        MAN], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", "groff warnings:\n" + r.stderr
    return r.stdout


@pytest.mark.timeout(60)
@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_man_page_renders_and_documents_every_option(run_hubmount):
    text = render_man()
    if shutil.which("man"):
        r = subprocess.run(["man", "-l", MAN], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, MANPAGER="cat", MANWIDTH="100"))
        assert r.returncode == 0 and "EXIT STATUS" in r.stdout, r.stderr
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "COMMANDS", "ENVIRONMENT", "FILES",
                    "EXIT STATUS", "ERRORS", "LOGGING", "OFFLINE", "HUGGING FACE CACHE",
                    "FSTAB AND SYSTEMD", "EXAMPLES"):
        assert re.search(r"^%s$" % section, text, re.M), section
    help_text = run_hubmount(args=["--help"]).stdout
    opts = set(re.findall(r"-o ([a-z_]+)", help_text))
    flags = set(re.findall(r"^\s+(-[a-zA-Z]|--[a-z-]+)\b", help_text, re.M))
    flags |= set(re.findall(r"^\s+-[a-zA-Z]\s+(--[a-z-]+)", help_text, re.M))
    assert {"endpoint", "token_file", "hf_cache", "allow_other", "max_idle_threads"} <= opts
    assert {"-h", "--help", "-V", "-d", "-f", "-s"} <= flags
    for o in sorted(opts):
        assert re.search(r"\b%s\b" % re.escape(o), text), "option %s missing in the man page" % o
    for f in sorted(flags):
        assert f in text, "flag %s missing in the man page" % f
    for noise in re.findall(r"\b(_netdev|noauto|nofail|auto|users?|defaults|comment=|x-systemd)",
                            help_text):
        assert noise in text, noise
    exits = text.split("\nEXIT STATUS\n")[1].split("\nERRORS\n")[0]
    for code, _ in re.findall(r"^\s+(\d)\s+(.+)$", help_text.split("exit codes:")[1], re.M):
        assert re.search(r"^\s+%s\s+\S" % code, exits, re.M), "exit code %s" % code
    for var in ("HF_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HF_HOME",
                "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN", "XDG_CACHE_HOME"):
        assert var in text, var
    for e in ("ENOENT", "EACCES", "EROFS", "EPERM", "EIO", "ENOSPC", "ESTALE"):
        assert e in text, e
    assert "status --json" in text and "sync" in text


@pytest.mark.timeout(120)
def test_meson_install_puts_binary_and_man_page(tmp_path):
    if not os.path.isfile(os.path.join(ROOT, "build", "build.ninja")):
        pytest.skip("no meson build directory at build/")
    dest = tmp_path / "dest"
    r = subprocess.run(["meson", "install", "-C", os.path.join(ROOT, "build"), "--no-rebuild",
                        "--destdir", str(dest)], capture_output=True, text=True, timeout=100)
    assert r.returncode == 0, r.stdout + r.stderr
    found = {p.name: p for p in dest.rglob("*") if p.is_file()}
    assert "hubmount" in found and os.access(found["hubmount"], os.X_OK)
    assert found["hubmount"].parent.name == "bin"
    assert "hubmount.1" in found and found["hubmount.1"].parent.name == "man1"
    assert found["hubmount.1"].read_bytes() == open(MAN, "rb").read()


# ---------------------------------------------------------------- systemd

def doc_units():
    """(file name, text) of every ```ini block of docs/systemd.md (first line: # /path/NAME)."""
    units = []
    for block in re.findall(r"```ini\n(.*?)```", open(SYSTEMD_DOC).read(), re.S):
        first = block.splitlines()[0]
        assert first.startswith("# /"), first
        units.append((os.path.basename(first[2:].strip()), block))
    return units


@pytest.mark.timeout(60)
def test_systemd_units_in_the_docs_verify(tmp_path):
    units = doc_units()
    assert {"mnt-llama.mount", "hubmount-llama.service"} <= {n for n, _ in units}
    # the man page shows the same service
    assert "ExecStart=/usr/local/bin/hubmount acme/llama /mnt/llama -f" in render_man()
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the units were only parsed")
    paths = []
    for name, text in units:
        p = tmp_path / name
        # the binary must exist for verify: the build's stands in for the installed one
        p.write_text(text.replace("/usr/local/bin/hubmount", HUBMOUNT))
        paths.append(str(p))
    r = subprocess.run(["systemd-analyze", "verify"] + paths, capture_output=True, text=True,
                       timeout=50)
    assert r.returncode == 0, r.stdout + r.stderr
    # verify reports unknown keys and bad values on stderr but exits 0
    assert r.stderr.strip() == "", r.stderr


# ---------------------------------------------------------------- mount.fuse3, mount(8), fstab

def wait_unmounted(path, log_file, timeout=30):
    """The mount is gone and the detached daemon logged its exit."""
    def done():
        if mount_table_has(path):
            return False
        try:
            return "unmounting" in open(log_file).read()
        except OSError:
            return False
    return wait_until(done, timeout)


def bad_log_lines(log_file):
    return [line for line in open(log_file).read().splitlines()
            if re.search(r"hubmount error:|Sanitizer|runtime error:", line)]


@pytest.mark.timeout(90)
def test_mount_fuse3_runs_hubmount_from_path(hub, emu, repo_name, tmp_path, tmp_home):
    """mount.fuse3 (what mount -t fuse.hubmount and fstab run) finds hubmount on PATH."""
    helper = shutil.which("mount.fuse3") or "/sbin/mount.fuse3"
    if not os.path.exists(helper):
        pytest.skip("mount.fuse3 is not installed")
    if not IS_ROOT:
        pytest.skip("mount.fuse3 with a non-root user needs user options in fstab")
    hub.seed(repo_name, files={"a.txt": b"fstab\n"})
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(HUBMOUNT, str(bindir / "hubmount"))
    tok = tmp_path / "token"
    tok.write_text(TOKENS["write"] + "\n")
    tok.chmod(0o600)
    mnt, log = tmp_path / "mnt", str(tmp_path / "daemon.log")
    mnt.mkdir()
    opts = ",".join(["endpoint=" + emu.url, "token_file=" + str(tok),
                     "cache_dir=" + str(tmp_path / "cache"), "log_file=" + log, "commit_delay=60",
                     "_netdev", "nofail", "noauto", "x-systemd.automount"])
    env = {"PATH": "%s:/usr/sbin:/usr/bin:/sbin:/bin" % bindir, "HOME": tmp_home}
    r = subprocess.run([helper, repo_name, str(mnt), "-t", "fuse.hubmount", "-o", opts],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        assert mount_table_has(str(mnt))
        assert open(mnt / "a.txt", "rb").read() == b"fstab\n"
        (mnt / "b.txt").write_bytes(b"written through fstab\n")
        sync(str(mnt))
        assert "b.txt" in hub.state(repo_name)["files"]
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
    assert wait_unmounted(str(mnt), log), open(log).read()
    assert bad_log_lines(log) == []


@pytest.fixture
def installed_hubmount():
    """mount(8) runs its helper without PATH, so /bin/sh finds hubmount only in its default
    directories: a symlink to the build in /usr/local/bin, removed afterwards."""
    if not IS_ROOT:
        pytest.skip("mount(8) of a FUSE filesystem from an fstab needs root here")
    if shutil.which("mount") is None or not os.path.exists("/sbin/mount.fuse3"):
        pytest.skip("mount(8) or mount.fuse3 missing")
    link = "/usr/local/bin/hubmount"
    if os.path.lexists(link):
        if os.path.realpath(link) != os.path.realpath(HUBMOUNT):
            pytest.skip("%s is another hubmount; not replacing it" % link)
        yield link
        return
    os.makedirs("/usr/local/bin", exist_ok=True)
    os.symlink(HUBMOUNT, link)
    try:
        yield link
    finally:
        os.unlink(link)


@pytest.mark.timeout(120)
def test_mount_t_fuse_hubmount_and_an_fstab_file(hub, emu, repo_name, tmp_path,
                                                 installed_hubmount):
    hub.seed(repo_name, files={"a.txt": b"via mount(8)\n"})
    tok = tmp_path / "token"
    tok.write_text(TOKENS["write"] + "\n")
    tok.chmod(0o600)
    base = ["endpoint=" + emu.url, "token_file=" + str(tok), "cache_dir=" + str(tmp_path / "c")]

    # mount -t fuse.hubmount SOURCE DIR -o ...
    mnt, log = tmp_path / "m1", str(tmp_path / "m1.log")
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "fuse.hubmount", repo_name, str(mnt), "-o",
                        ",".join(base + ["log_file=" + log, "_netdev", "nofail"])],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        assert open(mnt / "a.txt", "rb").read() == b"via mount(8)\n"
        fields = [line.split() for line in open("/proc/self/mounts")
                  if line.split()[1] == str(mnt)][0]
        assert fields[0] == "hubmount:" + repo_name and fields[2] == "fuse.hubmount"
    finally:
        r = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert wait_unmounted(str(mnt), log)

    # an fstab line (in a file of our own, never /etc/fstab): mount -T FILE DIR
    mnt2, log2 = tmp_path / "m2", str(tmp_path / "m2.log")
    mnt2.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text("# test fstab\n%s %s fuse.hubmount %s 0 0\n" % (
        repo_name, mnt2, ",".join(base + ["log_file=" + log2, "_netdev", "noauto", "nofail",
                                          "x-systemd.automount", "x-systemd.idle-timeout=60"])))
    r = subprocess.run(["mount", "-T", str(fstab), str(mnt2)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        assert os.listdir(mnt2) == [".gitattributes", "a.txt"] or \
            sorted(os.listdir(mnt2)) == [".gitattributes", "a.txt"]
    finally:
        r = subprocess.run(["umount", str(mnt2)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert wait_unmounted(str(mnt2), log2)
    assert bad_log_lines(log) == [] and bad_log_lines(log2) == []


# ---------------------------------------------------------------- a normal user

USER = "hubmount-test"


@pytest.fixture
def normal_user(tmp_path):
    """A throw-away user with its home in a fresh directory under /tmp; /dev/fuse opened
    up to everyone as Debian's udev rule does (restored afterwards)."""
    if not IS_ROOT:
        pytest.skip("creating a user needs root")
    if shutil.which("useradd") is None or shutil.which("setpriv") is None:
        pytest.skip("useradd or setpriv missing")
    st = os.stat("/bin/fusermount3") if os.path.exists("/bin/fusermount3") else None
    if st is None or not st.st_mode & 0o4000 or st.st_uid != 0:
        pytest.skip("fusermount3 is not setuid root")
    top = "/tmp/hubmount-user-%d" % os.getpid()
    shutil.rmtree(top, ignore_errors=True)
    os.mkdir(top, 0o755)
    home = os.path.join(top, "home")
    subprocess.run(["userdel", "-r", USER], capture_output=True)
    r = subprocess.run(["useradd", "-m", "-d", home, "-s", "/bin/sh", USER], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    fuse_mode = os.stat("/dev/fuse").st_mode & 0o777
    if fuse_mode & 0o006 != 0o006:
        os.chmod("/dev/fuse", 0o666)
    pw = pwd.getpwnam(USER)
    try:
        yield pw
    finally:
        os.chmod("/dev/fuse", fuse_mode)
        subprocess.run(["userdel", "-r", USER], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def as_user(pw, args, env, **kw):
    cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--init-groups",
           "--"] + args
    return subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)


@pytest.mark.timeout(120)
def test_normal_user_mounts_writes_and_unmounts(hub, emu, repo_name, normal_user):
    pw = normal_user
    home = pw.pw_dir
    hub.seed(repo_name, files={"a.txt": b"for a user\n"},
             lfs_files={"w.bin": {"size": 300000, "seed": 7}})
    # the binary where the user can reach it (the build tree may sit under a private home)
    binary = os.path.join(home, "hubmount")
    shutil.copy(HUBMOUNT, binary)
    # the token where huggingface_hub keeps it: ~/.cache/huggingface/token
    tokdir = os.path.join(home, ".cache", "huggingface")
    os.makedirs(tokdir)
    with open(os.path.join(tokdir, "token"), "w") as f:
        f.write(TOKENS["write"])
    mnt = os.path.join(home, "mnt")
    os.mkdir(mnt)
    for dirpath, dirnames, filenames in os.walk(home):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)
    os.chmod(os.path.join(tokdir, "token"), 0o600)
    env = {"HOME": home, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"}
    errlog = os.path.join(home, "daemon.err")
    cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--init-groups", "--",
           binary, repo_name, mnt, "-f", "-o", "endpoint=%s,commit_delay=60,poll=0" % emu.url]
    with open(errlog, "w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
    try:
        assert wait_until(lambda: mount_table_has(mnt) or proc.poll() is not None, 20)
        assert mount_table_has(mnt), open(errlog).read()
        sh = ("set -e; cd %s; cat a.txt; sha256sum w.bin; stat -c '%%u:%%g %%a %%n' a.txt .; "
              "echo new > new.txt; mkdir d; cp w.bin d/copy.bin; echo more >> a.txt; "
              "stat -c '%%u:%%g %%n' new.txt d d/copy.bin; chmod 640 new.txt; "
              "stat -c 'mode %%a' new.txt; %s sync %s; cat new.txt" %
              (mnt, binary, mnt))
        r = as_user(pw, ["/bin/sh", "-c", sh], env, timeout=90)
        assert r.returncode == 0, r.stdout + r.stderr + open(errlog).read()
        want = hashlib.sha256(seeded_bytes(7, 300000)).hexdigest()
        assert "for a user" in r.stdout and want in r.stdout and "mode 640" in r.stdout
        owner = "%d:%d" % (pw.pw_uid, pw.pw_gid)
        for line in r.stdout.splitlines():
            if line.endswith((" a.txt", " .", " new.txt", " d", " d/copy.bin")):
                assert line.startswith(owner), line  # the mounting user owns everything
        files = hub.state(repo_name)["files"]
        assert {"new.txt", "d/copy.bin", "a.txt"} <= set(files)
        assert files["a.txt"]["size"] == len(b"for a user\nmore\n")
        # the cache went under the user's home, private to the user
        cache = os.path.join(home, ".cache", "hubmount")
        st = os.stat(cache)
        assert st.st_uid == pw.pw_uid and st.st_mode & 0o777 == 0o700
        assert os.path.exists(os.path.join(cache, "meta.db"))
        # without allow_other, not even root gets in: EACCES (the kernel's refusal of
        # another user), not EPERM
        with pytest.raises(OSError) as ei:
            os.listdir(mnt)
        assert ei.value.errno == errno.EACCES, ei.value
        r = as_user(pw, ["fusermount3", "-u", mnt], env, timeout=30)
        assert r.returncode == 0, r.stderr
        assert proc.wait(30) == 0, open(errlog).read()
    finally:
        if proc.poll() is None:
            as_user(pw, ["fusermount3", "-u", "-z", mnt], env, timeout=30)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    log = open(errlog).read()
    assert not re.search(r"hubmount error:|Sanitizer|runtime error:", log), log
    assert TOKENS["write"] not in log


# ---------------------------------------------------------------- logging

@pytest.mark.timeout(90)
def test_debug_log_has_commit_lines_and_never_the_token(hub, repo_name, mount, tmp_path):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    m = mount(repo_name, debug=True, opts=["commit_delay=60", "poll=0"])
    assert open(m.p("a.txt"), "rb").read() == b"a\n"
    with open(m.p("ckpt.bin"), "wb") as f:
        f.write(os.urandom(200000))
    with open(m.p("notes.txt"), "wb") as f:
        f.write(b"12345")
    os.unlink(m.p("a.txt"))
    sync(m.path)
    head = hub.state(repo_name)["head"]
    assert m.unmount() == 0
    log = m.stderr()
    assert "hubmount debug:" in log and "unique:" in log  # ours and libfuse's trace
    assert re.search(r"hubmount info: commit: %s on main: 2 file\(s\) added or changed, "
                     r"1 deleted, 200005 bytes" % head, log), log
    for secret in (TOKENS["write"], TOKENS["write"][3:]):
        assert secret not in log
        for dirpath, _, filenames in os.walk(m.cache_dir):  # nor in the cache
            for n in filenames:
                with open(os.path.join(dirpath, n), "rb") as f:
                    assert secret.encode() not in f.read(), n


@pytest.fixture
def dev_log():
    """A datagram socket at /dev/log standing in for the syslog daemon this machine lacks."""
    import socket
    if not IS_ROOT:
        pytest.skip("binding /dev/log needs root")
    if os.path.exists("/dev/log"):
        pytest.skip("a syslog daemon owns /dev/log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/dev/log")
    try:
        yield sock
    finally:
        sock.close()
        os.unlink("/dev/log")


@pytest.mark.timeout(60)
def test_daemon_logs_to_syslog(hub, emu, repo_name, tmp_path, tmp_home, dev_log):
    from conftest import daemon_env
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([HUBMOUNT, repo_name, str(mnt), "-o",
                        "endpoint=%s,cache_dir=%s,commit_delay=60" % (emu.url, tmp_path / "c")],
                       capture_output=True, text=True, timeout=30,
                       env=daemon_env(emu, TOKENS["write"], tmp_home))
    assert r.returncode == 0, r.stderr  # the parent returns once the daemon is mounted
    try:
        (mnt / "b.txt").write_bytes(b"b\n")
        sync(str(mnt))
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
    msgs, deadline = [], time.monotonic() + 20
    dev_log.settimeout(0.5)
    while time.monotonic() < deadline and not any("unmounting" in m for m in msgs):
        try:
            msgs.append(dev_log.recv(65536).decode(errors="replace"))
        except OSError:
            pass
    text = "\n".join(msgs)
    head = hub.state(repo_name)["head"]
    # <30> = facility daemon, level info; ident hubmount with the pid
    assert re.search(r"^<30>.*hubmount\[\d+\]: commit: %s on main: 1 file" % head, text, re.M), text
    assert "unmounting" in text and TOKENS["write"] not in text
    assert "mounting %s" % repo_name in r.stderr  # before detaching: the terminal


@pytest.mark.timeout(60)
def test_log_file_and_level(hub, repo_name, mount, tmp_path):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    info, warn = str(tmp_path / "info.log"), str(tmp_path / "warn.log")
    m1 = mount(repo_name, opts=["log_file=" + info])
    m2 = mount(repo_name, opts=["log_file=" + warn, "log_level=warn"])
    assert m1.unmount() == 0 and m2.unmount() == 0
    assert "hubmount info: mounting %s@main" % repo_name in open(info).read()
    assert "info:" not in open(warn).read()
    assert "mounting" not in m1.stderr()  # the file, not stderr
    r = subprocess.run([HUBMOUNT, repo_name, str(tmp_path), "-o", "log_level=loud"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "log_level" in r.stderr


# ---------------------------------------------------------------- progress and status

@pytest.mark.timeout(120)
def test_long_upload_reports_progress_in_log_and_status(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    size = 8 << 20
    saved = hub.json("GET", "/__emulator/config")
    hub.set_config(multipart_chunk_size=256 << 10)  # 32 parts ...
    hub.add_faults({"method": "PUT", "origin": "cdn", "action": "latency",
                    "latency_ms": 800})  # ... of ~0.8 s each, 4 at a time: ~6.4 s, a line
    # whenever bytes flow a second or more after the last one (~every 1.6 s)
    try:
        m = mount(repo_name, opts=["commit_delay=0", "commit_window=1", "progress=1", "poll=0"])
        before = status_json(m.path)
        assert before["mode"] == "read-write" and before["writable"] is True
        assert before["upload"] is None and before["pending"]["operations"] == 0
        data = os.urandom(size)
        with open(m.p("big.bin"), "wb") as f:
            f.write(data)
        seen = []

        def uploading():
            s = status_json(m.path)
            if s["upload"]:
                seen.append(s)
            return len(seen) >= 2 and seen[-1]["upload"]["bytes_sent"] > 0
        assert wait_until(uploading, 30, 0.3), seen
        up = seen[-1]["upload"]
        assert up["bytes_total"] == size and 0 < up["bytes_sent"] <= size
        assert up["files_total"] == 1 and seen[-1]["committing"] is True
        text = subprocess.run([HUBMOUNT, "status", m.path], capture_output=True, text=True,
                              timeout=30).stdout
        assert "uploading: " in text or "committing: " in text
        assert wait_until(lambda: status_json(m.path)["commits_since_mount"] == 1, 60)
        after = status_json(m.path)
        assert after["upload"] is None and after["pending"]["operations"] == 0
        assert after["last_commit"]["id"] == hub.state(repo_name)["head"]
        assert after["last_error"] is None
        log = m.stderr()
        lines = re.findall(r"hubmount info: upload progress: ([\d.]+) of 8\.0 MiB \((\d+)%\)",
                           log)
        assert len(lines) >= 2, log
        assert [int(p) for _, p in lines] == sorted(int(p) for _, p in lines)
        assert "upload done: 8.0 of 8.0 MiB (100%), 1 of 1 file(s)" in log
    finally:
        hub.clear_faults()
        hub.set_config(multipart_chunk_size=saved["multipart_chunk_size"])
    assert hub_file(hub, repo_name, "big.bin")["sha256"] == hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- offline

@pytest.mark.timeout(90)
def test_hf_hub_offline_serves_cache_without_requests_and_refuses_writes(hub, repo_name, mount,
                                                                         tmp_path):
    hub.seed(repo_name, files={"a.txt": b"cached\n", "b.txt": b"never read\n",
                               "sub/c.txt": b"c\n"})
    cache = str(tmp_path / "cache")
    m1 = mount(repo_name, cache_dir=cache)
    assert open(m1.p("a.txt"), "rb").read() == b"cached\n"
    assert m1.unmount() == 0
    hub.clear_log()
    m2 = mount(repo_name, cache_dir=cache, env={"HF_HUB_OFFLINE": "1"})
    assert sorted(os.listdir(m2.path)) == [".gitattributes", "a.txt", "b.txt", "sub"]
    assert open(m2.p("a.txt"), "rb").read() == b"cached\n"
    with pytest.raises(OSError) as ei:  # listed, never read
        open(m2.p("b.txt"), "rb").read()
    assert ei.value.errno == errno.EIO
    with pytest.raises(OSError) as ei:  # a directory never listed
        os.stat(m2.p("sub/c.txt"))
    assert ei.value.errno == errno.ENOENT
    for fn in (lambda: open(m2.p("new.txt"), "wb"),
               lambda: open(m2.p("a.txt"), "ab"),
               lambda: os.mkdir(m2.p("d")),
               lambda: os.unlink(m2.p("a.txt")),
               lambda: os.rename(m2.p("a.txt"), m2.p("z.txt"))):
        with pytest.raises(OSError) as ei:
            fn()
        assert ei.value.errno == errno.EROFS
    s = status_json(m2.path)
    assert s["mode"] == "offline" and s["writable"] is False
    assert hub.log() == []  # not one request, not even whoami


# ---------------------------------------------------------------- Hugging Face cache

def lay_out_hf_cache(hub_dir, repo, head, files, corrupt=(), wrong_size=()):
    """What huggingface_hub leaves after downloading: blobs/<etag>, snapshots/<commit>/<path>
    as relative symlinks to the blob, refs/main holding the commit."""
    folder = os.path.join(hub_dir, "models--" + repo.replace("/", "--"))
    os.makedirs(os.path.join(folder, "blobs"), exist_ok=True)
    os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
    with open(os.path.join(folder, "refs", "main"), "w") as f:
        f.write(head)
    blobs = {}
    for path, (meta, data) in files.items():
        etag = meta["sha256"] if meta["lfs"] else meta["oid"]
        if path in corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]  # same size, wrong bytes
        if path in wrong_size:
            data = data + b"\n"
        blob = os.path.join(folder, "blobs", etag)
        with open(blob, "wb") as f:
            f.write(data)
        link = os.path.join(folder, "snapshots", head, path)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(blob, os.path.dirname(link)), link)
        blobs[path] = blob
    return blobs


@pytest.mark.timeout(90)
def test_hf_cache_content_is_served_without_downloading(hub, repo_name, mount, tmp_home):
    small = {"config.json": b'{"hidden": 64}\n', "tokenizer.json": b'{"v": [1, 2, 3]}\n',
             "vocab.txt": b"a\nb\nc\n"}
    lfs = {"model.safetensors": (1 << 20) + 5, "shard.bin": 70000}
    hub.seed(repo_name, files=small,
             lfs_files={p: {"size": n, "seed": i} for i, (p, n) in enumerate(sorted(lfs.items()))})
    st = hub.state(repo_name)
    data = dict(small)
    data.update({p: seeded_bytes(i, n) for i, (p, n) in enumerate(sorted(lfs.items()))})
    assert st["files"]["model.safetensors"]["lfs"] and not st["files"]["config.json"]["lfs"]
    # the default place: $HF_HOME/hub (HF_HOME is <home>/.hf for the daemon)
    hub_dir = os.path.join(tmp_home, ".hf", "hub")
    blobs = lay_out_hf_cache(hub_dir, repo_name, st["head"],
                             {p: (st["files"][p], data[p]) for p in data},
                             corrupt={"tokenizer.json", "shard.bin"}, wrong_size={"vocab.txt"})
    before = {p: open(b, "rb").read() for p, b in blobs.items()}
    hub.clear_log()
    m = mount(repo_name, opts=["poll=0"], allow=[r"does not match its name"])
    for p in data:
        assert open(m.p(p), "rb").read() == data[p], p
    fetched = content_requests(hub.log())
    fetched_paths = {e["path"].split("/resolve/")[1].split("/", 1)[1]
                     for e in fetched if "/resolve/" in e["path"]}
    # good blobs served from the HF cache; corrupted or wrong-sized ones downloaded
    assert fetched_paths == {"tokenizer.json", "shard.bin", "vocab.txt"}, fetched
    log = m.stderr()
    assert log.count("does not match its name") == 2, log
    # the HF cache is read, never changed
    assert {p: open(b, "rb").read() for p, b in blobs.items()} == before
    # a remount reads the same files again without any content request
    assert m.unmount() == 0
    hub.clear_log()
    m2 = mount(repo_name, opts=["poll=0", "no_hf_cache"], cache_dir=m.cache_dir)
    assert open(m2.p("config.json"), "rb").read() == data["config.json"]
    assert {e["path"].rsplit("/", 1)[1] for e in content_requests(hub.log())} == {"config.json"}
    assert m2.unmount() == 0
    hub.clear_log()
    m3 = mount(repo_name, opts=["poll=0", "hf_cache=" + hub_dir], cache_dir=m.cache_dir,
               allow=[r"does not match its name"])
    assert open(m3.p("model.safetensors"), "rb").read() == data["model.safetensors"]
    assert content_requests(hub.log()) == []


# ---------------------------------------------------------------- README recipes

@pytest.mark.timeout(90)
@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_rsync_out_of_the_mount_twice_copies_nothing_the_second_time(hub, repo_name, mount,
                                                                     tmp_path):
    hub.seed(repo_name, files={"run/a.txt": b"a\n", "run/sub/b.json": b"{}\n"},
             lfs_files={"run/w.bin": {"size": 200000, "seed": 3}})
    m = mount(repo_name, opts=["poll=0"])
    out = tmp_path / "copy"
    r = subprocess.run(["rsync", "-a", m.p("run") + "/", str(out) + "/"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (out / "w.bin").read_bytes() == seeded_bytes(3, 200000)
    assert (out / "sub" / "b.json").read_bytes() == b"{}\n"
    hub.clear_log()
    r = subprocess.run(["rsync", "-a", "--itemize-changes", m.p("run") + "/", str(out) + "/"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr
    assert content_requests(hub.log()) == []
