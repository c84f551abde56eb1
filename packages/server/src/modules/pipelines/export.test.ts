import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseAllDocuments } from "yaml";
import { CairnError } from "@cairn/contract";
import { Command } from "commander";
import { dnsLabel, exportPipeline, type ExportOptions } from "./export.js";
import { registerPipelineExportCommands } from "./export-cli.js";
import type { Pipeline, Step } from "./types.js";

// Structural checks written from the published schemas (Kubernetes core/batch v1 OpenAPI, Argo's
// Workflow CRD): nothing is downloaded.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function step(name: string, over: Partial<Step> = {}): Step {
  return { name, cmd: `echo ${name}`, deps: [], outs: [], params: [], env: {}, resources: { cpu: 1, memoryMb: 0, gpu: 0 }, retries: 0, retryDelayMs: 1000, cache: true, ...over };
}
const after = (...steps: string[]) => steps.map((s) => ({ kind: "step" as const, step: s, path: `${s}.out` }));

/** prepare → train (GPU, retries, timeout) → evaluate (also reads prepare). */
function threeSteps(): Pipeline {
  return {
    name: "credit-risk",
    root: "/tmp/x",
    params: { lr: 0.1, "train.epochs": 5, fast: true },
    steps: [
      step("prepare", { cmd: "python prepare.py --out data.csv", outs: [{ path: "data.csv" }], env: { MODE: "yes" }, resources: { cpu: 0.5, memoryMb: 512, gpu: 0 } }),
      step("train", { cmd: "python train.py --lr 0.1", deps: after("prepare"), resources: { cpu: 4, memoryMb: 8192, gpu: 1 }, retries: 2, retryDelayMs: 1500, timeoutMs: 3_600_000 }),
      step("evaluate", { cmd: "python eval.py", deps: after("train", "prepare") }),
    ],
  };
}

const docs = (text: string): Any[] => {
  const all = parseAllDocuments(text, { version: "1.1" });
  if (!Array.isArray(all)) throw new Error("not a document stream");
  for (const d of all) expect(d.errors).toEqual([]);
  return all.map((d) => d.toJS() as Any);
};
const k8s = (p: Pipeline, o: Partial<ExportOptions> = {}) => docs(exportPipeline(p, { format: "k8s", image: "ghcr.io/acme/ml:1.0", pvc: "cairn-ws", ...o }));
const argo = (p: Pipeline, o: Partial<ExportOptions> = {}) => docs(exportPipeline(p, { format: "argo", image: "ghcr.io/acme/ml:1.0", ...o }))[0]!;

function checkMeta(m: Any): void {
  expect(typeof m.apiVersion).toBe("string");
  expect(typeof m.kind).toBe("string");
  const name = m.metadata?.name ?? m.metadata?.generateName?.replace(/-$/, "");
  expect(name).toMatch(DNS1123_LABEL);
  expect(name.length).toBeLessThanOrEqual(63);
  for (const [k, v] of Object.entries(m.metadata.labels ?? {})) {
    expect(k).toMatch(LABEL_KEY);
    expect(v).toMatch(LABEL_VALUE);
    expect((v as string).length).toBeLessThanOrEqual(63);
  }
  for (const v of Object.values(m.metadata.annotations ?? {})) expect(typeof v).toBe("string");
}

function checkContainer(c: Any): void {
  expect(typeof c.image).toBe("string");
  expect(Array.isArray(c.command)).toBe(true);
  for (const a of c.command) expect(typeof a).toBe("string");
  for (const e of c.env ?? []) {
    expect(e.name).toMatch(ENV_NAME);
    expect(typeof e.value).toBe("string");
  }
  for (const kind of ["requests", "limits"]) for (const q of Object.values(c.resources?.[kind] ?? {})) expect(String(q)).toMatch(QUANTITY);
  if (c.resources?.requests?.["nvidia.com/gpu"] !== undefined) expect(c.resources.requests["nvidia.com/gpu"]).toBe(c.resources.limits["nvidia.com/gpu"]);
  for (const v of c.volumeMounts ?? []) expect(v.mountPath.startsWith("/")).toBe(true);
}

