"""Namespace and Hub mounts (docs/namespace.md) through real FUSE mounts against hubsim:
what each token sees in a namespace of 3 orgs and 150 repos, name@rev lookups, repo
creation with mkdir, file-manager noise (refused, looked up without requests), gio trash,
cheap first bytes, statfs and xattrs.

This module runs its own emulator (NS_CONFIG: three organisations, four users) instead of
conftest's, so the listings it asserts are exact."""
import base64
import errno
import os
import shutil
import stat
import subprocess
import threading
import time

import pytest

from conftest import HUBMOUNT, Client, Emulator, seeded_bytes, wait_until

MiB = 1024 * 1024

TOK = {
    "alice": "hf_ns_alice",        # admin of acme, write in beta
    "alice_read": "hf_ns_alice_ro",
    "bob": "hf_ns_bob",            # read in acme, contributor in gamma
    "carol": "hf_ns_carol",        # no organisation
    "anon": None,
}

NS_CONFIG = {
    "users": [{"name": "alice", "orgs": {"acme": "admin", "beta": "write"}},
              {"name": "bob", "orgs": {"acme": "read", "gamma": "contributor"}},
              {"name": "carol", "orgs": {}},
              {"name": "dave", "orgs": {"gamma": "admin"}}],
    "tokens": [{"token": TOK["alice"], "user": "alice", "role": "write"},
               {"token": TOK["alice_read"], "user": "alice", "role": "read"},
               {"token": TOK["bob"], "user": "bob", "role": "write"},
               {"token": TOK["carol"], "user": "carol", "role": "write"}],
}

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def refused(code, fn, *args):
    """fn(*args) must fail with exactly errno `code` (PermissionError alone is EACCES or
    EPERM, which this layer gives for different cases: docs/namespace.md)."""
    with pytest.raises(OSError) as ei:
        fn(*args)
    assert ei.value.errno == code, "%s%r: %s, want %s" % (
        getattr(fn, "__name__", fn), args, errno.errorcode.get(ei.value.errno),
        errno.errorcode[code])


def _plan():
    """150 repos over acme, beta, gamma: (owner, type, name, private, gated)."""
    out = []
    counts = {"acme": (40, 12, 8), "beta": (30, 10, 5), "gamma": (25, 12, 8)}
    k = 0
    for owner, (nm, nd, nsp) in counts.items():
        for rtype, n in (("model", nm), ("dataset", nd), ("space", nsp)):
            for i in range(n):
                k += 1
                out.append((owner, rtype, "%s-%s-%02d" % (rtype[0], owner, i),
                            k % 5 == 0, "manual" if k % 7 == 0 else False))
    assert len(out) == 150
    return out


PLAN = _plan()
README = b"# readme\n"


def visible(user, owner, rtype):
    """Names of owner's repos of rtype that `user` (None = anonymous) may see."""
    member = {"alice": {"acme", "beta"}, "bob": {"acme", "gamma"}, "carol": set(), None: set()}
    return {name for o, t, name, private, _ in PLAN
            if o == owner and t == rtype and (not private or owner in member[user])}


@pytest.fixture(scope="module")
def emu():
    e = Emulator(config=NS_CONFIG).start()
    c = Client(e.url)
    c.set_config(page_size={"tree": 1000, "commits": 50, "repos": 1000, "paths_info_max": 1000})
    for owner, rtype, name, private, gated in PLAN:
        c.json("POST", "/__emulator/seed", {
            "repo": "%s/%s" % (owner, name), "type": rtype, "private": private, "gated": gated,
            "files": {"README.md": base64.b64encode(README + name.encode()).decode()}})
    c.seed("alice/own-model", files={"a.txt": b"alice\n"})
    yield e
    e.cleanup()


@pytest.fixture
def hub(emu):
    """Small listing pages, so every namespace listing takes several pages."""
    c = Client(emu.url)
    c.clear_faults()
    c.set_config(page_size={"tree": 1000, "commits": 50, "repos": 7, "paths_info_max": 1000})
    yield c
    c.clear_faults()


