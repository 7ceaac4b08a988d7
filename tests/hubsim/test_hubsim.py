"""Tests of the Hub emulator itself.  Run: /usr/bin/python3 -m pytest tests/hubsim -q"""
import base64
import hashlib
import http.client
import json
import os
import socket
import sys
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hubclient import Client, Emulator, HubHTTPError, seeded_bytes  # noqa: E402
from store import git_blob_oid  # noqa: E402

pytestmark = pytest.mark.timeout(60)

CONFIG = {
    "users": [{"name": "alice", "orgs": {"acme": "admin"}},
              {"name": "bob", "orgs": {"acme": "read"}},
              {"name": "carol", "orgs": {"acme": "contributor"}},
              {"name": "dave"}],
    "tokens": [
        {"token": "hf_alicewrite", "user": "alice", "role": "write"},
        {"token": "hf_aliceread", "user": "alice", "role": "read"},
        {"token": "hf_bob", "user": "bob", "role": "write"},
        {"token": "hf_carol", "user": "carol", "role": "write"},
        {"token": "hf_dave", "user": "dave", "role": "write"},
        {"token": "hf_expired", "user": "alice", "role": "write", "expired": True},
        {"token": "hf_fg", "user": "alice", "role": "fineGrained", "fineGrained": {
            "canReadGatedRepos": False, "global": [],
            "scoped": [{"entity": {"type": "org", "name": "acme"},
                        "permissions": ["repo.content.read", "repo.write"]}]}},
        {"token": "hf_davefg", "user": "dave", "role": "fineGrained", "fineGrained": {
            "canReadGatedRepos": False, "global": [], "scoped": []}},
    ],
    "repos": [{"id": "acme/gated-model", "type": "model", "gated": "manual",
               "grants": {"alice": "accepted", "dave": "pending"}},
              {"id": "acme/secret", "type": "model", "private": True},
              {"id": "acme/off", "type": "model", "disabled": True}],
}
DEFAULTS = {"page_size": {"tree": 1000, "commits": 50, "repos": 1000, "paths_info_max": 1000},
            "lfs_threshold": 10485760, "multipart_chunk_size": 5242880, "url_expiry": 3600}


@pytest.fixture(scope="module")
def emu():
    e = Emulator(config=CONFIG).start()
    yield e
    e.cleanup()


@pytest.fixture(autouse=True)
def reset(emu):
    ctl = Client(emu.url)
    yield
    ctl.clear_faults()
    ctl.set_config(**DEFAULTS)


_n = [0]


def new_repo(emu, files=None, lfs_files=None, rtype="model"):
    _n[0] += 1
    rid = "acme/r%d-%d" % (_n[0], os.getpid())
    Client(emu.url).seed(rid, files or {"README.md": b"# hi\n"}, lfs_files, rtype=rtype)
    return rid


def alice(emu):
    return Client(emu.url, "hf_alicewrite")


def status_of(fn):
    try:
        fn()
    except HubHTTPError as e:
        return e.status, e.error_code, e.headers.get("x-error-message")
    return 200, None, None


# ------------------------------------------------------------------ identities

def test_whoami_shape_and_bad_tokens(emu):
    me = Client(emu.url, "hf_fg").whoami()
    assert me["name"] == "alice" and me["type"] == "user" and len(me["id"]) == 24
    assert me["orgs"][0]["name"] == "acme" and me["orgs"][0]["roleInOrg"] == "admin"
    at = me["auth"]["accessToken"]
    assert at["role"] == "fineGrained" and "createdAt" in at and "displayName" in at
    assert at["fineGrained"]["scoped"][0]["entity"]["type"] == "org"
    assert at["fineGrained"]["scoped"][0]["permissions"] == ["repo.content.read", "repo.write"]
    assert Client(emu.url, "hf_aliceread").whoami()["auth"]["accessToken"]["role"] == "read"
    assert status_of(lambda: Client(emu.url).whoami())[0] == 401
    assert status_of(lambda: Client(emu.url, "hf_nope").whoami())[0] == 401
    assert status_of(lambda: Client(emu.url, "hf_expired").whoami())[0] == 401
    # an unknown token is refused even on public content
    assert status_of(lambda: Client(emu.url, "hf_nope").info("acme/gated-model"))[0] == 401