function checkWorkflow(w: Any): void {
  checkMeta(w);
  expect(w.apiVersion).toBe("argoproj.io/v1alpha1");
  expect(w.kind).toBe("Workflow");
  const templates = new Map<string, Any>(w.spec.templates.map((t: Any) => [t.name, t]));
  expect(templates.size).toBe(w.spec.templates.length);
  expect(templates.has(w.spec.entrypoint)).toBe(true);
  for (const t of templates.values()) {
    expect(t.name).toMatch(DNS1123_LABEL);
    if (t.retryStrategy) expect(["string", "number"]).toContain(typeof t.retryStrategy.limit);
    if (t.retryStrategy && typeof t.retryStrategy.limit === "string") expect(t.retryStrategy.limit).toMatch(/^\d+$/);
    if (t.activeDeadlineSeconds !== undefined) expect(Number.isInteger(t.activeDeadlineSeconds)).toBe(true);
    if (t.container) checkContainer(t.container);
    if (!t.dag) continue;
    const tasks = new Map<string, Any>(t.dag.tasks.map((x: Any) => [x.name, x]));
    expect(tasks.size).toBe(t.dag.tasks.length);
    for (const x of tasks.values()) {
      expect(x.name).toMatch(DNS1123_LABEL);
      expect(templates.has(x.template)).toBe(true);
      for (const d of x.dependencies ?? []) expect(tasks.has(d)).toBe(true);
    }
    // No cycle: a topological sort consumes every task.
    const done = new Set<string>();
    let progress = true;
    while (progress) {
      progress = false;
      for (const x of tasks.values()) {
        if (!done.has(x.name) && (x.dependencies ?? []).every((d: string) => done.has(d))) {
          done.add(x.name);
          progress = true;
        }
      }
    }
    expect(done.size).toBe(tasks.size);
  }
  for (const v of w.spec.volumes ?? []) expect(v.name).toMatch(DNS1123_LABEL);
}

function checkJob(j: Any): void {
  checkMeta(j);
  expect(j.apiVersion).toBe("batch/v1");
  expect(j.kind).toBe("Job");
  expect(Number.isInteger(j.spec.backoffLimit)).toBe(true);
  const pod = j.spec.template.spec;
  expect(pod.restartPolicy).toBe("Never");
  const names = [...(pod.initContainers ?? []), ...pod.containers].map((c: Any) => c.name);
  expect(new Set(names).size).toBe(names.length);
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    expect(c.name).toMatch(DNS1123_LABEL);
    checkContainer(c);
  }
  const vols = new Set((pod.volumes ?? []).map((v: Any) => v.name));
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) for (const m of c.volumeMounts ?? []) expect(vols.has(m.name)).toBe(true);
}

