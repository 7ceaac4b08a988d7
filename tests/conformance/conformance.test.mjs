// Conformance of the hubsim Hub emulator (tests/hubsim/) with the official
// @huggingface/hub JS client (version pinned in package.json).
//
// The client is the authority on what a real Hub must accept and return: every
// check below calls a public client function against a freshly started emulator
// and asserts on what the client returns or throws, plus (where the client cannot
// see it, e.g. credential leakage to the CDN) on the emulator's request log.
//
// Run from the repo root:  (cd tests/conformance && npm ci && node --test)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync, rmSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

import {
	HubApiError,
	whoAmI,
	createRepo,
	uploadFiles,
	commit,
	listFiles,
	downloadFile,
	fileDownloadInfo,
	fileExists,
	pathsInfo,
	deleteFile,
	listModels,
	listCommits,
	countCommits,
	createBranch,
	deleteBranch,
	deleteRepo,
	repoExists,
	checkRepoAccess,
	modelInfo,
	snapshotDownload,
} from "@huggingface/hub";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, "..", "..");
const HUBSIM = process.env.HUBSIM || join(REPO_ROOT, "tests", "hubsim", "hubsim.py");
const PYTHON = process.env.PYTHON || "/usr/bin/python3";
const T = { timeout: 60000 };

const TOK = {
	aliceWrite: "hf_alicewrite",
	aliceRead: "hf_aliceread",
	bobWrite: "hf_bobwrite",
	carolWrite: "hf_carolwrite",
	daveWrite: "hf_davewrite",
};

// Small page sizes so every paginated listing needs several pages.
const CONFIG = {
	users: [
		{ name: "alice", orgs: { acme: "admin" } },
		{ name: "bob", orgs: { acme: "read" } },
		{ name: "carol", orgs: {} },
		{ name: "dave", orgs: {} },
	],
	tokens: [
		{ token: TOK.aliceWrite, user: "alice", role: "write" },
		{ token: TOK.aliceRead, user: "alice", role: "read" },
		{ token: TOK.bobWrite, user: "bob", role: "write" },
		{ token: TOK.carolWrite, user: "carol", role: "write" },
		{ token: TOK.daveWrite, user: "dave", role: "write" },
	],
	repos: [
		{ id: "acme/secret", type: "model", private: true },
		{ id: "acme/gated", type: "model", private: false, gated: "manual", grants: { dave: "accepted" } },
	],
	page_size: { tree: 2, commits: 2, repos: 2 },
	lfs_threshold: 10 * 1024 * 1024,
	multipart_chunk_size: 4 * 1024 * 1024,
};
const CHUNK = CONFIG.multipart_chunk_size;

let hub; // "http://127.0.0.1:PORT"
let proc; // emulator child process
let watchdog; // kills the emulator if this process dies without running after()
let dataDir;
let stderrBuf = "";

// ---------------------------------------------------------------- helpers

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const gitBlobSha1 = (buf) =>
	createHash("sha1").update(Buffer.concat([Buffer.from(`blob ${buf.length}\0`), buf])).digest("hex");
