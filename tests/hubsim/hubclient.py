"""Small stdlib client for hubsim: start/stop the emulator, call the Hub API the way the
official clients do, and drive the /__emulator/ control channel.

    with Emulator(config={...}) as emu:
        c = Client(emu.url, token="hf_alicewrite")
        c.create_repo("acme/x")
        c.upload("acme/x", {"a.txt": b"hi", "w.bin": big_bytes}, summary="add")
        assert c.download("acme/x", "a.txt") == b"hi"
"""
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
API_PREFIX = {"model": "models", "dataset": "datasets", "space": "spaces"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


class HubHTTPError(Exception):
    def __init__(self, status, headers, body):
        super().__init__("HTTP %d: %s" % (status, body[:300]))
        self.status, self.headers, self.body = status, headers, body

    @property
    def error_code(self):
        return self.headers.get("x-error-code")


class Emulator:
    """Runs hubsim.py as a subprocess on free ports with its own data directory."""

    def __init__(self, config=None, data_dir=None, extra_args=()):
        self.config = config
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="hubsim-")
        os.makedirs(self.data_dir, exist_ok=True)
        self.extra_args = list(extra_args)
        self.proc = None
        self.returncode = None
        self.url = self.cdn_url = None
        # Ports of the first start, reused by later starts: a client that keeps
        # running across restart() (a mount) must find the emulator where it was.
        self.port = self.cdn_port = 0

    def start(self):
        args = [PYTHON, os.path.join(HERE, "hubsim.py"), "--port", str(self.port),
                "--cdn-port", str(self.cdn_port), "--data", self.data_dir]
        if self.config is not None:
            path = os.path.join(self.data_dir, "config.json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            args += ["--config", path]
        self.proc = subprocess.Popen(args + self.extra_args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"hubsim ready on (http://\S+)", line)
        if not m:
            self.stop()
            raise RuntimeError("hubsim did not start: %r" % line)
        self.url = m.group(1)
        m = re.match(r"cdn on (http://\S+)", self.proc.stdout.readline())
        self.cdn_url = m and m.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])
        if self.cdn_url:
            self.cdn_port = int(self.cdn_url.rsplit(":", 1)[1])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:
            self.returncode = self.proc.returncode
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def restart(self):
        """Stop, then start on the same ports with the same data directory."""
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def control(self):
        return Client(self.url)


