"""hostile_server.py — a deliberately broken "Hub" for tests/integration/test_hostile.py.

Serves one public model repo, evil/repo, at one commit, over plain HTTP on 127.0.0.1 (Python
standard library only).  Each directory of the root listing and each file is one misbehaviour:

  dirs   dotdot abs nul       entries with "../", an absolute path, a NUL byte
         slash elsewhere      an entry below a subdirectory / outside the listed one
         dup filedir          one name twice / a file and a directory of one name
         many huge            100,000 entries / a 10 MiB JSON answer (both valid)
         toobig endless_json  a 20 MiB JSON answer / a JSON body that never ends
         badjson notarray     not JSON / a JSON object instead of a list
         "forged\\n..."        a name with a newline that looks like a log line
  files  normal.txt           a correct file (the control)
         linked.bin           X-Linked-Size disagreeing with the (correct) body
         short.bin            fewer bytes than the listing's size
         badhash.bin          bytes that do not match the LFS sha256
         loop.bin pingpong.bin  redirect loops (to itself / between two URLs)
         fileurl.bin ftp.bin  redirects to file:// and ftp://
         endless.bin          200 ignoring Range with a body that never ends

    srv = HostileServer().start(); srv.url ...; srv.stop()
"""
import hashlib
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = "evil/repo"
SHA = "0123456789abcdef0123456789abcdef01234567"
FORGED = "forged\nhubmount error: forged line"
NORMAL = b"normal content\n"
LFS_BYTES = bytes(range(256)) * 16  # 4096
ENDLESS_SIZE = 65536


def git_oid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_entry(path, data=None, size=None, lfs_sha=None):
    data = data if data is not None else b""
    e = {"type": "file", "oid": git_oid(data), "size": len(data) if size is None else size,
         "path": path}
    if lfs_sha:
        e["lfs"] = {"oid": lfs_sha, "size": e["size"], "pointerSize": 134}
    return e


def dir_entry(path):
    return {"type": "directory", "oid": git_oid(path.encode()), "size": 0, "path": path}


LFS_SHA = hashlib.sha256(LFS_BYTES).hexdigest()
FILES = {
    "normal.txt": file_entry("normal.txt", NORMAL),
    "linked.bin": file_entry("linked.bin", size=len(LFS_BYTES), lfs_sha=LFS_SHA),
    "short.bin": file_entry("short.bin", size=len(LFS_BYTES), lfs_sha=LFS_SHA),
    "badhash.bin": file_entry("badhash.bin", size=len(LFS_BYTES),
                              lfs_sha=hashlib.sha256(b"something else").hexdigest()),
    # distinct contents: the block cache is keyed by content, a shared oid would be a hit
    "loop.bin": file_entry("loop.bin", b"loop\n"),
    "pingpong.bin": file_entry("pingpong.bin", b"pingpong\n"),
    "fileurl.bin": file_entry("fileurl.bin", b"fileurl\n"),
    "ftp.bin": file_entry("ftp.bin", b"ftp\n"),
    "endless.bin": file_entry("endless.bin", b"A" * ENDLESS_SIZE),
}
DIRS = ["dotdot", "abs", "nul", "slash", "elsewhere", "dup", "filedir", "many", "huge",
        "toobig", "endless_json", "badjson", "notarray", FORGED]


