"""Read path through real FUSE mounts against hubsim: listing, stat, content, revisions,
start-up errors, xattrs, the warm metadata cache, branch polling, clean unmounts."""
import errno
import hashlib
import mmap
import os
import signal
import stat
import subprocess
import time

import pytest

from conftest import SANITIZED, TOKENS, seeded_bytes, sha256_file, wait_until

MiB = 1024 * 1024

SMALL = {
    "README.md": b"# tiny\nhello from hubsim\n",
    "config.json": b'{"hidden_size": 8, "layers": 2}\n',
    "empty.txt": b"",
    "src/a.py": b"print('a')\n",
    "src/pkg/b.py": b"print('b')\n" * 100,
    "src/pkg/deep/c.txt": b"deep\n",
    "data/x/1.txt": b"one\n",
    "data/x/2.txt": b"two\n",
    "data/y/3.txt": bytes(range(256)) * 40,
    "name with space.txt": b"spaces\n",
}
SMALL.update({"many/f%02d.txt" % i: (b"file %d\n" % i) * (i + 1) for i in range(25)})
LFS = {
    "weights/model.safetensors": {"size": 3 * MiB + 123, "seed": 1},
    "weights/big.bin": {"size": 20 * MiB, "seed": 2},
}


def expected_bytes(path):
    if path in SMALL:
        return SMALL[path]
    spec = LFS[path]
    return seeded_bytes(spec["seed"], spec["size"])


@pytest.fixture
def nested(hub, repo_name):
    """A repo with nested folders, small files and two LFS files; returns its state."""
    hub.seed(repo_name, files=SMALL, lfs_files=LFS)
    return hub.state(repo_name)


def walk(root):
    files, dirs = set(), set()
    for d, dns, fns in os.walk(root):
        rel = os.path.relpath(d, root)
        for n in dns:
            dirs.add(n if rel == "." else rel + "/" + n)
        for n in fns:
            files.add(n if rel == "." else rel + "/" + n)
    return files, dirs


def parents(paths):
    out = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def cdn_bytes(log):
    return sum(e["bytes"] for e in log if e["origin"] == "cdn")


# ---------------------------------------------------------------- listing and stat

@pytest.mark.timeout(120)
def test_find_ls_stat_with_tiny_tree_pages(hub, repo_name, nested, mount):
    hub.set_config(page_size={"tree": 2})
    m = mount(repo_name)
    want = nested["files"]
    files, dirs = walk(m.path)
    assert files == set(want)
    assert dirs == parents(want)

    out = subprocess.run(["find", m.path], capture_output=True, text=True, check=True).stdout
    listed = {os.path.relpath(p, m.path) for p in out.splitlines()} - {"."}
    assert listed == set(want) | parents(want)
    ls = subprocess.run(["ls", "-lR", m.path], capture_output=True, text=True)
    assert ls.returncode == 0, ls.stderr
    assert "model.safetensors" in ls.stdout

    mtimes = set()
    for p, meta in want.items():
        st = os.stat(m.p(p))
        assert stat.S_ISREG(st.st_mode), p
        assert st.st_size == meta["size"], p  # LFS: the real size, not the pointer's
        assert st.st_blocks == (meta["size"] + 511) // 512, p
        assert stat.S_IMODE(st.st_mode) == 0o644, p  # branch + write token: writable
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
        mtimes.add(int(st.st_mtime))
    for d in parents(want):
        st = os.stat(m.p(d))
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755
    assert len(mtimes) == 1  # the commit date
    assert abs(mtimes.pop() - time.time()) < 600