const normEtag = (e) => (e ?? "").replace(/^W\//, "").replace(/^"|"$/g, "");

async function expectHubError(promise, status, what, messageRe) {
	await assert.rejects(promise, (err) => {
		assert.ok(err instanceof HubApiError, `${what}: expected HubApiError, got ${err?.constructor?.name}: ${err?.message}`);
		assert.equal(err.statusCode, status, `${what}: status (message: ${err.message})`);
		if (messageRe) assert.match(err.message, messageRe, `${what}: message`);
		return true;
	});
}

async function collect(iter) {
	const out = [];
	for await (const x of iter) out.push(x);
	return out;
}

async function emu(method, path, body) {
	const res = await fetch(`${hub}${path}`, {
		method,
		headers: body === undefined ? {} : { "Content-Type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	assert.ok(res.ok, `emulator control ${method} ${path} -> ${res.status} ${text}`);
	return text ? JSON.parse(text) : null;
}

async function emuLog() {
	const j = await emu("GET", "/__emulator/log");
	return Array.isArray(j) ? j : (j.records ?? j.log ?? j.requests ?? []);
}
const clearLog = () => emu("POST", "/__emulator/log/clear");
const emuState = (type, ns, name, rev = "main") =>
	emu("GET", `/__emulator/state/${type}/${ns}/${name}?rev=${encodeURIComponent(rev)}`);

// A log record was served by the CDN origin (the second port), not the Hub API.
function isCdn(rec) {
	const hubPort = new URL(hub).port;
	const o = String(rec.origin ?? "");
	if (/cdn/i.test(o)) return true;
	if (/hub|api/i.test(o)) return false;
	return o !== "" && !o.endsWith(`:${hubPort}`);
}
const hasAuth = (rec) => rec.auth === true;

const alice = () => ({ hubUrl: hub, accessToken: TOK.aliceWrite });

// ---------------------------------------------------------------- lifecycle

before(
	async () => {
		dataDir = mkdtempSync(join(tmpdir(), "hubsim-conformance-"));
		const cfgPath = join(dataDir, "config.json");
		writeFileSync(cfgPath, JSON.stringify(CONFIG, null, 2));
		proc = spawn(PYTHON, [HUBSIM, "--port", "0", "--data", join(dataDir, "data"), "--config", cfgPath], {
			stdio: ["ignore", "pipe", "pipe"],
		});
		proc.stderr.on("data", (d) => {
			stderrBuf += d;
			if (stderrBuf.length > 200000) stderrBuf = stderrBuf.slice(-100000);
		});
		// If this runner dies unexpectedly, do not leave the emulator behind: on a normal
		// exit the handler kills it; if the runner is killed by a signal, the watchdog
		// reads EOF on its stdin (the runner's end of the pipe closes) and kills it.
		process.on("exit", () => {
			if (proc && proc.exitCode === null) proc.kill("SIGKILL");
		});
		watchdog = spawn("/bin/sh", ["-c", `read _ ; kill ${proc.pid} 2>/dev/null`], { stdio: ["pipe", "ignore", "ignore"] });
		watchdog.unref();
		hub = await new Promise((resolveUrl, reject) => {
			const rl = createInterface({ input: proc.stdout });
			const timer = setTimeout(() => reject(new Error(`hubsim did not start in 20s; stderr:\n${stderrBuf}`)), 20000);
			proc.once("exit", (code) => {
				clearTimeout(timer);
				reject(new Error(`hubsim exited early (code ${code}); stderr:\n${stderrBuf}`));
			});
			rl.once("line", (line) => {
				clearTimeout(timer);
				const m = /hubsim ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
				if (!m) reject(new Error(`unexpected first line from hubsim: ${line}`));
				else resolveUrl(m[1]);
				proc.stdout.resume(); // keep draining so the child never blocks on a full pipe
			});
		});
	},
	{ timeout: 30000 },
);

after(
	async () => {
		if (proc && proc.exitCode === null && proc.signalCode === null) {
			const exited = new Promise((r) => proc.once("exit", r));
			process.kill(proc.pid, "SIGTERM");
			const t = setTimeout(() => proc.exitCode === null && process.kill(proc.pid, "SIGKILL"), 5000);
			await exited;
			clearTimeout(t);
		}
		if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null) process.kill(watchdog.pid, "SIGTERM");
		if (dataDir) rmSync(dataDir, { recursive: true, force: true });
	},
	{ timeout: 15000 },
);

// ---------------------------------------------------------------- shared fixtures

const MODEL = "acme/conf-model";
const DATASET = { type: "dataset", name: "alice/conf-data" };
const files = {
	"README.md": Buffer.from("# conf-model\n\nA repo written by the conformance suite.\n"),
	"config.json": Buffer.from(JSON.stringify({ hidden_size: 8, layers: 2 }) + "\n"),
	"dir/nested/a.txt": Buffer.from("nested file a\n"),
	"dir/b.txt": Buffer.from("file b\n"),
};
// Not a multiple of any power-of-two chunk size, so a multipart upload has a short last part.
const BIG_PATH = "weights/model.bin";
const BIG = randomBytes(15 * 1024 * 1024 + 4099);
const BIG_SHA = sha256(BIG);
// Small but binary (NUL bytes in the preupload sample): LFS by content, uploaded with a basic PUT.
const BIN_PATH = "weights/tokenizer.bin";
const BIN = Buffer.concat([Buffer.from([0, 1, 2, 0]), randomBytes(300 * 1024)]);
const BIN_SHA = sha256(BIN);
let uploadCommit; // commit oid returned by the upload
let uploadLog; // emulator log records of the upload

// ---------------------------------------------------------------- checks

test("whoAmI: user, org roles, token role", T, async () => {
	const me = await whoAmI({ hubUrl: hub, accessToken: TOK.aliceWrite });
	assert.equal(me.type, "user");
	assert.equal(me.name, "alice");
	assert.ok(Array.isArray(me.orgs), "orgs is an array");
	const acme = me.orgs.find((o) => o.name === "acme");
	assert.ok(acme, "alice is listed in acme");
	assert.equal(acme.type, "org");
	assert.equal(acme.roleInOrg, "admin");
	assert.equal(me.auth.type, "access_token");
	assert.equal(me.auth.accessToken.role, "write");
	assert.ok(me.auth.accessToken.createdAt instanceof Date && !isNaN(me.auth.accessToken.createdAt), "createdAt is a date");

	const ro = await whoAmI({ hubUrl: hub, accessToken: TOK.aliceRead });
	assert.equal(ro.name, "alice");
	assert.equal(ro.auth.accessToken.role, "read");

	const bob = await whoAmI({ hubUrl: hub, accessToken: TOK.bobWrite });
	assert.equal(bob.orgs.find((o) => o.name === "acme")?.roleInOrg, "read");
	const carol = await whoAmI({ hubUrl: hub, accessToken: TOK.carolWrite });
	assert.deepEqual(carol.orgs, []);

	await expectHubError(whoAmI({ hubUrl: hub, accessToken: "hf_not_a_real_token" }), 401, "whoami with unknown token");
});

test("createRepo: private model and dataset, duplicate is 409", T, async () => {
	const m = await createRepo({ ...alice(), repo: MODEL, visibility: "private" });
	assert.match(m.repoUrl, /acme\/conf-model$/);
	const d = await createRepo({ ...alice(), repo: DATASET, private: true });
	assert.match(d.repoUrl, /datasets\/alice\/conf-data$/);

	await expectHubError(createRepo({ ...alice(), repo: MODEL }), 409, "duplicate model");
	await expectHubError(createRepo({ ...alice(), repo: DATASET }), 409, "duplicate dataset");

	assert.equal(await repoExists({ ...alice(), repo: MODEL }), true);
	assert.equal(await repoExists({ ...alice(), repo: DATASET }), true);
	// private: invisible anonymously
	assert.equal(await repoExists({ hubUrl: hub, repo: MODEL }), false);

	const info = await modelInfo({ ...alice(), name: MODEL, additionalFields: ["sha"] });
	assert.equal(info.name, MODEL);
	assert.equal(info.private, true);
	assert.match(info.sha, /^[0-9a-f]{40}$/);
});

test("uploadFiles: regular files + >=15 MiB LFS file, xet negotiated away", T, async () => {
	await clearLog();
	const out = await uploadFiles({
		...alice(),
		repo: MODEL,
		// useXet left at its default (true): the client offers "xet" in the LFS batch
		// request and must fall back to basic/multipart when the server picks another.
		files: [
			...Object.entries(files).map(([path, b]) => ({ path, content: new Blob([b]) })),
			{ path: BIG_PATH, content: new Blob([BIG]) },
			{ path: BIN_PATH, content: new Blob([BIN]) },
		],
		commitTitle: "conformance upload",
	});
	uploadLog = await emuLog();
	assert.ok(out, "commit output");
	uploadCommit = out.commit.oid;
	assert.match(uploadCommit, /^[0-9a-f]{40}$/);
	assert.ok(out.commit.url.includes(uploadCommit), "commit url names the commit");

	const paths = uploadLog.map((r) => `${r.method} ${r.path}`);
	assert.ok(paths.some((p) => p === `POST /api/models/${MODEL}/preupload/main`), "preupload called");
	assert.ok(paths.some((p) => p === `POST /${MODEL}.git/info/lfs/objects/batch`), "LFS batch called");
	assert.ok(!uploadLog.some((r) => /xet/i.test(r.path)), `no xet endpoint used: ${paths.join(", ")}`);
	const puts = uploadLog.filter((r) => r.method === "PUT");
	// multipart for the big object (one PUT per part) + one basic PUT for the binary one
	assert.equal(puts.length, Math.ceil(BIG.length / CHUNK) + 1, `LFS PUTs: ${puts.map((r) => r.path).join(", ")}`);
	assert.ok(puts.every((r) => isCdn(r) && !hasAuth(r) && r.status === 200), "LFS PUTs go to the storage origin without Authorization");
	assert.equal(puts.reduce((s, r) => s + Number(r.req_bytes), 0), BIG.length + BIN.length, "every LFS byte was PUT once");
	assert.ok(paths.some((p) => p === `POST /api/models/${MODEL}/commit/main`), "commit called");

	const st = await emuState("model", "acme", "conf-model");
	assert.equal(st.head, uploadCommit);
	assert.equal(st.files[BIG_PATH].size, BIG.length);
	assert.equal(st.files[BIG_PATH].lfs, true);
	assert.equal(st.files[BIG_PATH].sha256, BIG_SHA);
	assert.equal(st.files[BIN_PATH].lfs, true, "binary sample -> LFS");
	assert.equal(st.files[BIN_PATH].sha256, BIN_SHA);
	for (const [p, b] of Object.entries(files)) {
		assert.ok(st.files[p], `${p} in state`);
		assert.equal(st.files[p].size, b.length, `${p} size`);
		assert.equal(st.files[p].lfs, false, `${p} is a regular file`);
	}

	const d = await uploadFiles({
		...alice(),
		repo: DATASET,
		files: [{ path: "data/train.csv", content: new Blob(["a,b\n1,2\n"]) }],
	});
	assert.match(d.commit.oid, /^[0-9a-f]{40}$/);
	assert.ok(d.commit.url.includes("datasets/alice/conf-data"), "dataset commit url has the datasets/ prefix");
});

test("listFiles recursive: paths, sizes, oids, lfs oid = sha256 (paginated)", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	await clearLog();
	const entries = await collect(listFiles({ ...alice(), repo: MODEL, recursive: true }));
	const fileEntries = entries.filter((e) => e.type === "file");
	const byPath = Object.fromEntries(fileEntries.map((e) => [e.path, e]));
	assert.deepEqual(
		Object.keys(byPath).sort(),
		[".gitattributes", ...Object.keys(files), BIG_PATH, BIN_PATH].sort(),
		"file set",
	);
	assert.equal(new Set(entries.map((e) => e.path)).size, entries.length, "no entry listed twice across pages");
	for (const [p, b] of Object.entries(files)) {
		assert.equal(byPath[p].size, b.length, `${p} size`);
		assert.equal(byPath[p].oid, gitBlobSha1(b), `${p} oid is the git blob sha1`);
		assert.equal(byPath[p].lfs, undefined, `${p} not lfs`);
	}
	const big = byPath[BIG_PATH];
	assert.equal(big.size, BIG.length);
	assert.ok(big.lfs, "big file has lfs info");
	assert.equal(big.lfs.oid, BIG_SHA);
	assert.equal(big.lfs.size, BIG.length);
	assert.ok(big.lfs.pointerSize > 100 && big.lfs.pointerSize < 200, `pointerSize ${big.lfs.pointerSize}`);
	assert.equal(byPath[BIN_PATH].lfs?.oid, BIN_SHA);
	const dirs = entries.filter((e) => e.type === "directory").map((e) => e.path).sort();
	assert.deepEqual(dirs, ["dir", "dir/nested", "weights"], "directories in a recursive listing");

	const treeReqs = (await emuLog()).filter((r) => r.method === "GET" && r.path.startsWith(`/api/models/${MODEL}/tree/`));
	assert.ok(treeReqs.length >= 2, `tree listing paginated (${treeReqs.length} requests)`);

	// one level, sub-path
	const sub = await collect(listFiles({ ...alice(), repo: MODEL, path: "dir" }));
	assert.deepEqual(sub.map((e) => `${e.type}:${e.path}`).sort(), ["directory:dir/nested", "file:dir/b.txt"]);
});

test("downloadFile: byte-exact regular and LFS file; no Authorization at the CDN", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	await clearLog();
	const small = await downloadFile({ ...alice(), repo: MODEL, path: "config.json" });
	assert.ok(small, "regular file found");
	assert.equal(sha256(Buffer.from(await small.arrayBuffer())), sha256(files["config.json"]));

	const nested = await downloadFile({ ...alice(), repo: MODEL, path: "dir/nested/a.txt" });
	assert.equal(Buffer.from(await nested.arrayBuffer()).toString(), files["dir/nested/a.txt"].toString());

	const big = await downloadFile({ ...alice(), repo: MODEL, path: BIG_PATH });
	assert.ok(big, "LFS file found");
	assert.equal(big.size, BIG.length);
	assert.equal(sha256(Buffer.from(await big.arrayBuffer())), BIG_SHA);
	const bin = await downloadFile({ ...alice(), repo: MODEL, path: BIN_PATH });
	assert.equal(sha256(Buffer.from(await bin.arrayBuffer())), BIN_SHA);

	// a range of the LFS file (WebBlob.slice -> Range GET through the redirect)
	const part = Buffer.from(await big.slice(1000, 5000).arrayBuffer());
	assert.ok(part.equals(BIG.subarray(1000, 5000)), "ranged read of the LFS file");

	const log = await emuLog();
	const cdn = log.filter(isCdn);
	assert.ok(cdn.length >= 1, "LFS content came from the CDN origin");
	assert.deepEqual(cdn.filter(hasAuth), [], "no request to the CDN carried Authorization");
	const resolves = log.filter((r) => !isCdn(r) && r.path === `/${MODEL}/resolve/main/${BIG_PATH}`);
	assert.ok(resolves.length >= 1 && resolves.every((r) => r.status === 302), "LFS resolve answered 302");
	assert.ok(resolves.every(hasAuth), "the hub itself did get the token (so the CDN check above is not vacuous)");

	assert.equal(await downloadFile({ ...alice(), repo: MODEL, path: "no/such/file" }), null, "missing file -> null");
});

test("fileDownloadInfo: size, etag, no xet; fileExists", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	const r = await fileDownloadInfo({ ...alice(), repo: MODEL, path: "README.md" });
	assert.equal(r.size, files["README.md"].length);
	assert.equal(normEtag(r.etag), gitBlobSha1(files["README.md"]), "regular etag = git blob sha1");
	assert.equal(r.xet, undefined);
	assert.ok(r.url.startsWith(hub), "download url on the hub");

	const l = await fileDownloadInfo({ ...alice(), repo: MODEL, path: BIG_PATH });
	assert.equal(l.size, BIG.length);
	assert.ok(normEtag(l.etag).length > 0, "LFS etag present");
	assert.equal(l.xet, undefined);
	assert.ok(l.url.startsWith(hub), "client keeps the hub URL, not the signed CDN URL");

	const raw = await fileDownloadInfo({ ...alice(), repo: MODEL, path: BIG_PATH, raw: true });
	assert.ok(raw.size > 100 && raw.size < 200, `raw pointer size ${raw.size}`);
	const ptr = await (await downloadFile({ ...alice(), repo: MODEL, path: BIG_PATH, raw: true })).text();
	assert.match(ptr, /^version https:\/\/git-lfs\.github\.com\/spec\/v1\n/);
	assert.ok(ptr.includes(`oid sha256:${BIG_SHA}\n`) && ptr.includes(`size ${BIG.length}\n`), "pointer content");

	assert.equal(await fileDownloadInfo({ ...alice(), repo: MODEL, path: "nope.txt" }), null, "missing -> null");
	assert.equal(await fileExists({ ...alice(), repo: MODEL, path: "README.md" }), true);
	assert.equal(await fileExists({ ...alice(), repo: MODEL, path: "nope.txt" }), false);
});