def hub_sync(path):
    """hubmount sync DIR: commit what is pending in DIR's repo and wait for it."""
    out = subprocess.run([HUBMOUNT, "sync", path], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def requests(hub):
    return [e for e in hub.log()]


def mount_ns(mount, source, who, opts=()):
    return mount(source, token=TOK[who], opts=opts)


# ---- what each token sees -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "anon"])
def test_namespace_listing_per_token(mount, hub, who):
    m = mount_ns(mount, "acme", who)
    user = None if who == "anon" else who
    hub.clear_log()
    assert sorted(os.listdir(m.path)) == ["datasets", "models", "spaces"]
    for d, rtype in TYPES.items():
        assert set(os.listdir(m.p(d))) == visible(user, "acme", rtype), (who, d)
    log = requests(hub)
    # only listing pages, nothing per repo, and the pages are really paginated
    assert all(e["path"] in ("/api/models", "/api/datasets", "/api/spaces") for e in log), log
    n_models = len(visible(user, "acme", "model"))
    assert sum(e["path"] == "/api/models" for e in log) == n_models // 7 + 1
    # ls -l (stat of every entry) asks nothing more: the listing is cached
    hub.clear_log()
    out = subprocess.run(["ls", "-l", m.p("models")], capture_output=True, text=True, check=True)
    assert len(out.stdout.strip().splitlines()) == n_models + 1
    assert requests(hub) == []


def test_namespace_hides_invisible_private_repos(mount, hub):
    private = [(t, n) for o, t, n, p, _ in PLAN if o == "acme" and p and t == "model"][0][1]
    m = mount_ns(mount, "acme", "carol")
    with pytest.raises(FileNotFoundError):
        os.stat(m.p("models", private))
    with pytest.raises(FileNotFoundError):
        os.listdir(m.p("models", private))
    a = mount_ns(mount, "acme", "alice")
    assert os.listdir(a.p("models", private)) == [".gitattributes", "README.md"] or \
        set(os.listdir(a.p("models", private))) == {".gitattributes", "README.md"}


def test_gated_repo_metadata_without_content(mount, hub):
    gated = [n for o, t, n, p, g in PLAN if o == "beta" and t == "model" and g and not p][0]
    m = mount_ns(mount, "beta", "carol")
    assert gated in os.listdir(m.p("models"))
    assert os.stat(m.p("models", gated, "README.md")).st_size == len(README + gated.encode())
    refused(errno.EACCES, open, m.p("models", gated, "README.md"), "rb")
    # alice is a member of beta: she reads it
    a = mount_ns(mount, "beta", "alice")
    with open(a.p("models", gated, "README.md"), "rb") as f:
        assert f.read() == README + gated.encode()


@pytest.mark.parametrize("who,expect", [("alice", {"alice", "acme", "beta"}),
                                        ("bob", {"bob", "acme", "gamma"}),
                                        ("carol", {"carol"}), ("anon", set())])
def test_hub_mount_lists_user_and_orgs(mount, hub, who, expect):
    m = mount_ns(mount, "hub", who)
    hub.clear_log()
    for d in TYPES:
        assert set(os.listdir(m.p(d))) == expect
    assert requests(hub) == []  # from whoami, no request
    user = None if who == "anon" else who
    # any namespace resolves on lookup even if not listed, with what this token sees
    for owner in ("acme", "beta", "gamma"):
        for d, rtype in TYPES.items():
            assert set(os.listdir(m.p(d, owner))) == visible(user, owner, rtype), (owner, d)
    assert os.path.isdir(m.p("models", "nobody-at-all"))
    assert os.listdir(m.p("models", "nobody-at-all")) == []
    with pytest.raises(FileNotFoundError):
        os.stat(m.p("models", "nobody-at-all", "x"))
    with pytest.raises(FileNotFoundError):
        os.stat(m.p("models", "not..valid"))
    with pytest.raises(FileNotFoundError):
        os.stat(m.p("nothing"))


def test_hub_mount_reads_and_writes_a_repo(mount, hub):
    m = mount_ns(mount, "hub", "alice")
    name = [n for o, t, n, p, g in PLAN if o == "acme" and t == "model" and not g][0]
    with open(m.p("models", "acme", name, "README.md"), "rb") as f:
        assert f.read() == README + name.encode()
    p = m.p("models", "acme", name, "new.txt")
    with open(p, "wb") as f:
        f.write(b"written through the hub mount\n")
        f.flush()
        os.fsync(f.fileno())
    st = hub.state("acme/" + name)
    assert "new.txt" in st["files"]
    assert hub.download("acme/" + name, "new.txt") == b"written through the hub mount\n"
    # the same repo under another name of the same daemon (name@main) is the same content
    with open(m.p("models", "acme", name + "@main", "new.txt"), "rb") as f:
        assert f.read() == b"written through the hub mount\n"


def test_namespace_repo_is_a_full_repo_mount(mount, hub):
    m = mount_ns(mount, "acme", "alice")
    name = "m-acme-00"
    d = m.p("models", name)
    os.makedirs(os.path.join(d, "sub/dir"))
    with open(os.path.join(d, "sub/dir/f.bin"), "wb") as f:
        f.write(b"x" * 1000)
    os.rename(os.path.join(d, "sub/dir/f.bin"), os.path.join(d, "sub/g.bin"))
    hub_sync(d)
    files = hub.state("acme/" + name)["files"]
    assert "sub/g.bin" in files and "sub/dir/f.bin" not in files
    # rename across repos is EXDEV; a repo directory never moves
    with pytest.raises(OSError) as ei:
        os.rename(os.path.join(d, "sub/g.bin"), m.p("models", "m-acme-01", "g.bin"))
    assert ei.value.errno == errno.EXDEV
    refused(errno.EPERM, os.rename, d, m.p("models", "renamed"))
    # hubmount status works on a repo directory
    out = subprocess.run([HUBMOUNT, "status", d], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


# ---- name@rev ---------------------------------------------------------------------------------


def test_name_at_rev_lookups(mount, hub):
    alice = Client(hub.base, token=TOK["alice"])
    repo = "acme/revs"
    c_main1 = hub.seed(repo, files={"v.txt": b"main-1\n"})
    alice.json("POST", "/api/models/%s/tag/main" % repo, {"tag": "v1"})
    hub.seed(repo, files={"v.txt": b"dev\n"}, branch="dev")
    hub.seed(repo, files={"v.txt": b"feature\n"}, branch="feature/x")
    c_main2 = hub.seed(repo, files={"v.txt": b"main-2\n"})
    alice.upload(repo, {"v.txt": b"pr\n"}, summary="pr", create_pr=True)
    refs = alice.refs(repo)
    assert [p["ref"] for p in refs["pullRequests"]] == ["refs/pr/1"]

    m = mount_ns(mount, "acme", "alice")
    models = m.p("models")
    expect = {
        "revs": b"main-2\n",
        "revs@main": b"main-2\n",
        "revs@dev": b"dev\n",
        "revs@feature%2Fx": b"feature\n",
        "revs@v1": b"main-1\n",
        "revs@" + c_main1: b"main-1\n",
        "revs@" + c_main1[:10]: b"main-1\n",
        "revs@refs%2Fpr%2F1": b"pr\n",
        "revs@refs%2Ftags%2Fv1": b"main-1\n",
    }
    for name, content in expect.items():
        with open(os.path.join(models, name, "v.txt"), "rb") as f:
            assert f.read() == content, name
    # revisions are never listed
    assert not [n for n in os.listdir(models) if "@" in n]
    for bad in ("revs@nope", "revs@refs%2Fpr%2F9", "revs@" + "0" * 40, "nope@main", "revs@a..b"):
        with pytest.raises(FileNotFoundError):
            os.stat(os.path.join(models, bad))
    # tags and commits are read-only; branches (and PRs) are writable
    for ro in ("revs@v1", "revs@" + c_main1):
        with pytest.raises(OSError) as ei:
            open(os.path.join(models, ro, "w.txt"), "wb").close()
        assert ei.value.errno == errno.EROFS, ro
    with open(os.path.join(models, "revs@dev", "w.txt"), "wb") as f:
        f.write(b"on dev\n")
        f.flush()
        os.fsync(f.fileno())
    assert "w.txt" in hub.state(repo, rev="dev")["files"]
    assert "w.txt" not in hub.state(repo)["files"]
    assert hub.state(repo)["head"] == c_main2
    # in a Hub mount too
    h = mount_ns(mount, "hub", "bob")
    with open(h.p("models", "acme", "revs@v1", "v.txt"), "rb") as f:
        assert f.read() == b"main-1\n"


# ---- mkdir / rmdir --------------------------------------------------------------------------------


def test_mkdir_creates_private_repo(mount, hub):
    m = mount_ns(mount, "acme", "alice")
    os.mkdir(m.p("models", "made-by-mkdir"))
    os.mkdir(m.p("datasets", "made-by-mkdir"))
    st = hub.state("acme/made-by-mkdir")
    assert st["private"] is True
    assert hub.state("acme/made-by-mkdir", rtype="dataset")["private"] is True
    assert "made-by-mkdir" in os.listdir(m.p("models"))
    with open(m.p("models", "made-by-mkdir", "hello.txt"), "wb") as f:
        f.write(b"hi\n")
        f.flush()
        os.fsync(f.fileno())
    assert Client(hub.base, token=TOK["alice"]).download("acme/made-by-mkdir", "hello.txt") == b"hi\n"
    with pytest.raises(FileExistsError):
        os.mkdir(m.p("models", "made-by-mkdir"))
    with pytest.raises(FileExistsError):
        os.mkdir(m.p("models", "m-acme-03"))
    for bad in ("x@main", "bad..name", "-lead"):
        with pytest.raises(OSError) as ei:
            os.mkdir(m.p("models", bad))
        assert ei.value.errno == errno.EINVAL, bad
    # a repo is never deleted or moved through the filesystem
    for p in (m.p("models", "made-by-mkdir"), m.p("models"), m.p("models", "m-acme-04")):
        refused(errno.EPERM, os.rmdir, p)
    assert hub.state("acme/m-acme-04")["id"] == "acme/m-acme-04"
    refused(errno.EPERM, os.mkdir, m.p("toplevel"))
    refused(errno.EPERM, open, m.p("models", "file.txt"), "wb")


@pytest.mark.parametrize("source,who,path", [
    ("acme", "bob", ("models", "by-bob")),            # org role read
    ("acme", "alice_read", ("models", "by-ro")),      # read token
    ("acme", "carol", ("models", "by-carol")),        # not a member
    ("acme", "anon", ("models", "by-anon")),
    ("hub", "carol", ("models", "acme", "by-carol")),
])
def test_mkdir_eacces_without_rights(mount, hub, source, who, path):
    m = mount_ns(mount, source, who)
    hub.clear_log()
    refused(errno.EACCES, os.mkdir, m.p(*path))
    assert not [e for e in requests(hub) if e["path"] == "/api/repos/create"]


def test_mkdir_in_hub_mount_and_contributor(mount, hub):
    m = mount_ns(mount, "hub", "bob")
    os.mkdir(m.p("models", "gamma", "bobs-repo"))       # contributor may create
    assert hub.state("gamma/bobs-repo")["private"] is True
    os.mkdir(m.p("models", "bob", "own"))               # own namespace
    assert hub.state("bob/own")["private"] is True
    # every valid namespace name already is a directory of a Hub mount
    with pytest.raises(FileExistsError):
        os.mkdir(m.p("models", "new-namespace"))
    refused(errno.EPERM, os.mkdir, m.p("new-type"))


# ---- file-manager noise ---------------------------------------------------------------------------

NOISE = [".DS_Store", "._photo.jpg", "Thumbs.db", "desktop.ini", ".directory", ".hidden",
         ".Trash-1000", ".Trash", "DESKTOP.INI"]


def _noise_checks(root, hub):
    """Creating noise fails with EPERM; looking it up asks the Hub nothing."""
    hub.clear_log()
    for name in NOISE:
        for d in (root, os.path.join(root, "sub")):
            with pytest.raises(FileNotFoundError):
                os.stat(os.path.join(d, name))
    assert requests(hub) == []
    for name in NOISE:
        refused(errno.EPERM, open, os.path.join(root, name), "wb")
        refused(errno.EPERM, os.mkdir, os.path.join(root, "sub", name))
    with open(os.path.join(root, "real.txt"), "wb") as f:
        f.write(b"real\n")
    refused(errno.EPERM, os.rename, os.path.join(root, "real.txt"),
            os.path.join(root, ".DS_Store"))


def test_noise_single_repo_mount(mount, hub, emu):
    repo = "acme/noise-single"
    hub.seed(repo, files={"sub/a.txt": b"a\n", "kept/.DS_Store": b"committed on purpose\n"})
    m = mount(repo, token=TOK["alice"])
    os.listdir(m.path)
    os.listdir(m.p("sub"))
    _noise_checks(m.path, hub)
    hub_sync(m.path)
    files = hub.state(repo)["files"]
    assert "real.txt" in files
    assert not [p for p in files if any(n.lower() in p.lower() for n in NOISE) and not p.startswith("kept/")]
    # a committed noise file is shown once its folder is listed, and can be deleted
    assert ".DS_Store" in os.listdir(m.p("kept"))
    with open(m.p("kept", ".DS_Store"), "rb") as f:
        assert f.read() == b"committed on purpose\n"
    os.unlink(m.p("kept", ".DS_Store"))


def test_noise_namespace_mount(mount, hub):
    m = mount_ns(mount, "acme", "alice")
    root = m.p("models", "m-acme-05")
    os.makedirs(os.path.join(root, "sub"), exist_ok=True)
    _noise_checks(root, hub)
    hub.clear_log()
    for name in NOISE:
        for d in (m.path, m.p("models"), m.p("datasets")):
            with pytest.raises(FileNotFoundError):
                os.stat(os.path.join(d, name))
            refused(errno.EPERM, os.mkdir, os.path.join(d, name))
    assert requests(hub) == []


@pytest.mark.skipif(not shutil.which("gio"), reason="gio (libglib2.0-bin) not installed")
@pytest.mark.parametrize("source", ["acme/trash-single", "acme"])
def test_gio_trash_refused_and_nothing_committed(mount, hub, source):
    repo = "acme/trash-single"
    hub.seed(repo, files={"victim.txt": b"v\n"})
    m = mount(source, token=TOK["alice"])
    path = m.p("victim.txt") if source == repo else m.p("models", "trash-single", "victim.txt")
    head = hub.state(repo)["head"]
    out = subprocess.run(["gio", "trash", path], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, GIO_USE_VFS="local"))
    assert out.returncode != 0
    assert "trash" in out.stderr.lower()
    assert os.path.exists(path)
    assert not [n for n in os.listdir(m.path) if n.startswith(".Trash")]
    # what a file manager then offers: delete permanently
    os.unlink(path)
    hub_sync(os.path.dirname(path))
    st = hub.state(repo)
    assert "victim.txt" not in st["files"]
    assert not [p for p in st["files"] if ".Trash" in p]
    assert st["head"] != head


# ---- cheap first bytes, statfs, xattrs -----------------------------------------------------------------


def test_first_bytes_are_one_small_request(mount, hub):
    repo = "acme/sniff"
    hub.seed(repo, lfs_files={"big.bin": {"size": 20 * MiB, "seed": 11},
                              "pic.png": {"size": 3 * MiB, "seed": 12}})
    m = mount_ns(mount, "acme", "alice")
    d = m.p("models", "sniff")
    os.listdir(d)

    def cdn():
        return [e for e in hub.log() if e["origin"] == "cdn"]

    hub.clear_log()
    fd = os.open(os.path.join(d, "big.bin"), os.O_RDONLY)
    assert os.read(fd, 4096) == seeded_bytes(11, 4096)
    os.close(fd)
    log = cdn()
    assert len(log) == 1 and log[0]["range"].startswith("bytes=0-"), log
    assert log[0]["bytes"] <= 256 * 1024
    hub.clear_log()
    fd = os.open(os.path.join(d, "big.bin"), os.O_RDONLY)   # cached now
    assert os.read(fd, 4096) == seeded_bytes(11, 4096)
    os.close(fd)
    assert cdn() == []
    # a buffered reader (128 KiB) widens the kernel's window to 512 KiB: the
    # missing second block is one more small request, never the file
    with open(os.path.join(d, "big.bin"), "rb") as f:
        assert f.read(4096) == seeded_bytes(11, 4096)
    log = cdn()
    assert len(log) <= 1 and sum(e["bytes"] for e in log) <= 256 * 1024, log

    # eight sniffers at once on a cold file share one request; buffered reads
    # (128 KiB) make the kernel's first read-ahead window at most 512 KiB
    hub.clear_log()
    got = []

    def sniff():
        with open(os.path.join(d, "pic.png"), "rb") as f:
            got.append(f.read(16384))
    ts = [threading.Thread(target=sniff) for _ in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert got == [seeded_bytes(12, 16384)] * 8
    log = cdn()
    assert len(log) == 1, log
    assert log[0]["bytes"] <= 512 * 1024


def test_statfs_and_xattrs(mount, hub):
    repo = "acme/attrs"
    hub.seed(repo, files={"small.txt": b"small\n"}, lfs_files={"w.bin": {"size": 1000, "seed": 5}})
    st = hub.state(repo)
    m = mount_ns(mount, "acme", "alice")
    for p in (m.path, m.p("models"), m.p("models", "attrs")):
        sv = os.statvfs(p)
        assert sv.f_bavail > 0 and sv.f_bfree > 0 and sv.f_blocks > 0
    f = m.p("models", "attrs", "w.bin")
    names = set(os.listxattr(f))
    assert names == {"user.hub.oid", "user.hub.sha256", "user.hub.size", "user.hub.commit",
                     "user.hub.url"}
    assert os.getxattr(f, "user.hub.sha256").decode() == st["files"]["w.bin"]["sha256"]
    assert os.getxattr(f, "user.hub.commit").decode() == st["head"]
    assert "user.hub.sha256" not in os.listxattr(m.p("models", "attrs", "small.txt"))
    if shutil.which("getfattr"):
        out = subprocess.run(["getfattr", "-d", f], capture_output=True, text=True, check=True)
        for n in names:
            assert n in out.stdout
    # the namespace layer's own directories have none, and say so without requests
    hub.clear_log()
    assert os.listxattr(m.p("models")) == []
    with pytest.raises(OSError) as ei:
        os.getxattr(m.p("models"), "user.hub.url")
    assert ei.value.errno == errno.ENODATA
    assert requests(hub) == []


def test_listing_refresh_and_warm_ls(mount, hub, emu):
    m = mount_ns(mount, "acme", "alice", opts=("poll=2",))
    before = set(os.listdir(m.p("models")))
    hub.seed("acme/appears-later", files={"x": b"x"})
    assert "appears-later" not in os.listdir(m.p("models"))   # cached listing
    # not listed yet, but it resolves on lookup
    assert os.path.isdir(m.p("models", "appears-later"))
    assert wait_until(lambda: "appears-later" in os.listdir(m.p("models")), timeout=10)
    assert set(os.listdir(m.p("models"))) == before | {"appears-later"}


def test_namespace_startup_errors(run_hubmount, hub):
    runs = [run_hubmount("no-such-namespace", token=TOK["carol"])]
    assert runs[-1].returncode == 3, runs[-1].stderr
    assert "namespace not found" in runs[-1].stderr
    runs.append(run_hubmount("no-such-namespace", token=None))
    assert runs[-1].returncode == 3, runs[-1].stderr
    runs.append(run_hubmount("acme", token="hf_not_a_token"))
    assert runs[-1].returncode == 2, runs[-1].stderr
    for r in runs:  # no token reaches a message, whichever run
        for t in list(TOK.values()) + ["hf_not_a_token"]:
            assert not t or t not in r.stdout + r.stderr


@pytest.mark.skipif(not shutil.which("gio"), reason="gio (libglib2.0-bin) not installed")
def test_gio_list_sniffs_without_downloading(mount, hub):
    """What a file manager asks of a folder of images and big files (content types,
    thumbnails): small first-byte requests only, nothing downloaded whole, nothing committed."""
    repo = "acme/gallery"
    lfs = {"pics/img%03d.png" % i: {"size": MiB + i, "seed": 100 + i} for i in range(40)}
    lfs.update({"pics/huge%d.safetensors" % i: {"size": 30 * MiB, "seed": 900 + i} for i in range(2)})
    head = hub.seed(repo, files={"pics/notes.txt": b"notes\n"}, lfs_files=lfs)
    m = mount_ns(mount, "acme", "alice")
    folder = m.p("models", "gallery", "pics")
    os.listdir(m.p("models", "gallery"))
    hub.clear_log()
    out = subprocess.run(["gio", "list", "-a", "standard::*,thumbnail::*", folder],
                         capture_output=True, text=True, timeout=120, check=True)
    assert len(out.stdout.strip().splitlines()) == 43
    log = hub.log()
    cdn = [e for e in log if e["origin"] == "cdn"]
    sizes = {e["path"]: 0 for e in cdn}
    for e in cdn:
        assert e["range"], e            # every content request is ranged
        sizes[e["path"]] += e["bytes"]
    assert all(v <= 512 * 1024 for v in sizes.values()), sizes   # no file whole
    assert sum(sizes.values()) <= 43 * 512 * 1024
    assert not [e for e in log if e["method"] == "POST"]        # nothing committed
    # the second time everything comes from the caches
    hub.clear_log()
    subprocess.run(["gio", "list", "-a", "standard::*,thumbnail::*", folder],
                   capture_output=True, text=True, timeout=120, check=True)
    assert [e for e in hub.log() if e["origin"] == "cdn"] == []
    assert hub.state(repo)["head"] == head


# ---- idle repo mounts are closed ---------------------------------------------------------------


def _mounts(m):
    """user.hub.mounts of the namespace root: {"open": n, "opened": n, "closed": n}."""
    text = os.getxattr(m.path, "user.hub.mounts").decode()
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines())}


