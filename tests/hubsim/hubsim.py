#!/usr/bin/python3
"""hubsim: a local Hugging Face Hub emulator (Python standard library only).

Usage: hubsim.py --port PORT --data DIR [--config FILE] [--cdn-port PORT] [--host 127.0.0.1]

Two listening sockets in one process: the Hub origin (API, resolve, LFS batch) and a
"CDN" origin (signed blob downloads and LFS upload targets) that refuses any request
carrying an Authorization header.  See README.md for the control API.
"""
import argparse
import base64
import hashlib
import hmac
import json
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from store import (HubError, Store, is_ignored, is_lfs_path, lfs_pointer,  # noqa: E402
                   seeded_bytes_iter)
from auth import Identities  # noqa: E402

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
HEX = re.compile(r"^[0-9a-f]{64}$")
CDN_REFUSAL = b"Authorization header must not be sent to the CDN"
FAULT_ACTIONS = ("status", "reset", "truncate", "corrupt", "concurrent_commit", "latency", "ignore_range")
DEFAULT_SETTINGS = {
    "page_size": {"tree": 1000, "commits": 50, "repos": 1000, "paths_info_max": 1000},
    "lfs_threshold": 10 * 1024 * 1024,
    "multipart_chunk_size": 5 * 1024 * 1024,
    "url_expiry": 3600,
}


def truthy(v):
    return str(v).lower() in ("1", "true", "yes", "on")


def valid_repo_path(p):
    if not p or p.startswith("/") or p.endswith("/"):
        return False
    for seg in p.split("/"):
        if seg in ("", ".", "..", ".git"):
            return False
    return "\0" not in p


class Fault:
    def __init__(self, d):
        self.method = d.get("method", "*").upper()
        self.path = re.compile(d.get("path", ""))
        self.origin = d.get("origin", "*")
        self.count = d.get("count")
        self.probability = float(d.get("probability", 1.0))
        self.action = d.get("action", "status")
        if self.action not in FAULT_ACTIONS:
            raise HubError(400, "unknown fault action %r" % self.action)
        self.status = int(d.get("status", 503))
        self.error_code = d.get("error_code")
        self.error_message = d.get("error_message")
        self.retry_after = d.get("retry_after")
        self.ratelimit_t = d.get("ratelimit_t")
        self.latency_ms = d.get("latency_ms", 0)
        self.user = d.get("user")  # only requests whose token belongs to this user ("" = anonymous)
        self.raw = d


class App:
    def __init__(self, data_dir, cfg):
        self.store = Store(data_dir)
        self.ids = Identities()
        self.ids.load(cfg)
        self.settings = json.loads(json.dumps(DEFAULT_SETTINGS))
        self.apply_settings(cfg)
        self.log = []
        self.seq = 0
        self.lock = threading.Lock()
        # Requests between parse and log record.  Log reads wait for them, so a
        # test that got its response always finds the request in the log.
        self.inflight = 0
        self.idle = threading.Condition(self.lock)
        self.faults = []
        self.concurrent_n = 0
        self.hub_base = self.cdn_base = None
        for r in cfg.get("repos", []):
            self.apply_repo_config(r)

    # ---------------------------------------------------------------- config
    def apply_settings(self, d):
        for k, v in d.get("page_size", {}).items():
            self.settings["page_size"][k] = int(v)
        for k in ("lfs_threshold", "multipart_chunk_size", "url_expiry"):
            if k in d:
                self.settings[k] = int(d[k])

    def apply_repo_config(self, r):
        rtype = r.get("type", "model")
        repo = self.store.get_repo(rtype, r["id"])
        if repo is None:
            ns = r["id"].split("/")[0]
            creator = r.get("creator", ns if ns in self.ids.users else None)
            repo = self.store.create_repo(rtype, r["id"], creator)
        with self.store.lock:
            for k in ("private", "gated", "disabled"):
                if k in r:
                    repo[k] = r[k]
            if "grants" in r:
                repo["grants"] = dict(r["grants"])
            self.store.save()
        return repo

    # ---------------------------------------------------------------- request log
    def begin_request(self):
        with self.lock:
            self.inflight += 1

    def wait_idle(self, timeout=2.0):
        """Called with self.lock held."""
        self.idle.wait_for(lambda: self.inflight == 0, timeout)

    def record(self, rec):
        with self.lock:
            self.inflight -= 1
            self.idle.notify_all()
            self.seq += 1
            rec["seq"] = self.seq
            self.log.append(rec)
            if len(self.log) > 100000:
                del self.log[:50000]

    # ---------------------------------------------------------------- faults
    def match_fault(self, origin, method, path, user=None):
        with self.lock:
            for f in list(self.faults):
                if f.origin not in ("*", origin) or f.method not in ("*", method):
                    continue
                if f.user is not None and (f.user or None) != user:
                    continue
                if not f.path.search(path):
                    continue
                if f.probability < 1.0 and random.random() >= f.probability:
                    continue
                if f.count is not None:
                    f.count -= 1
                    if f.count <= 0:
                        self.faults.remove(f)
                return f
        return None

    # ---------------------------------------------------------------- signed URLs
    def sign(self, method, path, params):
        params = dict(params)
        params["exp"] = str(int(time.time()) + self.settings["url_expiry"])
        msg = method + " " + path + "?" + urllib.parse.urlencode(sorted(params.items()))
        params["sig"] = hmac.new(self.store.secret, msg.encode(), hashlib.sha256).hexdigest()
        return path + "?" + urllib.parse.urlencode(params)

    def check_sig(self, method, path, q):
        params = {k: v[0] for k, v in q.items() if k != "sig"}
        msg = method + " " + path + "?" + urllib.parse.urlencode(sorted(params.items()))
        good = hmac.new(self.store.secret, msg.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, q.get("sig", [""])[0]):
            raise HubError(403, "Signature does not match")
        try:
            exp = int(params.get("exp", "0"))
        except ValueError:
            exp = 0
        if exp < time.time():
            raise HubError(403, "Request has expired")
        return params

    # ---------------------------------------------------------------- helpers
    def repo_prefix_id(self, repo):
        return PREFIX[repo["type"]] + repo["id"]

    def concurrent_commit(self, path, origin):
        """Land a commit on the repo/branch targeted by `path` (fault action)."""
        segs = [urllib.parse.unquote(s) for s in path.split("/")[1:]]
        rtype = branch = rid = None
        if len(segs) >= 4 and segs[0] == "api" and segs[1] in TYPES:
            rtype, rid = TYPES[segs[1]], segs[2] + "/" + segs[3]
            if len(segs) > 5 and segs[4] in ("commit", "preupload", "revision", "tree", "paths-info", "commits"):
                branch = segs[5] if segs[4] not in ("commit", "preupload", "revision", "commits") else "/".join(segs[5:])
        else:
            off = 1 if segs and segs[0] in ("datasets", "spaces") else 0
            rtype = {"datasets": "dataset", "spaces": "space"}.get(segs[0], "model") if off else "model"
            if len(segs) >= off + 2:
                rid = segs[off] + "/" + segs[off + 1].removesuffix(".git")
                if len(segs) > off + 3 and segs[off + 2] in ("resolve", "raw"):
                    branch = segs[off + 3]
        repo = rid and self.store.get_repo(rtype, rid)
        if not repo:
            return
        ref = self.store.writable_ref(repo, branch or "main") or ("branch", "main")
        with self.lock:
            self.concurrent_n += 1
            n = self.concurrent_n
        entry = self.store.file_entry_regular(b"concurrent commit %d\n" % n)
        self.store.commit(repo, ref, [("file", {"path": ".hubsim-concurrent-%d" % n, "entry": entry})],
                          "Concurrent commit %d" % n, "", "hubsim")


