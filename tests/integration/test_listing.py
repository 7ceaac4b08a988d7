"""Listings of a writable mount stay consistent while our own commits land.

A directory listing merges two things: the tree of the commit the mount shows and the local
changes not committed yet.  When a commit of ours lands, the mount switches to the new commit
and the changes it carried leave the pending set.  A listing that read the commit before the
switch and the pending set after it saw the OLD tree without the local delete: a file removed
here came back in `ls` for a moment, and the lookup that followed said ENOENT (the model-based
test found it as a FileNotFoundError while walking the tree).  These tests list without pause
while commits of deletes and creates land, and check every listing against what had already
happened before it began."""
import os
import subprocess
import threading

import pytest

from conftest import HUBMOUNT, fsync_dir

N = 60
# Commits only when asked (fsync of a directory asks for one now, without waiting).
OPTS = ["commit_delay=60", "commit_window=60", "poll=0"]


class Lister(threading.Thread):
    """Lists `path` again and again.  A listing must not show a name deleted before it
    began, and must show every name that existed from its beginning to its end."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.lock = threading.Lock()
        self.gone, self.must = set(), set()
        self.stop = threading.Event()
        self.listings = 0
        self.bad = []

    def watch(self, path, must):
        """List `path` from now on; it holds `must`."""
        with self.lock:
            self.path, self.must, self.gone = path, set(must), set()

    def update(self, gone=(), must=(), going=()):
        """gone: deleted (unlink returned); must: created (close returned); going: about to
        be deleted (from here on a listing may or may not show it)."""
        with self.lock:
            self.must -= set(going)
            self.gone |= set(gone)
            self.must -= set(gone)
            self.must |= set(must)
            self.gone -= set(must)

    def run(self):
        while not self.stop.is_set() and len(self.bad) < 5:
            with self.lock:
                gone, must, path = set(self.gone), set(self.must), self.path
            try:
                names = set(os.listdir(path))
            except OSError as e:
                self.bad.append("listdir: %r" % e)
                continue
            with self.lock:
                must &= self.must  # a name deleted while we listed may go either way
                if path != self.path:
                    continue
            self.listings += 1
            if names & gone:
                self.bad.append("deleted before the listing began, listed: %s"
                                % sorted(names & gone))
            if must - names:
                self.bad.append("%s: there all through the listing, missing: %s"
                                % (os.path.basename(path), sorted(must - names)))


def sync(m):
    r = subprocess.run([HUBMOUNT, "sync", m.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.timeout(180)
def test_listing_while_our_commits_land(hub, repo_name, mount):
    hub.seed(repo_name, files={"old%02d.txt" % i: b"committed %d\n" % i for i in range(N)})
    m = mount(repo_name, opts=OPTS)
    lister = Lister(m.path)
    lister.update(must=["old%02d.txt" % i for i in range(N)])
    lister.start()
    try:
        for i in range(N):
            # a committed file goes, a new one comes; each change is committed at once
            lister.update(going=["old%02d.txt" % i])
            os.unlink(m.p("old%02d.txt" % i))
            lister.update(gone=["old%02d.txt" % i])
            with open(m.p("new%02d.txt" % i), "wb") as f:
                f.write(b"new %d\n" % i)
            lister.update(must=["new%02d.txt" % i])
            fsync_dir(m.path)
            if i % 10 == 9:
                sync(m)
        sync(m)
    finally:
        lister.stop.set()
        lister.join(30)
    assert not lister.bad, "\n".join(lister.bad)
    assert lister.listings > N, "the lister ran only %d times" % lister.listings
    files = hub.state(repo_name)["files"]
    assert sorted(p for p in files if p != ".gitattributes") == \
        ["new%02d.txt" % i for i in range(N)]


@pytest.mark.timeout(180)
def test_listing_of_directories_made_here_while_they_are_committed(hub, repo_name, mount):
    """A directory made on the mount is local until the commit of its first files lands;
    then it is a directory of the commit.  Listed again and again across that switch, it
    must always show its file (it was empty for a moment, or until the kernel looked the
    name up again)."""
    hub.seed(repo_name, files={"seed.txt": b"seed\n"})
    m = mount(repo_name, opts=OPTS)
    lister = Lister(m.path)
    lister.start()
    try:
        for i in range(20):
            d = m.p("made%02d" % i)
            os.mkdir(d)
            with open(os.path.join(d, "f.txt"), "wb") as f:
                f.write(b"%d\n" % i)
            lister.watch(d, ["f.txt"])
            fsync_dir(m.path)
            sync(m)  # the lister keeps listing while the commit lands
    finally:
        lister.stop.set()
        lister.join(30)
    assert not lister.bad, "\n".join(lister.bad)
    assert lister.listings > 20, "the lister ran only %d times" % lister.listings
    files = hub.state(repo_name)["files"]
    assert sorted(p for p in files if p.startswith("made")) == \
        ["made%02d/f.txt" % i for i in range(20)]


@pytest.mark.timeout(120)
def test_directory_made_here_lists_its_files_when_paths_info_failed_after_the_commit(
        hub, repo_name, mount):
    """After a commit the worker asks paths-info of the new commit to turn directories made
    here into directories of the commit.  When that request fails for good (the commit is on
    the Hub all the same), such a directory must still list its committed files, at once or
    once the Hub answers again — not list empty until the kernel forgets it."""
    hub.seed(repo_name, files={"seed.txt": b"seed\n"})
    m = mount(repo_name, opts=OPTS, allow=[r"paths-info", r"listings"])
    os.mkdir(m.p("made"))
    with open(m.p("made", "f.txt"), "wb") as f:
        f.write(b"made here\n")
    assert os.listdir(m.p("made")) == ["f.txt"]
    hub.add_faults({"path": "/paths-info/", "action": "status", "status": 500, "count": 1000})
    sync(m)
    hub.clear_faults()
    assert hub.state(repo_name)["files"]["made/f.txt"]["size"] == 10
    assert os.listdir(m.p("made")) == ["f.txt"]
    with open(m.p("made", "f.txt"), "rb") as f:
        assert f.read() == b"made here\n"