describe("exportPipeline argo", () => {
  it("builds a valid DAG Workflow with resources, retries, deadlines and params", () => {
    const w = argo(threeSteps(), { namespace: "ml", pvc: "ws", serviceAccount: "runner" });
    checkWorkflow(w);
    expect(w.metadata).toMatchObject({ generateName: "credit-risk-", namespace: "ml" });
    expect(w.spec.entrypoint).toBe("main");
    expect(w.spec.serviceAccountName).toBe("runner");
    expect(w.spec.volumes).toEqual([{ name: "workspace", persistentVolumeClaim: { claimName: "ws" } }]);
    expect(w.spec.arguments.parameters).toEqual([
      { name: "lr", value: "0.1" },
      { name: "train_epochs", value: "5" },
      { name: "fast", value: "true" },
    ]);
    const main = w.spec.templates.find((t: Any) => t.name === "main");
    expect(main.dag.tasks).toEqual([
      { name: "prepare", template: "prepare" },
      { name: "train", template: "train", dependencies: ["prepare"] },
      { name: "evaluate", template: "evaluate", dependencies: ["train", "prepare"] },
    ]);
    const train = w.spec.templates.find((t: Any) => t.name === "train");
    expect(train.retryStrategy).toEqual({ limit: "2", backoff: { duration: "1500ms", factor: 2 } });
    expect(train.activeDeadlineSeconds).toBe(3600);
    expect(train.container).toMatchObject({
      image: "ghcr.io/acme/ml:1.0",
      command: ["/bin/sh", "-c", "python train.py --lr 0.1"],
      workingDir: "/workspace",
      resources: { requests: { cpu: "4", memory: "8192Mi" }, limits: { memory: "8192Mi", "nvidia.com/gpu": "1" } },
      volumeMounts: [{ name: "workspace", mountPath: "/workspace" }],
    });
    const prepare = w.spec.templates.find((t: Any) => t.name === "prepare");
    expect(prepare.retryStrategy).toBeUndefined();
    expect(prepare.container.resources).toEqual({ requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "512Mi" } });
    expect(prepare.container.env).toEqual([
      { name: "MODE", value: "yes" },
      { name: "CAIRN_PIPELINE", value: "credit-risk" },
      { name: "CAIRN_STEP", value: "prepare" },
      { name: "CAIRN_WORKDIR", value: "/workspace" },
    ]);
  });

  it("omits volumes without a pvc and has no nulls", () => {
    const text = exportPipeline(threeSteps(), { format: "argo", image: "img" });
    expect(text).not.toMatch(/: null$/m);
    for (const t of [text, exportPipeline(threeSteps(), { format: "k8s", image: "img", pvc: "ws" })]) expect(t).not.toMatch(/[&*]a\d+\b/); // no anchors/aliases
    const w = docs(text)[0]!;
    expect(w.spec.volumes).toBeUndefined();
    expect(w.metadata.namespace).toBeUndefined();
  });

  it("sanitizes step names into unique DNS-1123 labels, never `main`", () => {
    const p: Pipeline = {
      name: "My_Pipeline",
      root: "/",
      params: {},
      steps: [step("Prep_Data"), step("prep-data", { deps: after("Prep_Data") }), step("main"), step("x".repeat(80), { deps: after("main", "prep-data") }), step("_")],
    };
    const w = argo(p);
    checkWorkflow(w);
    expect(w.metadata.generateName).toBe("my-pipeline-");
    const tasks = w.spec.templates.find((t: Any) => t.name === "main").dag.tasks as Any[];
    const names = tasks.map((t) => t.name);
    expect(new Set(names).size).toBe(5);
    expect(names[0]).toBe("prep-data");
    expect(names[1]).not.toBe("prep-data");
    expect(names[2]).not.toBe("main");
    for (const n of names) expect(n.length).toBeLessThanOrEqual(63);
    expect(tasks[1]!.dependencies).toEqual([names[0]]);
    expect(tasks[3]!.dependencies).toEqual([names[2], names[1]]);
    // The original names stay in the env.
    const t1 = w.spec.templates.find((t: Any) => t.name === names[0]);
    expect(t1.container.env).toContainEqual({ name: "CAIRN_STEP", value: "Prep_Data" });
  });
});