test("pathsInfo: files, directory, lfs, missing omitted", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	const res = await pathsInfo({ ...alice(), repo: MODEL, paths: ["README.md", BIG_PATH, "dir", "missing.txt"] });
	const by = Object.fromEntries(res.map((e) => [e.path, e]));
	assert.deepEqual(Object.keys(by).sort(), ["README.md", "dir", BIG_PATH].sort());
	assert.equal(by["README.md"].type, "file");
	assert.equal(by["README.md"].size, files["README.md"].length);
	assert.equal(by["README.md"].oid, gitBlobSha1(files["README.md"]));
	assert.equal(by["dir"].type, "directory");
	assert.equal(by[BIG_PATH].lfs?.oid, BIG_SHA);
	assert.equal(by[BIG_PATH].size, BIG.length);

	const ex = await pathsInfo({ ...alice(), repo: MODEL, paths: ["config.json"], expand: true });
	assert.equal(ex.length, 1);
	assert.match(ex[0].lastCommit?.id ?? "", /^[0-9a-f]{40}$/, "expand gives lastCommit.id");
	assert.equal(ex[0].lastCommit.title, "conformance upload");
});

test("listCommits / countCommits: newest first, initial commit last, paginated", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	await clearLog();
	const commits = await collect(listCommits({ ...alice(), repo: MODEL }));
	assert.ok(commits.length >= 2, "at least initial + upload commit");
	assert.equal(commits[0].oid, uploadCommit);
	assert.equal(commits[0].title, "conformance upload");
	assert.ok(commits[0].date instanceof Date && !isNaN(commits[0].date));
	assert.equal(commits[0].authors[0]?.username, "alice");
	assert.match(commits.at(-1).title, /initial commit/i);
	const st = await emuState("model", "acme", "conf-model");
	assert.equal(commits.length, st.commits.length, "same history as the emulator's state");
	assert.equal(await countCommits({ ...alice(), repo: MODEL }), commits.length, "X-Total-Count");

	// Force several pages even if the emulator lets the client's limit win.
	const paged = await collect(listCommits({ ...alice(), repo: MODEL, batchSize: 1 }));
	assert.deepEqual(paged.map((c) => c.oid), commits.map((c) => c.oid), "batchSize 1 gives the same history");
	const reqs = (await emuLog()).filter((r) => r.path.startsWith(`/api/models/${MODEL}/commits/`));
	assert.ok(reqs.length >= commits.length + 1, `commits listing paginated (${reqs.length} requests)`);
});

