"""bench_write.py — the write-path benchmark (run through scripts/bench-write.sh).

Medians over --reps runs, against a local hubsim, printed as one table:
  cp   : `cp` of a SIZE MiB file into a fresh mount, then `hubmount sync` (until the commit
         exists)  vs  `cp` to local disk + one upload of the same file with curl (preupload,
         LFS batch, PUT, commit: the minimum any client must send)
  rsync: `rsync -a` of N small files into the mount + `hubmount sync`  vs  `rsync -a` to local
         disk + one commit of the same files with the official client (@huggingface/hub
         uploadFiles, from tests/conformance/node_modules)
  rss  : the daemon's peak RSS (VmHWM) after writing and committing a BIG MiB file
Every process started here is stopped by PID; mounts are removed with fusermount3 -u -z.
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

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
    def __init__(self, binp, url, repo, work):
        self.path = tempfile.mkdtemp(dir=work, prefix="mnt-")
        cache = tempfile.mkdtemp(dir=work, prefix="cache-")
        env = dict(os.environ, HF_TOKEN=TOKEN, HOME=work)
        self.log = open(os.path.join(work, "hubmount.log"), "a")
        self.proc = subprocess.Popen(
            [binp, repo, self.path, "-f", "-o",
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


def curl_upload(url, repo, path_in_repo, local):
    """preupload -> LFS batch (basic) -> curl -T -> commit, like any minimal client."""
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
        "operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
        "ref": {"name": "main"}, "objects": [{"oid": oid, "size": size}]}).encode(),
        ctype="application/vnd.git-lfs+json")
    obj = batch["objects"][0]
    up = obj.get("actions", {}).get("upload")
    if up:
        run(["curl", "-sS", "--fail", "-X", "PUT", "-T", local, up["href"]])
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=1024, help="MiB of the cp file")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--big", type=int, default=4096, help="MiB written for the RSS figure")
    ap.add_argument("--workdir", default="/var/tmp")
    a = ap.parse_args()

    work = tempfile.mkdtemp(dir=a.workdir, prefix="hm-bench-write-")
    emu = Emulator(config=CONFIG).start()
    hub = Client(emu.url)
    node_dir = os.path.join(ROOT, "tests", "conformance")
    have_node = shutil.which("node") and os.path.isdir(os.path.join(node_dir, "node_modules",
                                                                    "@huggingface"))
    res = {k: [] for k in ("cp_mount", "cp_curl", "rsync_mount", "rsync_official")}
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
        for rep in range(a.reps):
            repo = "acme/bench-cp-%d" % rep
            hub.seed(repo, files={"README.md": b"bench\n"})
            m = Mount(a.bin, emu.url, repo, work)
            fresh_file(src, a.size)
            t = time.monotonic()
            run(["cp", src, os.path.join(m.path, "big.bin")])
            sync(a.bin, m.path)
            res["cp_mount"].append(time.monotonic() - t)
            m.close()

            repo = "acme/bench-curl-%d" % rep
            hub.seed(repo, files={"README.md": b"bench\n"})
            fresh_file(src, a.size)
            t = time.monotonic()
            local = os.path.join(work, "copy.bin")
            run(["cp", src, local])
            curl_upload(emu.url, repo, "big.bin", local)
            res["cp_curl"].append(time.monotonic() - t)
            os.unlink(local)

            repo = "acme/bench-rsync-%d" % rep
            hub.seed(repo, files={"README.md": b"bench\n"})
            m = Mount(a.bin, emu.url, repo, work)
            t = time.monotonic()
            run(["rsync", "-a", tree + "/", os.path.join(m.path, "data") + "/"])
            sync(a.bin, m.path)
            res["rsync_mount"].append(time.monotonic() - t)
            m.close()

            if have_node:
                repo = "acme/bench-official-%d" % rep
                hub.seed(repo, files={"README.md": b"bench\n"})
                local = os.path.join(work, "local-tree")
                t = time.monotonic()
                run(["rsync", "-a", tree + "/", local + "/"])
                with open(script, "w") as f:
                    f.write(NODE_UPLOAD)
                run(["node", script, emu.url, TOKEN, repo, local], cwd=node_dir)
                res["rsync_official"].append(time.monotonic() - t)
                shutil.rmtree(local)

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
    row("cp %d MiB until committed" % a.size, med["cp_mount"], med["cp_curl"],
        "baseline: cp to disk + curl upload")
    row("rsync -a %d files until committed" % a.files, med["rsync_mount"], med["rsync_official"],
        "baseline: rsync to disk + @huggingface/hub uploadFiles")
    print("\npeak RSS of the daemon writing %d MiB: %.1f MiB" % (a.big, (rss or 0) / 1024))


if __name__ == "__main__":
    main()
