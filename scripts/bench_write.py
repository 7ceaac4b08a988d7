"""bench_write.py — the write-path benchmark (run through scripts/bench-write.sh).

Medians over --reps runs, against a local hubsim, printed as one table:
  cp   : `cp` of a SIZE MiB file into a fresh mount, then `hubmount sync` right away (until
         the commit exists: what a user who waits does; the commit_delay debounce is not
         waited out)  vs  `cp` to local disk + one upload of the same file (preupload, LFS
         batch, PUT(s), completion, verify, commit: the minimum any client must send), by the
         same upload route hubmount gets: multipart above the emulator's part size, parts
         one after the other like huggingface_hub (see curl_upload)
  rsync: `rsync -a` of N small files into the mount + `hubmount sync`  vs  `rsync -a` to local
         disk + one commit of the same files with the official client (@huggingface/hub
         uploadFiles, from tests/conformance/node_modules)
  rss  : the daemon's peak RSS (VmHWM) after writing and committing a BIG MiB file
Reference rows for rsync (no hubmount; they say where the time of the gap goes):
  local disk          : `rsync -a` to local disk alone (the first step of the baseline)
  local disk, --fsync : the same with rsync --fsync (one fsync per file: what durability at
                        close costs on this disk without FUSE)
  bindfs              : `rsync -a` into a bindfs mount of a local directory (Debian's FUSE
                        passthrough): the FUSE ceiling of this machine for the same rsync
  hubmount split      : the hubmount rsync row's time until rsync exits / in `hubmount sync`
--profile adds one more rsync into a mount started with -d (libfuse's request log) under
strace: FUSE requests per file by opcode, fsyncs per file (staging files, SQLite WAL,
directories) and SQLite write transactions per file (fcntl locks of the WAL's write lock).
Every process started here is stopped by PID; mounts are removed with fusermount3 -u -z.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "hubsim"))
from hubclient import Client, Emulator  # noqa: E402

TOKEN = "hf_bench_write"
CONFIG = {"users": [{"name": "alice", "orgs": {"acme": "admin"}}],
          "tokens": [{"token": TOKEN, "user": "alice", "role": "write"}]}
MiB = 1 << 20

NODE_UPLOAD = r"""
import { uploadFiles } from "@huggingface/hub";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
const [hub, token, repo, dir] = process.argv.slice(2);
const files = [];
const walk = (d) => { for (const n of readdirSync(d)) { const p = join(d, n);
  if (statSync(p).isDirectory()) walk(p); else files.push({ path: "data/" + relative(dir, p),
  content: new Blob([readFileSync(p)]) }); } };
walk(dir);
await uploadFiles({ hubUrl: hub, accessToken: token, repo, files, useXet: false,
                    commitTitle: "official client" });
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