describe("exportPipeline k8s", () => {
  it("builds one valid Job per step, ordered through marker files", () => {
    const jobs = k8s(threeSteps(), { namespace: "ml", serviceAccount: "runner" });
    expect(jobs).toHaveLength(3);
    jobs.forEach(checkJob);
    expect(jobs.map((j) => j.metadata.name)).toEqual(["credit-risk-prepare", "credit-risk-train", "credit-risk-evaluate"]);
    const [prepare, train, evaluate] = jobs as [Any, Any, Any];
    expect(train.metadata.labels).toEqual({ "app.kubernetes.io/part-of": "cairn", "cairn.dev/pipeline": "credit-risk", "cairn.dev/step": "train" });
    expect(train.metadata.namespace).toBe("ml");
    expect(train.spec.backoffLimit).toBe(2);
    expect(train.metadata.annotations["cairn.dev/depends-on"]).toBe("prepare");
    expect(evaluate.metadata.annotations["cairn.dev/depends-on"]).toBe("train,prepare");
    expect(prepare.metadata.annotations["cairn.dev/depends-on"]).toBeUndefined();
    // Roots: no init container; the per-attempt deadline is the pod's.
    expect(prepare.spec.template.spec.initContainers).toBeUndefined();
    const pod = train.spec.template.spec;
    expect(pod.serviceAccountName).toBe("runner");
    expect(pod.volumes).toEqual([{ name: "workspace", persistentVolumeClaim: { claimName: "cairn-ws" } }]);
    expect(pod.initContainers).toHaveLength(1);
    expect(pod.initContainers[0].command[2]).toBe('until [ -f "$CAIRN_WORKDIR/.cairn/done/prepare" ]; do sleep 2; done');
    expect(evaluate.spec.template.spec.initContainers[0].command[2].split("\n")).toHaveLength(2);
    // The main container runs the command verbatim ($1), then touches its marker ($2).
    const c = pod.containers[0];
    expect(c.command.slice(3)).toEqual(["cairn-step", "python train.py --lr 0.1", "train"]);
    expect(c.command[2]).toContain('touch "$CAIRN_WORKDIR/.cairn/done/$2"');
    expect(c.command[2]).toContain("timeout 3600");
    expect(pod.activeDeadlineSeconds).toBeUndefined(); // it would count the wait
    expect(c.resources.limits["nvidia.com/gpu"]).toBe("1");
    expect(c.workingDir).toBe("/workspace");
  });

  it("uses the pod deadline for root steps", () => {
    const p: Pipeline = { name: "p", root: "/", params: {}, steps: [step("a", { timeoutMs: 1500 })] };
    const [a] = docs(exportPipeline(p, { format: "k8s", image: "img" })) as [Any];
    checkJob(a);
    expect(a.spec.template.spec.activeDeadlineSeconds).toBe(2);
    expect(a.spec.template.spec.containers[0].command[2]).not.toContain("timeout");
    expect(a.spec.template.spec.volumes).toBeUndefined();
  });

  it("requires a pvc when steps depend on others", () => {
    expect(() => exportPipeline(threeSteps(), { format: "k8s", image: "img" })).toThrow(CairnError);
    expect(() => exportPipeline(threeSteps(), { format: "k8s", image: "" , pvc: "x"})).toThrow(/image/);
    expect(() => exportPipeline(threeSteps(), { format: "argo", image: "img", workdir: "rel" })).toThrow(/absolute/);
  });

  it("keeps Job names unique and at most 63 characters", () => {
    const long = "a-very-long-pipeline-name-that-goes-on-and-on-and-on";
    const p: Pipeline = { name: long, root: "/", params: {}, steps: [step("Train_Model_Final_Version"), step("train-model-final-version"), step("TRAIN")] };
    const jobs = k8s(p);
    jobs.forEach(checkJob);
    const names = jobs.map((j) => j.metadata.name as string);
    expect(new Set(names).size).toBe(3);
    for (const n of names) expect(n.length).toBeLessThanOrEqual(63);
    expect(new Set(jobs.map((j) => j.metadata.labels["cairn.dev/step"])).size).toBe(3);
  });
});

describe("serialization", () => {
  const nasty = `echo "it's \\"quoted\\"" $HOME \${params.x} 'single' # not a comment\nprintf '%s\\n' a: b\n  - indented: yes\n---\nno`;
  const p: Pipeline = { name: "p", root: "/", params: { s: "yes", n: "0755", c: "a: b" }, steps: [step("a", { cmd: nasty, env: { X: "on", Y: "$(FOO)", Z: "null" } }), step("b", { deps: after("a"), cmd: "  leading spaces\ttab " })] };

  it("commands with quotes, $, newlines and YAML syntax survive (argo)", () => {
    const w = argo(p);
    const a = w.spec.templates.find((t: Any) => t.name === "a");
    expect(a.container.command).toEqual(["/bin/sh", "-c", nasty]);
    expect(a.container.env).toContainEqual({ name: "X", value: "on" });
    expect(a.container.env).toContainEqual({ name: "Z", value: "null" });
    expect(w.spec.arguments.parameters).toContainEqual({ name: "n", value: "0755" });
    expect(w.spec.templates.find((t: Any) => t.name === "b").container.command[2]).toBe("  leading spaces\ttab ");
  });

  it("commands survive (k8s), and the stream is one document per Job", () => {
    const text = exportPipeline(p, { format: "k8s", image: "img", pvc: "ws" });
    const jobs = docs(text);
    expect(jobs).toHaveLength(2);
    expect(jobs[0]!.spec.template.spec.containers[0].command[4]).toBe(nasty);
  });

  it("round-trips: parsing (YAML 1.1 or 1.2) gives the same objects", () => {
    for (const format of ["k8s", "argo"] as const) {
      const text = exportPipeline(threeSteps(), { format, image: "img", pvc: "ws" });
      const v11 = docs(text);
      const v12 = parseAllDocuments(text).map((d) => d.toJS());
      expect(v12).toEqual(v11);
      expect(exportPipeline(threeSteps(), { format, image: "img", pvc: "ws" })).toBe(text); // deterministic
    }
  });
});