@pytest.mark.timeout(60)
def test_missing_paths_are_enoent(hub, repo_name, nested, mount):
    m = mount(repo_name)
    for p in ("nope.txt", "src/nope.py", "nodir/x", "src/pkg/deep/none"):
        with pytest.raises(FileNotFoundError):
            os.stat(m.p(p))
        with pytest.raises(FileNotFoundError):
            open(m.p(p), "rb")
    with pytest.raises(NotADirectoryError):
        os.stat(m.p("README.md", "x"))
    with pytest.raises(IsADirectoryError):
        open(m.p("src"), "rb").read()
    # asked twice: the answer comes from the negative cache and stays ENOENT
    with pytest.raises(FileNotFoundError):
        os.stat(m.p("nope.txt"))


# ---------------------------------------------------------------- content

@pytest.mark.timeout(120)
def test_read_every_file_and_cp_r(hub, repo_name, nested, mount, tmp_path):
    m = mount(repo_name)
    for p, meta in nested["files"].items():
        assert sha256_file(m.p(p)) == meta["sha256"], p
    dst = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path, str(dst)], check=True)
    for p in list(SMALL) + list(LFS):
        with open(dst / p, "rb") as f:
            assert f.read() == expected_bytes(p), p
    # the CDN never saw the token
    log = hub.log()
    cdn = [e for e in log if e["origin"] == "cdn"]
    assert cdn, "LFS content should come from the CDN origin"
    assert not any(e["auth"] for e in cdn)


@pytest.mark.timeout(60)
def test_small_read_of_large_lfs_file_fetches_little(hub, repo_name, nested, mount):
    m = mount(repo_name)
    size = LFS["weights/big.bin"]["size"]
    os.stat(m.p("weights/big.bin"))
    hub.clear_log()
    off = 15 * MiB + 1000
    with open(m.p("weights/big.bin"), "rb") as f:
        f.seek(off)
        got = f.read(4096)
    assert got == seeded_bytes(2, off + 4096)[off:]
    fetched = cdn_bytes(hub.log())
    assert 0 < fetched <= 2 * MiB, "a 4 KiB read fetched %d of %d bytes" % (fetched, size)


@pytest.mark.timeout(60)
def test_mmap_read(hub, repo_name, nested, mount):
    m = mount(repo_name)
    want = expected_bytes("weights/model.safetensors")
    with open(m.p("weights/model.safetensors"), "rb") as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert len(mm) == len(want)
            assert mm[:8] == want[:8]
            assert mm[2 * MiB:2 * MiB + 4096] == want[2 * MiB:2 * MiB + 4096]
            assert mm[-100:] == want[-100:]
            assert hashlib.sha256(mm).hexdigest() == hashlib.sha256(want).hexdigest()


@pytest.mark.timeout(60)
def test_du_equals_sum_of_sizes(hub, repo_name, nested, mount):
    m = mount(repo_name)
    total = sum(meta["size"] for meta in nested["files"].values())
    out = subprocess.run(["du", "-sb", m.path], capture_output=True, text=True, check=True)
    assert int(out.stdout.split()[0]) == total
    # block usage is consistent with the sizes (st_blocks = ceil(size/512))
    out = subprocess.run(["du", "-s", "-B512", m.path], capture_output=True, text=True,
                         check=True)
    assert int(out.stdout.split()[0]) == sum((v["size"] + 511) // 512
                                             for v in nested["files"].values())


@pytest.mark.timeout(60)
def test_statfs_reports_free_space(hub, repo_name, nested, mount):
    m = mount(repo_name)
    sv = os.statvfs(m.path)
    assert sv.f_bavail > 0 and sv.f_bfree > 0 and sv.f_namemax >= 255


# ---------------------------------------------------------------- repo types and revisions

@pytest.mark.timeout(60)
@pytest.mark.parametrize("rtype,prefix", [("dataset", "datasets/"), ("space", "spaces/")])
def test_dataset_and_space_mounts(hub, repo_name, mount, rtype, prefix):
    hub.seed(repo_name, rtype=rtype, files={"train/part-0.csv": b"a,b\n1,2\n", "app.py": b"x=1\n"},
             lfs_files={"train/blob.parquet": {"size": 300000, "seed": 9}})
    m = mount(prefix + repo_name)
    assert sorted(os.listdir(m.path)) == [".gitattributes", "app.py", "train"]
    with open(m.p("train/part-0.csv"), "rb") as f:
        assert f.read() == b"a,b\n1,2\n"
    with open(m.p("train/blob.parquet"), "rb") as f:
        assert f.read() == seeded_bytes(9, 300000)
    url = os.getxattr(m.p("app.py"), "user.hub.url").decode()
    assert "/%s%s/blob/" % (prefix, repo_name) in url