class Mount:
    def __init__(self, binp, url, repo, work, debug_log=None):
        self.path = tempfile.mkdtemp(dir=work, prefix="mnt-")
        cache = tempfile.mkdtemp(dir=work, prefix="cache-")
        env = dict(os.environ, HF_TOKEN=TOKEN, HOME=work)
        self.log = open(debug_log or os.path.join(work, "hubmount.log"), "a")
        self.proc = subprocess.Popen(
            [binp, repo, self.path, "-f"] + (["-d"] if debug_log else []) + ["-o",
             "endpoint=%s,cache_dir=%s,poll=0,commit_delay=60,commit_window=600" % (url, cache)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mount failed, see %s" % self.log.name)
            time.sleep(0.05)

    def peak_rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def close(self):
        subprocess.run(["fusermount3", "-u", "-z", self.path], capture_output=True)
        try:
            self.proc.wait(600)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def curl_json(method, url, body, ctype="application/json", token=TOKEN):
    cmd = ["curl", "-sS", "--fail-with-body", "-X", method, url, "-H", "Content-Type: " + ctype,
           "--data-binary", "@-"]
    if token:
        cmd += ["-H", "Authorization: Bearer " + token]
    out = subprocess.run(cmd, input=body, check=True, capture_output=True).stdout
    return json.loads(out) if out.strip() else {}


def put_parts(header, local, size):
    """The parts of a multipart upload, one after the other over one keep-alive
    connection, each read into memory first (what huggingface_hub does without
    hf_transfer).  Returns the completion body's parts list."""
    chunk = int(header["chunk_size"])
    nparts = (size + chunk - 1) // chunk
    parts, conn, origin = [], None, None
    with open(local, "rb") as f:
        for i in range(1, nparts + 1):
            u = urllib.parse.urlsplit(header["%05d" % i] if "%05d" % i in header else header[str(i)])
            if (u.hostname, u.port) != origin:
                if conn:
                    conn.close()
                origin = (u.hostname, u.port)
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
            data = f.read(chunk)
            conn.request("PUT", u.path + ("?" + u.query if u.query else ""), body=data,
                         headers={"Content-Length": str(len(data))})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError("part %d: HTTP %d" % (i, r.status))
            parts.append({"partNumber": i, "etag": r.getheader("ETag")})
    if conn:
        conn.close()
    return parts


def curl_upload(url, repo, path_in_repo, local, transfers=("basic", "multipart")):
    """preupload -> LFS batch -> upload -> commit, the minimum any client must send.
    The batch offers basic and multipart transfers like huggingface_hub does, so the
    baseline takes the same upload route as hubmount (the emulator, like the Hub,
    answers multipart above its part size): a file below it is one `curl -T`, a
    larger one is sent part by part (put_parts) and completed."""
    size = os.path.getsize(local)
    h = hashlib.sha256()
    with open(local, "rb") as f:
        sample = f.read(512)
        f.seek(0)
        for block in iter(lambda: f.read(8 * MiB), b""):
            h.update(block)
    oid = h.hexdigest()
    import base64
    api = "%s/api/models/%s" % (url, repo)
    curl_json("POST", api + "/preupload/main", json.dumps({"files": [
        {"path": path_in_repo, "size": size, "sample": base64.b64encode(sample).decode()}]}).encode())
    batch = curl_json("POST", "%s/%s.git/info/lfs/objects/batch" % (url, repo), json.dumps({
        "operation": "upload", "transfers": list(transfers), "hash_algo": "sha256",
        "ref": {"name": "main"}, "objects": [{"oid": oid, "size": size}]}).encode(),
        ctype="application/vnd.git-lfs+json")
    obj = batch["objects"][0]
    up = obj.get("actions", {}).get("upload")
    if up and up.get("header", {}).get("chunk_size"):
        parts = put_parts(up["header"], local, size)
        curl_json("POST", up["href"], json.dumps({"oid": oid, "parts": parts}).encode(),
                  ctype="application/vnd.git-lfs+json", token=None)
    elif up:
        run(["curl", "-sS", "--fail", "-X", "PUT", "-T", local, up["href"]])
    verify = obj.get("actions", {}).get("verify")
    if up and verify:
        curl_json("POST", verify["href"], json.dumps({"oid": oid, "size": size}).encode(),
                  ctype="application/vnd.git-lfs+json")
    body = "\n".join(json.dumps(x) for x in [
        {"key": "header", "value": {"summary": "curl upload"}},
        {"key": "lfsFile", "value": {"path": path_in_repo, "algo": "sha256", "oid": oid,
                                     "size": size}}]).encode()
    curl_json("POST", api + "/commit/main", body, ctype="application/x-ndjson")


def make_small_tree(d, n):
    for i in range(n):
        sub = os.path.join(d, "part%02d" % (i % 20))
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "f%05d.txt" % i), "wb") as f:
            f.write(b"row %d\n" % i * (1 + i % 9))


def sync(binp, mnt):
    subprocess.run([binp, "sync", mnt], check=True)


