"""POSIX conformance of a writable branch mount, in the spirit of pjdfstest, written for
hubmount: open flags, rename rules, unlink of open files, rmdir, truncate, utimensat,
chmod/chown, access(2), name limits and the names the Hub refuses.

Most rules are checked for each way a file can exist in a mount, because each takes a
different code path: COMMITTED (a regular file of the commit the mount shows), LFS (a
committed LFS file) and PENDING (written through this mount, not committed yet).  Where a
test ends with `sync()`, the Hub's tree is compared with what the mount showed.

The deliberate differences from POSIX are listed in docs/semantics.md ("Differences from
POSIX"); the tests named *_difference pin them down."""
import ctypes
import errno
import mmap
import os
import stat
import subprocess
import time

import pytest

from conftest import HUBMOUNT, TOKENS

SLOW = ["commit_delay=60", "commit_window=120", "poll=0"]

SEED = {
    "c.txt": b"committed regular\n",
    "d/x.txt": b"x in d\n",
    "d/sub/y.txt": b"y in d/sub\n",
    "e/only.txt": b"only\n",
}
# A NUL byte in the first bytes makes the Hub store a file in LFS.
LFS = b"\0LFS" + bytes(range(256)) * 4
KINDS = ["committed", "lfs", "pending"]

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(path, atime, mtime):
    """utimensat(2) with (sec, nsec) pairs or UTIME_NOW / UTIME_OMIT as nsec."""
    ts = (Timespec * 2)(Timespec(*atime), Timespec(*mtime))
    if libc.utimensat(AT_FDCWD, os.fsencode(path), ts, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


def err(fn, *args):
    """The errno fn(*args) fails with (0 when it succeeds)."""
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


@pytest.fixture
def m(hub, repo_name, mount):
    """A mount of a seeded repo with one LFS file; commits only when asked."""
    hub.seed(repo_name, files=SEED, lfs_files={"lfs.bin": {"size": len(LFS),
                                                          "content": _b64(LFS)}})
    mm = mount(repo_name, opts=SLOW)
    mm.hub, mm.repo = hub, repo_name
    assert hub.state(repo_name)["files"]["lfs.bin"]["lfs"]
    return mm


def _b64(data):
    import base64
    return base64.b64encode(data).decode()


def make(m, kind, name="f"):
    """A file of the given kind at `name` (committed ones are renamed there, which keeps
    them committed-and-pending; at "c.txt"/"lfs.bin" they are the seeded files)."""
    if kind == "committed":
        if name != "c.txt":
            write(m.p(name), SEED["c.txt"])
            sync(m)
        return m.p(name), SEED["c.txt"]
    if kind == "lfs":
        assert name == "lfs.bin"
        return m.p(name), LFS
    data = b"pending %s\n" % name.encode()
    write(m.p(name), data)
    return m.p(name), data


def src_of(m, kind):
    return make(m, kind, {"committed": "c.txt", "lfs": "lfs.bin", "pending": "p.txt"}[kind])


def sync(m):
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def hub_tree(m):
    """{path: bytes} of the branch head (the emulator's own .gitattributes left out)."""
    st = m.hub.state(m.repo)["files"]
    return {p: m.hub.download(m.repo, p) for p in st if p != ".gitattributes"}


def mount_tree(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if rel != ".gitattributes":
                out[rel] = read(p)
    return out


def assert_hub_matches_mount(m):
    sync(m)
    assert hub_tree(m) == mount_tree(m.path)


# ---------------------------------------------------------------- open flags

@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_creat_excl_on_existing_file_is_eexist(m, kind):
    path, data = src_of(m, kind)
    assert err(os.open, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644) == errno.EEXIST
    assert read(path) == data


@pytest.mark.timeout(60)
def test_creat_excl(m):
    assert err(os.open, m.p("d"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644) == errno.EEXIST
    fd = os.open(m.p("new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    assert os.fstat(fd).st_size == 0
    os.close(fd)
    assert stat.S_IMODE(os.stat(m.p("new")).st_mode) == 0o640
    assert err(os.open, m.p("new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644) == errno.EEXIST
    # a committed name deleted locally can be created again
    os.unlink(m.p("c.txt"))
    fd = os.open(m.p("c.txt"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"again")
    os.close(fd)
    assert read(m.p("c.txt")) == b"again"
    assert_hub_matches_mount(m)
    assert m.hub.download(m.repo, "new") == b""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_creat_without_excl_keeps_content(m, kind):
    path, data = src_of(m, kind)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    assert os.read(fd, 1 << 16) == data
    os.close(fd)
    assert read(path) == data


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_o_trunc(m, kind):
    path, _ = src_of(m, kind)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    assert os.fstat(fd).st_size == 0
    assert os.stat(path).st_size == 0
    os.write(fd, b"new")
    os.close(fd)
    assert read(path) == b"new"
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_o_append_writes_at_the_end(m, kind):
    path, data = src_of(m, kind)
    a = os.open(path, os.O_WRONLY | os.O_APPEND)
    b = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.lseek(a, 0, os.SEEK_SET)
    os.write(a, b"A1")
    os.write(b, b"B1")
    os.write(a, b"A2")
    os.close(a)
    os.close(b)
    assert read(path) == data + b"A1B1A2"
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_open_errors(m):
    assert err(os.open, m.p("missing"), os.O_RDONLY) == errno.ENOENT
    assert err(os.open, m.p("missing"), os.O_WRONLY) == errno.ENOENT
    assert err(os.open, m.p("d"), os.O_WRONLY) == errno.EISDIR
    assert err(os.open, m.p("d"), os.O_RDWR) == errno.EISDIR
    assert err(os.open, m.p("c.txt/x"), os.O_RDONLY) == errno.ENOTDIR
    assert err(os.open, m.p("c.txt/x"), os.O_WRONLY | os.O_CREAT, 0o644) == errno.ENOTDIR
    assert err(os.open, m.p("c.txt"), os.O_RDONLY | os.O_DIRECTORY) == errno.ENOTDIR
    assert err(os.open, m.p("nodir/x"), os.O_WRONLY | os.O_CREAT, 0o644) == errno.ENOENT
    fd = os.open(m.p("d"), os.O_RDONLY | os.O_DIRECTORY)
    os.close(fd)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_read_your_writes_across_descriptors(m, kind):
    path, data = src_of(m, kind)
    w = os.open(path, os.O_RDWR)
    os.pwrite(w, b"XY", 1)
    assert os.pread(w, 4, 0) == data[:1] + b"XY" + data[3:4]
    r = os.open(path, os.O_RDONLY)  # opened while the writer is still open
    assert os.pread(r, 4, 0) == data[:1] + b"XY" + data[3:4]
    assert os.fstat(r).st_size == len(data)
    os.close(r)
    os.close(w)


@pytest.mark.timeout(60)
def test_write_past_eof_leaves_zeros(m):
    fd = os.open(m.p("hole"), os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, b"end", 10000)
    assert os.fstat(fd).st_size == 10003
    os.close(fd)
    assert read(m.p("hole")) == b"\0" * 10000 + b"end"
    assert_hub_matches_mount(m)


# ---------------------------------------------------------------- rename

@pytest.mark.timeout(60)
@pytest.mark.parametrize("src", KINDS)
@pytest.mark.parametrize("dst", ["committed", "pending", "absent"])
def test_rename_file_over_file(m, src, dst):
    s, data = src_of(m, src)
    d = {"committed": m.p("e/only.txt"), "pending": m.p("target"), "absent": m.p("d/new")}[dst]
    if dst == "pending":
        write(d, b"old target")
    os.rename(s, d)
    assert not os.path.exists(s)
    assert read(d) == data
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dst", ["local", "emptied"])
def test_rename_dir_over_empty_dir(m, dst):
    if dst == "local":
        os.mkdir(m.p("empty"))
    else:  # a committed directory whose files were all deleted
        os.unlink(m.p("e/only.txt"))
        os.rename(m.p("e"), m.p("empty"))  # (rename of an empty committed dir)
        assert not os.path.exists(m.p("e"))
    os.rename(m.p("d"), m.p("empty"))
    assert not os.path.exists(m.p("d"))
    assert sorted(os.listdir(m.p("empty"))) == ["sub", "x.txt"]
    assert read(m.p("empty/sub/y.txt")) == SEED["d/sub/y.txt"]
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dst", ["committed", "pending"])
def test_rename_dir_over_nonempty_dir_is_enotempty(m, dst):
    if dst == "pending":
        os.mkdir(m.p("full"))
        write(m.p("full/f"), b"f")
        target = m.p("full")
    else:
        target = m.p("e")
    assert err(os.rename, m.p("d"), target) == errno.ENOTEMPTY
    os.mkdir(m.p("local"))
    assert err(os.rename, m.p("local"), target) == errno.ENOTEMPTY
    assert read(m.p("d/x.txt")) == SEED["d/x.txt"]
    assert os.listdir(target)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_rename_file_over_dir_is_eisdir_and_dir_over_file_enotdir(m, kind):
    path, data = src_of(m, kind)
    assert err(os.rename, path, m.p("d")) == errno.EISDIR
    os.mkdir(m.p("emptydir"))
    assert err(os.rename, path, m.p("emptydir")) == errno.EISDIR
    assert err(os.rename, m.p("d"), path) == errno.ENOTDIR
    assert err(os.rename, m.p("emptydir"), path) == errno.ENOTDIR
    assert read(path) == data
    assert os.path.isdir(m.p("d")) and os.path.isdir(m.p("emptydir"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_rename_onto_itself_is_a_noop(m, kind):
    path, data = src_of(m, kind)
    before = m.hub.state(m.repo)["head"]
    os.rename(path, path)
    os.rename(m.p("d"), m.p("d"))
    assert read(path) == data
    assert sorted(os.listdir(m.p("d"))) == ["sub", "x.txt"]
    if kind != "pending":
        sync(m)
        assert m.hub.state(m.repo)["head"] == before  # nothing to commit
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_rename_dir_away_and_back(m):
    """Committed folders renamed away and back before the commit keep their files."""
    os.rename(m.p("d"), m.p("tmp"))
    os.rename(m.p("tmp"), m.p("d"))
    os.rename(m.p("d/sub"), m.p("d/sub2"))
    os.rename(m.p("d/sub2"), m.p("d/sub"))
    assert_hub_matches_mount(m)
    assert sorted(hub_tree(m)) == sorted(["c.txt", "d/x.txt", "d/sub/y.txt", "e/only.txt",
                                          "lfs.bin"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_rename_dir_onto_the_name_of_a_moved_file(m, kind):
    path, _ = src_of(m, kind)
    os.rename(path, m.p("moved"))
    os.rename(m.p("d"), path)
    os.rename(path, m.p("d2"))
    assert sorted(os.listdir(m.p("d2"))) == ["sub", "x.txt"]
    os.rename(m.p("d2"), path)
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_rename_errors(m):
    assert err(os.rename, m.p("missing"), m.p("x")) == errno.ENOENT
    assert err(os.rename, m.p("c.txt"), m.p("nodir/x")) == errno.ENOENT
    assert err(os.rename, m.p("c.txt"), m.p("e/only.txt/x")) == errno.ENOTDIR
    assert err(os.rename, m.p("d"), m.p("d/sub/d")) == errno.EINVAL
    assert err(os.rename, m.p("d"), m.p("d/new")) == errno.EINVAL
    assert read(m.p("c.txt")) == SEED["c.txt"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_rename_keeps_open_descriptors(m, kind):
    """An open reader keeps its bytes; writes through a descriptor opened before a rename
    land under the new name."""
    path, data = src_of(m, kind)
    r = os.open(path, os.O_RDONLY)
    w = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.rename(path, m.p("d/moved"))
    os.write(w, b"+tail")
    os.close(w)
    assert os.pread(r, len(data), 0) == data
    os.close(r)
    assert not os.path.exists(path)
    assert read(m.p("d/moved")) == data + b"+tail"
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_rename_dir_with_open_file_inside(m):
    w = os.open(m.p("d/sub/new"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(w, b"one")
    os.rename(m.p("d"), m.p("renamed"))
    os.write(w, b"two")
    os.close(w)
    assert read(m.p("renamed/sub/new")) == b"onetwo"
    assert not os.path.exists(m.p("d"))
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_rename_over_open_target(m):
    """The replaced file stays readable through a descriptor opened before."""
    write(m.p("src"), b"new content")
    r = os.open(m.p("c.txt"), os.O_RDONLY)
    os.rename(m.p("src"), m.p("c.txt"))
    assert os.pread(r, 100, 0) == SEED["c.txt"]
    os.close(r)
    assert read(m.p("c.txt")) == b"new content"
    assert_hub_matches_mount(m)


# ---------------------------------------------------------------- unlink / rmdir

@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_unlink_of_open_file(m, kind):
    path, data = src_of(m, kind)
    r = os.open(path, os.O_RDONLY)
    w = os.open(path, os.O_RDWR)
    os.unlink(path)
    assert not os.path.exists(path)
    assert os.path.basename(path) not in os.listdir(os.path.dirname(path))
    assert os.pread(r, len(data) + 10, 0) == data
    assert os.fstat(r).st_size == len(data)
    os.pwrite(w, b"ZZ", 0)  # writes to an unlinked file go nowhere...
    assert os.pread(w, 2, 0) == b"ZZ"
    os.close(w)
    os.close(r)
    assert not os.path.exists(path)  # ...and never bring the name back
    assert_hub_matches_mount(m)
    assert os.path.basename(path) not in hub_tree(m)


@pytest.mark.timeout(60)
def test_unlink_errors(m):
    assert err(os.unlink, m.p("missing")) == errno.ENOENT
    assert err(os.unlink, m.p("d")) == errno.EISDIR
    os.mkdir(m.p("local"))
    assert err(os.unlink, m.p("local")) == errno.EISDIR
    assert err(os.unlink, m.p("c.txt/x")) == errno.ENOTDIR


@pytest.mark.timeout(60)
def test_rmdir(m):
    assert err(os.rmdir, m.p("d")) == errno.ENOTEMPTY
    assert err(os.rmdir, m.p("d/sub")) == errno.ENOTEMPTY
    os.mkdir(m.p("local"))
    write(m.p("local/f"), b"f")
    assert err(os.rmdir, m.p("local")) == errno.ENOTEMPTY
    os.mkdir(m.p("local2"))
    os.mkdir(m.p("local2/inner"))
    assert err(os.rmdir, m.p("local2")) == errno.ENOTEMPTY
    assert err(os.rmdir, m.p("c.txt")) == errno.ENOTDIR
    assert err(os.rmdir, m.p("missing")) == errno.ENOENT
    assert err(os.rmdir, m.p("d/.")) == errno.EINVAL
    # emptied committed directory, then an emptied local one
    os.unlink(m.p("e/only.txt"))
    os.rmdir(m.p("e"))
    os.unlink(m.p("local/f"))
    os.rmdir(m.p("local"))
    assert not os.path.exists(m.p("e")) and not os.path.exists(m.p("local"))
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["unlink", "rename", "rmdir"])
def test_emptied_committed_dir_outlives_the_commit(m, how):
    """The Hub has no empty folders, but a directory stays until rmdir: after its last
    entry goes and the change is committed, it is still there, empty, and usable."""
    if how == "unlink":
        os.unlink(m.p("e/only.txt"))
    elif how == "rename":
        os.rename(m.p("e/only.txt"), m.p("moved.txt"))
    else:
        os.rename(m.p("e/only.txt"), m.p("d/sub/only.txt"))
        os.unlink(m.p("d/sub/only.txt"))
        os.unlink(m.p("d/sub/y.txt"))
        os.rmdir(m.p("d/sub"))
        os.unlink(m.p("d/x.txt"))  # d had files and a folder: now nothing
    sync(m)
    assert "e/only.txt" not in m.hub.state(m.repo)["files"]
    assert "e" in os.listdir(m.path)
    assert os.path.isdir(m.p("e")) and os.listdir(m.p("e")) == []
    if how == "rmdir":
        assert "d" in os.listdir(m.path)
        assert os.path.isdir(m.p("d")) and os.listdir(m.p("d")) == []
    write(m.p("e/back.txt"), b"back")
    assert_hub_matches_mount(m)
    os.unlink(m.p("e/back.txt"))
    os.rmdir(m.p("e"))
    sync(m)
    assert not os.path.exists(m.p("e"))


@pytest.mark.timeout(60)
def test_fstat_of_replaced_and_unlinked_files(m):
    """A descriptor keeps describing its own file after rename(2) replaced it or unlink(2)
    removed its name, also while it is written."""
    write(m.p("big"), b"B" * 100)
    fd = os.open(m.p("c.txt"), os.O_WRONLY | os.O_APPEND)
    os.rename(m.p("big"), m.p("c.txt"))
    assert os.fstat(fd).st_size == len(SEED["c.txt"])
    os.write(fd, b"12345")
    assert os.fstat(fd).st_size == len(SEED["c.txt"]) + 5
    os.close(fd)
    assert os.stat(m.p("c.txt")).st_size == 100
    fd = os.open(m.p("c.txt"), os.O_RDWR)
    os.unlink(m.p("c.txt"))
    os.write(fd, b"x" * 150)
    assert os.fstat(fd).st_size == 150
    os.close(fd)
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_directory_in_place_of_a_deleted_file(m, kind):
    path, _ = src_of(m, kind)
    os.unlink(path)
    os.mkdir(path)
    write(os.path.join(path, "inside"), b"i")
    assert err(os.rmdir, path) == errno.ENOTEMPTY
    os.unlink(os.path.join(path, "inside"))
    os.rmdir(path)
    os.mkdir(path)
    write(os.path.join(path, "kept"), b"k")
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_mkdir(m):
    assert err(os.mkdir, m.p("d")) == errno.EEXIST
    assert err(os.mkdir, m.p("c.txt")) == errno.EEXIST
    assert err(os.mkdir, m.p("nodir/x")) == errno.ENOENT
    assert err(os.mkdir, m.p("c.txt/x")) == errno.ENOTDIR
    os.mkdir(m.p("new"), 0o700)
    st = os.stat(m.p("new"))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert os.listdir(m.p("new")) == []
    assert err(os.mkdir, m.p("new")) == errno.EEXIST


# ---------------------------------------------------------------- truncate

@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["truncate", "ftruncate"])
def test_truncate_down_and_up(m, kind, how):
    path, data = src_of(m, kind)
    if how == "truncate":
        os.truncate(path, 3)
        assert read(path) == data[:3]
        os.truncate(path, 9)
        assert os.stat(path).st_size == 9
    else:
        fd = os.open(path, os.O_RDWR)
        os.ftruncate(fd, 3)
        assert os.fstat(fd).st_size == 3
        os.ftruncate(fd, 9)
        assert os.pread(fd, 20, 0) == data[:3] + b"\0" * 6
        os.close(fd)
    assert read(path) == data[:3] + b"\0" * 6
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_truncate_errors(m):
    assert err(os.truncate, m.p("d"), 0) == errno.EISDIR
    assert err(os.truncate, m.p("missing"), 0) == errno.ENOENT
    assert err(os.truncate, m.p("c.txt"), -1) == errno.EINVAL
    fd = os.open(m.p("c.txt"), os.O_RDONLY)
    assert err(os.ftruncate, fd, 0) == errno.EINVAL  # not open for writing
    os.close(fd)
    assert read(m.p("c.txt")) == SEED["c.txt"]


@pytest.mark.timeout(60)
def test_truncate_to_same_size_of_committed_file(m):
    os.truncate(m.p("c.txt"), len(SEED["c.txt"]))
    assert read(m.p("c.txt")) == SEED["c.txt"]
    assert_hub_matches_mount(m)


# ---------------------------------------------------------------- times, modes, owners

@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS + ["dir"])
def test_utimensat(m, kind, tmp_path):
    path = m.p("d") if kind == "dir" else src_of(m, kind)[0]
    utimensat(path, (1_500_000_000, 0), (1_600_000_000, 0))
    assert os.stat(path).st_mtime == 1_600_000_000
    # UTIME_OMIT keeps mtime, whatever atime gets
    utimensat(path, (1_700_000_000, 0), (0, UTIME_OMIT))
    assert os.stat(path).st_mtime == 1_600_000_000
    utimensat(path, (0, UTIME_OMIT), (0, UTIME_OMIT))
    assert os.stat(path).st_mtime == 1_600_000_000
    # UTIME_NOW
    t0 = time.time()
    utimensat(path, (0, UTIME_OMIT), (0, UTIME_NOW))
    assert t0 - 2 <= os.stat(path).st_mtime <= time.time() + 2
    utimensat(path, (1_650_000_000, 0), (1_650_000_000, 0))
    # os.utime(None) is utimensat(NULL): both to now
    os.utime(m.p("c.txt"), None)
    assert abs(os.stat(m.p("c.txt")).st_mtime - time.time()) < 3


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", KINDS + ["dir", "localdir"])
def test_chmod_utime_persist_across_remount_and_commit(hub, repo_name, mount, tmp_path, kind):
    hub.seed(repo_name, files=SEED, lfs_files={"lfs.bin": {"size": len(LFS),
                                                          "content": _b64(LFS)}})
    cache = str(tmp_path / "cache-remount")
    m = mount(repo_name, opts=SLOW, cache_dir=cache)
    m.hub, m.repo = hub, repo_name
    if kind == "dir":
        path = m.p("d")
    elif kind == "localdir":
        path = m.p("ld")
        os.mkdir(path)
    else:
        path = src_of(m, kind)[0]
    os.chmod(path, 0o710)
    os.utime(path, (1_600_000_000, 1_600_000_000))
    rel = os.path.relpath(path, m.path)
    assert m.unmount() == 0
    m2 = mount(repo_name, opts=SLOW, cache_dir=cache)
    st = os.stat(m2.p(rel))
    assert stat.S_IMODE(st.st_mode) == 0o710
    assert st.st_mtime == 1_600_000_000


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["committed", "pending", "dir"])
def test_chown_difference(m, kind):
    """chown is accepted (so cp -a / rsync -a as root work) but the owner shown stays the
    mounting user: a Hub repo has no owners (docs/semantics.md)."""
    path = m.p("d") if kind == "dir" else src_of(m, kind)[0]
    os.chown(path, 4321, 4321)
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    os.chown(path, -1, -1)


@pytest.mark.timeout(60)
def test_access(m):
    assert os.access(m.p("c.txt"), os.F_OK)
    assert err(lambda: _access(m.p("missing"), os.F_OK)) == errno.ENOENT
    assert os.access(m.p("c.txt"), os.R_OK | os.W_OK)
    assert os.access(m.p("d"), os.R_OK | os.W_OK | os.X_OK)
    assert not os.access(m.p("c.txt"), os.X_OK)  # 0644: even root needs an x bit
    os.chmod(m.p("c.txt"), 0o755)
    assert os.access(m.p("c.txt"), os.X_OK)
    write(m.p("p.txt"), b"p")
    os.chmod(m.p("p.txt"), 0o700)
    assert os.access(m.p("p.txt"), os.X_OK)


def _access(path, mode):
    if libc.access(os.fsencode(path), mode) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


@pytest.mark.timeout(60)
def test_access_read_only_mounts(hub, repo_name, mount):
    hub.seed(repo_name, files=SEED)
    ro = mount(repo_name, opts=["ro", "poll=0"])
    assert err(lambda: _access(ro.p("c.txt"), os.W_OK)) == errno.EROFS
    assert os.access(ro.p("c.txt"), os.R_OK)
    st = os.stat(ro.p("c.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o444
    rd = mount(repo_name, token=TOKENS["read"], opts=["poll=0"])
    assert stat.S_IMODE(os.stat(rd.p("c.txt")).st_mode) == 0o444
    assert os.access(rd.p("c.txt"), os.R_OK)
    assert err(os.open, rd.p("c.txt"), os.O_WRONLY) == errno.EACCES


# ---------------------------------------------------------------- names

@pytest.mark.timeout(60)
def test_name_too_long(m):
    long = "n" * 256
    assert err(os.open, m.p(long), os.O_WRONLY | os.O_CREAT, 0o644) == errno.ENAMETOOLONG
    assert err(os.mkdir, m.p(long)) == errno.ENAMETOOLONG
    assert err(os.rename, m.p("c.txt"), m.p(long)) == errno.ENAMETOOLONG
    assert err(os.stat, m.p(long)) == errno.ENAMETOOLONG
    ok = "n" * 255
    write(m.p(ok), b"longest name")
    os.mkdir(m.p("d/" + ok))
    assert ok in os.listdir(m.path)
    assert_hub_matches_mount(m)
    assert m.hub.download(m.repo, ok) == b"longest name"


@pytest.mark.timeout(60)
def test_git_names_refused(m):
    """The Hub refuses any path with a .git segment: EINVAL at once, not at commit time."""
    for p in (".git", "d/.git"):
        assert err(os.open, m.p(p), os.O_WRONLY | os.O_CREAT, 0o644) == errno.EINVAL
        assert err(os.mkdir, m.p(p)) == errno.EINVAL
        assert err(os.rename, m.p("c.txt"), m.p(p)) == errno.EINVAL
        assert err(os.rename, m.p("e"), m.p(p)) == errno.EINVAL
        assert err(os.stat, m.p(p)) == errno.ENOENT
    # names that merely contain .git are fine
    for name in (".gitignore", "x.git", ".git2"):
        write(m.p(name), name.encode())
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_file_manager_noise_refused_difference(m):
    """Desktop litter (.DS_Store, ._*, Thumbs.db, .Trash-*) is refused with EPERM so it
    never becomes a commit (docs/semantics.md, docs/namespace.md)."""
    for name in (".DS_Store", "._x.txt", "Thumbs.db", ".Trash-1000", "d/.directory"):
        assert err(os.open, m.p(name), os.O_WRONLY | os.O_CREAT, 0o644) == errno.EPERM
        assert err(os.stat, m.p(name)) == errno.ENOENT
    assert err(os.mkdir, m.p(".Trash-0")) == errno.EPERM


@pytest.mark.timeout(60)
def test_unusual_names_round_trip(m):
    names = ["sp ace", "ütf-8 é", "semi;colon", "per%cent", "q?mark", "hash#", "plus+",
             "star*", "back\\slash", "-dash", ".dotfile", "a" * 200 + ".bin"]
    for n in names:
        write(m.p(n), n.encode())
    assert sorted(names) == sorted(x for x in os.listdir(m.path) if x in names)
    assert_hub_matches_mount(m)


# ---------------------------------------------------------------- misc

@pytest.mark.timeout(60)
def test_stat_fields(m):
    write(m.p("p.txt"), b"12345")
    for p, size in (("c.txt", len(SEED["c.txt"])), ("p.txt", 5)):
        st = os.stat(m.p(p))
        assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_size == size
        assert st.st_blocks * 512 >= size
    st = os.stat(m.p("d"))
    assert stat.S_ISDIR(st.st_mode) and st.st_nlink >= 2
    a, b = os.stat(m.p("c.txt")), os.stat(m.p("d/x.txt"))
    assert a.st_ino != b.st_ino and a.st_dev == b.st_dev
    assert os.stat(m.p("c.txt")).st_ino == a.st_ino  # stable


@pytest.mark.timeout(60)
def test_size_and_mtime_follow_writes(m):
    fd = os.open(m.p("grow"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.utime(m.p("grow"), (1_000_000_000, 1_000_000_000))
    os.write(fd, b"x" * 1000)
    assert os.stat(m.p("grow")).st_size == 1000  # before close
    os.close(fd)
    assert os.stat(m.p("grow")).st_mtime > 1_000_000_000


@pytest.mark.timeout(60)
def test_mmap_shared_write(m):
    path, data = src_of(m, "committed")
    fd = os.open(path, os.O_RDWR)
    mm = mmap.mmap(fd, len(data))
    mm[0:3] = b"MAP"
    mm.flush()
    mm.close()
    os.close(fd)
    assert read(path) == b"MAP" + data[3:]
    assert_hub_matches_mount(m)


@pytest.mark.timeout(60)
def test_fsync_variants(m):
    r = os.open(m.p("c.txt"), os.O_RDONLY)
    os.fsync(r)  # nothing pending: fine
    os.close(r)
    fd = os.open(m.p("f"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"data")
    os.fdatasync(fd)
    assert m.hub.download(m.repo, "f") == b"data"
    os.close(fd)
    d = os.open(m.p("d"), os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(d)
    os.close(d)


@pytest.mark.timeout(60)
def test_seek_data_and_end(m):
    path, data = src_of(m, "lfs")
    fd = os.open(path, os.O_RDONLY)
    assert os.lseek(fd, 0, os.SEEK_END) == len(data)
    assert os.lseek(fd, 10, os.SEEK_SET) == 10
    assert os.read(fd, 5) == data[10:15]
    os.close(fd)


@pytest.mark.timeout(60)
def test_locks_are_local(m):
    import fcntl
    fd = os.open(m.p("c.txt"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fd2 = os.open(m.p("c.txt"), os.O_RDONLY)
    assert err(fcntl.flock, fd2, fcntl.LOCK_EX | fcntl.LOCK_NB) == errno.EWOULDBLOCK
    os.close(fd2)
    os.close(fd)


@pytest.mark.timeout(60)
def test_small_differences(m):
    """Pinned down as documented in docs/semantics.md, "Differences from POSIX"."""
    # times: to the second
    os.utime(m.p("c.txt"), ns=(1_600_000_000_123456789, 1_600_000_000_123456789))
    st = os.stat(m.p("c.txt"))
    assert st.st_mtime_ns == 1_600_000_000 * 10**9
    assert st.st_atime_ns == st.st_mtime_ns
    # no extended attributes besides user.hub.*
    assert err(os.setxattr, m.p("c.txt"), "user.x", b"1") == errno.ENOTSUP
    assert all(x.startswith("user.hub.") for x in os.listxattr(m.p("c.txt")))
    # no O_TMPFILE
    assert err(os.open, m.path, os.O_TMPFILE | os.O_RDWR, 0o600) == errno.EOPNOTSUPP
    # st_nlink: 1 even for an open file whose name is gone
    fd = os.open(m.p("c.txt"), os.O_RDONLY)
    os.unlink(m.p("c.txt"))
    assert os.fstat(fd).st_nlink == 1
    os.close(fd)
    os.mkdir(m.p("d/sub/deeper"))
    assert os.stat(m.p("d")).st_nlink == 2


@pytest.mark.timeout(90)
def test_empty_dirs_stay_on_this_machine_difference(hub, repo_name, mount, tmp_path):
    hub.seed(repo_name, files=SEED)
    cache = str(tmp_path / "cache-a")
    m = mount(repo_name, opts=SLOW, cache_dir=cache)
    m.hub, m.repo = hub, repo_name
    os.makedirs(m.p("new/empty"))
    os.unlink(m.p("e/only.txt"))
    sync(m)
    assert m.unmount() == 0
    again = mount(repo_name, opts=SLOW, cache_dir=cache)  # same cache: still there
    assert os.path.isdir(again.p("new/empty")) and os.path.isdir(again.p("e"))
    other = mount(repo_name, opts=SLOW)  # another machine: the Hub has no empty folders
    assert not os.path.exists(other.p("new")) and not os.path.exists(other.p("e"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["c.txt", "d/sub/y.txt"])
def test_directory_made_where_a_committed_file_was_deleted(m, where):
    """unlink of a committed file, then mkdir at its name: listings show a directory there
    (they showed the commit's file, while a lookup said directory), before and after the
    commit, and the Hub ends with the directory's file, not the old one."""
    os.unlink(m.p(where))
    os.mkdir(m.p(where))
    parent, name = os.path.split(m.p(where))
    entries = {e.name: e for e in os.scandir(parent)}
    assert name in entries and entries[name].is_dir(follow_symlinks=False)
    assert os.listdir(m.p(where)) == []
    write(m.p(where, "inner.txt"), b"inner\n")
    entries = {e.name: e for e in os.scandir(parent)}
    assert entries[name].is_dir(follow_symlinks=False)
    assert os.listdir(m.p(where)) == ["inner.txt"]
    sync(m)
    entries = {e.name: e for e in os.scandir(parent)}
    assert entries[name].is_dir(follow_symlinks=False)
    assert os.listdir(m.p(where)) == ["inner.txt"]
    assert_hub_matches_mount(m)