def test_visibility_private_gated_disabled(emu):
    anon, dave, bob = Client(emu.url), Client(emu.url, "hf_dave"), Client(emu.url, "hf_bob")
    assert status_of(lambda: anon.info("acme/secret"))[:2] == (401, "RepoNotFound")
    assert status_of(lambda: anon.info("acme/does-not-exist"))[:2] == (401, "RepoNotFound")
    assert status_of(lambda: dave.info("acme/secret"))[:2] == (404, "RepoNotFound")
    assert status_of(lambda: dave.info("acme/does-not-exist"))[:2] == (404, "RepoNotFound")
    assert bob.info("acme/secret")["private"] is True
    # gated: metadata open, content gated
    assert anon.info("acme/gated-model")["gated"] == "manual"
    assert anon.tree("acme/gated-model")[0]["path"] == ".gitattributes"
    st, code, _ = status_of(lambda: anon.download("acme/gated-model", ".gitattributes"))
    assert (st, code) == (401, "GatedRepo")
    st, code, msg = status_of(lambda: dave.download("acme/gated-model", ".gitattributes"))
    assert (st, code) == (403, "GatedRepo") and "awaiting a review" in msg
    st, code, msg = status_of(lambda: Client(emu.url, "hf_davefg").download("acme/gated-model", ".gitattributes"))
    assert (st, code) == (403, "GatedRepo")
    assert b"filter=lfs" in alice(emu).download("acme/gated-model", ".gitattributes")
    st, _, msg = status_of(lambda: alice(emu).info("acme/off"))
    assert st == 403 and msg == "Access to this resource is disabled."


def test_write_permissions(emu):
    rid = new_repo(emu)
    for tok in ("hf_aliceread", "hf_bob", "hf_dave", "hf_carol"):
        st, _, _ = status_of(lambda: Client(emu.url, tok).upload(rid, {"x.txt": b"x"}))
        assert st == 403, tok
    assert status_of(lambda: Client(emu.url).upload(rid, {"x.txt": b"x"}))[0] == 401
    assert Client(emu.url, "hf_fg").upload(rid, {"x.txt": b"x"})["success"]
    # fine-grained token has no scope on alice's own namespace
    alice(emu).create_repo("alice/fg-target")
    assert status_of(lambda: Client(emu.url, "hf_fg").upload("alice/fg-target", {"x": b"x"}))[0] == 403
    # contributor: may create in org and write what they created, not others' repos
    carol = Client(emu.url, "hf_carol")
    carol.create_repo("acme/carols")
    assert carol.upload("acme/carols", {"c.txt": b"c"})["success"]
    assert status_of(lambda: Client(emu.url, "hf_bob").create_repo("acme/bobs"))[0] == 403
    assert status_of(lambda: Client(emu.url, "hf_aliceread").create_repo("alice/nope"))[0] == 403


def test_repo_management(emu):
    a = alice(emu)
    r = a.create_repo("alice/mgmt", rtype="dataset", private=True)
    assert r["name"] == "alice/mgmt" and r["url"].endswith("/datasets/alice/mgmt")
    assert status_of(lambda: a.create_repo("alice/mgmt", rtype="dataset"))[0] == 409
    assert a.info("alice/mgmt", "dataset")["private"] is True
    assert status_of(lambda: Client(emu.url, "hf_dave").info("alice/mgmt", "dataset"))[0] == 404
    a.json("PUT", "/api/datasets/alice/mgmt/settings", {"visibility": "public"})
    assert Client(emu.url).info("alice/mgmt", "dataset")["private"] is False
    a.json("POST", "/api/repos/move", {"fromRepo": "alice/mgmt", "toRepo": "alice/mgmt2", "type": "dataset"})
    st, h, _ = a.raw("GET", "/api/datasets/alice/mgmt")
    assert st == 307 and h["location"].startswith("/api/datasets/alice/mgmt2")
    a.delete_repo("alice/mgmt2", "dataset")
    assert status_of(lambda: a.info("alice/mgmt2", "dataset"))[:2] == (404, "RepoNotFound")