test("deleteFile, then the path is gone", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	const out = await deleteFile({ ...alice(), repo: MODEL, path: "dir/nested/a.txt" });
	assert.match(out.commit.oid, /^[0-9a-f]{40}$/);
	assert.notEqual(out.commit.oid, uploadCommit);
	assert.deepEqual(await pathsInfo({ ...alice(), repo: MODEL, paths: ["dir/nested/a.txt"] }), []);
	assert.equal(await fileExists({ ...alice(), repo: MODEL, path: "dir/nested/a.txt" }), false);
	// deleting it again: the path no longer exists
	await expectHubError(deleteFile({ ...alice(), repo: MODEL, path: "dir/nested/a.txt" }), 404, "delete missing file");
	// the old revision still has it
	const old = await downloadFile({ ...alice(), repo: MODEL, path: "dir/nested/a.txt", revision: uploadCommit });
	assert.equal(Buffer.from(await old.arrayBuffer()).toString(), files["dir/nested/a.txt"].toString());
});

test("commit with a stale parentCommit is rejected (412); current parent accepted", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	const st = await emuState("model", "acme", "conf-model");
	assert.notEqual(st.head, uploadCommit, "branch moved since the upload");
	await expectHubError(
		commit({
			...alice(),
			repo: MODEL,
			title: "stale",
			parentCommit: uploadCommit,
			operations: [{ operation: "addOrUpdate", path: "stale.txt", content: new Blob(["x"]) }],
		}),
		412,
		"stale parentCommit",
		/The branch was updated since you opened this page/,
	);
	const after412 = await emuState("model", "acme", "conf-model");
	assert.equal(after412.head, st.head, "rejected commit changed nothing");
	assert.equal(after412.files["stale.txt"], undefined);

	const ok = await commit({
		...alice(),
		repo: MODEL,
		title: "fresh",
		parentCommit: st.head,
		operations: [{ operation: "addOrUpdate", path: "fresh.txt", content: new Blob(["y"]) }],
	});
	assert.match(ok.commit.oid, /^[0-9a-f]{40}$/);
	assert.equal((await emuState("model", "acme", "conf-model")).head, ok.commit.oid);
});

