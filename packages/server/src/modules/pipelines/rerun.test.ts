import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stepCacheKey } from "./cache-key.js";
import { compareDefinitions, compareEnvironment, compareInputs, compareOutputs } from "./rerun.js";
import { definitionJson, REPRODUCIBILITY_FORMAT, type ReproducibilityRecord } from "./run-recorder.js";
import type { Pipeline, Step } from "./types.js";
import { testStep } from "../../../test/pipeline-steps.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const step = testStep;

const runtime = { node: process.version, cairn: "0.1.0", platform: process.platform, arch: process.arch };

async function setup(): Promise<{ pipeline: Pipeline; record: ReproducibilityRecord }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-rerun-"));
  dirs.push(root);
  fs.writeFileSync(path.join(root, "a.js"), "1\n");
  fs.writeFileSync(path.join(root, "b.js"), "2\n");
  const pipeline: Pipeline = {
    name: "p",
    root,
    params: { n: 1 },
    steps: [
      step("a", "node a.js", { params: ["n"], deps: [{ kind: "dataset", name: "raw", ref: "v1" }], outs: [{ path: "x" }] }),
      step("b", "node b.js", { deps: [{ kind: "step", step: "a", path: "x" }], outs: [{ path: "y" }] }),
    ],
  };
  const keyOf = async (s: Step, outs: Record<string, string>) =>
    (await stepCacheKey(pipeline, s, { datasetDigests: { "raw@v1": "d1" }, stepOutputDigests: outs, runtime: { node: runtime.node, cairn: runtime.cairn } })).components;
  const record: ReproducibilityRecord = {
    format: REPRODUCIBILITY_FORMAT,
    pipeline: "p",
    params: { n: 1 },
    runtime,
    lockfiles: {},
    git: null,
    steps: {
      a: { status: "succeeded", components: await keyOf(pipeline.steps[0]!, {}), outputs: { x: "ox" } },
      b: { status: "succeeded", components: await keyOf(pipeline.steps[1]!, { "a:x": "ox" }), outputs: { y: "oy" } },
    },
  };
  return { pipeline, record };
}

describe("rerun comparisons", () => {
  it("finds no differences when nothing changed", async () => {
    const { pipeline, record } = await setup();
    expect(await compareInputs(pipeline, record, async () => "d1")).toEqual([]);
    expect(compareDefinitions(JSON.parse(definitionJson(pipeline)), pipeline)).toEqual([]);
    expect(compareEnvironment(record, { runtime, lockfiles: {}, git: null })).toEqual([]);
  });

  it("names a changed code file and dataset digest (refuse), not the step-output deps", async () => {
    const { pipeline, record } = await setup();
    fs.writeFileSync(path.join(pipeline.root, "b.js"), "3\n");
    const diffs = await compareInputs(pipeline, record, async () => "d2");
    expect(diffs.map((d) => [d.name, d.severity, d.steps])).toEqual([
      ["data:raw@v1", "refuse", ["a"]],
      ["code:b.js", "refuse", ["b"]],
    ]);
    expect(diffs[1]!.message).toContain("b.js");
  });

  it("warns about runtime, lockfile and git differences", () => {
    const diffs = compareEnvironment(
      { runtime, lockfiles: { "uv.lock": "a".repeat(64) }, git: { commit: "c".repeat(40), dirty: false } },
      { runtime: { ...runtime, node: "v0.0.1" }, lockfiles: { "uv.lock": "b".repeat(64), "yarn.lock": "f".repeat(64) }, git: { commit: "d".repeat(40), dirty: true } },
    );
    expect(diffs.every((d) => d.severity === "warn")).toBe(true);
    expect(diffs.map((d) => d.name)).toEqual(["runtime.node", "lockfile:uv.lock", "lockfile:yarn.lock", "git.dirty", "git.commit"]);
  });

  it("reports changed definitions and compares outputs", async () => {
    const { pipeline, record } = await setup();
    const recorded = JSON.parse(definitionJson(pipeline)) as { steps: { cmd: string }[] };
    recorded.steps[1]!.cmd = "node other.js";
    expect(compareDefinitions(recorded, pipeline).map((d) => d.name)).toEqual(["step:b"]);
    expect(compareOutputs(pipeline, record, { a: { x: "ox" }, b: { y: "oz" } })).toEqual([
      { step: "a", output: "x", recorded: "ox", now: "ox", match: true },
      { step: "b", output: "y", recorded: "oy", now: "oz", match: false },
    ]);
    expect(compareOutputs(pipeline, record, { a: { x: "ox" } })[1]).toMatchObject({ now: null, match: false });
  });
});