def test_repo_info_fields_and_expand(emu):
    rid = new_repo(emu, {"a.txt": b"aaa"}, {"m.safetensors": {"size": 1000, "seed": 3}})
    a = alice(emu)
    info = a.info(rid, blobs="true")
    for k in ("_id", "id", "author", "sha", "lastModified", "createdAt", "private", "gated",
              "disabled", "downloads", "likes", "tags", "siblings", "usedStorage"):
        assert k in info, k
    sib = {s["rfilename"]: s for s in info["siblings"]}
    assert sib["a.txt"]["blobId"] == git_blob_oid(b"aaa") and sib["a.txt"]["size"] == 3
    assert sib["m.safetensors"]["lfs"]["sha256"] == hashlib.sha256(seeded_bytes(3, 1000)).hexdigest()
    only = a.info(rid, expand=["sha", "private"])
    assert set(only) == {"_id", "id", "sha", "private"}
    assert a.info(rid, rev=info["sha"][:7])["sha"] == info["sha"]


# ------------------------------------------------------------------ revisions / history

def test_revision_resolution(emu):
    a = alice(emu)
    rid = new_repo(emu, {"f.txt": b"v1"})
    c1 = a.state(rid)["head"]
    pr = a.upload(rid, {"f.txt": b"pr"}, create_pr=True)
    assert pr["pullRequestUrl"].endswith("/discussions/1")
    a.upload(rid, {"f.txt": b"v2"})
    a.json("POST", "/api/models/%s/tag/%s" % (rid, c1), {"tag": "v1.0"})
    a.json("POST", "/api/models/%s/branch/dev%%2Fx" % rid, {"startingPoint": c1})
    assert status_of(lambda: a.json("POST", "/api/models/%s/branch/dev%%2Fx" % rid, {}))[0] == 409
    for rev, want in (("main", b"v2"), ("v1.0", b"v1"), (c1, b"v1"), (c1[:5], b"v1"),
                      ("dev/x", b"v1"), ("refs/pr/1", b"pr")):
        assert a.download(rid, "f.txt", rev=rev) == want, rev
    # raw (unencoded) refs/pr/1 in resolve and tree URLs
    st, h, body = a.raw("GET", "/%s/resolve/refs/pr/1/f.txt" % rid)
    assert st == 200 and body == b"pr"
    assert any(e["path"] == "f.txt" for e in a.paginate("/api/models/%s/tree/refs/pr/1" % rid))
    refs = a.refs(rid)
    assert {b["name"] for b in refs["branches"]} == {"main", "dev/x"}
    assert refs["tags"][0] == {"name": "v1.0", "ref": "refs/tags/v1.0", "targetCommit": c1}
    assert refs["pullRequests"][0]["ref"] == "refs/pr/1"
    assert status_of(lambda: a.download(rid, "f.txt", rev="nope"))[:2] == (404, "RevisionNotFound")
    # a short sha needs 5 hex digits (hub-api.md section 15)
    assert status_of(lambda: a.download(rid, "f.txt", rev=c1[:4]))[:2] == (404, "RevisionNotFound")
    a.json("DELETE", "/api/models/%s/tag/v1.0" % rid)
    a.json("DELETE", "/api/models/%s/branch/dev%%2Fx" % rid)
    assert status_of(lambda: a.download(rid, "f.txt", rev="v1.0"))[0] == 404
    assert status_of(lambda: a.json("DELETE", "/api/models/%s/branch/main" % rid))[0] == 403


def test_pagination_page_size_2(emu):
    a = alice(emu)
    rid = new_repo(emu, {"d/%d.txt" % i: b"%d" % i for i in range(5)})
    for i in range(3):
        a.upload(rid, {"n%d" % i: b"x"})
    a.set_config(page_size={"tree": 2, "commits": 2, "repos": 2})
    st, h, body = a.raw("GET", "/api/models/%s/tree/main/d" % rid)
    assert len(json.loads(body)) == 2
    link = h["link"]
    assert link.startswith("<" + emu.url + "/api/models/") and link.endswith('>; rel="next"')
    assert len(a.tree(rid, "d")) == 5
    all_rec = a.tree(rid, recursive=True)
    assert {e["path"] for e in all_rec} >= {"d", "d/0.txt", "n2", ".gitattributes"}
    st, h, body = a.raw("GET", "/api/models/%s/commits/main" % rid)
    assert int(h["x-total-count"]) == 5 and len(json.loads(body)) == 2
    commits = a.commits(rid)
    assert len(commits) == 5 and commits[-1]["title"] == "initial commit"
    assert commits[0]["authors"][0]["user"] == "alice"
    repos = a.paginate("/api/models?author=acme")
    assert len(repos) >= 3 and len({r["id"] for r in repos}) == len(repos)
    assert "acme/secret" not in [r["id"] for r in Client(emu.url, "hf_dave").paginate("/api/models?author=acme")]
    assert "acme/secret" in [r["id"] for r in repos]