test("listModels by author: paginated, private repos only for members", T, async () => {
	for (const n of ["conf-m2", "conf-m3", "conf-m4"]) {
		await createRepo({ ...alice(), repo: `acme/${n}` });
	}
	await clearLog();
	const seen = await collect(listModels({ ...alice(), search: { owner: "acme" } }));
	const names = seen.map((m) => m.name).sort();
	for (const n of ["acme/conf-model", "acme/conf-m2", "acme/conf-m3", "acme/conf-m4", "acme/secret"]) {
		assert.ok(names.includes(n), `alice sees ${n} (got ${names})`);
	}
	assert.ok(names.every((n) => n.startsWith("acme/")), "only the author's repos");
	assert.equal(new Set(names).size, names.length, "no repo listed twice across pages");
	assert.equal(seen.find((m) => m.name === "acme/secret").private, true);
	assert.equal(seen.find((m) => m.name === "acme/conf-m2").private, false);
	assert.ok(seen.every((m) => typeof m.id === "string" && m.id.length > 0), "entries carry _id");
	const pages = (await emuLog()).filter((r) => r.method === "GET" && r.path === "/api/models");
	assert.ok(pages.length >= 2, `models listing paginated (${pages.length} requests)`);

	const carolSees = (await collect(listModels({ hubUrl: hub, accessToken: TOK.carolWrite, search: { owner: "acme" } }))).map((m) => m.name);
	assert.ok(carolSees.includes("acme/conf-m2"), "public repo listed for outsiders");
	assert.ok(!carolSees.includes("acme/secret"), "private repo hidden from outsiders");
	assert.ok(!carolSees.includes("acme/conf-model"), "private repo hidden from outsiders");

	const limited = await collect(listModels({ ...alice(), search: { owner: "acme" }, limit: 3 }));
	assert.equal(limited.length, 3, "limit respected");
});

