"""bench_browse.py — the browsing benchmark (run through scripts/bench-browse.sh).

Against a local hubsim with a namespace of REPOS repos and one repo whose folder holds FILES
files, medians over --reps fresh mounts (each with an empty cache directory):
  ls -l NS/models          cold (first listing: the listing pages) and warm (same again)
  gio list FOLDER          cold (first listing of the folder's tree) and warm
Requests are counted from the emulator's log.  Every process started here is stopped by PID;
mounts are removed with fusermount3 -u -z.
"""
import argparse
import base64
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

TOKEN = "hf_bench_browse"
CONFIG = {"users": [{"name": "alice", "orgs": {"bench": "admin"}}],
          "tokens": [{"token": TOKEN, "user": "alice", "role": "write"}]}


def wait_mounted(path, proc, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.ismount(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


class Mount:
    def __init__(self, binary, source, url, workdir, n):
        self.path = os.path.join(workdir, "mnt%d" % n)
        self.cache = os.path.join(workdir, "cache%d" % n)
        os.makedirs(self.path)
        env = dict(os.environ, HF_TOKEN=TOKEN, HOME=workdir)
        self.log = open(os.path.join(workdir, "hubmount%d.log" % n), "w")
        self.proc = subprocess.Popen([binary, source, self.path, "-f", "-o",
                                      "endpoint=%s,cache_dir=%s" % (url, self.cache)],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     env=env)
        if not wait_mounted(self.path, self.proc):
            self.close()
            raise RuntimeError("mount of %s failed" % source)

    def close(self):
        subprocess.run(["fusermount3", "-u", "-z", self.path], stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def timed(hub, cmd):
    hub.clear_log()
    t = time.monotonic()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    dt = time.monotonic() - t
    return dt, len(hub.log()), out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--repos", type=int, default=500)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workdir")
    a = ap.parse_args()
    gio = shutil.which("gio")
    work = a.workdir or tempfile.mkdtemp(prefix="bench-browse-")
    emu = Emulator(config=CONFIG, data_dir=os.path.join(work, "hubsim")).start()
    mounts = []
    try:
        hub = Client(emu.url)
        # the Hub's own page size for repo listings is at most 500 (huggingface.js)
        hub.set_config(page_size={"tree": 1000, "commits": 50, "repos": 500,
                                  "paths_info_max": 1000})
        t = time.monotonic()
        for i in range(a.repos):
            hub.seed("bench/r%04d" % i, files={"README.md": b"r%d\n" % i})
        files = {"folder/img%05d.png" % i: b"\x89PNG fake %d\n" % i for i in range(a.files)}
        hub.json("POST", "/__emulator/seed", {
            "repo": "bench/r0000", "type": "model",
            "files": {p: base64.b64encode(d).decode() for p, d in files.items()}})
        print("seeded %d repos and a %d-file folder in %.1f s" % (a.repos, a.files,
                                                                  time.monotonic() - t))
        res = {k: [] for k in ("ls_cold", "ls_warm", "gio_cold", "gio_warm")}
        for rep in range(a.reps):
            m = Mount(a.bin, "bench", emu.url, work, rep)
            mounts.append(m)
            models = os.path.join(m.path, "models")
            for kind in ("ls_cold", "ls_warm"):
                dt, n, out = timed(hub, ["ls", "-l", models])
                assert len(out.strip().splitlines()) == a.repos + 1, out[:200]
                res[kind].append((dt, n))
            if gio:
                folder = os.path.join(models, "r0000", "folder")
                os.stat(os.path.join(models, "r0000"))  # the repo mount itself is not timed
                for kind in ("gio_cold", "gio_warm"):
                    dt, n, out = timed(hub, [gio, "list", "-a", "standard::*,thumbnail::*",
                                             folder])
                    assert len(out.strip().splitlines()) == a.files, out[:200]
                    res[kind].append((dt, n))
            m.close()
            mounts.remove(m)
        print()
        print("| case | median time (s) | Hub requests |")
        print("|---|---|---|")
        labels = {"ls_cold": "`ls -l` of %d repos, cold" % a.repos,
                  "ls_warm": "`ls -l` of %d repos, warm" % a.repos,
                  "gio_cold": "`gio list` of %d files, cold" % a.files,
                  "gio_warm": "`gio list` of %d files, warm" % a.files}
        for k, v in res.items():
            if not v:
                print("| %s | (gio not installed) | |" % labels[k])
                continue
            print("| %s | %.3f | %d |" % (labels[k], statistics.median(x[0] for x in v),
                                          max(x[1] for x in v)))
    finally:
        for m in mounts:
            m.close()
        emu.cleanup()
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