def test_tree_entries_and_paths_info(emu):
    a = alice(emu)
    rid = new_repo(emu, {"dir/a.txt": b"hello"}, {"dir/w.bin": {"size": 4000, "seed": 9}})
    ents = {e["path"]: e for e in a.tree(rid, "dir", expand=True)}
    assert ents["dir/a.txt"]["oid"] == git_blob_oid(b"hello") and ents["dir/a.txt"]["size"] == 5
    w = ents["dir/w.bin"]
    assert w["size"] == 4000 and w["lfs"]["size"] == 4000 and w["lfs"]["pointerSize"] > 100
    assert "id" in w["lastCommit"] and "title" in w["lastCommit"]
    assert status_of(lambda: a.tree(rid, "nope"))[:2] == (404, "EntryNotFound")
    top = {e["path"]: e for e in a.tree(rid)}
    assert top["dir"]["type"] == "directory" and top["dir"]["size"] == 0 and len(top["dir"]["oid"]) == 40
    pi = a.paths_info(rid, ["dir", "dir/w.bin", "missing"])
    assert sorted(e["path"] for e in pi) == ["dir", "dir/w.bin"]
    st, h, body = a.raw("POST", "/api/models/%s/paths-info/main" % rid, b"paths=dir%2Fa.txt&paths=x&expand=true",
                        {"Content-Type": "application/x-www-form-urlencoded"})
    res = json.loads(body)
    assert st == 200 and len(res) == 1 and res[0]["lastCommit"]["id"]
    a.set_config(page_size={"paths_info_max": 2})
    assert status_of(lambda: a.paths_info(rid, ["a", "b", "c"]))[0] == 413


# ------------------------------------------------------------------ downloads

def test_resolve_headers_range_and_416(emu):
    a = alice(emu)
    rid = new_repo(emu, {"t.txt": b"0123456789"})
    head = a.state(rid)["head"]
    st, h, body = a.raw("HEAD", a.resolve_url(rid, "t.txt"))
    assert st == 200 and body == b"" and h["content-length"] == "10"
    assert h["x-repo-commit"] == head and h["etag"] == '"%s"' % git_blob_oid(b"0123456789")
    assert h["accept-ranges"] == "bytes"
    st, h, body = a.raw("GET", a.resolve_url(rid, "t.txt"), headers={"Range": "bytes=2-4"})
    assert st == 206 and body == b"234" and h["content-range"] == "bytes 2-4/10"
    st, h, body = a.raw("GET", a.resolve_url(rid, "t.txt"), headers={"Range": "bytes=-3"})
    assert st == 206 and body == b"789"
    st, h, _ = a.raw("GET", a.resolve_url(rid, "t.txt"), headers={"Range": "bytes=10-"})
    assert st == 416 and h["content-range"] == "bytes */10"
    st, h, _ = a.raw("GET", a.resolve_url(rid, "nope.txt"))
    assert st == 404 and h["x-error-code"] == "EntryNotFound" and h["x-repo-commit"] == head


def test_lfs_redirect_cdn_and_no_auth(emu):
    a = alice(emu)
    rid = new_repo(emu, lfs_files={"big.safetensors": {"size": 300000, "seed": 7}})
    data = seeded_bytes(7, 300000)
    sha = hashlib.sha256(data).hexdigest()
    st, h, _ = a.raw("HEAD", a.resolve_url(rid, "big.safetensors"))
    assert st == 302 and h["x-linked-etag"] == '"%s"' % sha and h["x-linked-size"] == "300000"
    loc = h["location"]
    assert loc.startswith(emu.cdn_url) and urllib.parse.urlsplit(loc).netloc != urllib.parse.urlsplit(emu.url).netloc
    st, h, body = a.raw("GET", loc)  # WITH Authorization: refused
    assert st == 403 and body == b"Authorization header must not be sent to the CDN"
    st, h, body = a.raw("GET", loc, auth=False, headers={"Range": "bytes=1000-1999"})
    assert st == 206 and body == data[1000:2000] and h["content-range"] == "bytes 1000-1999/300000"
    st, h, _ = a.raw("GET", loc, auth=False, headers={"Range": "bytes=300000-"})
    assert st == 416 and h["content-range"] == "bytes */300000"
    a.clear_log()
    assert a.download(rid, "big.safetensors") == data
    log = a.log()
    assert [r["origin"] for r in log] == ["hub", "cdn"]
    assert log[0]["auth"] is True and log[0]["token_user"] == "alice" and log[0]["status"] == 302
    assert log[1]["auth"] is False and log[1]["bytes"] == 300000
    assert "hf_alicewrite" not in json.dumps(log)
    # /raw of an LFS file is the pointer
    st, h, body = a.raw("GET", a.resolve_url(rid, "big.safetensors", kind="raw"))
    assert st == 200 and body.startswith(b"version https://git-lfs.github.com/spec/v1\noid sha256:" + sha.encode())


