/**
 * The pipelines API over HTTP, on SQLite and on PostgreSQL: push validation, a run through the queue
 * with an in-process worker (failure, logs, resume), the queue driven by hand as a worker would
 * (resource matching, long polls, leases, lost claims, outputs, cancel), local runs reporting in,
 * schedules (cron and dataset triggers) and auth. Real processes are e2e/pipelines-workers.test.ts.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import type { ServerConfig } from "../src/platform/config.js";
import { pushPipeline } from "../src/modules/pipelines/remote.js";
import { PipelineWorker } from "../src/modules/pipelines/worker.js";
import { MAX_CLAIMS } from "../src/modules/pipelines/service.js";
import { describePg, freshPgSchema } from "./pg.js";
import { http, tempDir, testServer, authAdmin } from "./helpers.js";

type Server = Awaited<ReturnType<typeof testServer>> & { drop?: () => Promise<void> };
type Start = (config?: Partial<ServerConfig>) => Promise<Server>;
type Headers = Record<string, string>;

const sha = (b: string) => createHash("sha256").update(b).digest("hex");
const ENDED = new Set(["succeeded", "failed", "cancelled"]);
/** What a hand-driven worker offers: plenty of CPU and memory, no GPU unless said. */
const FREE = { cpu: 8, memoryMb: 100_000, gpu: 0 };

/** A resolved step for local-run reports (the shape of `StepSpec`). */
function stepSpec(name: string, cmd: string, deps: { kind: "step"; step: string; path: string }[] = []) {
  return { name, cmd, deps, outs: [], params: [], env: {}, resources: { cpu: 1, memoryMb: 0, gpu: 0 }, retries: 0, retryDelayMs: 10, cache: false };
}

