"""Write path through real FUSE mounts against hubsim: batched commits of cp/rsync/training
loops, in-place changes, renames (LFS objects reused, no upload), deletes, local directories
and attributes, read-your-writes, fsync, permissions, crash safety (kill -9) and draining on
SIGTERM.  Commit counts and content are checked through the emulator's state and log."""
import errno
import json
import os
import shutil
import signal
import subprocess

import pytest

from conftest import HUBMOUNT, TOKENS, seeded_bytes, sha256_file, wait_until
from relhelp import commits_after, head, read, sha256, write

MiB = 1024 * 1024
PY = "/usr/bin/python3"

# Fast commits for tests: 1 s quiet period, 30 s window, no polling noise.
FAST = ["commit_delay=1", "commit_window=30", "poll=0"]


def files(hub, repo):
    return hub.state(repo)["files"]


def wait_commit(hub, repo, base, n=1, timeout=30):
    """The quiet period / window made at least `n` commits on its own (no sync)."""
    assert wait_until(lambda: len(commits_after(hub, repo, base)) >= n, timeout=timeout), \
        "expected %d commit(s) after %s, have %d" % (n, base[:12], len(commits_after(hub, repo, base)))
    return commits_after(hub, repo, base)


def synced_commits(m, hub, repo, base):
    """Commits after `base` once everything pending on mount m is committed: `hubmount sync`
    is the barrier, so a commit that would have landed later is made now and counted (a
    sleep-then-count would miss it)."""
    hubmount_sync(m)
    return commits_after(hub, repo, base)