def test_signed_url_expiry_and_tamper(emu):
    a = alice(emu)
    rid = new_repo(emu, lfs_files={"w.bin": {"size": 100, "seed": 1}})
    _, h, _ = a.raw("HEAD", a.resolve_url(rid, "w.bin"))
    good = h["location"]
    assert a.raw("GET", good, auth=False)[0] == 200
    assert a.raw("GET", good.replace("sig=", "sig=0"), auth=False)[0] == 403
    a.set_config(url_expiry=-5)
    _, h, _ = a.raw("HEAD", a.resolve_url(rid, "w.bin"))
    st, _, body = a.raw("GET", h["location"], auth=False)
    assert st == 403 and b"expired" in body


# ------------------------------------------------------------------ uploads

def test_preupload_decisions(emu):
    a = alice(emu)
    rid = new_repo(emu, {"exists.txt": b"old"}, {"old.bin": {"size": 10, "seed": 1}})
    a.set_config(lfs_threshold=1000)
    b64 = lambda d: base64.b64encode(d).decode()  # noqa: E731
    res = a.json("POST", "/api/models/%s/preupload/main" % rid, {"files": [
        {"path": "a.txt", "size": 5, "sample": b64(b"hello")},
        {"path": "m.safetensors", "size": 5, "sample": b64(b"hello")},
        {"path": "bin.dat", "size": 5, "sample": b64(b"he\0lo")},
        {"path": "large.txt", "size": 1000, "sample": b64(b"x" * 512)},
        {"path": "empty.bin", "size": 0, "sample": ""},
        {"path": "logs/x.log", "size": 1, "sample": b64(b"x")},
        {"path": "exists.txt", "size": 3, "sample": b64(b"old")},
        {"path": "old.bin", "size": 10, "sample": b64(seeded_bytes(1, 10))}],
        "gitIgnore": "*.log\n"})
    f = {x["path"]: x for x in res["files"]}
    assert [f[p]["uploadMode"] for p in ("a.txt", "m.safetensors", "bin.dat", "large.txt", "empty.bin")] == \
        ["regular", "lfs", "lfs", "lfs", "regular"]
    assert f["logs/x.log"]["shouldIgnore"] is True and f["a.txt"]["shouldIgnore"] is False
    assert f["exists.txt"]["oid"] == git_blob_oid(b"old") and "oid" not in f["a.txt"]
    assert f["old.bin"]["oid"] == hashlib.sha256(seeded_bytes(1, 10)).hexdigest()
    assert res["commitOid"] == a.state(rid)["head"]
    assert status_of(lambda: a.json("POST", "/api/models/%s/preupload/nope" % rid, {"files": []}))[1] == "RevisionNotFound"


def test_lfs_basic_and_multipart_upload(emu):
    a = alice(emu)
    rid = new_repo(emu)
    a.set_config(multipart_chunk_size=100000)
    small, big = os.urandom(5000), os.urandom(250001)
    res = a.lfs_upload(rid, [small, big])
    assert res["transfer"] == "multipart"
    objs = {o["size"]: o for o in res["objects"]}
    assert "chunk_size" not in (objs[5000]["actions"]["upload"].get("header") or {})
    hdr = objs[250001]["actions"]["upload"]["header"]
    assert hdr["chunk_size"] == "100000" and sorted(k for k in hdr if k.isdigit()) == ["00001", "00002", "00003"]
    # second batch: both already stored -> no actions
    again = a.lfs_upload(rid, [small, big])
    assert all("actions" not in o for o in again["objects"])
    r = a.upload(rid, {"w/small.bin": small, "w/big.bin": big}, summary="weights")
    assert a.download(rid, "w/big.bin") == big and a.download(rid, "w/small.bin") == small
    files = a.state(rid)["files"]
    assert files["w/big.bin"]["lfs"] and files["w/big.bin"]["sha256"] == hashlib.sha256(big).hexdigest()
    assert r["commitOid"] == a.state(rid)["head"]


