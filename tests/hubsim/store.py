"""Persistent state of the Hub emulator: blobs, repos, commits, refs.

Layout of the data directory:
  DIR/objects/sha256/ab/abcdef...   content blobs, named by the sha256 of their bytes
  DIR/objects/tmp/                  in-flight uploads (streamed + hashed)
  DIR/state.json                    repos, refs and commits (rewritten atomically)

Every file entry in a commit snapshot is {"oid", "size", "sha256", "lfs": bool}:
  oid    = git blob sha1 of what git stores (the content, or the LFS pointer text)
  sha256 = sha256 of the real content (the blob file name)
"""
import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
import fnmatch

LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"

# Default .gitattributes (patterns tracked by LFS in new Hub repos).
_COMMON_LFS = [
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
    "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot",
    "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors",
    "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip",
    "*.zst", "*tfevents*",
]
_DATASET_EXTRA_LFS = [
    "*.mds", "*.lz4", "*.mp3", "*.ogg", "*.wav", "*.jpg", "*.jpeg", "*.png", "*.webp",
    "*.mp4", "*.webm",
]


def default_gitattributes(repo_type):
    pats = list(_COMMON_LFS)
    if repo_type == "dataset":
        pats += _DATASET_EXTRA_LFS
    return "".join("%s filter=lfs diff=lfs merge=lfs -text\n" % p for p in pats)