def _threads(m):
    return len(os.listdir("/proc/%d/task" % m.proc.pid))


def _forget():
    """Make the kernel drop its unused dentries and inodes (FORGET for each of ours)."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


needs_drop_caches = pytest.mark.skipif(not os.access("/proc/sys/vm/drop_caches", os.W_OK),
                                       reason="needs root (/proc/sys/vm/drop_caches)")


@needs_drop_caches
@pytest.mark.timeout(120)
def test_idle_repo_mounts_are_closed_and_reopen(mount, hub):
    names = [n for o, t, n, p, g in PLAN if o == "acme" and t == "model" and not g][:6]
    m = mount_ns(mount, "acme", "alice")
    assert _mounts(m)["open"] == 0
    for name in names:
        with open(m.p("models", name, "README.md"), "rb") as f:
            assert f.read() == README + name.encode()
    assert _mounts(m) == {"open": 6, "opened": 6, "closed": 0}
    busy = _threads(m)
    # every file closed, nothing pending: once the kernel forgets the inodes the
    # daemon closes the repo mounts (threads and all)
    assert wait_until(lambda: _forget() or _mounts(m)["open"] == 0, timeout=60), _mounts(m)
    assert _mounts(m) == {"open": 0, "opened": 6, "closed": 6}
    idle = _threads(m)
    # each repo mount had 2 read-ahead threads, a poller and a commit worker
    assert idle <= busy - 2 * len(names), (busy, idle)
    # the same paths work again, from the metadata cache: no listing request
    files = {name: sorted({f.split("/")[0] for f in hub.state("acme/" + name)["files"]})
             for name in names}
    hub.clear_log()
    for name in names:
        with open(m.p("models", name, "README.md"), "rb") as f:
            assert f.read() == README + name.encode()
        assert sorted(os.listdir(m.p("models", name))) == files[name]
    assert _mounts(m) == {"open": 6, "opened": 12, "closed": 6}
    log = requests(hub)
    assert not [e for e in log if "/tree/" in e["path"] or e["origin"] == "cdn"], log
    assert not [e for e in log if e["path"] in ("/api/models", "/api/datasets", "/api/spaces")]
    assert all(e["method"] == "GET" for e in log), log


@needs_drop_caches
@pytest.mark.timeout(120)
def test_repo_mount_with_pending_write_stays_open_until_committed(mount, hub):
    names = [n for o, t, n, p, g in PLAN if o == "acme" and t == "model" and not g]
    w_name, r_name = names[6], names[7]
    # a long quiet period: the write stays pending until hubmount sync
    m = mount_ns(mount, "acme", "alice", opts=("commit_delay=3600", "commit_window=3600"))
    data = b"pending until synced\n" * 100
    with open(m.p("models", w_name, "pending.txt"), "wb") as f:
        f.write(data)
    with open(m.p("models", r_name, "README.md"), "rb") as f:
        assert f.read() == README + r_name.encode()
    assert _mounts(m)["open"] == 2
    # the read-only visit is closed; the mount with the pending write is not
    assert wait_until(lambda: _forget() or _mounts(m)["closed"] >= 1, timeout=60), _mounts(m)
    _forget()
    time.sleep(4)      # closer passes past the idle grace time: no close may come
    assert _mounts(m) == {"open": 1, "opened": 2, "closed": 1}
    assert "pending.txt" not in hub.state("acme/" + w_name)["files"]
    # commit it: once it has landed the mount is idle and closed too
    hub_sync(m.p("models", w_name))
    assert hub.download("acme/" + w_name, "pending.txt") == data
    assert wait_until(lambda: _forget() or _mounts(m)["open"] == 0, timeout=60), _mounts(m)
    assert _mounts(m)["closed"] == 2
    # and reopens with the committed file
    with open(m.p("models", w_name, "pending.txt"), "rb") as f:
        assert f.read() == data
    assert _mounts(m)["open"] == 1