# ==================================================================== HTTP handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubsim/1.0"
    sys_version = ""
    app: App = None
    origin = "hub"

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        # As production servers do: a response is written as headers then body,
        # and with Nagle on, the body waited for the ACK of the headers, which a
        # client on a kept-alive connection delays by up to 40 ms — so every
        # request of a keep-alive client (libcurl, huggingface_hub, undici) took
        # 40 ms more here than a fresh `curl` did.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self.handle_any()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # ---------------------------------------------------------------- plumbing
    def handle_any(self):
        raw = self.path
        if raw.startswith("http://") or raw.startswith("https://"):
            raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
        self.rpath, _, self.qs = raw.partition("?")
        self.q = urllib.parse.parse_qs(self.qs, keep_blank_values=True)
        self.body_done = False
        self.req_bytes = 0
        self.sent_status = 0
        self.sent_bytes = 0
        self.fault = None
        self.latency_applied_ms = 0
        self.extra_headers = {}
        self.principal = None
        control = self.origin == "hub" and self.rpath.startswith("/__emulator/")
        token_user = None
        if not control:
            self.app.begin_request()
        try:
            if control:
                self.route_control()
            else:
                try:
                    token_user = self.app.ids.authenticate(self.headers.get("Authorization")).user
                except HubError:
                    pass
                self.fault = self.app.match_fault(self.origin, self.command, self.rpath, token_user)
                if self.fault and self.apply_fault_pre():
                    return
                if self.origin == "cdn":
                    self.route_cdn()
                else:
                    self.route_hub()
        except HubError as e:
            self.send_error_json(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)
            try:
                self.send_error_json(HubError(500, "Internal emulator error"))
            except Exception:
                self.close_connection = True
        finally:
            if not self.body_done:
                self.drain_body()
            if not control:
                self.app.record({
                    "origin": self.origin, "method": self.command, "path": self.rpath,
                    "query": self.qs, "status": self.sent_status, "bytes": self.sent_bytes,
                    "range": self.headers.get("Range"), "req_bytes": self.req_bytes,
                    "auth": self.headers.get("Authorization") is not None,
                    "token_user": token_user, "latency_ms": self.latency_applied_ms,
                })

    def drain_body(self):
        n = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked" or (n and int(n) > (1 << 20)):
            self.close_connection = True
            return
        if n and int(n) > 0:
            try:
                self.rfile.read(int(n))
            except OSError:
                self.close_connection = True
        self.body_done = True

    def iter_body(self, chunk=1 << 20):
        self.body_done = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    b = self.rfile.read(min(left, chunk))
                    if not b:
                        raise ConnectionResetError()
                    left -= len(b)
                    self.req_bytes += len(b)
                    yield b
                self.rfile.readline(3)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                b = self.rfile.read(min(left, chunk))
                if not b:
                    raise ConnectionResetError()
                left -= len(b)
                self.req_bytes += len(b)
                yield b

    def read_body(self):
        return b"".join(self.iter_body())

    def json_body(self):
        data = self.read_body()
        if not data.strip():
            return {}
        try:
            return json.loads(data)
        except ValueError:
            raise HubError(400, "Invalid JSON body")

    # ---------------------------------------------------------------- responses
    def send_head(self, status, headers, length):
        self.send_response(status)
        self.sent_status = status
        hdrs = dict(self.extra_headers)
        hdrs.update(headers)
        trace = self.headers.get("X-Amzn-Trace-Id") or self.headers.get("X-Request-Id")
        hdrs.setdefault("X-Request-Id", "Root=1-%08x-%s" % (int(time.time()), hashlib.md5(
            ("%s%s" % (self.rpath, time.time())).encode()).hexdigest()[:24]) + (";" + trace if trace else ""))
        for k, v in hdrs.items():
            if v is None:
                continue
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def respond(self, status, body=b"", headers=None, ctype="application/json; charset=utf-8"):
        headers = dict(headers or {})
        if ctype and "Content-Type" not in headers:
            headers["Content-Type"] = ctype
        if not self.body_done:
            # request body never read (error path): close unless it is small
            self.drain_body()
        f = self.fault
        if f and f.action == "truncate":
            self.close_connection = True
        self.send_head(status, headers, len(body))
        if self.command == "HEAD" or not body:
            return
        if f and f.action == "corrupt":
            body = corrupt(body, 0)
        if f and f.action == "truncate":
            body = body[: len(body) // 2]
        self.wfile.write(body)
        self.sent_bytes += len(body)

    def respond_json(self, obj, status=200, headers=None, ctype="application/json; charset=utf-8"):
        self.respond(status, json.dumps(obj).encode(), headers, ctype)

    def send_error_json(self, e: HubError):
        headers = dict(e.headers)
        if e.code:
            headers["X-Error-Code"] = e.code
        headers["X-Error-Message"] = e.message.encode("ascii", "replace").decode()
        self.respond(e.status, json.dumps({"error": e.message}).encode(), headers)

    def range_header(self):
        if self.fault and self.fault.action == "ignore_range":
            return None
        return self.headers.get("Range")

    def respond_ranged(self, body, headers):
        """Serve small in-memory content with Range support."""
        headers = dict(headers)
        headers.setdefault("Accept-Ranges", "bytes")
        rng = self.range_header()
        parsed = parse_range(rng, len(body)) if rng else None
        if parsed == "unsatisfiable":
            headers["Content-Range"] = "bytes */%d" % len(body)
            return self.respond(416, b"", headers, None)
        if parsed:
            a, b = parsed
            headers["Content-Range"] = "bytes %d-%d/%d" % (a, b, len(body))
            return self.respond(206, body[a:b + 1], headers, None)
        return self.respond(200, body, headers, None)

    def respond_file(self, path, size, headers):
        """Serve a blob file with Range support (never loads it into memory)."""
        headers = dict(headers)
        headers.setdefault("Accept-Ranges", "bytes")
        headers.setdefault("Content-Type", "application/octet-stream")
        start, end = 0, size - 1
        status = 200
        rng = self.range_header()
        if rng:
            parsed = parse_range(rng, size)
            if parsed == "unsatisfiable":
                headers["Content-Range"] = "bytes */%d" % size
                self.respond(416, b"", headers, None)
                return
            if parsed:
                start, end = parsed
                status = 206
                headers["Content-Range"] = "bytes %d-%d/%d" % (start, end, size)
        length = max(0, end - start + 1)
        f = self.fault
        if f and f.action == "truncate":
            self.close_connection = True
        self.send_head(status, headers, length)
        if self.command == "HEAD" or length == 0:
            return
        send_len = length // 2 if (f and f.action == "truncate") else length
        with open(path, "rb") as fh:
            if f and f.action == "corrupt":
                fh.seek(start)
                left, pos = send_len, 0
                while left:
                    b = fh.read(min(left, 1 << 20))
                    if not b:
                        break
                    b = corrupt(b, pos)
                    self.wfile.write(b)
                    pos += len(b)
                    left -= len(b)
                    self.sent_bytes += len(b)
            else:
                off, left = start, send_len
                while left > 0:
                    n = self.connection.sendfile(fh, off, left)
                    if not n:
                        break
                    off += n
                    left -= n
                    self.sent_bytes += n

    # ---------------------------------------------------------------- faults
    def apply_fault_pre(self):
        """Apply the pre-routing part of a fault.  True if the request is finished."""
        f = self.fault
        if f.latency_ms:
            time.sleep(f.latency_ms / 1000.0)
            self.latency_applied_ms = f.latency_ms  # in the log entry: tests see it was held
        if f.action == "latency":
            self.fault = None
            return False
        if f.action == "reset":
            self.close_connection = True
            self.body_done = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return True
        if f.action == "concurrent_commit":
            self.fault = None
            self.app.concurrent_commit(self.rpath, self.origin)
            return False
        if f.action == "status":
            self.fault = None
            headers = {}
            if f.error_code:
                headers["X-Error-Code"] = f.error_code
            msg = f.error_message or "Injected fault (status %d)" % f.status
            headers["X-Error-Message"] = msg
            if f.retry_after is not None:
                headers["Retry-After"] = str(f.retry_after)
            if f.ratelimit_t is not None:
                headers["RateLimit"] = '"api";r=0;t=%d' % int(f.ratelimit_t)
                headers["RateLimit-Policy"] = '"fixed window";"api";q=500;w=300'
            self.respond(f.status, json.dumps({"error": msg}).encode(), headers)
            return True
        return False  # truncate / corrupt / ignore_range apply to the response

    # ================================================================ control API
    def route_control(self):
        app = self.app
        p = self.rpath[len("/__emulator/"):].rstrip("/")
        m = self.command
        if p == "log" and m == "GET":
            with app.lock:
                app.wait_idle()
                data = list(app.log)
            return self.respond_json(data)
        if p == "log/clear" and m == "POST":
            with app.lock:
                app.wait_idle()
                app.log.clear()
            return self.respond_json({"ok": True})
        if p == "faults":
            if m == "POST":
                rules = self.json_body().get("rules", [])
                try:
                    new = [Fault(r) for r in rules]
                except re.error as e:
                    raise HubError(400, "bad path regex: %s" % e)
                with app.lock:
                    app.faults.extend(new)
                return self.respond_json({"ok": True, "count": len(app.faults)})
            if m == "DELETE":
                with app.lock:
                    app.faults.clear()
                return self.respond_json({"ok": True})
            if m == "GET":
                with app.lock:
                    return self.respond_json([dict(f.raw, count=f.count) for f in app.faults])
        if p == "config" and m in ("POST", "PUT"):
            body = self.json_body()
            app.apply_settings(body)
            return self.respond_json(app.settings)
        if p == "config" and m == "GET":
            return self.respond_json(app.settings)
        if p == "seed" and m == "POST":
            return self.control_seed(self.json_body())
        if p == "repo" and m == "POST":
            body = self.json_body()
            body.setdefault("id", body.get("repo"))
            repo = app.apply_repo_config(body)
            return self.respond_json({"id": repo["id"], "private": repo["private"], "gated": repo["gated"],
                                      "disabled": repo["disabled"], "grants": repo["grants"]})
        if p == "health":
            return self.respond_json({"ok": True, "hub": app.hub_base, "cdn": app.cdn_base})
        if p.startswith("state/") and m == "GET":
            parts = p.split("/")
            if len(parts) != 4:
                raise HubError(400, "use /__emulator/state/{type}/{ns}/{name}")
            repo = app.store.get_repo(parts[1], parts[2] + "/" + parts[3])
            if not repo:
                raise HubError(404, "no such repo", "RepoNotFound")
            rev = self.q.get("rev", ["main"])[0]
            sha = app.store.resolve(repo, rev)
            if not sha:
                raise HubError(404, "no such revision", "RevisionNotFound")
            files = {}
            for path, e in app.store.files(repo, sha).items():
                files[path] = {"size": e["size"], "oid": e["oid"], "sha256": e["sha256"], "lfs": e["lfs"]}
            return self.respond_json({
                "id": repo["id"], "head": sha, "files": files,
                "commits": app.store.history(repo, sha),
                "branches": repo["branches"], "tags": repo["tags"], "prs": repo["prs"],
                "private": repo["private"], "gated": repo["gated"], "disabled": repo["disabled"]})
        raise HubError(404, "unknown control endpoint %s %s" % (m, self.rpath))

    def control_seed(self, body):
        app, st = self.app, self.app.store
        rtype = body.get("type", "model")
        rid = body["repo"]
        repo = st.get_repo(rtype, rid)
        if repo is None:
            ns = rid.split("/")[0]
            if not app.ids.namespace_exists(ns):
                raise HubError(400, "owner namespace %s does not exist" % ns)
            repo = st.create_repo(rtype, rid, ns if ns in app.ids.users else None,
                                  private=body.get("private", False), gated=body.get("gated", False))
        branch = body.get("branch", "main")
        with st.lock:
            if branch not in repo["branches"]:
                repo["branches"][branch] = repo["branches"]["main"]
        ops = []
        for path, b64 in body.get("files", {}).items():
            ops.append(("file", {"path": path, "entry": st.file_entry_regular(base64.b64decode(b64))}))
        for path, spec in body.get("lfs_files", {}).items():
            if "content" in spec:
                sha, n = st.put_stream([base64.b64decode(spec["content"])])
            else:
                sha, n = st.put_stream(seeded_bytes_iter(int(spec.get("seed", 0)), int(spec["size"])))
            ops.append(("lfsFile", {"path": path, "entry": st.file_entry_lfs(sha, n)}))
        for path in body.get("deleted", []):
            ops.append(("deletedFile", {"path": path}))
        sha, _ = st.commit(repo, ("branch", branch), ops, body.get("message", "seed"), "",
                           body.get("author", "hubsim"))
        return self.respond_json({"commit": sha})

    # ================================================================ CDN origin
    def route_cdn(self):
        if self.headers.get("Authorization") is not None:
            return self.respond(403, CDN_REFUSAL, {}, "text/plain; charset=utf-8")
        segs = self.rpath.split("/")[1:]
        app, st = self.app, self.app.store
        if segs[0] == "blob" and len(segs) == 2 and self.command in ("GET", "HEAD"):
            params = app.check_sig("GET", self.rpath, self.q)
            sha = segs[1]
            size = st.blob_size(sha)
            if size is None:
                raise HubError(404, "NoSuchKey")
            name = params.get("filename", sha)
            hdrs = {"ETag": '"%s"' % sha,
                    "Content-Disposition": 'attachment; filename="%s"' % name.replace('"', "")}
            return self.respond_file(st.blob_path(sha), size, hdrs)
        if segs[0] == "upload" and len(segs) == 2 and self.command == "PUT":
            params = app.check_sig("PUT", self.rpath, self.q)
            oid, size = segs[1], int(params["size"])
            st.put_stream(self.iter_body(), expect_sha=oid, expect_size=size)
            return self.respond(200, b"", {"ETag": '"%s"' % oid}, None)
        if segs[0] == "part" and len(segs) == 3 and self.command == "PUT":
            app.check_sig("PUT", self.rpath, self.q)
            oid, num = segs[1], int(segs[2])
            d = os.path.join(st.tmp_dir, "mp-" + oid)
            os.makedirs(d, exist_ok=True)
            h = hashlib.md5()
            tmp = os.path.join(d, "%05d.tmp%d" % (num, threading.get_ident()))
            with open(tmp, "wb") as f:
                for b in self.iter_body():
                    h.update(b)
                    f.write(b)
            os.replace(tmp, os.path.join(d, "%05d" % num))
            return self.respond(200, b"", {"ETag": '"%s"' % h.hexdigest()}, None)
        raise HubError(404, "Not found")

    # ================================================================ Hub origin
    def route_hub(self):
        raw_segs = self.rpath.split("/")[1:]
        segs = [urllib.parse.unquote(s) for s in raw_segs]
        if segs and segs[0] == "api":
            return self.route_api(segs)
        if segs[:2] == ["__lfs", "complete"] and len(segs) == 3 and self.command == "POST":
            return self.lfs_complete(segs[2])
        # content routes: [datasets|spaces/]ns/name/(resolve|raw)/rev/path  and  ns/name.git/info/lfs/...
        rtype, off = "model", 0
        if segs and segs[0] in ("datasets", "spaces") and len(segs) >= 3:
            if (len(segs) >= 4 and segs[3] in ("resolve", "raw")) or segs[2].endswith(".git"):
                rtype, off = TYPES[segs[0]], 1
        rest = segs[off:]
        if len(rest) >= 5 and rest[1].endswith(".git") and rest[2:4] == ["info", "lfs"]:
            rid = rest[0] + "/" + rest[1][:-4]
            return self.route_lfs(rtype, rid, rest[4:])
        if len(rest) >= 4 and rest[2] in ("resolve", "raw") and self.command in ("GET", "HEAD"):
            return self.resolve(rtype, rest[0] + "/" + rest[1], rest[2], rest[3:])
        raise HubError(404, "Not found")

    def auth(self):
        if self.principal is None:
            self.principal = self.app.ids.authenticate(self.headers.get("Authorization"))
        return self.principal

    def get_repo(self, rtype, rid, action="read-metadata"):
        p = self.auth()
        repo = self.app.store.get_repo(rtype, rid)
        self.app.ids.check(p, repo, action)
        return repo

    def resolve_rev(self, repo, rev):
        sha = self.app.store.resolve(repo, rev)
        if sha is None:
            raise HubError(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
        return sha

    def split_rev_path(self, repo, segs):
        """segs = decoded segments after tree/ or resolve/: find revision prefix."""
        for k in range(1, len(segs) + 1):
            rev = "/".join(segs[:k])
            sha = self.app.store.resolve(repo, rev)
            if sha:
                return rev, sha, "/".join(segs[k:])
        raise HubError(404, "Invalid rev id: %s" % (segs[0] if segs else ""), "RevisionNotFound")

    def page(self, items, kind, key=None, limit=None):
        """Paginate `items`; cursor = base64 JSON {o: offset, k: key}.  Sets Link header."""
        size = max(1, self.app.settings["page_size"][kind])
        if limit:
            size = max(1, min(size, limit))
        off = 0
        cur = self.q.get("cursor", [None])[0]
        if cur:
            try:
                c = json.loads(base64.urlsafe_b64decode(cur + "=" * (-len(cur) % 4)))
                off = int(c["o"])
            except Exception:
                raise HubError(400, "Invalid cursor")
        chunk = items[off: off + size]
        if off + size < len(items):
            nc = base64.urlsafe_b64encode(json.dumps({"o": off + size, "k": key}).encode()).decode().rstrip("=")
            pairs = [(k, v) for k, v in urllib.parse.parse_qsl(self.qs, keep_blank_values=True) if k != "cursor"]
            pairs.append(("cursor", nc))
            url = self.app.hub_base + self.rpath + "?" + urllib.parse.urlencode(pairs)
            self.extra_headers["Link"] = '<%s>; rel="next"' % url
        return chunk

    def cursor_key(self):
        cur = self.q.get("cursor", [None])[0]
        if not cur:
            return None
        try:
            return json.loads(base64.urlsafe_b64decode(cur + "=" * (-len(cur) % 4))).get("k")
        except Exception:
            raise HubError(400, "Invalid cursor")

    # ---------------------------------------------------------------- /api
    def route_api(self, segs):
        m = self.command
        ids, st = self.app.ids, self.app.store
        if segs[1:] == ["whoami-v2"] and m == "GET":
            p = self.auth()
            if p.anonymous:
                raise HubError(401, "Invalid username or password.")
            return self.respond_json(ids.whoami(p))
        if len(segs) == 3 and segs[1] == "repos":
            return self.repo_management(segs[2])
        if len(segs) == 2 and segs[1] in TYPES and m == "GET":
            return self.list_repos(TYPES[segs[1]])
        if len(segs) < 4 or segs[1] not in TYPES:
            raise HubError(404, "Not found")
        rtype, rid, rest = TYPES[segs[1]], segs[2] + "/" + segs[3], segs[4:]
        repo = st.get_repo(rtype, rid)
        if repo is None and self.moved_redirect(rtype, rid):
            return
        what = rest[0] if rest else ""
        rev_all = "/".join(rest[1:])
        if what == "" and m == "GET":
            repo = self.get_repo(rtype, rid)
            return self.repo_info(repo, repo["branches"]["main"])
        if what == "revision" and m == "GET":
            repo = self.get_repo(rtype, rid)
            return self.repo_info(repo, self.resolve_rev(repo, rev_all))
        if what == "tree" and m == "GET":
            repo = self.get_repo(rtype, rid)
            rev, sha, path = self.split_rev_path(repo, rest[1:])
            return self.tree(repo, sha, path.strip("/"))
        if what == "paths-info" and m == "POST":
            repo = self.get_repo(rtype, rid)
            return self.paths_info(repo, self.resolve_rev(repo, rev_all))
        if what == "refs" and m == "GET":
            repo = self.get_repo(rtype, rid)
            return self.refs(repo)
        if what == "commits" and m == "GET":
            repo = self.get_repo(rtype, rid)
            return self.commits(repo, self.resolve_rev(repo, rev_all or "main"))
        if what == "branch" and m in ("POST", "DELETE"):
            repo = self.get_repo(rtype, rid, "manage-branches")
            return self.branch(repo, rev_all)
        if what == "tag" and m in ("POST", "DELETE"):
            repo = self.get_repo(rtype, rid, "manage-branches")
            return self.tag(repo, rev_all)
        if what == "preupload" and m == "POST":
            repo = self.get_repo(rtype, rid, "write")
            return self.preupload(repo, rev_all)
        if what == "commit" and m == "POST":
            repo = self.get_repo(rtype, rid, "write")
            return self.commit(repo, rev_all)
        if what == "settings" and m == "PUT":
            repo = self.get_repo(rtype, rid, "settings")
            return self.settings(repo)
        if what == "auth-check" and m == "GET":
            self.get_repo(rtype, rid, "write" if rest[1:] == ["write"] else "read-content")
            return self.respond_json({"ok": True})
        if repo is None:
            self.get_repo(rtype, rid)
        raise HubError(404, "Not found")

    def repo_management(self, op):
        m, ids, st = self.command, self.app.ids, self.app.store
        p = self.auth()
        body = self.json_body()
        rtype = body.get("type") or "model"
        if rtype not in PREFIX:
            raise HubError(400, "Invalid repo type")
        if op == "create" and m == "POST":
            name = body.get("name", "")
            ns = body.get("organization") or p.user
            if "/" in name and not body.get("organization"):
                ns, name = name.split("/", 1)
            if p.anonymous:
                raise HubError(401, "Invalid username or password.")
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$", name or "") or ".." in name or name.endswith(".git"):
                raise HubError(400, "Invalid repo name")
            ids.check(p, None, "create-in-namespace", ns)
            priv = body.get("private")
            if body.get("visibility") in ("private", "protected"):
                priv = True
            elif body.get("visibility") == "public":
                priv = False
            rid = ns + "/" + name
            if st.get_repo(rtype, rid):
                raise HubError(409, "You already created this %s repo" % rtype)
            repo = st.create_repo(rtype, rid, p.user, private=bool(priv))
            for f in body.get("files", []) or []:
                data = base64.b64decode(f["content"]) if f.get("encoding", "base64") == "base64" else f["content"].encode()
                st.commit(repo, ("branch", "main"), [("file", {"path": f["path"], "entry": st.file_entry_regular(data)})],
                          "Initial files", "", p.user)
            url = self.app.hub_base + "/" + self.app.repo_prefix_id(repo)
            return self.respond_json({"url": url, "name": repo["id"], "id": repo["_id"]})
        if op == "delete" and m == "DELETE":
            ns = body.get("organization") or p.user
            rid = "%s/%s" % (ns, body.get("name"))
            repo = st.get_repo(rtype, rid)
            ids.check(p, repo, "delete")
            st.delete_repo(repo)
            return self.respond_json({})
        if op == "move" and m == "POST":
            src, dst = body.get("fromRepo", ""), body.get("toRepo", "")
            repo = st.get_repo(rtype, src)
            ids.check(p, repo, "delete")
            if dst.count("/") != 1:
                raise HubError(400, "Invalid toRepo")
            ids.check(p, None, "create-in-namespace", dst.split("/")[0])
            aliases = st.state.setdefault("aliases", {})
            old = repo["id"]
            st.move_repo(repo, dst)
            with st.lock:
                aliases[st.key(rtype, old)] = dst
                st.save()
            return self.respond_json({})
        raise HubError(404, "Not found")

    def moved_redirect(self, rtype, rid):
        new = self.app.store.state.get("aliases", {}).get(self.app.store.key(rtype, rid))
        if new and self.app.store.get_repo(rtype, new):
            loc = self.rpath.replace("/" + rid + "/", "/" + new + "/", 1)
            if loc == self.rpath:
                loc = self.rpath.replace("/" + rid, "/" + new, 1)
            if self.qs:
                loc += "?" + self.qs
            self.respond(307, b"", {"Location": loc}, None)
            return True
        return False

    def repo_dict(self, repo, sha, blobs=False):
        c = repo["commits"][sha]
        siblings = []
        files = self.app.store.files(repo, sha)
        for path in sorted(files):
            e = files[path]
            s = {"rfilename": path}
            if blobs:
                s["size"] = e["size"]
                s["blobId"] = e["oid"]
                if e["lfs"]:
                    s["lfs"] = {"sha256": e["sha256"], "size": e["size"], "pointerSize": e["pointerSize"]}
            siblings.append(s)
        d = {"_id": repo["_id"], "id": repo["id"], "author": repo["author"], "sha": sha,
             "lastModified": c["date"], "createdAt": repo["createdAt"], "private": repo["private"],
             "gated": repo["gated"], "disabled": repo["disabled"], "downloads": repo["downloads"],
             "likes": repo["likes"], "tags": [], "siblings": siblings,
             "usedStorage": sum(e["size"] for e in files.values()), "xetEnabled": False}
        if repo["type"] == "model":
            d["modelId"] = repo["id"]
        if repo["type"] == "space":
            d.update({"sdk": "static", "subdomain": repo["id"].replace("/", "-").lower()})
        return d

    def expand_filter(self, d):
        exp = self.q.get("expand", []) + self.q.get("expand[]", [])
        if not exp:
            return d
        return {k: v for k, v in d.items() if k in ("_id", "id") or k in exp}

    def repo_info(self, repo, sha):
        d = self.repo_dict(repo, sha, blobs=truthy(self.q.get("blobs", ["false"])[0]))
        if truthy(self.q.get("securityStatus", ["false"])[0]):
            d["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": []}
        return self.respond_json(self.expand_filter(d))

    def list_repos(self, rtype):
        p = self.auth()
        ids, st = self.app.ids, self.app.store
        author = self.q.get("author", [None])[0]
        searches = [s.lower() for s in self.q.get("search", []) if s]
        out = []
        for repo in sorted(st.all_repos(), key=lambda r: (r["createdAt"], r["id"].lower())):
            if repo["type"] != rtype:
                continue
            if author and repo["author"].lower() != author.lower():
                continue
            if any(s not in repo["id"].lower() for s in searches):
                continue
            if not ids.visible(p, repo):
                continue
            out.append(repo)
        sort = self.q.get("sort", [None])[0]
        if sort in ("id", "createdAt", "likes", "downloads", "lastModified"):
            def sk(r):
                if sort == "lastModified":
                    return r["commits"][r["branches"]["main"]]["date"]
                return r[sort].lower() if sort == "id" else r[sort]
            out.sort(key=sk, reverse=self.q.get("direction", ["1"])[0] == "-1")
        limit = self.q.get("limit", [None])[0]
        chunk = self.page(out, "repos", limit=int(limit) if limit and limit.isdigit() else None)
        full = truthy(self.q.get("full", ["false"])[0])
        exp = self.q.get("expand", []) + self.q.get("expand[]", [])
        items = []
        for repo in chunk:
            d = self.repo_dict(repo, repo["branches"]["main"])
            if exp:
                d = self.expand_filter(d)
            elif not full:
                for k in ("siblings", "sha", "usedStorage", "xetEnabled", "lastModified"):
                    d.pop(k, None)
            items.append(d)
        return self.respond_json(items)

    # ---------------------------------------------------------------- tree / paths-info
    def entry(self, repo, sha, path, expand, tree_oids=None):
        st = self.app.store
        files = self.app.store.files(repo, sha)
        e = files.get(path)
        if e:
            d = {"type": "file", "oid": e["oid"], "size": e["size"], "path": path}
            if e["lfs"]:
                d["lfs"] = {"oid": e["sha256"], "size": e["size"], "pointerSize": e["pointerSize"]}
            is_dir = False
        else:
            tree_oids = tree_oids or st.tree_oids(repo, sha)
            if path not in tree_oids:
                return None
            d = {"type": "directory", "oid": tree_oids[path], "size": 0, "path": path}
            is_dir = True
        if expand:
            lc = st.last_commit_for(repo, sha, path, is_dir)
            c = repo["commits"][lc]
            d["lastCommit"] = {"id": lc, "title": c["title"], "date": c["date"]}
            if not is_dir:
                d["securityFileStatus"] = {"status": "safe"}
        return d

    def tree(self, repo, sha, path):
        st = self.app.store
        key = self.cursor_key()
        if key and key in repo["commits"]:
            sha = key  # a cursor stays on the commit its first page came from
        files = self.app.store.files(repo, sha)
        tree_oids = st.tree_oids(repo, sha)
        recursive = truthy(self.q.get("recursive", ["false"])[0])
        expand = truthy(self.q.get("expand", ["false"])[0])
        self.extra_headers["X-Repo-Commit"] = sha
        if path and path in files:
            names = [path]
        elif path and path not in tree_oids:
            raise HubError(404, "Entry not found", "EntryNotFound")
        else:
            pre = path + "/" if path else ""
            names = set()
            for p in list(files) + [d for d in tree_oids if d]:
                if not p.startswith(pre):
                    continue
                if recursive or "/" not in p[len(pre):]:
                    names.add(p)
            names = sorted(names)
        kind = "tree"
        chunk = self.page(names, kind, key=sha, limit=50 if expand else None)
        return self.respond_json([self.entry(repo, sha, n, expand, tree_oids) for n in chunk])

    def paths_info(self, repo, sha):
        data = self.read_body()
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype or data.lstrip()[:1] == b"{":
            try:
                body = json.loads(data or b"{}")
            except ValueError:
                raise HubError(400, "Invalid JSON body")
            paths = body.get("paths", [])
            expand = truthy(body.get("expand", False))
        else:
            form = urllib.parse.parse_qs(data.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = truthy(form.get("expand", ["false"])[0])
        if isinstance(paths, str):
            paths = [paths]
        if len(paths) > self.app.settings["page_size"]["paths_info_max"]:
            raise HubError(413, "too many parameters")
        self.extra_headers["X-Repo-Commit"] = sha
        tree_oids = self.app.store.tree_oids(repo, sha)
        out, seen = [], set()
        for path in paths:
            path = path.strip("/")
            if not path or path in seen:
                continue
            seen.add(path)
            e = self.entry(repo, sha, path, expand, tree_oids)
            if e:
                out.append(e)
        return self.respond_json(out)

    # ---------------------------------------------------------------- refs / commits
    def refs(self, repo):
        def items(d, prefix):
            return [{"name": n, "ref": prefix + n, "targetCommit": s} for n, s in sorted(d.items())]
        out = {"branches": items(repo["branches"], "refs/heads/"), "tags": items(repo["tags"], "refs/tags/"),
               "converts": items(repo["converts"], "refs/convert/")}
        if truthy(self.q.get("include_prs", ["0"])[0]):
            out["pullRequests"] = items(repo["prs"], "refs/pr/")
        return self.respond_json(out)

    def commits(self, repo, sha):
        key = self.cursor_key()
        if key and key in repo["commits"]:
            sha = key
        hist = self.app.store.history(repo, sha)
        limit = self.q.get("limit", [None])[0]
        chunk = self.page(hist, "commits", key=sha, limit=int(limit) if limit and limit.isdigit() else None)
        formatted = "formatted" in (self.q.get("expand", []) + self.q.get("expand[]", []))
        out = []
        for s in chunk:
            c = repo["commits"][s]
            d = {"id": s, "title": c["title"], "message": c["message"],
                 "authors": [{"user": c["author"], "avatar": "/avatars/%s.svg" % c["author"]}],
                 "date": c["date"]}
            if formatted:
                d["formatted"] = {"title": c["title"], "message": c["message"]}
            out.append(d)
        self.extra_headers["X-Total-Count"] = str(len(hist))
        return self.respond_json(out)

    def branch(self, repo, name):
        st = self.app.store
        if self.command == "DELETE":
            self.read_body()
            if name not in repo["branches"]:
                raise HubError(404, "Branch %s not found" % name, "RevisionNotFound")
            if name == "main":
                raise HubError(403, "Cannot delete the default branch")
            with st.lock:
                del repo["branches"][name]
                st.save()
            return self.respond_json({})
        body = self.json_body()
        if (not name or name.startswith("refs/") or ".." in name or name.endswith("/") or " " in name
                or re.match(r"^[0-9a-f]{40}$", name) or "//" in name):
            raise HubError(400, "Invalid branch name: %s" % name)
        if name in repo["branches"] and not body.get("overwrite"):
            raise HubError(409, "Reference already exists")
        with st.lock:
            if body.get("emptyBranch"):
                sha = st._make_commit(repo, None, {}, self.auth().user, "empty branch", "")
            else:
                sp = body.get("startingPoint") or "main"
                sha = self.resolve_rev(repo, sp)
            repo["branches"][name] = sha
            st.save()
        return self.respond_json({})

    def tag(self, repo, rev):
        st = self.app.store
        if self.command == "DELETE":
            self.read_body()
            if rev not in repo["tags"]:
                raise HubError(404, "Tag %s not found" % rev, "RevisionNotFound")
            with st.lock:
                del repo["tags"][rev]
                st.save()
            return self.respond_json({})
        body = self.json_body()
        tag = body.get("tag")
        if not tag or tag.startswith("refs/") or ".." in tag or " " in tag:
            raise HubError(400, "Invalid tag name")
        sha = self.resolve_rev(repo, rev or "main")
        if tag in repo["tags"]:
            raise HubError(409, "Tag %s already exists" % tag)
        with st.lock:
            repo["tags"][tag] = sha
            st.save()
        return self.respond_json({})

    def settings(self, repo):
        st = self.app.store
        body = self.json_body()
        with st.lock:
            if "gated" in body:
                if body["gated"] not in (False, "auto", "manual"):
                    raise HubError(400, "Invalid gated value")
                repo["gated"] = body["gated"]
            if "private" in body:
                repo["private"] = bool(body["private"])
            if body.get("visibility") in ("public", "private", "protected"):
                repo["private"] = body["visibility"] != "public"
            st.save()
        return self.respond_json({})

    # ---------------------------------------------------------------- uploads
    def commit_target(self, repo, rev, create_pr):
        st = self.app.store
        if create_pr:
            if rev not in repo["branches"] and not (rev.startswith("refs/heads/") and rev[11:] in repo["branches"]):
                raise HubError(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
            return ("branch", rev[11:] if rev.startswith("refs/heads/") else rev)
        ref = st.writable_ref(repo, rev)
        if ref is None:
            raise HubError(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
        return ref

    def preupload(self, repo, rev):
        st, cfg = self.app.store, self.app.settings
        body = self.json_body()
        create_pr = truthy(self.q.get("create_pr", ["0"])[0])
        ref = self.commit_target(repo, rev, create_pr)
        sha = st.get_ref(repo, ref)
        files = self.app.store.files(repo, sha)
        ga = body.get("gitAttributes")
        if ga is None:
            ga = st.file_text_at(repo, sha, ".gitattributes")
        gi = body.get("gitIgnore")
        if gi is None:
            gi = st.file_text_at(repo, sha, ".gitignore")
        out = []
        for f in body.get("files", []):
            path = f.get("path", "")
            if not valid_repo_path(path):
                raise HubError(400, "Invalid path: %s" % path)
            size = int(f.get("size", 0))
            try:
                sample = base64.b64decode(f.get("sample", "") or "")
            except ValueError:
                raise HubError(400, "Invalid sample")
            lfs = size > 0 and (is_lfs_path(ga, path) or b"\0" in sample or size >= cfg["lfs_threshold"])
            d = {"path": path, "uploadMode": "lfs" if lfs else "regular",
                 "shouldIgnore": bool(gi) and is_ignored(gi, path)}
            e = files.get(path)
            if e:
                d["oid"] = e["sha256"] if e["lfs"] else e["oid"]
            out.append(d)
        return self.respond_json({"files": out, "commitOid": sha})

    def commit(self, repo, rev):
        st, cfg = self.app.store, self.app.settings
        create_pr = truthy(self.q.get("create_pr", ["0"])[0])
        ref = self.commit_target(repo, rev, create_pr)
        data = self.read_body()
        lines = [ln for ln in data.split(b"\n") if ln.strip()]
        if not lines:
            raise HubError(400, "Empty commit body")
        try:
            items = [json.loads(ln) for ln in lines]
        except ValueError:
            raise HubError(400, "Malformed NDJSON body")
        if not isinstance(items[0], dict) or items[0].get("key") != "header":
            raise HubError(400, "The first line must be the commit header")
        hdr = items[0].get("value") or {}
        summary = (hdr.get("summary") or "").strip()
        if not summary:
            raise HubError(400, "Commit summary is required")
        ops = []
        for it in items[1:]:
            key, v = it.get("key"), it.get("value") or {}
            path = v.get("path", "")
            if key == "deletedFolder":
                path = path.rstrip("/")
                if path and not valid_repo_path(path):
                    raise HubError(400, "Invalid path: %s" % path)
                ops.append(("deletedFolder", {"path": path or "/"}))
                continue
            if not valid_repo_path(path):
                raise HubError(400, "Invalid path: %s" % path)
            if key == "file":
                enc = v.get("encoding", "base64")
                try:
                    content = base64.b64decode(v.get("content", ""), validate=True) if enc == "base64" \
                        else v.get("content", "").encode()
                except ValueError:
                    raise HubError(400, "Invalid base64 content for %s" % path)
                if len(content) >= max(cfg["lfs_threshold"], 1):
                    raise HubError(400, "Your push was rejected because it contains files larger than %d bytes. "
                                        "Please use LFS to store large files. Offending file: %s"
                                   % (cfg["lfs_threshold"], path))
                ops.append(("file", {"path": path, "entry": st.file_entry_regular(content)}))
            elif key == "lfsFile":
                oid = (v.get("oid") or "").lower()
                if v.get("algo", "sha256") != "sha256" or not HEX.match(oid):
                    raise HubError(400, "Invalid lfsFile entry for %s" % path)
                size = st.blob_size(oid)
                if size is None:
                    raise HubError(400, "Your push was rejected because an LFS pointer pointed to a file "
                                        "that does not exist. Offending file: %s" % path)
                if v.get("size") is not None and int(v["size"]) != size:
                    raise HubError(400, "LFS object size mismatch for %s: stored %d, declared %s"
                                   % (path, size, v["size"]))
                ops.append(("lfsFile", {"path": path, "entry": st.file_entry_lfs(oid, size)}))
            elif key == "deletedFile":
                ops.append(("deletedFile", {"path": path}))
            else:
                raise HubError(400, "Unknown operation key: %s" % key)
        author = self.auth().user or "anonymous"
        sha, pr = st.commit(repo, ref, ops, summary, hdr.get("description") or "", author,
                            parent_commit=hdr.get("parentCommit"), create_pr=create_pr)
        base = self.app.hub_base + "/" + self.app.repo_prefix_id(repo)
        out = {"success": True, "commitOid": sha, "commitUrl": base + "/commit/" + sha, "hookOutput": ""}
        if pr:
            out["pullRequestUrl"] = base + "/discussions/" + pr
        return self.respond_json(out)

    def route_lfs(self, rtype, rid, rest):
        if rest == ["objects", "batch"] and self.command == "POST":
            return self.lfs_batch(rtype, rid)
        if rest == ["objects", "verify"] and self.command == "POST":
            repo = self.get_repo(rtype, rid, "write")
            body = self.json_body()
            size = self.app.store.blob_size(body.get("oid", ""))
            if size is None or (body.get("size") is not None and size != int(body["size"])):
                raise HubError(404, "Object not found")
            return self.respond_json({"oid": body["oid"], "size": size}, ctype="application/vnd.git-lfs+json")
        raise HubError(404, "Not found")

    def lfs_batch(self, rtype, rid):
        app, st = self.app, self.app.store
        body = self.json_body()
        op = body.get("operation", "upload")
        repo = self.get_repo(rtype, rid, "write" if op == "upload" else "read-content")
        del repo
        transfers = body.get("transfers") or ["basic"]
        chunk = max(1, app.settings["multipart_chunk_size"])
        expiry = app.settings["url_expiry"]
        objs, used = [], set()
        for o in body.get("objects", []):
            oid, size = str(o.get("oid", "")).lower(), o.get("size")
            d = {"oid": o.get("oid"), "size": size}
            if not HEX.match(oid) or not isinstance(size, int) or size < 0:
                d["error"] = {"code": 422, "message": "Invalid object: oid must be a sha256 and size a non-negative integer"}
                objs.append(d)
                continue
            have = st.blob_size(oid)
            if op == "download":
                if have is None:
                    d["error"] = {"code": 404, "message": "Object does not exist"}
                else:
                    d["actions"] = {"download": {"href": app.cdn_base + app.sign("GET", "/blob/" + oid, {}),
                                                 "expires_in": expiry}}
                objs.append(d)
                continue
            d["authenticated"] = True
            if have is not None and have == size:
                objs.append(d)
                continue
            if size > chunk and "multipart" in transfers:
                nparts = math.ceil(size / chunk)
                header = {"chunk_size": str(chunk)}
                for i in range(1, nparts + 1):
                    header["%05d" % i] = app.cdn_base + app.sign("PUT", "/part/%s/%d" % (oid, i), {})
                href = app.hub_base + app.sign("POST", "/__lfs/complete/" + oid,
                                               {"size": str(size), "chunk": str(chunk)})
                d["actions"] = {"upload": {"href": href, "header": header, "expires_in": expiry}}
                used.add("multipart")
            else:
                href = app.cdn_base + app.sign("PUT", "/upload/" + oid, {"size": str(size)})
                d["actions"] = {"upload": {"href": href, "expires_in": expiry}}
                used.add("basic")
            d["actions"]["verify"] = {"href": "%s/%s.git/info/lfs/objects/verify" % (app.hub_base, PREFIX[rtype] + rid)}
            objs.append(d)
        transfer = "multipart" if "multipart" in used else "basic"
        return self.respond_json({"transfer": transfer, "objects": objs}, ctype="application/vnd.git-lfs+json")

    def lfs_complete(self, oid):
        app, st = self.app, self.app.store
        params = app.check_sig("POST", self.rpath, self.q)
        size, chunk = int(params["size"]), int(params["chunk"])
        body = self.json_body()
        if body.get("oid", oid).lower() != oid:
            raise HubError(400, "oid mismatch")
        parts = sorted(body.get("parts", []), key=lambda p: int(p["partNumber"]))
        nparts = math.ceil(size / chunk)
        if [int(p["partNumber"]) for p in parts] != list(range(1, nparts + 1)):
            raise HubError(400, "Expected parts 1..%d" % nparts)
        d = os.path.join(st.tmp_dir, "mp-" + oid)
        paths = []
        for p in parts:
            fp = os.path.join(d, "%05d" % int(p["partNumber"]))
            if not os.path.exists(fp):
                raise HubError(400, "Part %s was not uploaded" % p["partNumber"])
            h = hashlib.md5()
            with open(fp, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
            if str(p.get("etag", "")).strip('"') != h.hexdigest():
                raise HubError(400, "ETag mismatch for part %s" % p["partNumber"])
            paths.append(fp)

        def chunks():
            for fp in paths:
                with open(fp, "rb") as f:
                    for b in iter(lambda: f.read(1 << 20), b""):
                        yield b
        st.put_stream(chunks(), expect_sha=oid, expect_size=size)
        for fp in paths:
            os.unlink(fp)
        try:
            os.rmdir(d)
        except OSError:
            pass
        return self.respond_json({"oid": oid, "size": size}, ctype="application/vnd.git-lfs+json")

    # ---------------------------------------------------------------- resolve / raw
    def resolve(self, rtype, rid, kind, segs):
        app, st = self.app, self.app.store
        if st.get_repo(rtype, rid) is None and self.moved_redirect(rtype, rid):
            return
        repo = self.get_repo(rtype, rid, "read-content")
        rev, sha, path = self.split_rev_path(repo, segs)
        self.extra_headers["X-Repo-Commit"] = sha
        e = self.app.store.files(repo, sha).get(path)
        if e is None:
            raise HubError(404, "Entry not found", "EntryNotFound")
        if e["lfs"] and kind == "resolve":
            name = path.rsplit("/", 1)[-1]
            loc = app.cdn_base + app.sign("GET", "/blob/" + e["sha256"], {"filename": name})
            hdrs = {"Location": loc, "ETag": '"%s"' % e["sha256"], "X-Linked-Etag": '"%s"' % e["sha256"],
                    "X-Linked-Size": str(e["size"]), "Accept-Ranges": "bytes"}
            return self.respond(302, b"", hdrs, "text/plain; charset=utf-8")
        if e["lfs"]:  # raw of an LFS file: the pointer text
            body = lfs_pointer(e["sha256"], e["size"])
            return self.respond_ranged(body, {"ETag": '"%s"' % e["oid"], "Content-Type": "text/plain; charset=utf-8"})
        return self.respond_file(st.blob_path(e["sha256"]), e["size"], {"ETag": '"%s"' % e["oid"]})


def corrupt(b, pos):
    """Flip the bits of one byte in every 4 KiB of the stream (deterministic)."""
    ba = bytearray(b)
    start = (-pos) % 4096
    for i in range(start, len(ba), 4096):
        ba[i] ^= 0xFF
    return bytes(ba)


def parse_range(h, size):
    """Return (start, end) inclusive, None to ignore the header, or 'unsatisfiable'."""
    m = re.match(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", h)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    a, b = m.group(1), m.group(2)
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1)
    start = int(a)
    end = int(b) if b else size - 1
    if b and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return (start, min(end, size - 1))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_handler(app, origin):
    return type("%sHandler" % origin.capitalize(), (Handler,), {"app": app, "origin": origin})


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local Hugging Face Hub emulator")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cdn-port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--data", required=True)
    ap.add_argument("--config")
    args = ap.parse_args(argv)
    cfg = {}
    if args.config:
        with open(args.config) as f:
            cfg = json.load(f)
    os.makedirs(args.data, exist_ok=True)
    app = App(args.data, cfg)
    hub = Server((args.host, args.port), make_handler(app, "hub"))
    cdn = Server((args.host, args.cdn_port), make_handler(app, "cdn"))
    app.hub_base = "http://%s:%d" % (args.host, hub.server_address[1])
    app.cdn_base = "http://%s:%d" % (args.host, cdn.server_address[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    for s in (hub, cdn):
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    print("hubsim ready on %s" % app.hub_base, flush=True)
    print("cdn on %s" % app.cdn_base, flush=True)
    while not stop.wait(0.5):
        pass
    hub.shutdown()
    cdn.shutdown()
    hub.server_close()
    cdn.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