function pipelinesApi(backend: string, start: Start): void {
  describe(`pipelines API (${backend})`, () => {
    let s: Server;
    let tmp: { dir: string; cleanup(): void };
    let cairn: Cairn;
    let workerStop: AbortController | undefined;
    let workerDone: Promise<void> | undefined;
    const call = (method: string, url: string, body?: unknown, headers: Headers = {}) => http(s.url, method, url, body, headers);

    /** Writes a pipeline directory (its cairn.yaml and files) under the test's temp folder. */
    const project = (name: string, yaml: string, files: Record<string, string> = {}): string => {
      const dir = path.join(tmp.dir, "projects", name);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, "cairn.yaml"), yaml);
      for (const [rel, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, rel), text);
      return dir;
    };
    const getRun = async (id: string, headers: Headers = {}) => {
      const r = await call("GET", `/api/v1/pipeline-runs/${id}`, undefined, headers);
      expect(r.status).toBe(200);
      return r.body.run;
    };
    const waitRun = async (id: string, pred: (run: any) => boolean, ms = 20_000) => {
      const until = Date.now() + ms;
      for (;;) {
        const run = await getRun(id);
        if (pred(run)) return run;
        if (Date.now() > until) throw new Error(`run ${id} did not reach the state in time: ${run.status} ${JSON.stringify(run.steps.map((x: any) => [x.name, x.status, x.error]))}`);
        await sleep(50);
      }
    };
    const startRun = async (name: string, body: unknown = {}, headers: Headers = {}) => {
      const r = await call("POST", `/api/v1/pipelines/${name}/runs`, body, headers);
      expect(r.status).toBe(201);
      return r.body.run;
    };
    const register = async (name: string, leaseMs: number) => {
      const r = await call("POST", "/api/v1/workers", { name, resources: { cpu: 8, memoryMb: 100_000, gpus: [] }, leaseMs });
      expect(r.status).toBe(201);
      return r.body.worker.id as string;
    };
    const claim = (worker: string, free: typeof FREE, waitMs = 0) => call("POST", `/api/v1/workers/${worker}/claim`, { free, waitMs });
    const heartbeat = async (worker: string, tasks: { id: string; token: string }[]) => {
      const r = await call("POST", `/api/v1/workers/${worker}/heartbeat`, { tasks });
      expect(r.status).toBe(200);
      return r.body as { cancel: string[]; lost: string[] };
    };
    const complete = (task: { id: string; token: string }, body: Record<string, unknown>) => call("POST", `/api/v1/tasks/${task.id}/complete`, { token: task.token, attempts: 1, durationMs: 5, ...body });
    const logs = async (id: string, query = "") => {
      const r = await call("GET", `/api/v1/pipeline-runs/${id}/logs${query ? `?${query}` : ""}`);
      expect(r.status).toBe(200);
      return r.body as { entries: { seq: number; step: string; text: string; stream: string; attempt: number }[]; next: number; done: boolean };
    };
    const runsOf = async (pipeline: string) => (await call("GET", `/api/v1/pipeline-runs?pipeline=${pipeline}`)).body.runs as any[];
    /** Uploads the files to a dataset and makes a version of them. */
    const addVersion = async (dataset: string, files: Record<string, string>) => {
      for (const c of Object.values(files)) {
        const put = await fetch(`${s.url}/api/v1/datasets/${dataset}/blobs/${sha(c)}`, { method: "PUT", body: c, headers: { "content-type": "application/octet-stream" } });
        expect(put.status).toBeLessThan(300);
      }
      const v = await call("POST", `/api/v1/datasets/${dataset}/versions`, { files: Object.entries(files).map(([p, c]) => ({ path: p, size: Buffer.byteLength(c), sha256: sha(c) })) });
      expect(v.status).toBe(201);
      return v.body.version;
    };

    beforeAll(async () => {
      s = await start();
      tmp = tempDir("cairn-pipelines-api-");
      cairn = new Cairn({ url: s.url, handleExit: false });
    });
    afterEach(async () => {
      workerStop?.abort();
      await workerDone;
      workerStop = undefined;
      workerDone = undefined;
      // Runs a test left going (no worker will take them) must not offer their steps to the next test's claims.
      for (const status of ["queued", "running"]) {
        for (const r of (await call("GET", `/api/v1/pipeline-runs?status=${status}`)).body.runs ?? []) {
          if (r.mode === "queued") await call("POST", `/api/v1/pipeline-runs/${r.id}/cancel`, {});
        }
      }
    });
    afterAll(async () => {
      await s?.stop();
      await s?.drop?.();
      tmp?.cleanup();
    });

    it("validates pushes (cycles, unknown params, a missing source version), replaces on push, gets and lists pipelines", async () => {
      expect((await call("POST", "/api/v1/datasets", { name: "pipeline-src.bad" })).status).toBe(201);
      const src = await addVersion("pipeline-src.bad", { "cairn.yaml": "name: bad\n" });
      const source = { dataset: "pipeline-src.bad", version: src.id };
      const cycle = { name: "bad", steps: { a: { cmd: "cp b.txt a.txt", deps: ["b.txt"], outs: ["a.txt"] }, b: { cmd: "cp a.txt b.txt", deps: ["a.txt"], outs: ["b.txt"] } } };
      const r1 = await call("POST", "/api/v1/pipelines", { definition: cycle, source });
      expect([r1.status, r1.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(r1.body.details.map((d: { message: string }) => d.message).join("\n")).toMatch(/dependency cycle/);
      const unknownParam = { name: "bad", params: { lr: 0.1 }, steps: { train: { cmd: "echo ${params.lr} ${params.nope}" } } };
      const r2 = await call("POST", "/api/v1/pipelines", { definition: unknownParam, source });
      expect([r2.status, r2.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(r2.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.stringContaining("train"), message: expect.stringContaining("nope") })]));
      const ok = { name: "bad", steps: { a: { cmd: "echo a" } } };
      const r3 = await call("POST", "/api/v1/pipelines", { definition: ok, source: { dataset: "pipeline-src.bad", version: "v99" } });
      expect([r3.status, r3.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
      // Nothing of the refused pushes was recorded.
      expect((await call("GET", "/api/v1/pipelines/bad")).status).toBe(404);

      const dir = project("hello", "name: hello\nparams: { greeting: hi }\nsteps:\n  say:\n    cmd: echo ${params.greeting}\n");
      const first = await pushPipeline(cairn, dir);
      expect(first.pipeline).toMatchObject({ name: "hello", runCount: 0, definition: { params: { greeting: "hi" } }, source: { dataset: "pipeline-src.hello" } });
      expect(first.pipeline.experimentId).toBeDefined();
      fs.writeFileSync(path.join(dir, "cairn.yaml"), "name: hello\nparams: { greeting: hey }\nsteps:\n  say:\n    cmd: echo ${params.greeting}\n  again:\n    cmd: echo again\n");
      const second = await pushPipeline(cairn, dir);
      expect(second.pipeline.source!.version).not.toBe(first.pipeline.source!.version);
      expect(second.pipeline.experimentId).toBe(first.pipeline.experimentId);
      const got = await call("GET", "/api/v1/pipelines/hello");
      expect(got.status).toBe(200);
      expect(got.body.pipeline).toMatchObject({ name: "hello", source: second.pipeline.source, definition: { params: { greeting: "hey" } } });
      expect(Object.keys(got.body.pipeline.definition.steps)).toEqual(["say", "again"]);
      const list = await call("GET", "/api/v1/pipelines");
      expect(list.body.pipelines.map((p: { name: string }) => p.name)).toEqual(["hello"]);
      expect((await call("GET", "/api/v1/pipelines/nope")).status).toBe(404);
      // A run resolves the pushed definition with its params; unknown params are refused.
      const run = await startRun("hello", { params: { greeting: "yo" } });
      expect(run).toMatchObject({ pipeline: "hello", status: "queued", mode: "queued", params: { greeting: "yo" }, trigger: { kind: "api" } });
      expect(run.spec.steps.map((x: { name: string; cmd: string }) => [x.name, x.cmd])).toEqual([
        ["say", "echo yo"],
        ["again", "echo again"],
      ]);
      expect((await call("POST", "/api/v1/pipelines/hello/runs", { params: { nope: 1 } })).status).toBe(400);
      expect((await call("GET", "/api/v1/pipelines/hello")).body.pipeline).toMatchObject({ runCount: 1, lastRun: { id: run.id, status: "queued" } });
    });

    it("runs a chain through an in-process worker: a failure skips downstream, logs page and resume keeps finished steps", async () => {
      const marker = path.join(tmp.dir, "flags", "fail");
      fs.mkdirSync(path.dirname(marker), { recursive: true });
      fs.writeFileSync(marker, "");
      const dir = project(
        "chain",
        [
          "name: chain",
          "steps:",
          "  first:",
          "    cmd: echo one && echo two && echo hello > a.txt",
          "    outs: [a.txt]",
          "  second:",
          `    cmd: echo checking && test ! -e '${marker}' && cat a.txt > b.txt`,
          "    deps: [a.txt]",
          "    outs: [b.txt]",
          "  third:",
          "    cmd: cat b.txt > c.txt && echo three",
          "    deps: [b.txt]",
          "    outs: [c.txt]",
          "",
        ].join("\n"),
      );
      await pushPipeline(cairn, dir);
      workerStop = new AbortController();
      const worker = new PipelineWorker({ cairn, name: "inproc", workDir: path.join(tmp.dir, "work"), capacity: { cpu: 2 }, gpus: [], leaseMs: 1000, claimWaitMs: 2000, signal: workerStop.signal, log: () => {} });
      workerDone = worker.run();
      const started = await startRun("chain");
      const failed = await waitRun(started.id, (r) => ENDED.has(r.status));
      expect(failed.status).toBe("failed");
      expect(failed.error).toMatch(/^step second failed/);
      const [first, second, third] = ["first", "second", "third"].map((n) => failed.steps.find((x: { name: string }) => x.name === n));
      expect(first).toMatchObject({ status: "succeeded", attempts: 1, worker: worker.id });
      expect(Object.keys(first.outputs)).toEqual(["a.txt"]);
      expect(first.runId).toBeDefined();
      expect(second.status).toBe("failed");
      expect(third).toMatchObject({ status: "skipped", error: "skipped: second failed" });

      // Logs: in order, seq increasing, paged with `after`; a step filter; `done` once the run ended and all was read.
      const all = await logs(started.id, "limit=10000");
      expect(all.done).toBe(true);
      const seqs = all.entries.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      const firstOut = all.entries.filter((e) => e.step === "first" && e.stream === "stdout").map((e) => e.text);
      expect(firstOut).toEqual(["one", "two"]);
      expect(all.entries.some((e) => e.step === "second" && e.text === "checking")).toBe(true);
      expect(all.entries.some((e) => e.step === "third")).toBe(false);
      const page1 = await logs(started.id, "limit=2");
      expect(page1.entries).toEqual(all.entries.slice(0, 2));
      expect([page1.next, page1.done]).toEqual([all.entries[1]!.seq, false]);
      const page2 = await logs(started.id, `after=${page1.next}&limit=10000`);
      expect(page2.entries).toEqual(all.entries.slice(2));
      expect(page2.next).toBe(all.entries[all.entries.length - 1]!.seq);
      const past = await logs(started.id, `after=${page2.next}`);
      expect([past.entries, past.next, past.done]).toEqual([[], page2.next, true]);
      expect((await logs(started.id, "step=first&limit=10000")).entries).toEqual(all.entries.filter((e) => e.step === "first"));

      // Fix the cause outside the pipeline and resume: only the failed and skipped steps run again.
      fs.rmSync(marker);
      const resumed = await call("POST", `/api/v1/pipeline-runs/${started.id}/resume`, {});
      expect(resumed.status).toBe(200);
      expect(resumed.body.run).toMatchObject({ status: "running", cancelRequested: false });
      expect(resumed.body.run.error).toBeUndefined();
      // The worker may already hold the second step; the third waits for it; the first keeps its result.
      const [r1, r2, r3] = resumed.body.run.steps;
      expect([r1.name, r1.status, r1.attempts]).toEqual(["first", "succeeded", 1]);
      expect([r2.name, ["ready", "running"].includes(r2.status), r2.error]).toEqual(["second", true, undefined]);
      expect([r3.name, r3.status, r3.error]).toEqual(["third", "waiting", undefined]);
      const done = await waitRun(started.id, (r) => r.status === "succeeded");
      expect(done.error).toBeUndefined();
      const again = done.steps.find((x: { name: string }) => x.name === "first");
      expect(again).toEqual(first);
      expect(done.steps.map((x: { name: string; status: string }) => [x.name, x.status])).toEqual([
        ["first", "succeeded"],
        ["second", "succeeded"],
        ["third", "succeeded"],
      ]);
      const after = await logs(started.id, "limit=10000");
      const claims = (step: string) => after.entries.filter((e) => e.step === step && /claimed by worker/.test(e.text)).length;
      expect(claims("first")).toBe(1);
      expect(claims("second")).toBe(2);
      expect(after.entries.filter((e) => e.step === "third" && e.stream === "stdout").map((e) => e.text)).toEqual(["three"]);
      // The worker counts a completion once the server's answer arrives, which may be just after the run shows as ended.
      for (let i = 0; i < 50 && (worker.completed.succeeded ?? 0) < 3; i++) await sleep(100);
      expect(worker.completed.succeeded).toBe(3);
      // A succeeded run cannot be resumed.
      expect((await call("POST", `/api/v1/pipeline-runs/${started.id}/resume`, {})).body.error_code).toBe("INVALID_STATE");
    });

    it("matches resources, wakes long polls at once, checks outputs and hands them downstream", async () => {
      await pushPipeline(
        cairn,
        project("q-gpu", "name: q-gpu\nsteps:\n  make:\n    cmd: echo m > model.txt\n    outs: [model.txt]\n    resources: { gpu: 1 }\n  use:\n    cmd: cat model.txt\n    deps: [model.txt]\n"),
      );
      const w = await register("hand", 5000);
      const run = await startRun("q-gpu");
      expect(run.steps.map((x: { name: string; status: string }) => [x.name, x.status])).toEqual([
        ["make", "ready"],
        ["use", "waiting"],
      ]);
      // A GPU step is not offered to a worker without a free GPU.
      const none = await claim(w, FREE);
      expect([none.status, none.body.task]).toEqual([200, null]);
      const got = await claim(w, { ...FREE, gpu: 1 });
      const make = got.body.task;
      expect(make).toMatchObject({ runId: run.id, pipeline: "q-gpu", claim: 1, leaseMs: 5000, upstream: [], outputsDataset: "pipeline-out.q-gpu", step: { name: "make", resources: { gpu: 1 } } });
      expect(make.source).toEqual((await call("GET", "/api/v1/pipelines/q-gpu")).body.pipeline.source);
      expect((await claim(w, { ...FREE, gpu: 1 })).body.task).toBeNull();
      expect((await call("POST", `/api/v1/tasks/${make.id}/events`, { token: make.token, event: { type: "started", attempt: 1, gpus: [0] } })).status).toBe(200);
      const running = await getRun(run.id);
      expect(running.status).toBe("running");
      expect(running.steps[0]).toMatchObject({ status: "running", worker: w, gpus: [0], attempts: 1 });
      expect(running.steps[0].startedAt).toBeGreaterThan(0);
      expect((await call("GET", "/api/v1/workers")).body.workers.find((x: { id: string }) => x.id === w)).toMatchObject({ state: "busy", running: [{ runId: run.id, step: "make" }] });

      // A succeeded step must send every declared output.
      const noOutputs = await complete(make, { status: "succeeded" });
      expect([noOutputs.status, noOutputs.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      const missing = await complete(make, { status: "succeeded", outputs: { files: [], digests: {} } });
      expect([missing.status, missing.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(missing.body.message).toContain("model.txt");
      expect((await getRun(run.id)).steps[0].status).toBe("running");

      // A claim waiting for work returns as soon as the next step becomes ready.
      const waiting = claim(w, FREE, 10_000);
      await sleep(300);
      const content = "m\n";
      const put = await fetch(`${s.url}/api/v1/datasets/pipeline-out.q-gpu/blobs/${sha(content)}`, { method: "PUT", body: content });
      expect(put.status).toBeLessThan(300);
      const digests = { "model.txt": sha(`digest of ${content}`) };
      const t0 = Date.now();
      expect((await complete(make, { status: "succeeded", outputs: { files: [{ path: "model.txt", size: 2, sha256: sha(content) }], digests } })).status).toBe(200);
      const use = (await waiting).body.task;
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(use).toMatchObject({ runId: run.id, step: { name: "use" }, claim: 1 });
      const made = (await getRun(run.id)).steps[0];
      expect(made).toMatchObject({ status: "succeeded", outputs: digests });
      expect(use.upstream).toEqual([{ step: "make", dataset: "pipeline-out.q-gpu", version: expect.any(String), digests }]);
      const outVersion = await call("GET", "/api/v1/datasets/pipeline-out.q-gpu/versions/latest/files");
      expect(outVersion.body.files.map((f: { path: string }) => f.path)).toEqual(["model.txt"]);

      // A log read waiting for lines returns as soon as one arrives.
      const before = await logs(run.id, "limit=10000");
      const follow = logs(run.id, `after=${before.next}&waitMs=10000`);
      await sleep(300);
      const t1 = Date.now();
      expect((await call("POST", `/api/v1/tasks/${use.id}/logs`, { token: use.token, lines: [{ step: "use", attempt: 1, stream: "stdout", text: "m" }] })).status).toBe(200);
      const woke = await follow;
      expect(Date.now() - t1).toBeLessThan(2000);
      expect(woke.entries.map((e) => [e.step, e.stream, e.text])).toEqual([["use", "stdout", "m"]]);
      expect(woke.entries[0]!.seq).toBeGreaterThan(before.next);
      expect(woke.done).toBe(false);
      // A wait with nothing new ends after waitMs with no entries.
      const t2 = Date.now();
      const empty = await logs(run.id, `after=${woke.next}&waitMs=400`);
      expect(Date.now() - t2).toBeGreaterThanOrEqual(350);
      expect([empty.entries, empty.next, empty.done]).toEqual([[], woke.next, false]);

      expect((await complete(use, { status: "succeeded", outputs: { files: [], digests: {} } })).status).toBe(200);
      const ended = await getRun(run.id);
      expect(ended.status).toBe("succeeded");
      expect(ended.endedAt).toBeGreaterThanOrEqual(ended.startedAt);
      expect((await logs(run.id, `after=${woke.next}&waitMs=10000`)).done).toBe(true);
      // The task is no longer held.
      expect((await complete(use, { status: "succeeded", outputs: { files: [], digests: {} } })).body.error_code).toBe("ABORTED");
    });

    it("re-queues a step whose worker stopped heartbeating, refuses the lost claim, and fails the step after MAX_CLAIMS", async () => {
      await pushPipeline(cairn, project("q-lease", "name: q-lease\nsteps:\n  work:\n    cmd: echo work\n"));
      const [w1, w2, w3] = [await register("w1", 500), await register("w2", 500), await register("w3", 500)];
      const run = await startRun("q-lease");
      const t1 = (await claim(w1!, FREE)).body.task;
      expect(t1).toMatchObject({ claim: 1, leaseMs: 500, step: { name: "work" } });
      // Heartbeats renew the lease.
      for (let i = 0; i < 3; i++) {
        await sleep(150);
        expect(await heartbeat(w1!, [t1])).toEqual({ cancel: [], lost: [] });
      }
      expect((await getRun(run.id)).steps[0]).toMatchObject({ status: "running", worker: w1 });
      // w1 goes silent: after its lease (and a background round) another worker gets the step.
      const t2 = (await claim(w2!, FREE, 5000)).body.task;
      expect(t2).toMatchObject({ claim: 2, runId: run.id });
      // Each claim is its own task: a worker holding both never confuses them.
      expect(t2.id).not.toBe(t1.id);
      expect(t2.id.split(":").slice(0, 2)).toEqual(t1.id.split(":").slice(0, 2));
      expect(t2.token).not.toBe(t1.token);
      expect(t2.stepRunId).toBe(t1.stepRunId);
      const late = await complete(t1, { status: "succeeded", outputs: { files: [], digests: {} } });
      expect([late.status, late.body.error_code]).toEqual([409, "ABORTED"]);
      expect((await call("POST", `/api/v1/tasks/${t1.id}/logs`, { token: t1.token, lines: [{ step: "work", attempt: 1, stream: "stdout", text: "late" }] })).body.error_code).toBe("ABORTED");
      expect(await heartbeat(w1!, [t1])).toEqual({ cancel: [], lost: [t1.id] });
      expect((await call("GET", "/api/v1/workers")).body.workers.find((x: { id: string }) => x.id === w2)).toMatchObject({ running: [{ runId: run.id, step: "work" }] });
      const text = (await logs(run.id, "limit=10000")).entries.map((e) => e.text);
      expect(text.some((t) => t.includes(`its worker (${w1}) stopped heartbeating; queued again`))).toBe(true);
      expect(text.some((t) => t === "late")).toBe(false);

      // Two more lost claims: the step fails instead of going round forever.
      const t3 = (await claim(w3!, FREE, 5000)).body.task;
      expect(t3).toMatchObject({ claim: MAX_CLAIMS, runId: run.id });
      const failed = await waitRun(run.id, (r) => ENDED.has(r.status), 10_000);
      expect(failed.status).toBe("failed");
      expect(failed.steps[0]).toMatchObject({ status: "failed", error: expect.stringContaining(`stopped answering ${MAX_CLAIMS} times`) });
      expect(failed.error).toContain("step work failed");
      expect((await claim(w1!, FREE)).body.task).toBeNull();
      expect((await complete(t3, { status: "failed", error: "too late" })).body.error_code).toBe("ABORTED");
    });

    it("cancels a run: waiting steps at once, a running one through the heartbeat; an ended run refuses", async () => {
      await pushPipeline(cairn, project("q-cancel", "name: q-cancel\nsteps:\n  long:\n    cmd: sleep 60 > out.txt\n    outs: [out.txt]\n  next:\n    cmd: cat out.txt\n    deps: [out.txt]\n"));
      const w = await register("canceller", 5000);
      // A claim issued before the run exists returns as soon as its first step is queued.
      const waiting = claim(w, FREE, 10_000);
      await sleep(300);
      const t0 = Date.now();
      const run = await startRun("q-cancel");
      const task = (await waiting).body.task;
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(task).toMatchObject({ runId: run.id, step: { name: "long" } });
      expect((await call("POST", `/api/v1/tasks/${task.id}/events`, { token: task.token, event: { type: "started", attempt: 1, gpus: [] } })).status).toBe(200);
      expect(await heartbeat(w, [task])).toEqual({ cancel: [], lost: [] });

      const cancelled = await call("POST", `/api/v1/pipeline-runs/${run.id}/cancel`, {});
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.run).toMatchObject({ status: "running", cancelRequested: true });
      expect(cancelled.body.run.steps.map((x: { name: string; status: string }) => [x.name, x.status])).toEqual([
        ["long", "running"],
        ["next", "cancelled"],
      ]);
      expect(await heartbeat(w, [task])).toEqual({ cancel: [task.id], lost: [] });
      expect((await call("POST", `/api/v1/pipeline-runs/${run.id}/resume`, {})).body.error_code).toBe("INVALID_STATE");
      expect((await complete(task, { status: "cancelled", error: "stopped (SIGTERM)" })).status).toBe(200);
      const ended = await getRun(run.id);
      expect(ended.status).toBe("cancelled");
      expect(ended.steps[0]).toMatchObject({ status: "cancelled" });
      const again = await call("POST", `/api/v1/pipeline-runs/${run.id}/cancel`, {});
      expect([again.status, again.body.error_code]).toEqual([409, "INVALID_STATE"]);
      expect((await call("GET", "/api/v1/pipeline-runs?pipeline=q-cancel&status=cancelled")).body.runs.map((r: { id: string; stepCounts: unknown }) => [r.id, r.stepCounts])).toEqual([[run.id, { cancelled: 2 }]]);
      // A cancelled run resumes from scratch for its unfinished steps: claims count from 1 again.
      const resumed = await call("POST", `/api/v1/pipeline-runs/${run.id}/resume`, {});
      expect(resumed.body.run).toMatchObject({ status: "running", cancelRequested: false });
      expect(resumed.body.run.steps.map((x: { status: string; attempts: number }) => [x.status, x.attempts])).toEqual([
        ["ready", 0],
        ["waiting", 0],
      ]);
      const reclaimed = (await claim(w, FREE)).body.task;
      expect(reclaimed).toMatchObject({ id: task.id, claim: 1, stepRunId: task.stepRunId });
      expect(reclaimed.token).not.toBe(task.token);
      expect((await complete(task, { status: "cancelled" })).body.error_code).toBe("ABORTED");
      for (const url of [`/api/v1/pipeline-runs/0123456789abcdef/cancel`, `/api/v1/pipeline-runs/0123456789abcdef/resume`]) expect((await call("POST", url, {})).status).toBe(404);
      expect((await call("POST", `/api/v1/workers/0123456789abcdef/claim`, { free: FREE })).status).toBe(404);
    });

    it("records local runs reporting in, and keeps local and queued runs apart", async () => {
      const exp = await call("POST", "/api/v1/experiments", { name: "pipeline:local-pipe" });
      expect(exp.status).toBe(201);
      const tracked = await call("POST", "/api/v1/runs", { experimentId: exp.body.experiment.experimentId });
      const id = tracked.body.run.info.runId as string;
      const spec = { name: "local-pipe", params: { n: 3 }, steps: [stepSpec("prep", "echo prep"), stepSpec("fit", "echo fit", [{ kind: "step", step: "prep", path: "x" }])] };
      const reported = await call("PUT", `/api/v1/pipeline-runs/${id}/local`, { spec, params: { n: 3 } });
      expect(reported.status).toBe(200);
      expect(reported.body.run).toMatchObject({ id, pipeline: "local-pipe", mode: "local", status: "running", trigger: { kind: "local" }, params: { n: 3 } });
      expect(reported.body.run.steps.map((x: { name: string; status: string; after: string[] }) => [x.name, x.status, x.after])).toEqual([
        ["prep", "waiting", []],
        ["fit", "waiting", ["prep"]],
      ]);
      // Reporting again (a retry) keeps the run.
      expect((await call("PUT", `/api/v1/pipeline-runs/${id}/local`, { spec, params: { n: 3 } })).body.run.createdAt).toBe(reported.body.run.createdAt);

      const now = Date.now();
      expect((await call("POST", `/api/v1/pipeline-runs/${id}/local/steps`, { step: "prep", status: "running", startedAt: now, attempts: 1 })).status).toBe(200);
      expect((await call("POST", `/api/v1/pipeline-runs/${id}/local/logs`, { lines: [1, 2, 3].map((i) => ({ step: "prep", attempt: 1, stream: "stdout", text: `line ${i}` })) })).status).toBe(200);
      expect((await call("POST", `/api/v1/pipeline-runs/${id}/local/steps`, { step: "prep", status: "succeeded", endedAt: now + 10, durationMs: 10, outputs: { x: "abc" } })).status).toBe(200);
      expect((await call("POST", `/api/v1/pipeline-runs/${id}/local/steps`, { step: "nope", status: "running" })).status).toBe(404);
      const mid = await getRun(id);
      expect(mid.steps[0]).toMatchObject({ name: "prep", status: "succeeded", attempts: 1, startedAt: now, endedAt: now + 10, durationMs: 10, outputs: { x: "abc" } });
      const read = await logs(id);
      expect(read.entries.map((e) => e.text)).toEqual(["line 1", "line 2", "line 3"]);
      expect(read.done).toBe(false);
      // A follower waiting on the run wakes when it ends.
      const follow = logs(id, `after=${read.next}&waitMs=10000`);
      await sleep(200);
      const t0 = Date.now();
      expect((await call("POST", `/api/v1/pipeline-runs/${id}/local/steps`, { step: "fit", status: "failed", error: "exit 2" })).status).toBe(200);
      expect((await call("POST", `/api/v1/pipeline-runs/${id}/local/finish`, { status: "failed", error: "step fit failed" })).status).toBe(200);
      const end = await follow;
      expect(Date.now() - t0).toBeLessThan(2000);
      expect([end.entries, end.done]).toEqual([[], true]);
      expect(await getRun(id)).toMatchObject({ status: "failed", error: "step fit failed" });
      // Queued-run routes refuse a local run.
      const resume = await call("POST", `/api/v1/pipeline-runs/${id}/resume`, {});
      expect([resume.status, resume.body.error_code]).toEqual([409, "INVALID_STATE"]);
      // The pipeline is known from its runs, without a push.
      expect((await call("GET", "/api/v1/pipelines/local-pipe")).body.pipeline).toMatchObject({ name: "local-pipe", runCount: 1, lastRun: { id, status: "failed" } });
      expect((await call("GET", "/api/v1/pipelines/local-pipe")).body.pipeline.source).toBeUndefined();
      expect((await call("POST", "/api/v1/pipelines/local-pipe/runs", {})).status).toBe(404);

      // Local routes refuse a queued run.
      await pushPipeline(cairn, project("q-local", "name: q-local\nsteps:\n  only:\n    cmd: echo only\n"));
      const queued = await startRun("q-local");
      for (const [method, url, body] of [
        ["PUT", `/api/v1/pipeline-runs/${queued.id}/local`, { spec, params: {} }],
        ["POST", `/api/v1/pipeline-runs/${queued.id}/local/steps`, { step: "only", status: "running" }],
        ["POST", `/api/v1/pipeline-runs/${queued.id}/local/logs`, { lines: [{ step: "only", attempt: 1, stream: "stdout", text: "x" }] }],
        ["POST", `/api/v1/pipeline-runs/${queued.id}/local/finish`, { status: "succeeded" }],
      ] as const) {
        const r = await call(method, url, body);
        expect([url, r.status, r.body.error_code]).toEqual([url, 409, "INVALID_STATE"]);
      }
      expect((await getRun(queued.id)).status).toBe("queued");
      // Unknown runs.
      const ghost = "0123456789abcdef0123456789abcdef";
      expect((await call("PUT", `/api/v1/pipeline-runs/${ghost}/local`, { spec, params: {} })).status).toBe(404);
      expect((await call("POST", `/api/v1/pipeline-runs/${ghost}/local/steps`, { step: "prep", status: "running" })).status).toBe(404);
      expect((await call("POST", `/api/v1/pipeline-runs/${ghost}/local/finish`, { status: "succeeded" })).status).toBe(404);
      expect((await call("GET", `/api/v1/pipeline-runs/${ghost}`)).status).toBe(404);
      expect((await call("GET", `/api/v1/pipeline-runs/${ghost}/logs`)).status).toBe(404);
      // A tracking run that exists but was never reported is no pipeline run.
      const other = (await call("POST", "/api/v1/runs", { experimentId: exp.body.experiment.experimentId })).body.run.info.runId;
      expect((await call("POST", `/api/v1/pipeline-runs/${other}/local/logs`, { lines: [] })).status).toBe(404);
    });

    it("schedules: validates, fires a cron, stops when disabled, fires once per new dataset version, deletes", async () => {
      await pushPipeline(cairn, project("sched", "name: sched\nparams: { n: 1 }\nsteps:\n  tick:\n    cmd: echo ${params.n}\n"));
      const url = "/api/v1/pipelines/sched/schedules";
      for (const body of [{ cron: "not a cron at all" }, { cron: "* * *" }, { cron: "61 * * * *" }, { cron: "* * * * *", timezone: "Mars/Olympus" }, {}, { cron: "* * * * *", params: { nope: 1 } }]) {
        const r = await call("POST", url, body);
        expect([JSON.stringify(body), r.status, r.body.error_code]).toEqual([JSON.stringify(body), 400, "INVALID_PARAMETER_VALUE"]);
      }
      expect((await call("POST", "/api/v1/pipelines/unpushed/schedules", { cron: "* * * * *" })).status).toBe(404);
      expect((await call("POST", url, { onDataset: "no-such-dataset" })).status).toBe(404);
      expect((await call("GET", url)).body.schedules).toEqual([]);

      const created = await call("POST", url, { cron: "* * * * * *", timezone: "Europe/Berlin", params: { n: 7 } });
      expect(created.status).toBe(201);
      const cron = created.body.schedule;
      expect(cron).toMatchObject({ pipeline: "sched", cron: "* * * * * *", timezone: "Europe/Berlin", params: { n: 7 }, enabled: true });
      expect(cron.nextRunAt).toBeGreaterThan(cron.createdAt - 1);
      const fired = await (async () => {
        for (const until = Date.now() + 5000; Date.now() < until; await sleep(100)) {
          const runs = (await runsOf("sched")).filter((r) => r.trigger.kind === "schedule");
          if (runs.length > 0) return runs;
        }
        throw new Error("the cron schedule did not fire within 5 s");
      })();
      expect(fired[0]).toMatchObject({ pipeline: "sched", params: { n: 7 }, trigger: { kind: "schedule", detail: expect.stringContaining(cron.id) } });
      const listed = (await call("GET", url)).body.schedules[0];
      expect(listed.lastRunAt).toBeGreaterThan(0);
      expect((await runsOf("sched")).map((r) => r.id)).toContain(listed.lastRunId);

      const disabled = await call("PATCH", `${url}/${cron.id}`, { enabled: false });
      expect([disabled.status, disabled.body.schedule.enabled]).toEqual([200, false]);
      await sleep(700); // a background round that was already firing finishes
      const count = (await runsOf("sched")).length;
      await sleep(2000);
      expect((await runsOf("sched")).length).toBe(count);
      expect((await call("PATCH", `${url}/${cron.id}`, { cron: "bad" })).status).toBe(400);

      // A dataset trigger: the version that exists at creation is the baseline; each newer one fires once.
      expect((await call("POST", "/api/v1/datasets", { name: "sched-data" })).status).toBe(201);
      await addVersion("sched-data", { "a.csv": "x\n1\n" });
      const onData = (await call("POST", url, { onDataset: "sched-data" })).body.schedule;
      expect(onData).toMatchObject({ onDataset: "sched-data", enabled: true, timezone: "UTC" });
      expect(onData.lastDatasetVersion).toBeDefined();
      await sleep(1200);
      const byDataset = async () => (await runsOf("sched")).filter((r) => r.trigger.kind === "dataset");
      expect(await byDataset()).toEqual([]);
      const v2 = await addVersion("sched-data", { "a.csv": "x\n1\n2\n" });
      const firedByData = await (async () => {
        for (const until = Date.now() + 5000; Date.now() < until; await sleep(100)) {
          const runs = await byDataset();
          if (runs.length > 0) return runs;
        }
        throw new Error("the dataset trigger did not fire within 5 s");
      })();
      expect(firedByData.map((r) => r.trigger)).toEqual([{ kind: "dataset", detail: `sched-data@v${v2.number}` }]);
      await sleep(1200);
      expect((await byDataset()).length).toBe(1);
      expect((await call("GET", url)).body.schedules.find((x: { id: string }) => x.id === onData.id)).toMatchObject({ lastDatasetVersion: v2.id, lastRunId: firedByData[0].id });
      expect((await call("GET", "/api/v1/schedules")).body.schedules.map((x: { id: string }) => x.id).sort()).toEqual([cron.id, onData.id].sort());

      for (const id of [cron.id, onData.id]) expect((await call("DELETE", `${url}/${id}`)).status).toBe(200);
      expect((await call("DELETE", `${url}/${cron.id}`)).status).toBe(404);
      expect((await call("PATCH", `${url}/${onData.id}`, { enabled: true })).status).toBe(404);
      expect((await call("GET", url)).body.schedules).toEqual([]);
      await addVersion("sched-data", { "a.csv": "x\n3\n" });
      await sleep(1200);
      expect((await byDataset()).length).toBe(1);
    });

    it("with auth on: workers need admin, pipelines and their runs live in their experiment's project", async () => {
      const a = await start({ auth: true, authFailureLimit: 0 });
      try {
        const { admin, ac, tokenOf } = authAdmin(a);
        expect((await ac("POST", "/api/v1/projects", { name: "risk" })).status).toBe(201);
        const vera = await tokenOf("vera", { default: "viewer" });
        const rita = await tokenOf("rita", { risk: "editor" });
        const adminSdk = new Cairn({ url: a.url, token: a.bootstrapToken!, handleExit: false });
        await pushPipeline(adminSdk, project("open-pipe", "name: open-pipe\nsteps:\n  s:\n    cmd: echo open\n"));
        await pushPipeline(adminSdk, project("secret-pipe", "name: secret-pipe\nsteps:\n  s:\n    cmd: echo secret\n"), { project: "risk" });
        const open = (await ac("POST", "/api/v1/pipelines/open-pipe/runs", {})).body.run;
        const secret = (await ac("POST", "/api/v1/pipelines/secret-pipe/runs", {})).body.run;
        expect([open?.status, secret?.status]).toEqual(["queued", "queued"]);

        // Workers: admin only.
        const worker = { name: "w", resources: { cpu: 1, memoryMb: 0, gpus: [] } };
        const wid = (await ac("POST", "/api/v1/workers", worker)).body.worker.id;
        expect(wid).toBeDefined();
        for (const [url, body] of [
          ["/api/v1/workers", worker],
          [`/api/v1/workers/${wid}/claim`, { free: FREE }],
          [`/api/v1/workers/${wid}/heartbeat`, { tasks: [] }],
        ] as const) {
          for (const who of [vera, rita]) {
            const r = await ac("POST", url, body, who);
            expect([url, r.status, r.body.error_code]).toEqual([url, 403, "PERMISSION_DENIED"]);
          }
        }
        expect((await ac("POST", "/api/v1/workers", worker, {})).status).toBe(401);

        // Another project's pipeline and runs look missing and are left out of lists.
        const names = async (who: Headers) => (await ac("GET", "/api/v1/pipelines", undefined, who)).body.pipelines.map((p: { name: string }) => p.name);
        const runIds = async (who: Headers) => (await ac("GET", "/api/v1/pipeline-runs", undefined, who)).body.runs.map((r: { id: string }) => r.id).sort();
        expect(await names(admin)).toEqual(["open-pipe", "secret-pipe"]);
        expect(await names(vera)).toEqual(["open-pipe"]);
        expect(await names(rita)).toEqual(["secret-pipe"]);
        expect(await runIds(admin)).toEqual([open.id, secret.id].sort());
        expect(await runIds(vera)).toEqual([open.id]);
        expect(await runIds(rita)).toEqual([secret.id]);
        for (const [url, ok] of [
          ["/api/v1/pipelines/secret-pipe", false],
          [`/api/v1/pipeline-runs/${secret.id}`, false],
          [`/api/v1/pipeline-runs/${secret.id}/logs`, false],
          ["/api/v1/pipelines/open-pipe", true],
          [`/api/v1/pipeline-runs/${open.id}`, true],
        ] as const) {
          const r = await ac("GET", url, undefined, vera);
          expect([url, r.status]).toEqual([url, ok ? 200 : 404]);
          if (!ok) expect(r.body.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
        }
        expect((await ac("GET", `/api/v1/pipeline-runs/${secret.id}`, undefined, rita)).status).toBe(200);
        // A viewer reads but does not start or cancel runs; an editor of the project does.
        expect((await ac("POST", "/api/v1/pipelines/open-pipe/runs", {}, vera)).status).toBe(403);
        expect((await ac("POST", `/api/v1/pipeline-runs/${open.id}/cancel`, {}, vera)).status).toBe(403);
        // Without write anywhere the answer is 403 (the guard's rule); with write elsewhere, another project's run is missing.
        expect((await ac("POST", `/api/v1/pipeline-runs/${secret.id}/cancel`, {}, vera)).status).toBe(403);
        const hidden = await ac("POST", `/api/v1/pipeline-runs/${open.id}/cancel`, {}, rita);
        expect([hidden.status, hidden.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
        expect((await ac("POST", "/api/v1/pipelines/open-pipe/runs", {}, rita)).status).toBe(404);
        expect((await ac("POST", `/api/v1/pipeline-runs/${secret.id}/cancel`, {}, rita)).body.run).toMatchObject({ status: "cancelled" });
        expect((await ac("POST", `/api/v1/pipeline-runs/${open.id}/cancel`, {})).body.run).toMatchObject({ status: "cancelled" });

        // An editor of one project cannot take over another project's pipeline, its files or its outputs.
        const openSourceOf = (await ac("GET", "/api/v1/pipelines/open-pipe")).body.pipeline.source;
        const ritaSdk = new Cairn({ url: a.url, token: (rita.authorization as string).slice(7), handleExit: false });
        // Refused at its first step: the pipeline's source dataset is another project's (so it looks missing).
        const hijack = await pushPipeline(ritaSdk, project("hijack", "name: open-pipe\nsteps:\n  s:\n    cmd: echo mine\n"), { project: "risk" }).catch((e: unknown) => e);
        expect(hijack).toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
        const direct = await ac("POST", "/api/v1/pipelines", { definition: { name: "open-pipe", steps: { s: { cmd: "echo mine" } } }, source: openSourceOf, tags: { "cairn.project": "risk" } }, rita);
        expect([direct.status, direct.body.error_code]).toEqual([400, "RESOURCE_ALREADY_EXISTS"]);
        const openSource = (await ac("GET", "/api/v1/pipelines/open-pipe")).body.pipeline.source;
        const stolen = await ac("POST", "/api/v1/pipelines", { definition: { name: "thief", steps: { s: { cmd: "cp -r . out" } } }, source: openSource, tags: { "cairn.project": "risk" } }, rita);
        expect([stolen.status, stolen.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
        const intoDefault = await pushPipeline(ritaSdk, project("writer", "name: writer\nsteps:\n  s:\n    cmd: echo x > x.txt\n    outs: [{ path: x.txt, dataset: pipeline-src.open-pipe }]\n"), { project: "risk" }).catch((e: unknown) => e);
        expect(intoDefault).toMatchObject({ code: "RESOURCE_ALREADY_EXISTS" });
        // The admin's own definition is unchanged.
        expect((await ac("GET", "/api/v1/pipelines/open-pipe")).body.pipeline.source).toEqual(openSource);
      } finally {
        await a.stop();
        await a.drop?.();
      }
    });
  });
}

pipelinesApi("sqlite", (config = {}) => testServer(config));
await describePg("pipelines API (postgres)", () => {
  pipelinesApi("postgres", async (config = {}) => {
    const schema = await freshPgSchema();
    return { ...(await testServer({ ...config, backendStoreUri: schema.url })), drop: schema.drop };
  });
});