def git_blob_oid(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return LFS_POINTER.format(oid=sha256, size=size).encode()


def now_iso(ts=None):
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % int((ts % 1) * 1000)


def seeded_bytes_iter(seed: int, size: int, chunk=1 << 20):
    """Deterministic pseudo-random content: sha256(b"%d:%d" % (seed, i)) for i = 0, 1, 2, ...
    concatenated and truncated to `size` bytes.  Yields chunks."""
    i = 0
    left = size
    while left > 0:
        parts = []
        n = 0
        while n < chunk and n < left:
            d = hashlib.sha256(b"%d:%d" % (seed, i)).digest()
            i += 1
            parts.append(d)
            n += 32
        buf = b"".join(parts)[:left]
        left -= len(buf)
        yield buf


def seeded_bytes(seed: int, size: int) -> bytes:
    return b"".join(seeded_bytes_iter(seed, size))


# ---------------------------------------------------------------- pattern matching

def _pat_match(pattern, path):
    pattern = pattern.replace("[[:space:]]", " ")
    if pattern.startswith("/"):
        pattern = pattern[1:]
    if pattern.endswith("/"):
        # directory pattern: matches anything under such a directory
        d = pattern[:-1]
        parts = path.split("/")[:-1]
        if "/" in d:
            return any(fnmatch.fnmatchcase("/".join(parts[:i + 1]), d) for i in range(len(parts)))
        return any(fnmatch.fnmatchcase(p, d) for p in parts)
    if "/" not in pattern:
        base = path.rsplit("/", 1)[-1]
        if fnmatch.fnmatchcase(base, pattern):
            return True
        # git also ignores/attributes files inside a matching directory (for .gitignore)
        return False
    if "**/" in pattern:
        # '**/' may match zero directories
        if fnmatch.fnmatchcase(path, pattern.replace("**/", "")):
            return True
    return fnmatch.fnmatchcase(path, pattern)


def lfs_patterns(gitattributes_text):
    """Return list of (pattern, is_lfs) in file order."""
    out = []
    for line in (gitattributes_text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        pat, attrs = parts[0], parts[1:]
        if "filter=lfs" in attrs:
            out.append((pat, True))
        elif "-filter" in attrs or "!filter" in attrs or any(a.startswith("filter=") for a in attrs):
            out.append((pat, False))
    return out


def is_lfs_path(gitattributes_text, path):
    result = False
    for pat, lfs in lfs_patterns(gitattributes_text):
        if _pat_match(pat, path):
            result = lfs  # last matching line wins
    return result


def is_ignored(gitignore_text, path):
    ignored = False
    for line in (gitignore_text or "").splitlines():
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = line[1:] if neg else line
        hit = _pat_match(pat, path)
        if not hit and "/" not in pat.rstrip("/"):
            # a bare name also matches any directory component
            hit = any(fnmatch.fnmatchcase(p, pat.rstrip("/")) for p in path.split("/")[:-1])
        if hit:
            ignored = not neg
    return ignored


def gitattributes_escape(path):
    return path.replace(" ", "[[:space:]]")


# ---------------------------------------------------------------- git trees / commits

def build_tree_oids(files):
    """files: {path: entry}. Returns {dir_path: tree_oid} ('' = root)."""
    children = {"": {}}
    for path, e in files.items():
        parts = path.split("/")
        for i in range(len(parts) - 1):
            d = "/".join(parts[:i + 1])
            parent = "/".join(parts[:i])
            children.setdefault(d, {})
            children.setdefault(parent, {})[parts[i]] = ("dir", d)
        parent = "/".join(parts[:-1])
        children.setdefault(parent, {})[parts[-1]] = ("file", e["oid"])
    oids = {}

    def tree(d):
        ents = []
        for name, (kind, ref) in children.get(d, {}).items():
            if kind == "dir":
                ents.append((name + "/", b"40000 " + name.encode() + b"\0" + bytes.fromhex(tree(ref))))
            else:
                ents.append((name, b"100644 " + name.encode() + b"\0" + bytes.fromhex(ref)))
        ents.sort(key=lambda x: x[0].encode())
        body = b"".join(e[1] for e in ents)
        oid = hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()
        oids[d] = oid
        return oid

    tree("")
    return oids


def commit_oid(tree, parent, author, ts, title, message):
    lines = ["tree " + tree]
    if parent:
        lines.append("parent " + parent)
    who = "%s <%s@users.noreply.hubsim> %d +0000" % (author, author, int(ts))
    lines.append("author " + who)
    lines.append("committer " + who)
    text = "\n".join(lines) + "\n\n" + title + "\n" + (("\n" + message + "\n") if message else "")
    body = text.encode()
    return hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest()


class HubError(Exception):
    """An error that maps to an HTTP response."""

    def __init__(self, status, message, code=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


# ---------------------------------------------------------------- the store

class Store:
    def __init__(self, data_dir):
        self.dir = os.path.abspath(data_dir)
        self.obj_dir = os.path.join(self.dir, "objects", "sha256")
        self.tmp_dir = os.path.join(self.dir, "objects", "tmp")
        os.makedirs(self.obj_dir, exist_ok=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        self.state_path = os.path.join(self.dir, "state.json")
        self.lock = threading.RLock()
        self._tree_cache = {}
        self._snap_cache = {}
        if os.path.exists(self.state_path):
            with open(self.state_path) as f:
                self.state = json.load(f)
        else:
            self.state = {"secret": secrets.token_hex(32), "repos": {}, "id_counter": 0}
        self.save()

    # -- persistence
    def save(self):
        with self.lock:
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".state-")
            with os.fdopen(fd, "w") as f:
                json.dump(self.state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_path)

    @property
    def secret(self):
        return self.state["secret"].encode()

    def new_id(self):
        with self.lock:
            self.state["id_counter"] += 1
            return "%08x%016x" % (int(time.time()), 0x5eed00000000 + self.state["id_counter"])

    # -- blobs
    def blob_path(self, sha256):
        return os.path.join(self.obj_dir, sha256[:2], sha256)

    def has_blob(self, sha256):
        return os.path.exists(self.blob_path(sha256))

    def blob_size(self, sha256):
        try:
            return os.path.getsize(self.blob_path(sha256))
        except OSError:
            return None

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.has_blob(sha):
            fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self._install(tmp, sha)
        return sha

    def _install(self, tmp, sha):
        dst = self.blob_path(sha)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(tmp, dst)

    def put_stream(self, chunks, expect_sha=None, expect_size=None):
        """Store an iterable of byte chunks.  Returns (sha256, size).
        Raises HubError(400) when expect_sha/expect_size are given and do not match."""
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
        h = hashlib.sha256()
        n = 0
        try:
            with os.fdopen(fd, "wb") as f:
                for c in chunks:
                    h.update(c)
                    n += len(c)
                    f.write(c)
            sha = h.hexdigest()
            if expect_size is not None and n != expect_size:
                raise HubError(400, "Size mismatch: expected %d bytes, got %d" % (expect_size, n))
            if expect_sha is not None and sha != expect_sha:
                raise HubError(400, "Checksum mismatch: expected sha256 %s, got %s" % (expect_sha, sha))
            self._install(tmp, sha)
            tmp = None
            return sha, n
        finally:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)

    def read_blob(self, sha256) -> bytes:
        with open(self.blob_path(sha256), "rb") as f:
            return f.read()

    # -- repos
    @staticmethod
    def key(rtype, repo_id):
        return "%s/%s" % (rtype, repo_id.lower())

    def get_repo(self, rtype, repo_id):
        return self.state["repos"].get(self.key(rtype, repo_id))

    def all_repos(self):
        return list(self.state["repos"].values())

    def create_repo(self, rtype, repo_id, creator, private=False, gated=False, author_name="system"):
        with self.lock:
            k = self.key(rtype, repo_id)
            if k in self.state["repos"]:
                raise HubError(409, "You already created this %s repo" % rtype)
            ts = time.time()
            repo = {
                "type": rtype, "id": repo_id, "_id": self.new_id(), "author": repo_id.split("/")[0],
                "private": bool(private), "gated": gated or False, "disabled": False,
                "grants": {}, "creator": creator, "createdAt": now_iso(ts),
                "branches": {}, "tags": {}, "prs": {}, "pr_counter": 0, "converts": {},
                "commits": {}, "downloads": 0, "likes": 0,
            }
            ga = default_gitattributes(rtype).encode()
            files = {".gitattributes": self.file_entry_regular(ga)}
            sha = self._make_commit(repo, None, files, "system", "initial commit", "", ts)
            repo["branches"]["main"] = sha
            self.state["repos"][k] = repo
            self.save()
            return repo

    def delete_repo(self, repo):
        with self.lock:
            del self.state["repos"][self.key(repo["type"], repo["id"])]
            self.save()

    def move_repo(self, repo, new_id):
        with self.lock:
            nk = self.key(repo["type"], new_id)
            if nk in self.state["repos"]:
                raise HubError(409, "A repo with this name already exists")
            del self.state["repos"][self.key(repo["type"], repo["id"])]
            repo["id"] = new_id
            repo["author"] = new_id.split("/")[0]
            self.state["repos"][nk] = repo
            self.save()

    # -- file entries
    def file_entry_regular(self, data: bytes):
        sha = self.put_bytes(data)
        return {"oid": git_blob_oid(data), "size": len(data), "sha256": sha, "lfs": False}

    @staticmethod
    def file_entry_lfs(sha256, size):
        ptr = lfs_pointer(sha256, size)
        return {"oid": git_blob_oid(ptr), "size": size, "sha256": sha256, "lfs": True,
                "pointerSize": len(ptr)}

    # -- commits
    def _make_commit(self, repo, parent, files, author, title, message, ts=None):
        ts = time.time() if ts is None else ts
        tree = build_tree_oids(files)[""]
        while True:
            sha = commit_oid(tree, parent, author, ts, title, message)
            if sha not in repo["commits"]:
                break
            ts += 1
        self._write_snapshot(tree, files)
        repo["commits"][sha] = {"parent": parent, "title": title, "message": message,
                                "author": author, "date": now_iso(ts), "tree": tree}
        return sha

    # -- file snapshots: one immutable JSON per git tree oid, shared by all commits/repos
    def _snap_path(self, tree):
        return os.path.join(self.dir, "trees", tree[:2], tree + ".json")

    def _write_snapshot(self, tree, files):
        path = self._snap_path(tree)
        if tree not in self._snap_cache and not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
            with os.fdopen(fd, "w") as f:
                json.dump(files, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        self._cache_snapshot(tree, files)

    def _cache_snapshot(self, tree, files):
        if len(self._snap_cache) > 512:
            self._snap_cache.clear()
        self._snap_cache[tree] = files

    def files(self, repo, sha):
        """{path: entry} of a commit (treat as read-only)."""
        c = repo["commits"][sha]
        if "files" in c:
            return c["files"]
        files = self._snap_cache.get(c["tree"])
        if files is None:
            with open(self._snap_path(c["tree"])) as f:
                files = json.load(f)
            self._cache_snapshot(c["tree"], files)
        return files

    def tree_oids(self, repo, sha):
        k = (repo["_id"], sha)
        t = self._tree_cache.get(k)
        if t is None:
            t = build_tree_oids(self.files(repo, sha))
            if len(self._tree_cache) > 4096:
                self._tree_cache.clear()
            self._tree_cache[k] = t
        return t

    def history(self, repo, sha):
        out = []
        while sha:
            out.append(sha)
            sha = repo["commits"][sha]["parent"]
        return out

    def last_commit_for(self, repo, head, path, is_dir):
        """Newest commit in head's history that changed `path` (file or directory)."""
        def oid_at(sha):
            if is_dir:
                return self.tree_oids(repo, sha).get(path)
            e = self.files(repo, sha).get(path)
            return e and e["oid"]
        cur = oid_at(head)
        found, sha = head, repo["commits"][head]["parent"]
        while sha and oid_at(sha) == cur:
            found, sha = sha, repo["commits"][sha]["parent"]
        return found

    # -- revisions
    def resolve(self, repo, rev):
        """Return commit sha for a revision or None."""
        if rev == "HEAD":
            rev = "main"
        if rev in repo["branches"]:
            return repo["branches"][rev]
        if rev in repo["tags"]:
            return repo["tags"][rev]
        if rev.startswith("refs/heads/") and rev[11:] in repo["branches"]:
            return repo["branches"][rev[11:]]
        if rev.startswith("refs/tags/") and rev[10:] in repo["tags"]:
            return repo["tags"][rev[10:]]
        if rev.startswith("refs/pr/") and rev[8:] in repo["prs"]:
            return repo["prs"][rev[8:]]
        if rev.startswith("refs/convert/") and rev[13:] in repo["converts"]:
            return repo["converts"][rev[13:]]
        r = rev.lower()
        if 5 <= len(r) <= 40 and all(c in "0123456789abcdef" for c in r):
            if r in repo["commits"]:
                return r
            hits = [s for s in list(repo["commits"]) if s.startswith(r)]
            if len(hits) == 1:
                return hits[0]
        return None

    def writable_ref(self, repo, rev):
        """('branch', name) / ('pr', num) for a revision one may commit to, else None."""
        if rev in repo["branches"]:
            return ("branch", rev)
        if rev.startswith("refs/heads/") and rev[11:] in repo["branches"]:
            return ("branch", rev[11:])
        if rev.startswith("refs/pr/") and rev[8:] in repo["prs"]:
            return ("pr", rev[8:])
        return None

    def get_ref(self, repo, ref):
        kind, name = ref
        return repo["branches" if kind == "branch" else "prs"][name]

    def set_ref(self, repo, ref, sha):
        kind, name = ref
        repo["branches" if kind == "branch" else "prs"][name] = sha

    def commit(self, repo, ref, ops, title, message, author, parent_commit=None, create_pr=False):
        """Apply ops atomically.  ops: list of (kind, value) with kind in
        file / lfsFile / deletedFile / deletedFolder.  Returns (sha, pr_num or None)."""
        with self.lock:
            head = self.get_ref(repo, ref)
            if create_pr:
                base = head
                if parent_commit:
                    base = self.resolve(repo, parent_commit)
                    if base is None:
                        raise HubError(400, "Invalid parentCommit: %s" % parent_commit)
            else:
                if parent_commit and not (len(parent_commit) >= 7 and head.startswith(parent_commit.lower())):
                    raise HubError(412, "The branch was updated since you opened this page. "
                                        "Please refresh and try again.")
                base = head
            files = dict(self.files(repo, base))
            add_ga = []
            for kind, v in ops:
                path = v["path"]
                if kind == "file":
                    files[path] = v["entry"]
                elif kind == "lfsFile":
                    files[path] = v["entry"]
                    ga = self._ga_text(files)
                    if not is_lfs_path(ga, path):
                        add_ga.append(path)
                elif kind == "deletedFile":
                    if path not in files:
                        raise HubError(404, "A file with this name doesn't exist: %s" % path,
                                       "EntryNotFound")
                    del files[path]
                elif kind == "deletedFolder":
                    pre = path.rstrip("/") + "/"
                    hits = [p for p in files if p.startswith(pre) or pre == "/"]
                    if not hits:
                        raise HubError(404, "A folder with this name doesn't exist: %s" % path,
                                       "EntryNotFound")
                    for p in hits:
                        del files[p]
            if add_ga:
                ga = self._ga_text(files)
                if ga and not ga.endswith("\n"):
                    ga += "\n"
                ga += "".join("%s filter=lfs diff=lfs merge=lfs -text\n" % gitattributes_escape(p)
                              for p in add_ga)
                files[".gitattributes"] = self.file_entry_regular(ga.encode())
            sha = self._make_commit(repo, base, files, author, title, message)
            pr = None
            if create_pr:
                repo["pr_counter"] += 1
                pr = str(repo["pr_counter"])
                repo["prs"][pr] = sha
            else:
                self.set_ref(repo, ref, sha)
            self.save()
            return sha, pr

    def _ga_text(self, files):
        e = files.get(".gitattributes")
        if not e:
            return ""
        return self.read_blob(e["sha256"]).decode("utf-8", "replace")

    def file_text_at(self, repo, sha, path):
        e = self.files(repo, sha).get(path)
        if not e or e["lfs"]:
            return ""
        return self.read_blob(e["sha256"]).decode("utf-8", "replace")