def make_revisions(hub, emu, repo):
    """main: v.txt=two; tag v1 and c1 = one; refs/pr/1 = pr."""
    from conftest import Client
    c1 = hub.seed(repo, files={"v.txt": b"one\n", "only-in-1.txt": b"1\n"})
    alice = Client(emu.url, TOKENS["write"])
    alice.json("POST", "/api/models/%s/tag/%s" % (repo, c1), {"tag": "v1"})
    hub.json("POST", "/__emulator/seed", {"repo": repo, "type": "model", "branch": "main",
                                          "files": {"v.txt": "dHdvCg=="},  # "two\n"
                                          "deleted": ["only-in-1.txt"]})
    alice.upload(repo, {"v.txt": b"pr\n"}, summary="a PR", create_pr=True)
    return c1


@pytest.mark.timeout(120)
def test_revisions_tag_sha_short_sha_pr_branch(hub, emu, repo_name, mount):
    c1 = make_revisions(hub, emu, repo_name)
    main_head = hub.state(repo_name)["head"]
    pr_head = hub.state(repo_name, rev="refs/pr/1")["head"]
    assert len({c1, main_head, pr_head}) == 3  # three different commits to tell apart
    cases = [("@v1", b"one\n", c1), ("@" + c1, b"one\n", c1), ("@" + c1[:7], b"one\n", c1),
             ("@" + c1[:5], b"one\n", c1), ("@refs/pr/1", b"pr\n", pr_head),
             ("", b"two\n", main_head), ("@main", b"two\n", main_head)]
    for suffix, want, want_commit in cases:
        m = mount(repo_name + suffix)
        with open(m.p("v.txt"), "rb") as f:
            assert f.read() == want, suffix
        assert os.path.exists(m.p("only-in-1.txt")) == (want == b"one\n"), suffix
        commit = os.getxattr(m.p("v.txt"), "user.hub.commit").decode()
        assert commit == want_commit, suffix
        assert m.unmount() == 0, m.stderr()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("which", ["tag", "sha"])