class Client:
    def __init__(self, base, token=None):
        self.base = base.rstrip("/")
        self.token = token

    # ------------------------------------------------------------------ HTTP
    def raw(self, method, url, body=None, headers=None, auth=True):
        """One request; returns (status, headers (lowercase keys), body bytes). No redirects."""
        if not url.startswith("http"):
            url = self.base + url
        u = urllib.parse.urlsplit(url)
        h = dict(headers or {})
        if auth and self.token:
            h["Authorization"] = "Bearer " + self.token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            conn.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def req(self, method, url, body=None, headers=None, auth=True, ok=(200,)):
        st, h, data = self.raw(method, url, body, headers, auth)
        if st not in ok:
            raise HubHTTPError(st, h, data)
        return h, data

    def json(self, method, url, body=None, **kw):
        h, data = self.req(method, url, body, **kw)
        return json.loads(data) if data else None

    def paginate(self, url):
        items = []
        while url:
            h, data = self.req("GET", url)
            items += json.loads(data)
            m = re.search(r'<([^>]+)>;\s*rel="next"', h.get("link", ""))
            url = m and m.group(1)
        return items

    @staticmethod
    def q(rev):
        return urllib.parse.quote(rev, safe="")

    # ------------------------------------------------------------------ API
    def whoami(self):
        return self.json("GET", "/api/whoami-v2")

    def create_repo(self, repo_id, rtype="model", private=False):
        ns, name = repo_id.split("/")
        return self.json("POST", "/api/repos/create",
                         {"name": name, "organization": ns, "type": rtype, "private": private})

    def delete_repo(self, repo_id, rtype="model"):
        ns, name = repo_id.split("/")
        return self.json("DELETE", "/api/repos/delete", {"name": name, "organization": ns, "type": rtype})

    def info(self, repo_id, rtype="model", rev=None, **params):
        path = "/api/%s/%s" % (API_PREFIX[rtype], repo_id)
        if rev:
            path += "/revision/" + self.q(rev)
        if params:
            path += "?" + urllib.parse.urlencode(params, doseq=True)
        return self.json("GET", path)

    def tree(self, repo_id, path="", rev="main", rtype="model", recursive=False, expand=False):
        url = "/api/%s/%s/tree/%s" % (API_PREFIX[rtype], repo_id, self.q(rev))
        if path:
            url += "/" + urllib.parse.quote(path)
        url += "?recursive=%s&expand=%s" % (str(recursive).lower(), str(expand).lower())
        return self.paginate(url)

    def paths_info(self, repo_id, paths, rev="main", rtype="model", expand=False):
        return self.json("POST", "/api/%s/%s/paths-info/%s" % (API_PREFIX[rtype], repo_id, self.q(rev)),
                         {"paths": list(paths), "expand": expand})

    def refs(self, repo_id, rtype="model", include_prs=True):
        return self.json("GET", "/api/%s/%s/refs%s" % (API_PREFIX[rtype], repo_id,
                                                       "?include_prs=1" if include_prs else ""))

    def commits(self, repo_id, rev="main", rtype="model"):
        return self.paginate("/api/%s/%s/commits/%s" % (API_PREFIX[rtype], repo_id, self.q(rev)))

    def resolve_url(self, repo_id, path, rev="main", rtype="model", kind="resolve"):
        return "%s/%s%s/%s/%s/%s" % (self.base, URL_PREFIX[rtype], repo_id, kind, self.q(rev),
                                     urllib.parse.quote(path))

    def download(self, repo_id, path, rev="main", rtype="model", range_=None):
        """GET /resolve, following a redirect to another origin WITHOUT Authorization."""
        hdr = {"Range": range_} if range_ else {}
        url = self.resolve_url(repo_id, path, rev, rtype)
        st, h, data = self.raw("GET", url, headers=hdr)
        if st in (301, 302, 307):
            loc = urllib.parse.urljoin(url, h["location"])
            same = urllib.parse.urlsplit(loc).netloc == urllib.parse.urlsplit(url).netloc
            st, h, data = self.raw("GET", loc, headers=hdr, auth=same)
        if st not in (200, 206):
            raise HubHTTPError(st, h, data)
        return data

    # ------------------------------------------------------------------ upload (preupload -> LFS -> commit)
    def upload(self, repo_id, files=None, deletes=(), summary="upload", rev="main", rtype="model",
               parent=None, create_pr=False, deleted_folders=(), description=""):
        files = files or {}
        api = "/api/%s/%s" % (API_PREFIX[rtype], repo_id)
        pr = "?create_pr=1" if create_pr else ""
        modes = {}
        if files:
            pre = self.json("POST", "%s/preupload/%s%s" % (api, self.q(rev), pr), {"files": [
                {"path": p, "size": len(d), "sample": base64.b64encode(d[:512]).decode()}
                for p, d in files.items()]})
            modes = {f["path"]: f["uploadMode"] for f in pre["files"]}
        lfs = {p: d for p, d in files.items() if modes.get(p) == "lfs"}
        if lfs:
            self.lfs_upload(repo_id, list(lfs.values()), rtype, rev)
        lines = [{"key": "header", "value": {"summary": summary, "description": description}}]
        if parent:
            lines[0]["value"]["parentCommit"] = parent
        for p, d in files.items():
            if p in lfs:
                lines.append({"key": "lfsFile", "value": {"path": p, "algo": "sha256",
                                                          "oid": hashlib.sha256(d).hexdigest(), "size": len(d)}})
            else:
                lines.append({"key": "file", "value": {"path": p, "content": base64.b64encode(d).decode(),
                                                       "encoding": "base64"}})
        lines += [{"key": "deletedFile", "value": {"path": p}} for p in deletes]
        lines += [{"key": "deletedFolder", "value": {"path": p}} for p in deleted_folders]
        body = "\n".join(json.dumps(x) for x in lines).encode()
        return self.json("POST", "%s/commit/%s%s" % (api, self.q(rev), pr), body,
                         headers={"Content-Type": "application/x-ndjson"})

    def lfs_upload(self, repo_id, blobs, rtype="model", rev="main", transfers=("basic", "multipart")):
        objs = [{"oid": hashlib.sha256(d).hexdigest(), "size": len(d)} for d in blobs]
        by_oid = {o["oid"]: d for o, d in zip(objs, blobs)}
        hdr = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
        res = self.json("POST", "/%s%s.git/info/lfs/objects/batch" % (URL_PREFIX[rtype], repo_id),
                        json.dumps({"operation": "upload", "transfers": list(transfers), "objects": objs,
                                    "hash_algo": "sha256", "ref": {"name": rev}}).encode(), headers=hdr)
        for o in res["objects"]:
            if "error" in o:
                raise HubHTTPError(o["error"]["code"], {}, o["error"]["message"].encode())
            up = (o.get("actions") or {}).get("upload")
            if not up:
                continue
            data = by_oid[o["oid"]]
            header = up.get("header") or {}
            if header.get("chunk_size"):
                chunk = int(header["chunk_size"])
                keys = sorted((k for k in header if k.isdigit()), key=int)
                parts = []
                for i, k in enumerate(keys):
                    h, _ = self.req("PUT", header[k], data[i * chunk:(i + 1) * chunk], auth=False)
                    parts.append({"partNumber": i + 1, "etag": h["etag"]})
                self.req("POST", up["href"], json.dumps({"oid": o["oid"], "parts": parts}).encode(),
                         headers=hdr, auth=False)
            else:
                self.req("PUT", up["href"], data, auth=False)
        return res

    # ------------------------------------------------------------------ control channel
    def log(self):
        return self.json("GET", "/__emulator/log")

    def clear_log(self):
        return self.json("POST", "/__emulator/log/clear")

    def add_faults(self, *rules):
        return self.json("POST", "/__emulator/faults", {"rules": list(rules)})

    def clear_faults(self):
        return self.json("DELETE", "/__emulator/faults")

    def set_config(self, **cfg):
        return self.json("POST", "/__emulator/config", cfg)

    def seed(self, repo, files=None, lfs_files=None, rtype="model", branch="main", message="seed"):
        return self.json("POST", "/__emulator/seed", {
            "repo": repo, "type": rtype, "branch": branch, "message": message,
            "files": {p: base64.b64encode(d).decode() for p, d in (files or {}).items()},
            "lfs_files": lfs_files or {}})["commit"]

    def state(self, repo, rtype="model", rev="main"):
        return self.json("GET", "/__emulator/state/%s/%s?rev=%s" % (rtype, repo, self.q(rev)))

    def set_repo(self, repo, rtype="model", **fields):
        return self.json("POST", "/__emulator/repo", dict(fields, id=repo, type=rtype))


def seeded_bytes(seed, size):
    """Same content the emulator generates for seed lfs_files (see README)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:size])


if __name__ == "__main__":
    # tiny smoke run: python3 hubclient.py
    with Emulator(config={"users": [{"name": "alice"}],
                          "tokens": [{"token": "hf_a", "user": "alice", "role": "write"}]}) as emu:
        c = Client(emu.url, "hf_a")
        c.create_repo("alice/demo")
        print(c.upload("alice/demo", {"hello.txt": b"hello\n", "w.bin": os.urandom(1000)}))
        print(c.tree("alice/demo"))
        sys.exit(0)