def test_lfs_upload_rejects_bad_content(emu):
    a = alice(emu)
    rid = new_repo(emu)
    data = os.urandom(3000)
    oid = hashlib.sha256(data).hexdigest()
    hdr = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
    res = a.json("POST", "/%s.git/info/lfs/objects/batch" % rid, json.dumps({
        "operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
        "objects": [{"oid": oid, "size": 3000}, {"oid": "zz", "size": 1}]}).encode(), headers=hdr)
    assert res["transfer"] == "basic" and res["objects"][1]["error"]["code"] == 422
    href = res["objects"][0]["actions"]["upload"]["href"]
    assert a.raw("PUT", href, data[:-1] + b"X", auth=False)[0] == 400   # wrong sha256
    assert a.raw("PUT", href, data[:100], auth=False)[0] == 400         # wrong size
    assert a.raw("PUT", href, data)[0] == 403                           # Authorization sent to CDN
    body = json.dumps({"key": "header", "value": {"summary": "s"}}) + "\n" + json.dumps(
        {"key": "lfsFile", "value": {"path": "w x.dat", "algo": "sha256", "oid": oid, "size": 3000}})
    st, _, _ = a.raw("POST", "/api/models/%s/commit/main" % rid, body.encode(), {"Content-Type": "application/x-ndjson"})
    assert st == 400  # object never uploaded
    assert a.raw("PUT", href, data, auth=False)[0] == 200
    body2 = body.replace('"size": 3000', '"size": 3001')
    assert a.raw("POST", "/api/models/%s/commit/main" % rid, body2.encode(),
                 {"Content-Type": "application/x-ndjson"})[0] == 400
    st, _, out = a.raw("POST", "/api/models/%s/commit/main" % rid, body.encode(), {"Content-Type": "application/x-ndjson"})
    assert st == 200 and json.loads(out)["success"] is True
    # lfsFile on a path not covered by .gitattributes adds a tracking line
    assert b"w[[:space:]]x.dat filter=lfs" in a.download(rid, ".gitattributes")


def test_commit_semantics(emu):
    a = alice(emu)
    rid = new_repo(emu, {"keep.txt": b"k", "old/a.txt": b"a", "old/sub/b.txt": b"b"})
    head = a.state(rid)["head"]
    r = a.upload(rid, {"new.txt": b"n"}, parent=head, summary="one")
    st, _, msg = status_of(lambda: a.upload(rid, {"x.txt": b"x"}, parent=head))
    assert st == 412 and "The branch was updated since you opened this page" in msg
    st, code, _ = status_of(lambda: a.upload(rid, deletes=["missing.txt"]))
    assert (st, code) == (404, "EntryNotFound")
    # atomic: a failing op leaves the branch untouched
    before = a.state(rid)
    assert status_of(lambda: a.upload(rid, {"y.txt": b"y"}, deletes=["missing.txt"]))[0] == 404
    assert a.state(rid)["head"] == before["head"] == r["commitOid"]
    assert "y.txt" not in a.state(rid)["files"]
    a.upload(rid, deleted_folders=["old/"], deletes=["keep.txt"], summary="rm")
    assert sorted(a.state(rid)["files"]) == [".gitattributes", "new.txt"]
    assert status_of(lambda: a.upload(rid, deleted_folders=["old"]))[:2] == (404, "EntryNotFound")
    for bad in (".git/config", "a/../b", "/abs", "x/.git/y"):
        assert status_of(lambda: a.upload(rid, {bad: b"x"}))[0] == 400, bad
    c = a.commits(rid)[0]
    assert c["title"] == "rm" and c["id"] == a.state(rid)["head"]