def test_tag_and_sha_mounts_are_read_only(hub, emu, repo_name, mount, which):
    c1 = make_revisions(hub, emu, repo_name)
    m = mount(repo_name + ("@v1" if which == "tag" else "@" + c1))
    st = os.stat(m.p("v.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o444
    assert stat.S_IMODE(os.stat(m.path).st_mode) == 0o555
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
        with pytest.raises(OSError) as ei:
            os.open(m.p("v.txt"), flags)
        assert ei.value.errno == errno.EROFS
    with pytest.raises(OSError) as ei:
        os.open(m.p("new.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    assert ei.value.errno == errno.EROFS
    with open(m.p("v.txt"), "rb") as f:  # reading still works
        assert f.read() == b"one\n"


@pytest.mark.timeout(60)
def test_read_token_cannot_open_for_writing(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    m = mount(repo_name, token=TOKENS["read"])
    assert stat.S_IMODE(os.stat(m.p("a.txt")).st_mode) == 0o444
    with pytest.raises(OSError) as ei:
        os.open(m.p("a.txt"), os.O_WRONLY)
    assert ei.value.errno == errno.EACCES
    with open(m.p("a.txt"), "rb") as f:
        assert f.read() == b"a\n"


# ---------------------------------------------------------------- start-up errors

@pytest.mark.timeout(120)
def test_startup_errors(hub, repo_name, run_hubmount):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    runs = []  # every run's stderr is checked for tokens at the end
    r = run_hubmount(repo_name, token=TOKENS["invalid"])
    runs.append(r)
    assert r.returncode == 2, r.stderr
    assert "hubmount: invalid token" in r.stderr

    r = run_hubmount("acme/does-not-exist")
    runs.append(r)
    assert r.returncode == 3, r.stderr
    assert "hubmount: repository not found or not accessible: acme/does-not-exist" in r.stderr

    r = run_hubmount("acme/does-not-exist", token=None)  # anonymous: 401 from the Hub
    runs.append(r)
    assert r.returncode == 3, r.stderr

    private = repo_name + "-private"
    hub.json("POST", "/__emulator/repo", {"id": private, "type": "model", "private": True})
    hub.seed(private, files={"s.txt": b"secret\n"})
    r = run_hubmount(private, token=TOKENS["bob"])
    runs.append(r)
    assert r.returncode == 3, r.stderr
    assert "repository not found or not accessible: %s" % private in r.stderr
    assert "secret" not in r.stderr

    r = run_hubmount(repo_name + "@no-such-branch")
    runs.append(r)
    assert r.returncode == 4, r.stderr
    assert "hubmount: revision not found: no-such-branch" in r.stderr

    r = run_hubmount("a/b/c/d")  # not a source at all: a usage error
    runs.append(r)
    assert r.returncode == 1, r.stderr
    assert "hubmount: invalid source 'a/b/c/d'" in r.stderr

    r = run_hubmount("not-a-valid-source")  # a name alone is a namespace: not found
    runs.append(r)
    assert r.returncode == 3, r.stderr
    assert "namespace not found or without visible repos: not-a-valid-source" in r.stderr

    # the token never reaches a message, in any of the runs (the invalid token's most of all)
    for r in runs:
        for t in TOKENS.values():
            assert t not in r.stderr + r.stdout, (r.args, t)


@pytest.mark.timeout(60)
def test_help_and_version(run_hubmount):
    r = run_hubmount(args=["--help"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for opt in ("endpoint=", "token_file=", "cache_dir=", "cache_size=", "poll=", "-o ro",
                "commit_delay=", "commit_window=", "commit_message=", "log_file=", "offline",
                "max_read=", "max_threads="):
        assert opt in out, opt
    assert out.index("allow_other") < out.index("hubmount options")  # after libfuse's
    assert "exit codes" in out and "revision not found" in out
    assert "token=" not in out.replace("token_file=", "").replace("no token= option", "")
    r = run_hubmount(args=["--version"])
    assert r.returncode == 0 and "hubmount" in r.stdout


@pytest.mark.timeout(60)
def test_token_option_is_refused(hub, repo_name, run_hubmount):
    r = run_hubmount(repo_name, opts=["token=hf_secret_in_argv"])
    assert r.returncode == 1, r.stderr  # a usage error
    assert "HF_TOKEN" in r.stderr


@pytest.mark.timeout(60)
def test_fstab_noise_is_ignored(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    m = mount(repo_name, opts=["_netdev", "noauto", "nofail", "x-systemd.automount",
                               "x-systemd.requires=network-online.target", "defaults", "auto",
                               "user"])
    assert os.listdir(m.path) == [".gitattributes", "a.txt"] or \
        sorted(os.listdir(m.path)) == [".gitattributes", "a.txt"]


# ---------------------------------------------------------------- extended attributes

@pytest.mark.timeout(60)
def test_xattrs(hub, emu, repo_name, nested, mount):
    m = mount(repo_name)
    head = nested["head"]
    big, small = nested["files"]["weights/big.bin"], nested["files"]["src/a.py"]
    p = m.p("weights/big.bin")
    assert os.getxattr(p, "user.hub.oid").decode() == big["oid"]
    assert os.getxattr(p, "user.hub.sha256").decode() == big["sha256"]
    assert os.getxattr(p, "user.hub.size").decode() == str(big["size"])
    assert os.getxattr(p, "user.hub.commit").decode() == head
    assert os.getxattr(p, "user.hub.url").decode() == \
        "%s/%s/blob/%s/weights/big.bin" % (emu.url, repo_name, head)
    names = set(os.listxattr(p))
    assert {"user.hub.oid", "user.hub.sha256", "user.hub.size", "user.hub.commit",
            "user.hub.url"} <= names

    q = m.p("src/a.py")
    assert os.getxattr(q, "user.hub.oid").decode() == small["oid"]
    with pytest.raises(OSError) as ei:
        os.getxattr(q, "user.hub.sha256")  # not an LFS file
    assert ei.value.errno == errno.ENODATA
    assert "user.hub.sha256" not in os.listxattr(q)
    url = os.getxattr(m.p("name with space.txt"), "user.hub.url").decode()
    assert url.endswith("/name%20with%20space.txt")
    for name in ("security.selinux", "security.capability", "system.posix_acl_access",
                 "user.other"):
        with pytest.raises(OSError) as ei:
            os.getxattr(q, name)
        assert ei.value.errno == errno.ENODATA, name


# ---------------------------------------------------------------- the warm cache

def find_and_stat(root):
    n = 0
    for d, dns, fns in os.walk(root):
        for x in dns + fns:
            os.stat(os.path.join(d, x))
            n += 1
    return n


@pytest.mark.timeout(120)
def test_warm_remount_asks_only_token_and_revision(hub, repo_name, nested, mount, tmp_path):
    hub.set_config(page_size={"tree": 2})
    cache = str(tmp_path / "shared-cache")
    m1 = mount(repo_name, cache_dir=cache)
    n1 = find_and_stat(m1.path)
    assert m1.unmount() == 0
    hub.clear_log()
    m2 = mount(repo_name, cache_dir=cache)
    assert find_and_stat(m2.path) == n1
    files, _ = walk(m2.path)
    assert files == set(nested["files"])
    log = [e for e in hub.log() if e["origin"] == "hub"]
    paths = [e["method"] + " " + e["path"] for e in log]
    assert not [p for p in paths if "/tree/" in p or "/paths-info/" in p], paths
    allowed = {"GET /api/whoami-v2", "GET /api/models/" + repo_name}
    assert set(paths) <= allowed, paths


@pytest.mark.timeout(60)
def test_warm_content_is_served_from_the_cache(hub, repo_name, nested, mount, tmp_path):
    cache = str(tmp_path / "shared-cache")
    m1 = mount(repo_name, cache_dir=cache)
    assert sha256_file(m1.p("weights/model.safetensors")) == \
        nested["files"]["weights/model.safetensors"]["sha256"]
    assert m1.unmount() == 0
    hub.clear_log()
    m2 = mount(repo_name, cache_dir=cache)
    assert sha256_file(m2.p("weights/model.safetensors")) == \
        nested["files"]["weights/model.safetensors"]["sha256"]
    assert cdn_bytes(hub.log()) == 0


# ---------------------------------------------------------------- branch polling

@pytest.mark.timeout(90)
# "read": a mount that cannot write lets the kernel keep directory listings,
# which the poller must drop for every directory that changed
@pytest.mark.parametrize("token", ["write", "read"])
def test_branch_poll_shows_new_and_hides_deleted(hub, repo_name, mount, token):
    hub.seed(repo_name, files={"keep.txt": b"keep\n", "gone.txt": b"gone\n",
                               "change.txt": b"version 1\n", "sub/in.txt": b"in\n"})
    m = mount(repo_name, token=TOKENS[token], opts=["poll=1"])
    assert sorted(os.listdir(m.path)) == [".gitattributes", "change.txt", "gone.txt",
                                          "keep.txt", "sub"]
    assert not os.path.exists(m.p("new.txt"))  # also caches a negative entry
    assert os.listdir(m.p("sub")) == ["in.txt"]
    old = open(m.p("change.txt"), "rb")
    try:
        new_files = {"new.txt": "bmV3Cg==", "change.txt": "dmVyc2lvbiAyLCBsb25nZXIK",
                     "sub/more.txt": "bW9yZQo="}
        hub.json("POST", "/__emulator/seed", {"repo": repo_name, "type": "model",
                                              "branch": "main", "files": new_files,
                                              "deleted": ["gone.txt"]})

        def moved():
            return os.path.exists(m.p("new.txt")) and not os.path.exists(m.p("gone.txt"))
        assert wait_until(moved, timeout=15), sorted(os.listdir(m.path))

        def changed():
            with open(m.p("change.txt"), "rb") as f:
                return f.read() == b"version 2, longer\n"
        assert wait_until(changed, timeout=10)
        assert sorted(os.listdir(m.path)) == [".gitattributes", "change.txt", "keep.txt",
                                              "new.txt", "sub"]
        assert sorted(os.listdir(m.p("sub"))) == ["in.txt", "more.txt"]
        with open(m.p("new.txt"), "rb") as f:
            assert f.read() == b"new\n"
        # a handle opened before the commit reads the version it opened
        assert old.read() == b"version 1\n"
    finally:
        old.close()


# ---------------------------------------------------------------- faults and secrets

@pytest.mark.timeout(90)
def test_transient_5xx_are_retried(hub, repo_name, nested, mount):
    m = mount(repo_name)
    os.stat(m.p("src/pkg/b.py"))
    hub.add_faults({"path": "/resolve/", "count": 2, "status": 503})
    with open(m.p("src/pkg/b.py"), "rb") as f:
        assert f.read() == SMALL["src/pkg/b.py"]
    hub.add_faults({"path": "/blob/", "origin": "cdn", "count": 1, "action": "reset"})
    with open(m.p("weights/model.safetensors"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == \
            nested["files"]["weights/model.safetensors"]["sha256"]


@pytest.mark.timeout(90)
def test_token_never_logged_or_cached(hub, repo_name, nested, mount):
    m = mount(repo_name, debug=True)
    find_and_stat(m.path)
    for p in ("README.md", "weights/model.safetensors"):
        sha256_file(m.p(p))
    assert m.unmount() == 0
    token = TOKENS["write"].encode()
    assert token not in m.stderr().encode()
    for d, _, fns in os.walk(m.cache_dir):
        for n in fns:
            with open(os.path.join(d, n), "rb") as f:
                assert token not in f.read(), os.path.join(d, n)
    assert not any(e["auth"] for e in hub.log() if e["origin"] == "cdn")


# ---------------------------------------------------------------- unmounting

@pytest.mark.timeout(60)
def test_sigterm_unmounts_cleanly(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    m = mount(repo_name)
    assert os.listdir(m.path)
    os.kill(m.proc.pid, signal.SIGTERM)
    assert m.proc.wait(15) == 0
    assert not os.path.ismount(m.path)


@pytest.mark.timeout(60)
def test_fusermount_unmount_exits_zero(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    m = mount(repo_name)
    with open(m.p("a.txt"), "rb") as f:
        assert f.read() == b"a\n"
    assert m.unmount() == 0


# ---------------------------------------------------------------- access and failures

@pytest.mark.timeout(60)
def test_gated_content_is_eacces_at_open(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"gated\n"}, lfs_files={"w.bin": {"size": 1000, "seed": 4}})
    hub.json("POST", "/__emulator/repo", {"id": repo_name, "type": "model", "gated": "manual"})
    m = mount(repo_name, token=TOKENS["bob"])  # not a member of acme, no grant
    assert sorted(os.listdir(m.path)) == [".gitattributes", "a.txt", "w.bin"]
    assert os.stat(m.p("w.bin")).st_size == 1000  # metadata is not gated
    for p in ("a.txt", "w.bin"):
        with pytest.raises(OSError) as ei:
            open(m.p(p), "rb")
        assert ei.value.errno == errno.EACCES, p  # not EPERM (docs/namespace.md)
    m2 = mount(repo_name)  # alice administers acme
    with open(m2.p("a.txt"), "rb") as f:
        assert f.read() == b"gated\n"


@pytest.mark.timeout(120)
def test_persistent_server_errors_are_eio_and_the_daemon_recovers(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"payload\n"})
    m = mount(repo_name)
    os.stat(m.p("a.txt"))
    hub.add_faults({"path": "/resolve/", "status": 500})
    with pytest.raises(OSError) as ei:
        with open(m.p("a.txt"), "rb") as f:
            f.read()
    assert ei.value.errno == errno.EIO
    hub.clear_faults()
    assert m.proc.poll() is None
    with open(m.p("a.txt"), "rb") as f:
        assert f.read() == b"payload\n"


@pytest.mark.timeout(90)
def test_truncated_body_is_retried(hub, repo_name, nested, mount):
    m = mount(repo_name)
    os.stat(m.p("weights/big.bin"))
    hub.clear_log()
    # full Content-Length, half the body, then the connection closes
    hub.add_faults({"path": "/blob/", "origin": "cdn", "count": 1, "action": "truncate"})
    assert sha256_file(m.p("weights/big.bin")) == nested["files"]["weights/big.bin"]["sha256"]

    def asked(e):
        a, b = e["range"].split("=")[1].split("-")
        return int(b) - int(a) + 1
    cdn = [e for e in hub.log() if e["origin"] == "cdn" and e.get("range")]
    assert any(e["bytes"] < asked(e) for e in cdn)  # the fault did cut one answer


@pytest.mark.timeout(90)
def test_corrupt_content_is_eio_then_a_clean_read_succeeds(hub, repo_name, nested, mount):
    m = mount(repo_name, allow=[r"failed verification"])
    path = "weights/model.safetensors"
    os.stat(m.p(path))
    # one flipped byte in every 4 KiB of every CDN answer, for the whole read
    hub.add_faults({"path": "/blob/", "origin": "cdn", "action": "corrupt"})
    with pytest.raises(OSError) as ei:
        with open(m.p(path), "rb") as f:
            while f.read(1 << 20):
                pass
    assert ei.value.errno == errno.EIO
    assert wait_until(lambda: "failed verification" in m.stderr(), timeout=10)
    hub.clear_faults()
    hub.clear_log()
    # the bad bytes were evicted (block cache and the kernel's page cache):
    # a new open reads everything again, correctly
    assert sha256_file(m.p(path)) == nested["files"][path]["sha256"]
    assert cdn_bytes(hub.log()) >= nested["files"][path]["size"]
    assert m.proc.poll() is None


# ---------------------------------------------------------------- scale

def seeded_slice(seed, off, n):
    """bytes [off, off+n) of seeded_bytes(seed, ...) without generating the prefix."""
    first, last = off // 32, (off + n + 31) // 32
    blob = b"".join(hashlib.sha256(b"%d:%d" % (seed, i)).digest() for i in range(first, last))
    return blob[off - first * 32:off - first * 32 + n]


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@pytest.mark.timeout(300)
def test_large_repo_1000_files_and_a_200_mib_file(hub, repo_name, mount):
    files = {"many/%04d.txt" % i: b"small file %d\n" % i for i in range(1100)}
    files.update({"d%d/e%d/f%d.txt" % (i % 7, i % 5, i): b"x" * i for i in range(120)})
    size = 200 * MiB + 17
    hub.seed(repo_name, files=files, lfs_files={"huge.bin": {"size": size, "seed": 11}})
    state = hub.state(repo_name)["files"]
    m = mount(repo_name)

    got, _ = walk(m.path)
    assert got == set(state)
    for p in files:
        assert sha256_file(m.p(p)) == state[p]["sha256"], p

    hub.clear_log()
    off = 150 * MiB + 12345
    with open(m.p("huge.bin"), "rb", buffering=0) as f:
        f.seek(off)
        assert f.read(4096) == seeded_slice(11, off, 4096)
    fetched = cdn_bytes(hub.log())
    assert 0 < fetched <= 2 * MiB, fetched

    # a full sequential read: right bytes (verified against the LFS sha256), bounded memory
    assert sha256_file(m.p("huge.bin")) == state["huge.bin"]["sha256"]
    assert os.getxattr(m.p("huge.bin"), "user.hub.size") == str(size).encode()
    if not SANITIZED:
        assert peak_rss_kib(m.proc.pid) < 160 * 1024


# ---------------------------------------------------------------- options

@pytest.mark.timeout(60)
def test_ro_option_makes_a_branch_mount_read_only(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"a\n"})
    m = mount(repo_name, opts=["ro"])
    assert stat.S_IMODE(os.stat(m.p("a.txt")).st_mode) == 0o444
    with pytest.raises(OSError) as ei:
        os.open(m.p("a.txt"), os.O_WRONLY)
    assert ei.value.errno == errno.EROFS


@pytest.mark.timeout(90)
def test_offline_serves_the_caches_without_any_request(hub, repo_name, nested, mount, tmp_path):
    cache = str(tmp_path / "shared-cache")
    m1 = mount(repo_name, cache_dir=cache)
    find_and_stat(m1.path)
    for p in ("README.md", "weights/model.safetensors"):
        sha256_file(m1.p(p))
    assert m1.unmount() == 0
    hub.clear_log()
    m2 = mount(repo_name, cache_dir=cache, opts=["offline"])
    files, _ = walk(m2.path)
    assert files == set(nested["files"])
    for p in ("README.md", "weights/model.safetensors"):
        assert sha256_file(m2.p(p)) == nested["files"][p]["sha256"]
    with pytest.raises(OSError) as ei:  # never fetched: not available offline
        with open(m2.p("weights/big.bin"), "rb") as f:
            f.read(10)
    assert ei.value.errno == errno.EIO
    assert hub.log() == []


@pytest.mark.timeout(90)
def test_offline_uncached_names_are_enoent_and_listings_eio(hub, repo_name, nested, mount,
                                                            tmp_path):
    cache = str(tmp_path / "shared-cache")
    m1 = mount(repo_name, cache_dir=cache)
    with open(m1.p("README.md"), "rb") as f:  # lists the root only
        assert f.read() == SMALL["README.md"]
    assert m1.unmount() == 0
    hub.clear_log()
    m2 = mount(repo_name, cache_dir=cache, opts=["offline"])
    assert "README.md" in os.listdir(m2.path)
    with open(m2.p("README.md"), "rb") as f:
        assert f.read() == SMALL["README.md"]
    with pytest.raises(OSError) as ei:  # src was never listed: its children are unknown
        os.stat(m2.p("src/a.py"))
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(OSError) as ei:  # known to exist, but its listing is not cached
        os.listdir(m2.p("src"))
    assert ei.value.errno == errno.EIO
    with pytest.raises(OSError) as ei:
        with open(m2.p("config.json"), "rb") as f:  # listed, never read
            f.read()
    assert ei.value.errno == errno.EIO
    assert hub.log() == []


@pytest.mark.timeout(60)
def test_sigterm_with_open_files_exits_zero(hub, repo_name, mount):
    hub.seed(repo_name, files={"a.txt": b"a\n", "d/b.txt": b"b\n"})
    m = mount(repo_name)
    f = open(m.p("a.txt"), "rb")
    d = os.open(m.p("d"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert f.read() == b"a\n"
        os.kill(m.proc.pid, signal.SIGTERM)
        assert m.proc.wait(15) == 0, m.stderr()
    finally:
        for close in (f.close, lambda: os.close(d)):
            try:
                close()
            except OSError:  # ENOTCONN: the daemon is gone, as asked
                pass
