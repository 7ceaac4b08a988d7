"""A malicious or broken server (tests/integration/hostile_server.py) must not crash hubmount,
make it hang, or let anything escape the mount: each misbehaviour gets a clear errno and a log
line, and after each the daemon still serves a normal file.  One mount for the module (the
cases are independent directories and files of one repo)."""
import errno
import os
import re
import subprocess

import pytest

from conftest import HUBMOUNT, SANITIZER_LINE, daemon_env, wait_mounted, wait_until
from hostile_server import FORGED, LFS_BYTES, NORMAL, HostileServer

LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} hubmount (error|warn|info|debug): ")


class Hostile:
    def __init__(self, srv, path, proc, log_path):
        self.srv, self.path, self.proc, self.log_path = srv, path, proc, log_path
        self.seen = 0

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def new_log(self):
        """Daemon output since the previous call."""
        text = self.log()
        new, self.seen = text[self.seen:], len(text)
        return new


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    srv = HostileServer().start()
    base = tmp_path_factory.mktemp("hostile")
    mnt, home = base / "mnt", base / "home"
    mnt.mkdir()
    home.mkdir()
    log_path = str(base / "hubmount.log")
    with open(log_path, "w") as err:
        proc = subprocess.Popen(
            [HUBMOUNT, "evil/repo", str(mnt), "-f", "-o",
             "endpoint=%s,cache_dir=%s,poll=0,log_level=debug" % (srv.url, base / "cache")],
            stdin=subprocess.DEVNULL, stdout=err, stderr=err,
            env=daemon_env(None, None, str(home)))
    h = Hostile(srv, str(mnt), proc, log_path)
    if not wait_mounted(str(mnt), proc):
        srv.stop()
        pytest.fail("mount on the hostile server failed:\n" + h.log())
    yield h
    subprocess.run(["fusermount3", "-u", "-z", str(mnt)], stderr=subprocess.DEVNULL)
    try:
        rc = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    srv.stop()
    text = h.log()
    assert not SANITIZER_LINE.search(text), text[-3000:]
    assert rc == 0, "daemon exit %r:\n%s" % (rc, text[-3000:])
    # every line the daemon printed is one of its log lines: no line forged by a server name
    odd = [ln for ln in text.splitlines() if ln and not LOG_LINE.match(ln)]
    assert odd == [], odd[:5]


def still_serving(h):
    assert h.proc.poll() is None, "the daemon died:\n" + h.log()[-3000:]
    with open(h.p("normal.txt"), "rb") as f:
        assert f.read() == NORMAL


LISTINGS = [
    ("dotdot", "invalid path"),
    ("abs", "invalid path"),
    ("nul", "unparsable JSON"),  # jansson refuses \u0000 unless asked (then: invalid path)
    ("slash", "below a subdirectory"),
    ("elsewhere", "outside it"),
    ("dup", "names one path twice"),
    ("filedir", "names one path twice"),
    ("toobig", "over the cap"),
    ("endless_json", "over the cap"),
    ("badjson", "unparsable JSON"),
    ("notarray", "without a type or a path"),
    (FORGED, "outside it"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name,message", LISTINGS, ids=[n.split("\n")[0] for n, _ in LISTINGS])
def test_hostile_listing_is_eio(hostile, name, message):
    h = hostile
    h.new_log()
    with pytest.raises(OSError) as ei:
        os.listdir(h.p(name))
    assert ei.value.errno == errno.EIO
    with pytest.raises(OSError) as ei:
        os.stat(h.p(name, "a"))
    assert ei.value.errno == errno.EIO
    assert message in h.new_log()
    still_serving(h)
    # nothing escaped: no name of the bad listing appears anywhere in or next to the mount
    assert sorted(n for n in os.listdir(h.path) if "." in n) == sorted(
        ["badhash.bin", "endless.bin", "fileurl.bin", "ftp.bin", "linked.bin", "loop.bin",
         "normal.txt", "pingpong.bin", "short.bin"])
    parent = os.path.dirname(h.path)
    assert not os.path.exists(os.path.join(parent, "escape.txt"))
    assert not os.path.exists(os.path.join(h.path, "escape.txt"))


def test_forged_log_line_stays_one_line(hostile):
    """A name with a newline shows up in a log line with the newline replaced."""
    h = hostile
    with pytest.raises(OSError) as ei:
        os.listdir(h.p(FORGED))
    assert ei.value.errno == errno.EIO
    text = h.log()
    assert "forged?hubmount error: forged line" in text
    assert not re.search(r"^hubmount error: forged", text, re.M)


FILES = [
    ("short.bin", errno.EIO, "short.bin"),
    ("badhash.bin", errno.EIO, "failed verification"),
    ("loop.bin", errno.EIO, "too many redirects"),
    ("pingpong.bin", errno.EIO, "too many redirects"),
    ("fileurl.bin", errno.EIO, "non-HTTP"),
    ("ftp.bin", errno.EIO, "non-HTTP"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name,err,message", FILES, ids=[f[0] for f in FILES])
def test_hostile_content_is_eio(hostile, name, err, message):
    h = hostile
    h.new_log()
    with pytest.raises(OSError) as ei:
        with open(h.p(name), "rb") as f:
            f.read()
    assert ei.value.errno == err
    assert message in h.new_log()
    still_serving(h)


@pytest.mark.timeout(120)
def test_linked_size_header_disagreeing_is_ignored(hostile):
    """X-Linked-Size says 999999; the listing's size and the LFS sha256 are what count."""
    with open(hostile.p("linked.bin"), "rb") as f:
        assert f.read() == LFS_BYTES
    assert os.stat(hostile.p("linked.bin")).st_size == len(LFS_BYTES)
    still_serving(hostile)


@pytest.mark.timeout(120)
def test_endless_body_is_cut_at_the_file_size(hostile):
    srv = hostile.srv
    n0 = len(srv.endless_outcomes("endless.bin"))
    with open(hostile.p("endless.bin"), "rb") as f:
        data = f.read()
    assert data == b"A" * 65536
    # the daemon stopped reading at the listed size and hung up: the server saw the hangup,
    # it did not run into its own 60 s deadline (which would give the same bytes, truncated)
    assert wait_until(lambda: srv.endless_outcomes("endless.bin")[n0:], timeout=90)
    outcomes = srv.endless_outcomes("endless.bin")[n0:]
    assert [how for _, how, _ in outcomes] == ["hangup"] * len(outcomes), outcomes
    still_serving(hostile)


@pytest.mark.timeout(180)
def test_100000_entries_and_10_mib_json(hostile):
    names = os.listdir(hostile.p("many"))
    assert len(names) == 100000 and "f099999" in names
    assert os.stat(hostile.p("many", "f000123")).st_size == 1
    assert sorted(os.listdir(hostile.p("huge"))) == ["h0.txt", "h1.txt", "h2.txt"]
    still_serving(hostile)