def pending_ops(m):
    """Operations waiting to be committed, from `hubmount status --json`."""
    r = subprocess.run([HUBMOUNT, "status", "--json", m.path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["pending"]["operations"]


def hub_bytes(hub, repo, path):
    return hub.download(repo, path)


@pytest.fixture
def base_repo(hub, repo_name):
    """A repo with one config and one LFS file; returns its head."""
    hub.seed(repo_name, files={"README.md": b"# base\n", "cfg/config.json": b'{"a": 1}\n'},
             lfs_files={"w/model.safetensors": {"size": 3 * MiB + 5, "seed": 7}})
    return head(hub, repo_name)


# ---------------------------------------------------------------- cp / rsync / training

@pytest.mark.timeout(300)
def test_cp_r_checkpoint_is_one_commit(hub, repo_name, base_repo, mount, tmp_path):
    hub.set_config(multipart_chunk_size=8 * MiB)
    src = tmp_path / "ckpt"
    src.mkdir()
    (src / "tokenizer").mkdir()
    blobs = {
        "config.json": b'{"hidden": 64}\n',
        "generation_config.json": b'{"max": 8}\n',
        "tokenizer/tokenizer.json": b'{"vocab": {}}\n' * 100,
        "model-00001.safetensors": seeded_bytes(11, 30 * MiB),
        "model-00002.safetensors": seeded_bytes(12, 30 * MiB),
        "model-00003.safetensors": seeded_bytes(13, 30 * MiB + 17),  # > chunk: multipart
        "optimizer.bin": seeded_bytes(14, 20 * MiB),
    }
    for p, d in blobs.items():
        write(src / p, d)
    m = mount(repo_name, opts=FAST)
    hub.clear_log()
    subprocess.run(["cp", "-r", str(src), m.p("ckpt")], check=True)
    # read-your-writes before the commit
    assert sorted(os.listdir(m.p("ckpt"))) == sorted(
        ["config.json", "generation_config.json", "tokenizer", "model-00001.safetensors",
         "model-00002.safetensors", "model-00003.safetensors", "optimizer.bin"])
    assert read(m.p("ckpt/config.json")) == blobs["config.json"]
    wait_commit(hub, repo_name, base_repo)
    new = synced_commits(m, hub, repo_name, base_repo)
    assert len(new) == 1  # exactly ONE commit
    st = files(hub, repo_name)
    for p, d in blobs.items():
        e = st["ckpt/" + p]
        assert e["size"] == len(d)
        assert e["sha256"] == sha256(d), p
    assert st["ckpt/model-00001.safetensors"]["lfs"]
    assert not st["ckpt/config.json"]["lfs"]
    # the base content is untouched
    assert "w/model.safetensors" in st and "README.md" in st
    log = hub.log()
    parts = [e for e in log if e["origin"] == "cdn" and e["method"] == "PUT"]
    assert len(parts) >= 5  # 4 LFS files, one of them in several parts
    commits = [e for e in log if e["method"] == "POST" and "/commit/" in e["path"]]
    assert len(commits) == 1 and commits[0]["status"] == 200
    assert new[0] == head(hub, repo_name)
    # after the commit: still listed and readable (now from the commit / the cache)
    assert sha256_file(m.p("ckpt/model-00003.safetensors")) == sha256(blobs["model-00003.safetensors"])


@pytest.mark.timeout(300)
def test_rsync_many_small_and_two_large(hub, repo_name, base_repo, mount, tmp_path):
    if not shutil.which("rsync"):
        pytest.skip("rsync not installed")
    src = tmp_path / "data"
    for i in range(300):
        d = src / ("part%02d" % (i % 12))
        d.mkdir(parents=True, exist_ok=True)
        write(d / ("f%03d.txt" % i), b"row %d\n" % i * (i % 7 + 1))
    write(src / "big1.bin", seeded_bytes(21, 12 * MiB))
    write(src / "big2.bin", seeded_bytes(22, 11 * MiB))
    m = mount(repo_name, opts=FAST)
    r = subprocess.run(["rsync", "-a", str(src) + "/", m.p("data") + "/"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wait_commit(hub, repo_name, base_repo)
    new = synced_commits(m, hub, repo_name, base_repo)
    assert 1 <= len(new) <= 3
    st = files(hub, repo_name)
    names = [p for p in st if p.startswith("data/")]
    assert len(names) == 302
    assert not any("/." in p or ".~tmp~" in p for p in names), [p for p in names if "/." in p]
    assert st["data/big1.bin"]["sha256"] == sha256(seeded_bytes(21, 12 * MiB))
    assert st["data/part03/f003.txt"]["size"] == len(b"row 3\n" * 4)
    # second rsync: nothing to transfer, no commit
    base2 = head(hub, repo_name)
    r = subprocess.run(["rsync", "-a", "--itemize-changes", str(src) + "/", m.p("data") + "/"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    transferred = [ln for ln in r.stdout.splitlines() if ln.startswith(">f")]
    assert transferred == []
    assert synced_commits(m, hub, repo_name, base2) == []


TRAIN = r"""
import os, shutil, sys
root, first = sys.argv[1], int(sys.argv[2])
try:
    import torch
    def save(obj, path): torch.save(obj, path)
    def make(i): return {"w": torch.full((64, 64), float(i)), "step": i}
except Exception:
    import numpy as np
    def save(obj, path):
        with open(path, "wb") as f: np.save(f, obj["w"])
    def make(i): return {"w": np.full((64, 64), float(i))}
os.makedirs(os.path.join(root, "ckpt"), exist_ok=True)
keep = 2
for step in range(first, first + 500, 100):
    tmp = os.path.join(root, "ckpt", "tmp-checkpoint-%d" % step)
    os.makedirs(tmp)
    save(make(step), os.path.join(tmp, "model.pt"))
    with open(os.path.join(tmp, "trainer_state.json"), "w") as f:
        f.write('{"step": %d}\n' % step)
    os.rename(tmp, os.path.join(root, "ckpt", "checkpoint-%d" % step))
    old = step - keep * 100
    if old >= 100:
        shutil.rmtree(os.path.join(root, "ckpt", "checkpoint-%d" % old))
print("ok")
"""


def hubmount_sync(m):
    """`hubmount sync`: returns when everything pending is committed."""
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def hub_checkpoints(hub, repo):
    return sorted({p.split("/")[1] for p in files(hub, repo) if p.startswith("ckpt/")})


@pytest.mark.timeout(400)
def test_training_loop_keeps_last_checkpoints(hub, repo_name, base_repo, mount):
    # 1 s quiet period, 3 s window: commits land during the loop or at any moment after it,
    # depending on how fast the loop runs; nothing below may depend on when.
    m = mount(repo_name, opts=["commit_delay=1", "commit_window=3", "poll=0"])
    r = subprocess.run([PY, "-c", TRAIN, m.path, "100"], capture_output=True, text=True,
                       timeout=150)
    assert r.returncode == 0, r.stderr
    last = ["checkpoint-400", "checkpoint-500"]
    assert sorted(os.listdir(m.p("ckpt"))) == last
    hubmount_sync(m)
    # After the commit the kernel still holds the node of ckpt/, made here: it lists the
    # commit's content (it was empty until the kernel looked the name up again).
    assert sorted(os.listdir(m.p("ckpt"))) == last
    assert sorted(os.listdir(m.p("ckpt/checkpoint-500"))) == ["model.pt", "trainer_state.json"]
    assert hub_checkpoints(hub, repo_name) == last
    assert not any("tmp-checkpoint" in p for p in files(hub, repo_name))
    assert len(commits_after(hub, repo_name, base_repo)) >= 1
    assert m.unmount() == 0

    # Batching, however fast the loop runs: with no quiet period or window ending within
    # this test, five more checkpoints (renamed directories, rmtree of committed ones)
    # reach the Hub as ONE commit, at `hubmount sync`.
    before = head(hub, repo_name)
    m2 = mount(repo_name, opts=["commit_delay=3600", "commit_window=3600", "poll=0"])
    r = subprocess.run([PY, "-c", TRAIN, m2.path, "600"], capture_output=True, text=True,
                       timeout=150)
    assert r.returncode == 0, r.stderr
    last = ["checkpoint-900", "checkpoint-1000"]
    assert sorted(os.listdir(m2.p("ckpt"))) == sorted(last)
    assert pending_ops(m2) > 0  # held back by the hour-long quiet period, not yet sent
    assert commits_after(hub, repo_name, before) == []
    hubmount_sync(m2)
    assert len(commits_after(hub, repo_name, before)) == 1
    assert sorted(os.listdir(m2.p("ckpt"))) == sorted(last)
    assert hub_checkpoints(hub, repo_name) == sorted(last)
    assert not any("tmp-checkpoint" in p for p in files(hub, repo_name))

    # a fresh mount reads the checkpoints back
    m3 = mount(repo_name, opts=["poll=0"])
    data = read(m3.p("ckpt/checkpoint-1000/trainer_state.json"))
    assert data == b'{"step": 1000}\n'
    check = r"""
import sys
try:
    import torch
    print(float(torch.load(sys.argv[1])["w"][0][0]))
except ImportError:
    import numpy as np
    print(float(np.load(sys.argv[1])[0][0]))
"""
    r = subprocess.run([PY, "-c", check, m3.p("ckpt/checkpoint-1000/model.pt")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1000.0"


# ---------------------------------------------------------------- in-place changes

@pytest.mark.timeout(120)
def test_overwrite_append_pwrite_truncate(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=FAST)
    # O_TRUNC overwrite of a committed file
    write(m.p("README.md"), b"# new readme\n")
    assert read(m.p("README.md")) == b"# new readme\n"
    # append to a committed file
    with open(m.p("cfg/config.json"), "ab") as f:
        f.write(b"// appended\n")
    assert read(m.p("cfg/config.json")) == b'{"a": 1}\n// appended\n'
    # pwrite into a committed LFS file (copy-on-write of 3 MiB)
    fd = os.open(m.p("w/model.safetensors"), os.O_RDWR)
    os.pwrite(fd, b"PATCH", 1000)
    os.close(fd)
    # truncate(2) of a file nobody has open
    os.truncate(m.p("cfg/config.json"), 4)
    assert os.stat(m.p("cfg/config.json")).st_size == 4
    wait_commit(hub, repo_name, base_repo)
    assert len(synced_commits(m, hub, repo_name, base_repo)) == 1
    assert hub_bytes(hub, repo_name, "README.md") == b"# new readme\n"
    assert hub_bytes(hub, repo_name, "cfg/config.json") == b'{"a"'
    want = bytearray(seeded_bytes(7, 3 * MiB + 5))
    want[1000:1005] = b"PATCH"
    assert files(hub, repo_name)["w/model.safetensors"]["sha256"] == sha256(bytes(want))
    assert sha256_file(m.p("w/model.safetensors")) == sha256(bytes(want))


@pytest.mark.timeout(120)
def test_read_your_writes_before_commit(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=30", "commit_window=60", "poll=0"])
    os.makedirs(m.p("new/dir"))
    write(m.p("new/dir/a.txt"), b"hello")
    assert os.listdir(m.p("new/dir")) == ["a.txt"]
    assert os.stat(m.p("new/dir/a.txt")).st_size == 5
    assert read(m.p("new/dir/a.txt")) == b"hello"
    assert "new" in os.listdir(m.path)
    assert pending_ops(m) > 0  # held back by the 30 s quiet period
    assert commits_after(hub, repo_name, base_repo) == []  # not committed yet
    # fsync forces the commit and returns after it exists
    fd = os.open(m.p("new/dir/a.txt"), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    assert len(commits_after(hub, repo_name, base_repo)) == 1
    assert hub_bytes(hub, repo_name, "new/dir/a.txt") == b"hello"


@pytest.mark.timeout(120)
def test_fsync_of_written_file_commits(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=30", "commit_window=60", "poll=0"])
    fd = os.open(m.p("f.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"durable")
    os.fsync(fd)  # the open file's content is recorded and committed now
    assert len(commits_after(hub, repo_name, base_repo)) == 1
    assert hub_bytes(hub, repo_name, "f.txt") == b"durable"
    os.write(fd, b"+more")
    os.close(fd)
    os.unlink(m.p("README.md"))
    fd = os.open(m.path, os.O_RDONLY)
    os.fsync(fd)  # fsync of the root directory: commit now (without waiting for it)
    os.close(fd)
    assert wait_until(lambda: len(commits_after(hub, repo_name, base_repo)) == 2, timeout=10)
    assert len(synced_commits(m, hub, repo_name, base_repo)) == 2
    assert hub_bytes(hub, repo_name, "f.txt") == b"durable+more"
    assert "README.md" not in files(hub, repo_name)


# ---------------------------------------------------------------- renames, deletes, dirs

@pytest.mark.timeout(120)
def test_rename_committed_lfs_file_reuses_object(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=FAST)
    hub.clear_log()
    os.rename(m.p("w/model.safetensors"), m.p("w/renamed.safetensors"))
    assert not os.path.exists(m.p("w/model.safetensors"))
    assert sha256_file(m.p("w/renamed.safetensors")) == sha256(seeded_bytes(7, 3 * MiB + 5))
    wait_commit(hub, repo_name, base_repo)
    st = files(hub, repo_name)
    assert "w/model.safetensors" not in st
    assert st["w/renamed.safetensors"]["sha256"] == sha256(seeded_bytes(7, 3 * MiB + 5))
    log = hub.log()
    assert not [e for e in log if e["origin"] == "cdn" and e["method"] == "PUT"]  # no upload
    assert not [e for e in log if "/info/lfs/objects/batch" in e["path"]]


@pytest.mark.timeout(120)
def test_folder_rename_is_one_commit(hub, repo_name, mount):
    hub.seed(repo_name, files={"a/x.txt": b"x", "a/sub/y.txt": b"y", "keep.txt": b"k"},
             lfs_files={"a/w.bin": {"size": 2 * MiB, "seed": 3}})
    base = head(hub, repo_name)
    m = mount(repo_name, opts=FAST)
    os.rename(m.p("a"), m.p("b"))
    assert sorted(os.listdir(m.p("b"))) == ["sub", "w.bin", "x.txt"]
    assert not os.path.exists(m.p("a"))
    wait_commit(hub, repo_name, base)
    assert len(synced_commits(m, hub, repo_name, base)) == 1
    st = files(hub, repo_name)
    assert sorted(p for p in st if not p.startswith(".")) == \
        ["b/sub/y.txt", "b/w.bin", "b/x.txt", "keep.txt"]
    assert hub_bytes(hub, repo_name, "b/sub/y.txt") == b"y"


@pytest.mark.timeout(120)
def test_unlink_rmdir_and_local_only_files(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=FAST)
    os.unlink(m.p("README.md"))
    assert not os.path.exists(m.p("README.md"))
    with pytest.raises(OSError) as ei:
        os.rmdir(m.p("cfg"))
    assert ei.value.errno == errno.ENOTEMPTY
    os.unlink(m.p("cfg/config.json"))
    os.rmdir(m.p("cfg"))
    assert not os.path.exists(m.p("cfg"))
    # a file created and deleted before the commit never reaches the Hub
    write(m.p("scratch.tmp"), b"zzz")
    os.unlink(m.p("scratch.tmp"))
    wait_commit(hub, repo_name, base_repo)
    assert len(synced_commits(m, hub, repo_name, base_repo)) == 1
    st = files(hub, repo_name)
    assert "README.md" not in st and "cfg/config.json" not in st and "scratch.tmp" not in st
    assert "w/model.safetensors" in st


@pytest.mark.timeout(120)
def test_mkdir_p_and_attrs_persist_across_remount(hub, repo_name, base_repo, mount, tmp_path):
    cache = str(tmp_path / "shared-cache")
    m = mount(repo_name, opts=FAST, cache_dir=cache)
    os.makedirs(m.p("empty/deeper/still"))
    os.chmod(m.p("w/model.safetensors"), 0o600)
    os.utime(m.p("README.md"), (1_600_000_000, 1_600_000_000))
    assert m.unmount() == 0
    m2 = mount(repo_name, opts=FAST, cache_dir=cache)
    assert os.path.isdir(m2.p("empty/deeper/still"))
    assert os.listdir(m2.p("empty/deeper/still")) == []
    assert os.stat(m2.p("w/model.safetensors")).st_mode & 0o777 == 0o600
    assert os.stat(m2.p("README.md")).st_mtime == 1_600_000_000
    assert pending_ops(m2) == 0
    assert synced_commits(m2, hub, repo_name, base_repo) == []  # nothing of this is a commit
    # a file landing in the empty directory makes it real
    write(m2.p("empty/deeper/still/f.txt"), b"f")
    wait_commit(hub, repo_name, base_repo)
    assert "empty/deeper/still/f.txt" in files(hub, repo_name)


@pytest.mark.timeout(60)
def test_symlink_and_hardlink_refused(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=FAST)
    with pytest.raises(OSError) as ei:
        os.symlink("README.md", m.p("link"))
    assert ei.value.errno == errno.EPERM
    with pytest.raises(OSError) as ei:
        os.link(m.p("README.md"), m.p("hard"))
    assert ei.value.errno == errno.EPERM
    with pytest.raises(OSError) as ei:
        os.mkfifo(m.p("fifo"))
    assert ei.value.errno == errno.EPERM


def renameat2(old, new, flags):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    if libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@pytest.mark.timeout(60)
def test_rename_flags(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=FAST)
    write(m.p("a.txt"), b"a")
    with pytest.raises(OSError) as ei:
        renameat2(m.p("a.txt"), m.p("README.md"), 1)  # RENAME_NOREPLACE
    assert ei.value.errno == errno.EEXIST
    renameat2(m.p("a.txt"), m.p("b.txt"), 1)
    assert read(m.p("b.txt")) == b"a"
    with pytest.raises(OSError) as ei:
        renameat2(m.p("b.txt"), m.p("README.md"), 2)  # RENAME_EXCHANGE
    assert ei.value.errno == errno.EINVAL
    # rename over an existing committed file replaces it
    os.rename(m.p("b.txt"), m.p("README.md"))
    assert read(m.p("README.md")) == b"a"
    with pytest.raises(OSError) as ei:
        os.rename(m.p("cfg"), m.p("cfg/inside"))
    assert ei.value.errno == errno.EINVAL
    wait_commit(hub, repo_name, base_repo)
    st = files(hub, repo_name)
    assert "b.txt" not in st and "a.txt" not in st
    assert hub_bytes(hub, repo_name, "README.md") == b"a"


@pytest.mark.timeout(120)
def test_status_and_sync_commands(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=60", "commit_window=120", "poll=0"],
              allow=[r"not committed"])
    write(m.p("s.txt"), b"s")
    r = subprocess.run([HUBMOUNT, "status", m.path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "pending: 1 operation(s), 1 file(s), 1 bytes" in r.stdout
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert hub_bytes(hub, repo_name, "s.txt") == b"s"
    r = subprocess.run([HUBMOUNT, "status", m.path], capture_output=True, text=True)
    assert "pending: 0 operation(s)" in r.stdout and "commits: 1 since mount" in r.stdout
    assert "last error: none" in r.stdout
    # a failing commit: sync exits 1, status shows the error, nothing is lost
    hub.add_faults({"method": "POST", "path": "/commit/", "action": "status", "status": 403,
                    "error_message": "forbidden", "count": 1})
    write(m.p("t.txt"), b"t")
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Permission denied" in r.stderr
    assert "failed: 1" in r.stdout
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert hub_bytes(hub, repo_name, "t.txt") == b"t"


# ---------------------------------------------------------------- permissions

@pytest.mark.timeout(60)
def test_read_token_gets_eacces_before_copying(hub, repo_name, base_repo, mount):
    m = mount(repo_name, token=TOKENS["read"], opts=FAST)
    hub.clear_log()
    for fn in (lambda: os.open(m.p("new.bin"), os.O_WRONLY | os.O_CREAT, 0o644),
               lambda: os.open(m.p("README.md"), os.O_WRONLY | os.O_TRUNC),
               lambda: os.mkdir(m.p("d")),
               lambda: os.unlink(m.p("README.md")),
               lambda: os.rename(m.p("README.md"), m.p("R.md")),
               lambda: os.truncate(m.p("README.md"), 0),
               lambda: os.chmod(m.p("README.md"), 0o600)):
        with pytest.raises(OSError) as ei:
            fn()
        assert ei.value.errno == errno.EACCES
    assert pending_ops(m) == 0
    assert synced_commits(m, hub, repo_name, base_repo) == []
    assert not [e for e in hub.log() if e["method"] in ("POST", "PUT")
                and ("/commit/" in e["path"] or "/preupload/" in e["path"])]


@pytest.mark.timeout(60)
def test_tag_mount_is_read_only(hub, repo_name, base_repo, mount, emu):
    from hubclient import Client
    Client(emu.url, token=TOKENS["write"]).json(
        "POST", "/api/models/%s/tag/main" % repo_name, {"tag": "v1"})
    m = mount(repo_name + "@v1", opts=["poll=0"])
    with pytest.raises(OSError) as ei:
        os.open(m.p("x"), os.O_WRONLY | os.O_CREAT, 0o644)
    assert ei.value.errno == errno.EROFS


# ---------------------------------------------------------------- failures, crash, drain

@pytest.mark.timeout(120)
def test_commit_failure_kept_and_reported_then_retried(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=30", "commit_window=60", "poll=0"],
              allow=[r"not committed", r"commit"])
    hub.add_faults({"method": "POST", "path": "/commit/", "action": "status", "status": 403,
                    "error_message": "You don't have the rights", "count": 1})
    fd = os.open(m.p("denied.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"d")
    with pytest.raises(OSError) as ei:
        os.fsync(fd)
    assert ei.value.errno == errno.EACCES
    os.close(fd)
    assert read(m.p("denied.txt")) == b"d"  # kept, still readable
    # the next fsync retries (the fault is used up) and succeeds
    fd = os.open(m.p("denied.txt"), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    assert hub_bytes(hub, repo_name, "denied.txt") == b"d"


@pytest.mark.timeout(120)
def test_stale_parent_rebases_and_keeps_other_commits(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=30", "commit_window=60", "poll=0"])
    hub.add_faults({"method": "POST", "path": "/commit/", "action": "concurrent_commit",
                    "count": 1})
    write(m.p("ours.txt"), b"ours")
    fd = os.open(m.p("ours.txt"), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    st = files(hub, repo_name)
    assert "ours.txt" in st
    assert any(p.startswith(".hubsim-concurrent") for p in st)  # the other commit survived


@pytest.mark.timeout(120)
def test_upload_faults_are_retried(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=30", "commit_window=60", "poll=0"])
    hub.add_faults({"method": "PUT", "path": "/", "origin": "cdn", "action": "status",
                    "status": 503, "count": 2},
                   {"method": "POST", "path": "/preupload/", "action": "reset", "count": 1})
    data = seeded_bytes(31, 12 * MiB)
    write(m.p("big.bin"), data)
    fd = os.open(m.p("big.bin"), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    assert files(hub, repo_name)["big.bin"]["sha256"] == sha256(data)


@pytest.mark.timeout(120)
def test_lost_commit_answer_is_not_replayed(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=30", "commit_window=60", "poll=0"])
    # the commit is applied but its answer is cut in half
    hub.add_faults({"method": "POST", "path": "/commit/", "action": "truncate", "count": 1})
    write(m.p("once.txt"), b"1")
    fd = os.open(m.p("once.txt"), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    assert len(commits_after(hub, repo_name, base_repo)) == 1  # not sent twice
    assert hub_bytes(hub, repo_name, "once.txt") == b"1"
    assert "already on the Hub" in m.stderr()


@pytest.mark.timeout(180)
def test_kill_9_after_close_commits_exactly_once_on_restart(hub, repo_name, base_repo, mount,
                                                             tmp_path):
    cache = str(tmp_path / "crash-cache")
    m = mount(repo_name, opts=["commit_delay=60", "commit_window=120", "poll=0"],
              cache_dir=cache)
    write(m.p("a.txt"), b"survives")
    write(m.p("b.bin"), seeded_bytes(41, 11 * MiB))
    os.unlink(m.p("README.md"))
    os.kill(m.proc.pid, signal.SIGKILL)
    m.proc.wait()
    subprocess.run(["fusermount3", "-u", "-z", m.path])
    m.unmounted = True
    assert commits_after(hub, repo_name, base_repo) == []
    m2 = mount(repo_name, opts=["commit_delay=1", "commit_window=30", "poll=0"], cache_dir=cache)
    assert read(m2.p("a.txt")) == b"survives"  # visible again before the commit
    wait_commit(hub, repo_name, base_repo)
    assert len(synced_commits(m2, hub, repo_name, base_repo)) == 1
    st = files(hub, repo_name)
    assert "README.md" not in st
    assert st["b.bin"]["sha256"] == sha256(seeded_bytes(41, 11 * MiB))
    # a third start has nothing left to do
    assert m2.unmount() == 0
    base2 = head(hub, repo_name)
    hub.clear_log()
    m3 = mount(repo_name, opts=FAST, cache_dir=cache)
    assert synced_commits(m3, hub, repo_name, base2) == []
    assert not [e for e in hub.log() if e["method"] == "POST" and "/commit/" in e["path"]]


# kill -9 while the commit request is held by the emulator (sent, its answer pending), then
# a restart that finds the commit already on the Hub and does not send it again:
# test_crash.py::test_kill_9_at_each_stage[commit_sent].


@pytest.mark.timeout(120)
def test_sigterm_drains_pending_commits(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=60", "commit_window=120", "poll=0"])
    write(m.p("late.txt"), b"drained")
    os.kill(m.proc.pid, signal.SIGTERM)
    assert m.proc.wait(60) == 0
    m.unmounted = True
    subprocess.run(["fusermount3", "-u", "-z", m.path], stderr=subprocess.DEVNULL)
    assert hub_bytes(hub, repo_name, "late.txt") == b"drained"


@pytest.mark.timeout(120)
def test_unmount_drains_pending_commits(hub, repo_name, base_repo, mount):
    m = mount(repo_name, opts=["commit_delay=60", "commit_window=120", "poll=0"])
    write(m.p("late.txt"), b"unmounted")
    assert m.unmount(60) == 0
    assert hub_bytes(hub, repo_name, "late.txt") == b"unmounted"


@pytest.mark.timeout(60)
def test_local_disk_full_is_enospc(hub, repo_name, base_repo, mount, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)]).returncode:
        pytest.skip("cannot mount tmpfs")
    try:
        m = mount(repo_name, opts=FAST, cache_dir=str(small / "cache"),
                  allow=[r"No space left"])
        with pytest.raises(OSError) as ei:
            write(m.p("huge.bin"), b"x" * (8 * MiB))
        assert ei.value.errno == errno.ENOSPC
        hubmount_sync(m)
        assert "huge.bin" not in files(hub, repo_name)
        assert m.unmount() == 0
    finally:
        subprocess.run(["umount", "-l", str(small)])