test("permissions: read token / read org role cannot write (403)", T, async () => {
	await expectHubError(
		uploadFiles({ hubUrl: hub, accessToken: TOK.aliceRead, repo: MODEL, files: [{ path: "ro.txt", content: new Blob(["no"]) }] }),
		403,
		"read token upload",
	);
	await expectHubError(
		createRepo({ hubUrl: hub, accessToken: TOK.aliceRead, repo: "alice/ro-repo" }),
		403,
		"read token createRepo",
	);
	await expectHubError(
		uploadFiles({ hubUrl: hub, accessToken: TOK.bobWrite, repo: "acme/conf-m2", files: [{ path: "bob.txt", content: new Blob(["no"]) }] }),
		403,
		"org reader upload",
	);
	await expectHubError(createRepo({ hubUrl: hub, accessToken: TOK.bobWrite, repo: "acme/bobs" }), 403, "org reader createRepo");
	// bob may still read the org's private repo
	assert.equal(await repoExists({ hubUrl: hub, accessToken: TOK.bobWrite, repo: "acme/secret" }), true);
	const st = await emuState("model", "acme", "conf-m2");
	assert.equal(st.files["bob.txt"], undefined);
});

test("private repo invisible to non-members (404) and anonymous (401)", T, async () => {
	const carol = { hubUrl: hub, accessToken: TOK.carolWrite };
	assert.equal(await repoExists({ ...carol, repo: "acme/secret" }), false);
	assert.equal(await repoExists({ ...carol, repo: MODEL }), false);
	await expectHubError(checkRepoAccess({ ...carol, repo: "acme/secret" }), 404, "carol repo info");
	await expectHubError(checkRepoAccess({ hubUrl: hub, repo: "acme/secret" }), 401, "anonymous repo info");
	await expectHubError(checkRepoAccess({ ...carol, repo: "acme/does-not-exist" }), 404, "missing repo");
	await expectHubError(collect(listFiles({ ...carol, repo: MODEL })), 404, "carol tree");
	await expectHubError(downloadFile({ ...carol, repo: MODEL, path: "README.md" }), 404, "carol resolve");
	await expectHubError(downloadFile({ hubUrl: hub, repo: MODEL, path: "README.md" }), 401, "anonymous resolve");
	await expectHubError(
		uploadFiles({ ...carol, repo: "acme/secret", files: [{ path: "c.txt", content: new Blob(["no"]) }] }),
		404,
		"carol write to invisible repo",
	);
	await checkRepoAccess({ ...alice(), repo: "acme/secret" });
});