describe("dnsLabel", () => {
  it.each([
    ["Train_Model", "train-model"],
    ["--a..b--", "a-b"],
    ["ok", "ok"],
  ])("%s → %s", (input, out) => expect(dnsLabel(input)).toBe(out));
  it("never returns an empty or too long label", () => {
    for (const s of ["_", "...", "é".repeat(3), "a".repeat(200)]) {
      const l = dnsLabel(s);
      expect(l).toMatch(DNS1123_LABEL);
      expect(l.length).toBeLessThanOrEqual(63);
    }
  });
});

describe("cairn pipeline export", () => {
  let dir: string | undefined;
  afterEach(() => {
    vi.restoreAllMocks();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    process.exitCode = undefined;
  });

  async function cli(args: string[]): Promise<{ out: string; err: string }> {
    let out = "";
    let err = "";
    vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
    const program = new Command("cairn");
    registerPipelineExportCommands(program);
    await program.parseAsync(["node", "cairn", "pipeline", "export", ...args]);
    vi.restoreAllMocks();
    return { out, err };
  }

  it("prints the manifests, applies -p, writes --out", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-export-"));
    fs.writeFileSync(path.join(dir, "cairn.yaml"), "name: demo\nparams: { n: 1 }\nsteps:\n  a: { cmd: 'echo ${params.n} > a.txt', outs: [a.txt] }\n  b: { cmd: cat a.txt, deps: [a.txt] }\n");
    const { out } = await cli([dir, "--format", "argo", "--image", "busybox", "-p", "n=7", "--pvc", "ws"]);
    const w = docs(out)[0]!;
    checkWorkflow(w);
    expect(w.spec.templates.find((t: Any) => t.name === "a").container.command[2]).toBe("echo 7 > a.txt");
    expect(w.spec.templates[0].dag.tasks[1]).toEqual({ name: "b", template: "b", dependencies: ["a"] });

    const file = path.join(dir, "jobs.yaml");
    const r = await cli([dir, "--format", "k8s", "--image", "busybox", "--pvc", "ws", "--out", file]);
    expect(r.out).toBe("");
    docs(fs.readFileSync(file, "utf8")).forEach(checkJob);
  });

  it("reports definition and export errors with exit code 2", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-export-"));
    fs.writeFileSync(path.join(dir, "cairn.yaml"), "name: demo\nsteps:\n  a: { cmd: echo, outs: [a.txt] }\n  b: { cmd: cat a.txt, deps: [a.txt] }\n");
    const r = await cli([dir, "--format", "k8s", "--image", "busybox"]);
    expect(process.exitCode).toBe(2);
    expect(r.err).toMatch(/^error: INVALID_PARAMETER_VALUE: .*\n {2}- .*--pvc/);
    process.exitCode = undefined;
    const missing = await cli([path.join(dir, "nope"), "--format", "argo", "--image", "busybox"]);
    expect(process.exitCode).toBe(2);
    expect(missing.err).toMatch(/RESOURCE_DOES_NOT_EXIST/);
  });

  it("usage errors exit 2", async () => {
    const exit = vi.spyOn(process, "exit").mockImplementation(((code: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const program = new Command("cairn");
    registerPipelineExportCommands(program);
    await expect(program.parseAsync(["node", "cairn", "pipeline", "export", "--format", "helm", "--image", "x"])).rejects.toThrow("exit 2");
    await expect(program.parseAsync(["node", "cairn", "pipeline", "export", "--format", "argo"])).rejects.toThrow("exit 2");
    expect(exit).toHaveBeenCalledWith(2);
  });
});