def listing(d):
    """JSON bytes for the listing of directory d, or None for a streamed answer."""
    if d == "":
        return json.dumps([dir_entry(x) for x in DIRS] + list(FILES.values())).encode()
    bad = {
        "dotdot": [file_entry("dotdot/../../escape.txt", b"x")],
        "abs": [file_entry("/etc/passwd", b"x")],
        "nul": [file_entry("nul/a\0b", b"x")],
        "slash": [file_entry("slash/ok.txt", b"x"), file_entry("slash/sub/deep.txt", b"x")],
        "elsewhere": [file_entry("normal.txt", b"x")],
        "dup": [file_entry("dup/a", b"1"), file_entry("dup/a", b"22")],
        "filedir": [file_entry("filedir/x", b"1"), dir_entry("filedir/x")],
        "badjson": None,
        "notarray": None,
        FORGED: [file_entry("somewhere/else.txt", b"x")],
    }
    if d in bad:
        if d == "badjson":
            return b"<html>this is not json"
        if d == "notarray":
            return b'{"error": "not a list"}'
        return json.dumps(bad[d]).encode()
    if d == "many":
        return json.dumps([file_entry("many/f%06d" % i, b"m") for i in range(100000)]).encode()
    if d == "huge":  # ~10 MiB, valid: three entries with a very long commit title
        pad = "x" * (10 * 1024 * 1024 // 3)
        return json.dumps([dict(file_entry("huge/h%d.txt" % i, b"h"),
                                lastCommit={"id": SHA, "title": pad,
                                            "date": "2024-01-01T00:00:00.000Z"})
                           for i in range(3)]).encode()
    if d == "toobig":  # ~20 MiB: over the client's 16 MiB cap
        pad = "y" * (20 * 1024 * 1024)
        return json.dumps([dict(file_entry("toobig/t.txt", b"t"),
                                lastCommit={"id": SHA, "title": pad})]).encode()
    if d == "endless_json":
        return None
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile/1.0"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def endless(self, chunk, first=b""):
        """A body without length that never ends (until the client hangs up or 60 s).
        How it ended goes in server.endless_outcomes as (path, "hangup" | "deadline",
        body bytes written): a test tells "the client stopped reading" from "the client
        read until the server gave up" without a clock."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        deadline = time.monotonic() + 60
        sent, how = 0, "deadline"
        try:
            self.wfile.write(first)
            sent += len(first)
            while time.monotonic() < deadline:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            how = "hangup"
        with self.server.outcomes_lock:
            self.server.endless_outcomes.append((self.path, how, sent))

    def ranged(self, data, headers=None):
        h = dict(headers or {})
        m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not m:
            return self.send(200, data, h)
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else len(data) - 1
        if a >= len(data):
            h["Content-Range"] = "bytes */%d" % len(data)
            return self.send(416, b"", h)
        b = min(b, len(data) - 1)
        h["Content-Range"] = "bytes %d-%d/%d" % (a, b, len(data))
        return self.send(206, data[a:b + 1], h)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if "/paths-info/" in self.path:
            return self.send(200, b"[]", {"Content-Type": "application/json"})
        return self.send(404, b'{"error": "not here"}', {"X-Error-Code": "EntryNotFound"})

    def do_GET(self):
        path, _, query = self.path.partition("?")
        api = "/api/models/" + REPO
        if path in (api, api + "/revision/main", api + "/revision/" + SHA):
            return self.send(200, json.dumps({
                "id": REPO, "sha": SHA, "private": False, "gated": False,
                "lastModified": "2024-01-01T00:00:00.000Z"}).encode(),
                {"Content-Type": "application/json"})
        tree = api + "/tree/" + SHA
        if path == tree or path.startswith(tree + "/"):
            d = urllib.parse.unquote(path[len(tree) + 1:])
            body = listing(d)
            if d == "endless_json":
                return self.endless(json.dumps(file_entry("endless_json/e", b"e")).encode()
                                    + b",", first=b"[")
            if body is None:
                return self.send(404, b'{"error": "no such dir"}', {"X-Error-Code": "EntryNotFound"})
            return self.send(200, body, {"Content-Type": "application/json"})
        for rev in ("main", SHA):
            res = "/%s/resolve/%s/" % (REPO, rev)
            if path.startswith(res):
                return self.resolve(urllib.parse.unquote(path[len(res):]))
        if path.startswith("/hop/"):
            other = "/hop/b" if path == "/hop/a" else "/hop/a"
            return self.send(302, b"", {"Location": other})
        if path == "/cdn/linked":
            return self.ranged(LFS_BYTES, {"X-Linked-Size": "999999"})
        if path == "/cdn/short":
            return self.ranged(LFS_BYTES[:2048])
        if path == "/cdn/badhash":
            return self.ranged(LFS_BYTES)
        return self.send(404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"})

    do_HEAD = do_GET

    def resolve(self, p):
        base = "http://%s:%d" % self.server.server_address[:2]
        common = {"X-Repo-Commit": SHA, "ETag": '"%s"' % FILES.get(p, {}).get("oid", "x")}
        if p == "normal.txt":
            return self.ranged(NORMAL, common)
        if p in ("linked.bin", "short.bin", "badhash.bin"):
            name = p.split(".")[0]
            return self.send(302, b"", dict(common, Location=base + "/cdn/" + name,
                                            **{"X-Linked-Size": "999999" if name == "linked"
                                               else str(len(LFS_BYTES)),
                                               "X-Linked-Etag": '"%s"' % LFS_SHA}))
        if p == "loop.bin":
            return self.send(302, b"", dict(common, Location=self.path))
        if p == "pingpong.bin":
            return self.send(302, b"", dict(common, Location="/hop/a"))
        if p == "fileurl.bin":
            return self.send(302, b"", dict(common, Location="file:///etc/passwd"))
        if p == "ftp.bin":
            return self.send(302, b"", dict(common, Location="ftp://127.0.0.1:1/x"))
        if p == "endless.bin":
            return self.endless(b"A" * 65536)
        return self.send(404, b'{"error": "Entry not found"}', dict(common,
                                                                    **{"X-Error-Code": "EntryNotFound"}))


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.outcomes_lock = threading.Lock()
        self.endless_outcomes = []  # see Handler.endless

    def handle_error(self, request, client_address):
        pass  # clients hanging up on endless bodies are expected


class HostileServer:
    def __init__(self):
        self.httpd = None
        self.url = None

    def start(self):
        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        return self

    def endless_outcomes(self, path_part=""):
        """(path, "hangup" | "deadline", bytes) of each endless body that has ended."""
        with self.httpd.outcomes_lock:
            return [o for o in self.httpd.endless_outcomes if path_part in o[0]]

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


if __name__ == "__main__":
    s = HostileServer().start()
    print("hostile server on", s.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        s.stop()