test("branches: create, write on branch, duplicate 409, delete", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	const mainHead = (await emuState("model", "acme", "conf-model")).head;
	await createBranch({ ...alice(), repo: MODEL, branch: "dev" });
	assert.equal((await emuState("model", "acme", "conf-model", "dev")).head, mainHead, "branch starts at main's head");
	await expectHubError(createBranch({ ...alice(), repo: MODEL, branch: "dev" }), 409, "duplicate branch");

	const out = await uploadFiles({ ...alice(), repo: MODEL, branch: "dev", files: [{ path: "dev-only.txt", content: new Blob(["dev\n"]) }] });
	const devFiles = (await collect(listFiles({ ...alice(), repo: MODEL, revision: "dev" }))).map((e) => e.path);
	assert.ok(devFiles.includes("dev-only.txt"));
	assert.equal(await fileExists({ ...alice(), repo: MODEL, path: "dev-only.txt" }), false, "main untouched");
	const devCommits = await collect(listCommits({ ...alice(), repo: MODEL, revision: "dev" }));
	assert.equal(devCommits[0].oid, out.commit.oid);
	assert.equal(devCommits[1].oid, mainHead);

	// branch from an older commit
	await createBranch({ ...alice(), repo: MODEL, branch: "old", revision: uploadCommit });
	assert.equal((await emuState("model", "acme", "conf-model", "old")).head, uploadCommit);

	await expectHubError(createBranch({ hubUrl: hub, accessToken: TOK.aliceRead, repo: MODEL, branch: "ro" }), 403, "read token branch");
	await deleteBranch({ ...alice(), repo: MODEL, branch: "dev" });
	await expectHubError(collect(listFiles({ ...alice(), repo: MODEL, revision: "dev" })), 404, "deleted branch");
});

test("gated repo: metadata readable, content refused without grant", T, async () => {
	const GATED = "acme/gated";
	const content = Buffer.from("gated weights\n");
	await uploadFiles({ ...alice(), repo: GATED, files: [{ path: "w.txt", content: new Blob([content]) }] });
	const carol = { hubUrl: hub, accessToken: TOK.carolWrite };

	const info = await modelInfo({ ...carol, name: GATED });
	assert.equal(info.gated, "manual");
	const listed = (await collect(listFiles({ ...carol, repo: GATED }))).map((e) => e.path);
	assert.ok(listed.includes("w.txt"), "tree listing works without grant");
	const anonListed = (await collect(listFiles({ hubUrl: hub, repo: GATED }))).map((e) => e.path);
	assert.ok(anonListed.includes("w.txt"), "tree listing works anonymously");
	assert.equal((await pathsInfo({ ...carol, repo: GATED, paths: ["w.txt"] })).length, 1, "paths-info works without grant");

	await expectHubError(downloadFile({ ...carol, repo: GATED, path: "w.txt" }), 403, "carol gated download", /authorized list/);
	await expectHubError(downloadFile({ hubUrl: hub, repo: GATED, path: "w.txt" }), 401, "anonymous gated download", /restricted/);
	const log = await emuLog();
	const denied = log.filter((r) => r.path === `/${GATED}/resolve/main/w.txt` && r.status === 403);
	assert.ok(denied.length >= 1, "403 recorded for the gated resolve");

	// org admin reads it, and so does a user whose access request was accepted
	const mine = await downloadFile({ ...alice(), repo: GATED, path: "w.txt" });
	assert.ok(Buffer.from(await mine.arrayBuffer()).equals(content));
	const daves = await downloadFile({ hubUrl: hub, accessToken: TOK.daveWrite, repo: GATED, path: "w.txt" });
	assert.ok(Buffer.from(await daves.arrayBuffer()).equals(content), "granted user downloads");
});

test("LFS dedupe: re-uploading stored content transfers no bytes", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	await clearLog();
	const out = await uploadFiles({ ...alice(), repo: MODEL, files: [{ path: "copy/model.bin", content: new Blob([BIG]) }] });
	const log = await emuLog();
	assert.ok(log.some((r) => r.path === `/${MODEL}.git/info/lfs/objects/batch`), "LFS batch asked");
	assert.deepEqual(log.filter((r) => r.method === "PUT"), [], "no PUT for an object the server already has");
	const [e] = await pathsInfo({ ...alice(), repo: MODEL, paths: ["copy/model.bin"] });
	assert.equal(e.lfs?.oid, BIG_SHA);
	assert.equal(e.size, BIG.length);
	assert.equal((await emuState("model", "acme", "conf-model")).head, out.commit.oid);
});