def test_dataset_type_and_keepalive(emu):
    a = alice(emu)
    rid = new_repo(emu, {"data/x.csv": b"a,b\n"}, {"img.png": {"size": 50, "seed": 2}}, rtype="dataset")
    assert a.download(rid, "data/x.csv", rtype="dataset") == b"a,b\n"
    assert a.download(rid, "img.png", rtype="dataset") == seeded_bytes(2, 50)
    # several requests (incl. an error and a HEAD) on one keep-alive connection
    u = urllib.parse.urlsplit(emu.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    for method, path, want in (("GET", "/api/datasets/%s" % rid, 200), ("HEAD", "/datasets/%s/resolve/main/nope" % rid, 404),
                               ("GET", "/api/models/acme/secret", 401), ("GET", "/datasets/%s/resolve/main/data/x.csv" % rid, 200)):
        conn.request(method, path)
        r = conn.getresponse()
        r.read()
        assert r.status == want
    conn.close()


# ------------------------------------------------------------------ faults / control

def test_fault_status_and_retry_after(emu):
    a = alice(emu)
    rid = new_repo(emu)
    a.add_faults({"method": "GET", "path": "/api/models/%s$" % rid, "count": 2, "status": 429,
                  "retry_after": 3, "ratelimit_t": 7, "error_message": "slow down"})
    for _ in range(2):
        st, h, body = a.raw("GET", "/api/models/%s" % rid)
        assert st == 429 and h["retry-after"] == "3" and "t=7" in h["ratelimit"]
        assert json.loads(body)["error"] == "slow down"
    assert a.raw("GET", "/api/models/%s" % rid)[0] == 200  # count exhausted


def test_fault_reset_truncate_corrupt_latency(emu):
    a = alice(emu)
    rid = new_repo(emu, {"f.txt": b"z" * 10000})
    url = a.resolve_url(rid, "f.txt")
    a.add_faults({"path": "/resolve/", "origin": "hub", "count": 1, "action": "reset"})
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        a.raw("GET", url)
    a.add_faults({"path": "/resolve/", "count": 1, "action": "truncate"})
    with pytest.raises(http.client.IncompleteRead):
        a.raw("GET", url)
    a.add_faults({"path": "/resolve/", "count": 1, "action": "corrupt"})
    st, _, body = a.raw("GET", url)
    assert st == 200 and len(body) == 10000 and body != b"z" * 10000
    a.add_faults({"path": "/resolve/", "count": 1, "action": "latency", "latency_ms": 400})
    assert a.raw("GET", url)[2] == b"z" * 10000
    assert a.raw("GET", url)[2] == b"z" * 10000
    log = [r for r in a.log() if r["path"].endswith("/f.txt")]
    # the emulator says what it applied (no clock): one GET held (count 1), and answered.
    # (Entries are logged when a request ends: the held one may come after the next.)
    held = [r for r in log if r["latency_ms"]]
    assert [(r["latency_ms"], r["status"], r["bytes"]) for r in held] == [(400, 200, 10000)]
    assert log[-1]["status"] == 200 and log[-1]["bytes"] == 10000


def test_fault_concurrent_commit_gives_412(emu):
    a = alice(emu)
    rid = new_repo(emu)
    head = a.state(rid)["head"]
    a.add_faults({"method": "POST", "path": "/commit/", "count": 1, "action": "concurrent_commit"})
    st, _, _ = status_of(lambda: a.upload(rid, {"mine.txt": b"m"}, parent=head))
    assert st == 412
    s = a.state(rid)
    assert any(p.startswith(".hubsim-concurrent-") for p in s["files"]) and "mine.txt" not in s["files"]
    assert a.upload(rid, {"mine.txt": b"m"}, parent=s["head"])["success"]


def test_cdn_fault_and_probability_zero(emu):
    a = alice(emu)
    rid = new_repo(emu, lfs_files={"w.bin": {"size": 64, "seed": 5}})
    a.add_faults({"origin": "hub", "path": "/resolve/", "probability": 0.0, "status": 500})
    a.add_faults({"origin": "cdn", "path": "^/blob/", "count": 1, "status": 503})
    assert status_of(lambda: a.download(rid, "w.bin"))[0] == 503
    assert a.download(rid, "w.bin") == seeded_bytes(5, 64)
    a.clear_faults()
    assert a.json("GET", "/__emulator/faults") == []


def test_persistence_across_restart(tmp_path):
    e = Emulator(config=CONFIG, data_dir=str(tmp_path / "data")).start()
    try:
        a = Client(e.url, "hf_alicewrite")
        a.create_repo("alice/persist")
        a.set_config(multipart_chunk_size=1000)
        big = os.urandom(2500)
        r = a.upload("alice/persist", {"a.txt": b"A", "w.bin": big})
        a.json("POST", "/api/models/alice/persist/tag/main", {"tag": "t1"})
        e.stop()
        assert e.returncode == 0  # SIGTERM exits cleanly
        e.start()
        a = Client(e.url, "hf_alicewrite")
        s = a.state("alice/persist")
        assert s["head"] == r["commitOid"] and len(s["commits"]) == 2
        assert a.download("alice/persist", "w.bin", rev="t1") == big
        assert a.download("alice/persist", "a.txt") == b"A"
        assert Client(e.url, "hf_bob").info("acme/secret")["private"] is True
    finally:
        e.stop()


def test_fault_ignore_range_and_user_filter(emu):
    a = alice(emu)
    rid = new_repo(emu, {"f.txt": b"0123456789"})
    a.add_faults({"path": "/resolve/", "count": 1, "action": "ignore_range"})
    st, h, body = a.raw("GET", a.resolve_url(rid, "f.txt"), headers={"Range": "bytes=2-3"})
    assert st == 200 and body == b"0123456789" and "content-range" not in h
    a.add_faults({"path": "/api/models/%s$" % rid, "user": "bob", "status": 500})
    assert a.raw("GET", "/api/models/%s" % rid)[0] == 200
    assert Client(emu.url, "hf_bob").raw("GET", "/api/models/%s" % rid)[0] == 500


def test_large_file_streaming(emu):
    a = alice(emu)
    size = 64 * 1024 * 1024 + 3
    rid = new_repo(emu, lfs_files={"huge.bin": {"size": size, "seed": 11}})
    _, h, _ = a.raw("HEAD", a.resolve_url(rid, "huge.bin"))
    st, h2, body = a.raw("GET", h["location"], auth=False)
    assert st == 200 and len(body) == size
    assert hashlib.sha256(body).hexdigest() == h["x-linked-etag"].strip('"')


def test_multipart_completion_verifies_content(emu):
    a = alice(emu)
    rid = new_repo(emu)
    a.set_config(multipart_chunk_size=1000)
    data = os.urandom(2500)
    oid = hashlib.sha256(data).hexdigest()
    hdr = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
    res = a.json("POST", "/%s.git/info/lfs/objects/batch" % rid, json.dumps({
        "operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
        "objects": [{"oid": oid, "size": 2500}]}).encode(), headers=hdr)
    up = res["objects"][0]["actions"]["upload"]
    assert res["transfer"] == "multipart" and up["href"].startswith(emu.url)
    urls = [up["header"][k] for k in ("00001", "00002", "00003")]
    assert all(u.startswith(emu.cdn_url) for u in urls)
    bad = [data[:1000], b"X" + data[1001:2000], data[2000:]]
    etags = [a.req("PUT", u, p, auth=False)[0]["etag"] for u, p in zip(urls, bad)]
    done = json.dumps({"oid": oid, "parts": [{"partNumber": i + 1, "etag": e} for i, e in enumerate(etags)]})
    st, _, _ = a.raw("POST", up["href"], done.encode(), hdr, auth=False)
    assert st == 400  # sha256 of the assembled object does not match
    wrong_etag = done.replace(etags[0], '"0000"')
    assert a.raw("POST", up["href"], wrong_etag.encode(), hdr, auth=False)[0] == 400
    etags[1] = a.req("PUT", urls[1], data[1000:2000], auth=False)[0]["etag"]
    good = json.dumps({"oid": oid, "parts": [{"partNumber": i + 1, "etag": e} for i, e in enumerate(etags)]})
    assert a.raw("POST", up["href"], good.encode(), hdr, auth=False)[0] == 200
    again = a.lfs_upload(rid, [data])
    assert "actions" not in again["objects"][0]


def test_parallel_commits_are_serialised(emu):
    import threading
    a = alice(emu)
    rid = new_repo(emu)
    errors = []

    def work(i):
        try:
            Client(emu.url, "hf_alicewrite").upload(rid, {"p/%d.txt" % i: b"%d" % i}, summary="c%d" % i)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = a.state(rid)
    assert len(s["commits"]) == 10 and sum(p.startswith("p/") for p in s["files"]) == 8