class Bindfs:
    """bindfs (FUSE passthrough) of a fresh local directory, in the foreground so
    that it is stopped by PID."""
    def __init__(self, work):
        self.src = tempfile.mkdtemp(dir=work, prefix="bindsrc-")
        self.path = tempfile.mkdtemp(dir=work, prefix="bindmnt-")
        self.proc = subprocess.Popen(["bindfs", "-f", self.src, self.path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bindfs mount failed")
            time.sleep(0.05)

    def close(self):
        subprocess.run(["fusermount3", "-u", "-z", self.path], capture_output=True)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def fuse_opcodes(log_path):
    """Counts of the requests in a libfuse debug log ('unique: N, opcode: NAME ...')."""
    counts = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("unique: ") and ", opcode: " in line:
                op = line.split(", opcode: ", 1)[1].split(" ", 1)[0]
                counts[op] = counts.get(op, 0) + 1
    return counts


def strace_counts(trace_path):
    """fsync-like calls by the kind of file they name (count, seconds spent), and
    SQLite write transactions (F_SETLK write locks at byte 120 of the -shm file:
    SQLite's WAL_WRITE_LOCK, taken once per write transaction) in an
    `strace -f -y -T` output."""
    fs, txn, pending = {}, 0, {}

    def kind_of(target):
        return ("sqlite WAL" if target.endswith("-wal") else
                "sqlite db" if target.endswith(".db") else
                "staging dir" if target.endswith("/staging") else
                "staging file" if "/staging/" in target else
                "other (%s)" % os.path.basename(target))

    def spent(line):
        if line.rstrip().endswith(">") and "<" in line:
            try:
                return float(line.rstrip()[:-1].rsplit("<", 1)[1])
            except ValueError:
                return 0.0
        return 0.0

    with open(trace_path, errors="replace") as f:
        for line in f:
            pid = line.split(" ", 1)[0]
            if "resumed>" in line:
                key = pending.pop(pid, None)
                if key:
                    fs[key][1] += spent(line)
                continue
            for call in ("fdatasync(", "fsync(", "sync_file_range(", "syncfs("):
                if call in line:
                    target = line.split(call, 1)[1].split(">", 1)[0]
                    key = call[:-1] + " " + kind_of(target)
                    fs.setdefault(key, [0, 0.0])
                    fs[key][0] += 1
                    if "<unfinished" in line:
                        pending[pid] = key
                    else:
                        fs[key][1] += spent(line)
            if "-shm>" in line and "F_SETLK" in line and "F_WRLCK" in line \
                    and "l_start=120," in line:
                txn += 1
    return fs, txn


def profile_rsync(binp, emu_url, hub, tree, nfiles, work):
    """One rsync into a mount started with -d, under strace: requests, fsyncs and
    SQLite write transactions per file (rsync only; `hubmount sync` not included)."""
    repo = "acme/bench-profile"
    hub.seed(repo, files={"README.md": b"bench\n"})
    dlog = os.path.join(work, "fuse-debug.log")
    trace = os.path.join(work, "strace.txt")
    m = Mount(binp, emu_url, repo, work, debug_log=dlog)
    st = None
    if shutil.which("strace"):
        st = subprocess.Popen(["strace", "-f", "-y", "-qq", "-o", trace, "-p", str(m.proc.pid),
                               "-T", "-e", "trace=fsync,fdatasync,sync_file_range,syncfs,fcntl"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # strace attaches to every thread
    with open(dlog) as f:
        f.seek(0, 2)
        start = f.tell()
    run(["rsync", "-a", tree + "/", os.path.join(m.path, "data") + "/"])
    time.sleep(0.5)
    if st:
        st.terminate()
        st.wait()
    with open(dlog, errors="replace") as f, open(dlog + ".rsync", "w") as out:
        f.seek(start)
        out.write(f.read())
    m.close()
    ops = fuse_opcodes(dlog + ".rsync")
    fs, txn = strace_counts(trace) if st else ({}, None)
    print("\nprofile of one rsync -a of %d files into hubmount (until rsync exits), per file:"
          % nfiles)
    total = sum(ops.values())
    print("  FUSE requests: %.1f  (%s)" % (total / nfiles, ", ".join(
        "%s %.2f" % (k, v / nfiles) for k, v in sorted(ops.items(), key=lambda x: -x[1]))))
    print("  syncs (count per file, ms per call): %s" % (", ".join(
        "%s %.2f (%.2f ms)" % (k, v[0] / nfiles, 1000 * v[1] / v[0])
        for k, v in sorted(fs.items())) or "none"))
    if txn is None:
        print("  (strace not installed: no syncs or SQLite transactions counted)")
    else:
        print("  SQLite write transactions: %.2f" % (txn / nfiles))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=1024, help="MiB of the cp file")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--big", type=int, default=4096, help="MiB written for the RSS figure")
    ap.add_argument("--workdir", default="/var/tmp")
    ap.add_argument("--before", help="another hubmount binary measured in the same run "
                    "(same cases, interleaved), shown as 'before' rows")
    ap.add_argument("--cases", default="cp,rsync,rss",
                    help="comma-separated subset of cp, rsync, rss (default: all)")
    ap.add_argument("--profile", action="store_true",
                    help="also count FUSE requests, fsyncs and SQLite transactions per file "
                    "of one rsync (needs strace)")
    a = ap.parse_args()
    cases = set(a.cases.split(","))

    work = tempfile.mkdtemp(dir=a.workdir, prefix="hm-bench-write-")
    emu = Emulator(config=CONFIG).start()
    hub = Client(emu.url)
    node_dir = os.path.join(ROOT, "tests", "conformance")
    have_node = shutil.which("node") and os.path.isdir(os.path.join(node_dir, "node_modules",
                                                                    "@huggingface"))
    res = {k: [] for k in ("cp_mount", "cp_before", "cp_curl", "cp_basic", "rsync_mount",
                           "rsync_before", "rsync_official", "rsync_local", "rsync_fsync",
                           "rsync_bindfs", "rsync_mount_rsync", "rsync_mount_sync",
                           "rsync_before_rsync", "rsync_before_sync")}
    rss = None
    try:
        def fresh_file(path, mib):
            # new random bytes for every case: the emulator stores LFS objects by
            # content, and an object it already has is not uploaded again
            with open(path, "wb") as f:
                for _ in range(mib):
                    f.write(os.urandom(MiB))
        src = os.path.join(work, "src.bin")
        tree = os.path.join(work, "tree")
        make_small_tree(tree, a.files)
        script = os.path.join(node_dir, "bench-upload.mjs")
        def cp_case(binp, key, rep):
            repo = "acme/bench-%s-%d" % (key.replace("_", "-"), rep)
            hub.seed(repo, files={"README.md": b"bench\n"})
            m = Mount(binp, emu.url, repo, work)
            fresh_file(src, a.size)
            t = time.monotonic()
            run(["cp", src, os.path.join(m.path, "big.bin")])
            sync(binp, m.path)
            res[key].append(time.monotonic() - t)
            m.close()

        def rsync_case(binp, key, rep):
            repo = "acme/bench-%s-%d" % (key.replace("_", "-"), rep)
            hub.seed(repo, files={"README.md": b"bench\n"})
            m = Mount(binp, emu.url, repo, work)
            t = time.monotonic()
            run(["rsync", "-a", tree + "/", os.path.join(m.path, "data") + "/"])
            t1 = time.monotonic()
            sync(binp, m.path)
            t2 = time.monotonic()
            res[key].append(t2 - t)
            res[key + "_rsync"].append(t1 - t)
            res[key + "_sync"].append(t2 - t1)
            m.close()

        # the local trees stay until the end (see the official-client case)

        def rsync_refs(rep):
            local = os.path.join(work, "plain-tree-%d" % rep)
            t = time.monotonic()
            run(["rsync", "-a", tree + "/", local + "/"])
            res["rsync_local"].append(time.monotonic() - t)
            local = os.path.join(work, "fsync-tree-%d" % rep)
            t = time.monotonic()
            run(["rsync", "-a", "--fsync", tree + "/", local + "/"])
            res["rsync_fsync"].append(time.monotonic() - t)
            b = Bindfs(work)
            t = time.monotonic()
            run(["rsync", "-a", tree + "/", os.path.join(b.path, "data") + "/"])
            res["rsync_bindfs"].append(time.monotonic() - t)
            b.close()

        def cp_all(rep):
            cp_case(a.bin, "cp_mount", rep)
            if a.before:
                cp_case(a.before, "cp_before", rep)
            repo = "acme/bench-curl-%d" % rep
            hub.seed(repo, files={"README.md": b"bench\n"})
            fresh_file(src, a.size)
            t = time.monotonic()
            local = os.path.join(work, "copy.bin")
            run(["cp", src, local])
            curl_upload(emu.url, repo, "big.bin", local)
            res["cp_curl"].append(time.monotonic() - t)
            os.unlink(local)

            # for the record: the same with one basic PUT, a route the emulator
            # makes far cheaper than multipart (no parts to store and join)
            repo = "acme/bench-basic-%d" % rep
            hub.seed(repo, files={"README.md": b"bench\n"})
            fresh_file(src, a.size)
            t = time.monotonic()
            run(["cp", src, local])
            curl_upload(emu.url, repo, "big.bin", local, transfers=("basic",))
            res["cp_basic"].append(time.monotonic() - t)
            os.unlink(local)

        def rsync_all(rep):
            # --before: the two binaries take turns going first (what runs
            # first after the previous case meets a different disk state)
            order = [(a.bin, "rsync_mount")]
            if a.before:
                order.append((a.before, "rsync_before"))
                if rep % 2:
                    order.reverse()
            for binp, key in order:
                rsync_case(binp, key, rep)
            if have_node:
                repo = "acme/bench-official-%d" % rep
                hub.seed(repo, files={"README.md": b"bench\n"})
                # kept until the end: deleting 1,000 files right before the next
                # case would slow every file creation in it (this VM's ext4 runs
                # without a journal and then skips recently freed inodes one by one)
                local = os.path.join(work, "local-tree-%d" % rep)
                t = time.monotonic()
                run(["rsync", "-a", tree + "/", local + "/"])
                with open(script, "w") as f:
                    f.write(NODE_UPLOAD)
                run(["node", script, emu.url, TOKEN, repo, local], cwd=node_dir)
                res["rsync_official"].append(time.monotonic() - t)
            rsync_refs(rep)

        for rep in range(a.reps):
            if "cp" in cases:
                cp_all(rep)
            if "rsync" in cases:
                rsync_all(rep)
        if a.before:  # --before: the runs of both binaries, in order
            for k in ("cp_mount", "cp_before", "rsync_mount_rsync", "rsync_before_rsync"):
                if res[k]:
                    print("%-20s %s" % (k, " ".join("%.2f" % x for x in res[k])))
        if "rsync" in cases and a.profile:
            profile_rsync(a.bin, emu.url, hub, tree, a.files, work)

        if "rss" in cases:
            repo = "acme/bench-rss"
            hub.seed(repo, files={"README.md": b"bench\n"})
            m = Mount(a.bin, emu.url, repo, work)
            run(["dd", "if=/dev/zero", "of=" + os.path.join(m.path, "huge.bin"), "bs=1M",
                 "count=%d" % a.big])
            sync(a.bin, m.path)
            rss = m.peak_rss_kib()
            m.close()
    finally:
        if os.path.exists(os.path.join(node_dir, "bench-upload.mjs")):
            os.unlink(os.path.join(node_dir, "bench-upload.mjs"))
        emu.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    report(a, cases, res, rss)


def report(a, cases, res, rss):
    med = {k: statistics.median(v) if v else None for k, v in res.items()}

    def row(name, mine, base, what):
        if mine is None or base is None:
            print("| %-34s | %7s | %8s | %5s |  (baseline not available)"
                  % (name, "%.2fs" % mine if mine is not None else "-", "-", "-"))
            return
        print("| %-34s | %7.2fs | %7.2fs | %5.2f |  %s" % (name, mine, base, mine / base, what))

    print("\nwrite benchmark, medians of %d run(s)\n" % a.reps)
    print("| %-34s | %8s | %8s | %5s |" % ("case", "hubmount", "baseline", "ratio"))
    print("|%s|%s|%s|%s|" % ("-" * 36, "-" * 10, "-" * 10, "-" * 7))
    if "cp" in cases:
        row("cp %d MiB until committed" % a.size, med["cp_mount"], med["cp_curl"],
            "baseline: cp to disk + upload, same route (multipart)")
        if a.before:
            row("  before (--before binary)", med["cp_before"], med["cp_curl"], "same baseline")
        row("  (same, baseline one basic PUT)", med["cp_mount"], med["cp_basic"],
            "not the route the emulator gives hubmount: for the record")
    if "rsync" in cases:
        row("rsync -a %d files until committed" % a.files, med["rsync_mount"],
            med["rsync_official"], "baseline: rsync to disk + @huggingface/hub uploadFiles")
        if a.before:
            row("  before (--before binary)", med["rsync_before"], med["rsync_official"],
                "same baseline")
        base = med["rsync_official"]
        row("  ref: rsync to local disk alone", med["rsync_local"], base,
            "no FUSE, no fsync, no upload")
        row("  ref: rsync --fsync to local disk", med["rsync_fsync"], base,
            "one fsync per file, no FUSE")
        row("  ref: rsync into bindfs", med["rsync_bindfs"], base,
            "FUSE passthrough of a local dir: the FUSE ceiling here")
        row("  hubmount: until rsync exits", med["rsync_mount_rsync"], base,
            "same runs as the hubmount row")
        row("  hubmount: hubmount sync", med["rsync_mount_sync"], base,
            "the commit (upload + commit call + import)")
        if a.before:
            row("  before: until rsync exits", med["rsync_before_rsync"], base, "")
            row("  before: hubmount sync", med["rsync_before_sync"], base, "")
    if "rss" in cases:
        print("\npeak RSS of the daemon writing %d MiB: %.1f MiB" % (a.big, (rss or 0) / 1024))


if __name__ == "__main__":
    main()
