"""filemanager_test.py — PCManFM on a namespace mount (run through scripts/test-filemanager.sh).

Steps: hubsim with namespace acme (a few repos, and acme/gallery: 200 small PNG images and
3 LFS files of 40 MiB); `hubmount acme MNT`; Xvfb; PCManFM with thumbnails on, in a fresh
HOME, opened on MNT, then MNT/models, then MNT/models/gallery/pics (one window each, in
turn); a screenshot of each; then the checks, from the emulator's log:
  - every content request is ranged; no large file is read beyond 1 MiB (never whole);
  - all bytes fetched <= the images' bytes + 1 MiB per large file;
  - nothing committed (no POST), no .Trash path ever asked for.
Prints a summary line `filemanager: N passed, M failed`; exit status 1 on a failure.
Every process started here is stopped by PID; the mount is removed with fusermount3 -u -z.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "hubsim"))
from hubclient import Client, Emulator  # noqa: E402

TOKEN = "hf_fm_alice"
CONFIG = {"users": [{"name": "alice", "orgs": {"acme": "admin"}}],
          "tokens": [{"token": TOKEN, "user": "alice", "role": "write"}]}
MiB = 1 << 20
BIG = 40 * MiB


def png(i, size=96):
    """A real PNG (so thumbnailers have work to do): a colour gradient per image."""
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            row += bytes(((x * 255 // size + i * 37) % 256, (y * 255 // size) % 256, (i * 53) % 256))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 6)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "filemanager"))
    ap.add_argument("--settle", type=float, default=12.0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="fm-")
    procs = []
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    emu = Emulator(config=CONFIG, data_dir=os.path.join(work, "hubsim")).start()
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print("%s - %s %s" % ("ok" if ok else "not ok", name, detail))

    try:
        hub = Client(emu.url)
        for r in ("alpha", "beta", "gamma"):
            hub.seed("acme/" + r, files={"README.md": b"# %s\n" % r.encode()})
        import base64
        images = {"pics/img%03d.png" % i: png(i) for i in range(200)}
        img_bytes = sum(len(v) for v in images.values())
        hub.json("POST", "/__emulator/seed", {
            "repo": "acme/gallery", "type": "model",
            "files": {"pics/README.txt": base64.b64encode(b"gallery\n").decode()},
            "lfs_files": dict({p: {"size": len(d), "content": base64.b64encode(d).decode()}
                               for p, d in images.items()},
                              **{"pics/weights-%d.safetensors" % i: {"size": BIG, "seed": 7 + i}
                                 for i in range(3)})})
        head = hub.state("acme/gallery")["head"]

        home = os.path.join(work, "home")
        os.makedirs(os.path.join(home, ".config", "libfm"))
        with open(os.path.join(home, ".config", "libfm", "libfm.conf"), "w") as f:
            f.write("[config]\nshow_thumbnail=1\nthumbnail_local=1\nthumbnail_max=4096\n"
                    "[ui]\nbig_icon_size=96\n")
        os.makedirs(os.path.join(home, ".config", "pcmanfm", "default"))
        with open(os.path.join(home, ".config", "pcmanfm", "default", "pcmanfm.conf"), "w") as f:
            f.write("[ui]\nview_mode=icon\nshow_hidden=0\n")
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                   XDG_CACHE_HOME=os.path.join(home, ".cache"), HF_TOKEN=TOKEN,
                   NO_AT_BRIDGE="1", GIO_USE_VFS="local")
        log = open(os.path.join(a.out, "hubmount.log"), "w")
        hm = subprocess.Popen([a.bin, "acme", mnt, "-f", "-o",
                               "endpoint=%s,cache_dir=%s" % (emu.url, os.path.join(work, "cache"))],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        procs.append(hm)
        if not wait(lambda: os.path.ismount(mnt), 20):
            raise RuntimeError("mount failed")
        disp = ":%d" % (90 + os.getpid() % 9)
        xv = subprocess.Popen(["Xvfb", disp, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(xv)
        env["DISPLAY"] = disp
        time.sleep(1.5)
        hub.clear_log()
        t0 = time.monotonic()
        for i, sub in enumerate(["", "models", "models/gallery/pics"]):
            fm = subprocess.Popen(["pcmanfm", "--no-desktop", os.path.join(mnt, sub)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(a.out, "pcmanfm.log"), "a"))
            procs.append(fm)
            time.sleep(a.settle)
            shot = os.path.join(a.out, "shot%d-%s.png" % (i, sub.replace("/", "_") or "root"))
            subprocess.run(["import", "-display", disp, "-window", "root", shot], check=False,
                           env=env, timeout=60)
            check("screenshot %s" % os.path.basename(shot), os.path.exists(shot))
            fm.terminate()
            try:
                fm.wait(10)
            except subprocess.TimeoutExpired:
                fm.kill()
                fm.wait()
        elapsed = time.monotonic() - t0
        entries = hub.log()
        cdn = [e for e in entries if e["origin"] == "cdn"]
        per = {}
        for e in cdn:
            per[e["path"]] = per.get(e["path"], 0) + e["bytes"]
        total = sum(per.values())
        # CDN paths name the content (sha256), not the file
        files = hub.state("acme/gallery")["files"]
        big = {name: sum(b for p, b in per.items() if f["sha256"] in p)
               for name, f in files.items() if f["size"] >= BIG}
        assert len(big) == 3, files.keys()
        check("every content request is ranged", all(e["range"] for e in cdn))
        check("no large file fetched beyond 1 MiB", all(b <= MiB for b in big.values()), str(big))
        check("bytes fetched <= images + 1 MiB per large file", total <= img_bytes + 3 * MiB,
              "(%d fetched, images %d)" % (total, img_bytes))
        check("nothing committed", not [e for e in entries if e["method"] == "POST"]
              and hub.state("acme/gallery")["head"] == head)
        check("no trash asked for", not [e for e in entries if ".Trash" in e["path"]])
        print("requests: %d hub, %d cdn; %.1f MiB fetched in %.0f s; screenshots in %s"
              % (len(entries) - len(cdn), len(cdn), total / MiB, elapsed, a.out))
    finally:
        for p in reversed(procs):
            if p is procs[0]:
                subprocess.run(["fusermount3", "-u", "-z", mnt], stderr=subprocess.DEVNULL)
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        emu.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    bad = results.count(False)
    print("filemanager: %d passed, %d failed" % (len(results) - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