test("pull request: create_pr commit lands on refs/pr/N only", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	const mainHead = (await emuState("model", "acme", "conf-model")).head;
	const out = await uploadFiles({
		...alice(),
		repo: MODEL,
		isPullRequest: true,
		files: [{ path: "pr.txt", content: new Blob(["from a PR\n"]) }],
	});
	assert.match(out.pullRequestUrl ?? "", /\/discussions\/\d+$/, `pullRequestUrl ${out.pullRequestUrl}`);
	const n = out.pullRequestUrl.split("/").at(-1);
	const rev = `refs/pr/${n}`;
	// listFiles puts the revision raw in the URL; fileDownloadInfo encodes it.
	const prFiles = (await collect(listFiles({ ...alice(), repo: MODEL, revision: rev }))).map((e) => e.path);
	assert.ok(prFiles.includes("pr.txt"), "file visible on the PR ref (raw refs/pr/N)");
	const info = await fileDownloadInfo({ ...alice(), repo: MODEL, path: "pr.txt", revision: rev });
	assert.equal(info?.size, "from a PR\n".length, "file visible on the PR ref (encoded refs%2Fpr%2FN)");
	assert.equal((await emuState("model", "acme", "conf-model")).head, mainHead, "main unchanged");
	assert.equal(await fileExists({ ...alice(), repo: MODEL, path: "pr.txt" }), false);
});

test("branch with a slash: encoded revision in preupload/commit/resolve", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	await createBranch({ ...alice(), repo: MODEL, branch: "feature/x" });
	await uploadFiles({ ...alice(), repo: MODEL, branch: "feature/x", files: [{ path: "feat.txt", content: new Blob(["f\n"]) }] });
	const blob = await downloadFile({ ...alice(), repo: MODEL, path: "feat.txt", revision: "feature/x" });
	assert.equal(await blob.text(), "f\n");
	assert.equal((await pathsInfo({ ...alice(), repo: MODEL, paths: ["feat.txt"], revision: "feature/x" })).length, 1);
	assert.equal(await fileExists({ ...alice(), repo: MODEL, path: "feat.txt" }), false, "main unchanged");
});

test("deleteRepo: repo gone afterwards", T, async () => {
	await createRepo({ ...alice(), repo: "alice/throwaway" });
	assert.equal(await repoExists({ ...alice(), repo: "alice/throwaway" }), true);
	await deleteRepo({ ...alice(), repo: "alice/throwaway" });
	assert.equal(await repoExists({ ...alice(), repo: "alice/throwaway" }), false);
	await expectHubError(deleteRepo({ ...alice(), repo: "alice/throwaway" }), 404, "delete missing repo");
});

test("unusual file names: space, non-ASCII, plus, parentheses", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	const name = "sp ace/\u00fc+1 (x).txt";
	const body = Buffer.from("odd name\n");
	await uploadFiles({ ...alice(), repo: MODEL, files: [{ path: name, content: new Blob([body]) }] });
	const listed = await collect(listFiles({ ...alice(), repo: MODEL, path: "sp ace" }));
	assert.deepEqual(listed.map((e) => e.path), [name], "tree of a directory with a space");
	assert.equal(listed[0].oid, gitBlobSha1(body));
	const [info] = await pathsInfo({ ...alice(), repo: MODEL, paths: [name] });
	assert.equal(info?.size, body.length);
	const blob = await downloadFile({ ...alice(), repo: MODEL, path: name });
	assert.ok(blob, "resolve finds the file ('+' is not a space in a path)");
	assert.ok(Buffer.from(await blob.arrayBuffer()).equals(body));
});

test("snapshotDownload: whole repo at a commit, byte-exact", T, async () => {
	assert.ok(uploadCommit, "upload must have succeeded");
	const cacheDir = join(dataDir, "hf-cache");
	const debug = console.debug;
	console.debug = () => {}; // the client logs each download on stdout, which would clutter TAP
	let folder;
	try {
		folder = await snapshotDownload({ ...alice(), repo: MODEL, revision: uploadCommit, cacheDir });
	} finally {
		console.debug = debug;
	}
	assert.ok(folder.endsWith(uploadCommit), `snapshot folder named by commit: ${folder}`);
	const walk = (d, pre = "") =>
		readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n), `${pre}${n}/`) : [`${pre}${n}`]));
	const got = walk(folder).sort();
	assert.deepEqual(got, [".gitattributes", ...Object.keys(files), BIG_PATH, BIN_PATH].sort());
	for (const [p, b] of Object.entries(files)) assert.ok(readFileSync(join(folder, p)).equals(b), p);
	assert.equal(sha256(readFileSync(join(folder, BIG_PATH))), BIG_SHA);
	assert.equal(sha256(readFileSync(join(folder, BIN_PATH))), BIN_SHA);
});
