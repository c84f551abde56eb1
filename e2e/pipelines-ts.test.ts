/**
 * A pipeline written in TypeScript (`cairn.ts` exporting the SDK's `definePipeline`): a shell step and
 * function steps run by `cairn run`; a function step's declared params are in its cache key, its
 * console output is its log, and a throw fails it with the error in the log tail. Needs the built SDK
 * (`npm run build`), which the step processes import.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runCli } from "./processes.js";

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ts-pipeline-"));
  // The step processes resolve tsx and @cairn/sdk from here, as in a project that installed them.
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  fs.writeFileSync(
    path.join(dir, "cairn.ts"),
    `import fs from "node:fs";
import { definePipeline } from "@cairn/sdk";

export default definePipeline({
  name: "ts-steps",
  params: { n: 3, unused: "x" },
  steps: {
    gen: { cmd: "seq 1 5 > nums.txt", outs: ["nums.txt"] },
    total: {
      fn: ({ params, step, attempt }) => {
        const sum = fs.readFileSync("nums.txt", "utf8").trim().split("\\n").map(Number).reduce((a, b) => a + b, 0);
        fs.writeFileSync("total.txt", String(sum * Number(params.n)));
        console.log(\`\${step} attempt \${attempt}: total \${sum * Number(params.n)}, params \${JSON.stringify(params)}\`);
      },
      deps: ["nums.txt"],
      outs: ["total.txt"],
      params: ["n"],
    },
    boom: { fn: async () => { throw new Error("kaput from a function step"); }, deps: ["total.txt"] },
  },
});
`,
  );
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("TypeScript pipelines (e2e)", () => {
  it("runs function steps, caches them by their params and reports a throw with its log tail", async () => {
    const env = { CAIRN_CACHE_DIR: path.join(dir, ".cache") };
    const first = await runCli("http://127.0.0.1:9", ["--json", "run", "--offline", "--log-dir", path.join(dir, "logs1"), dir], { env });
    expect(first.code).toBe(1);
    const res = JSON.parse(first.stdout) as { steps: { name: string; status: string; logTail?: string }[] };
    const by = Object.fromEntries(res.steps.map((s) => [s.name, s]));
    expect(by.gen!.status).toBe("succeeded");
    expect(by.total!.status).toBe("succeeded");
    expect(by.boom!.status).toBe("failed");
    expect(by.boom!.logTail).toContain("kaput from a function step");
    expect(fs.readFileSync(path.join(dir, "total.txt"), "utf8")).toBe("45");
    // The function sees only the params it declares.
    expect(fs.readFileSync(path.join(dir, "logs1", "total.log"), "utf8")).toContain('total attempt 1: total 45, params {"n":3}');

    const second = await runCli("http://127.0.0.1:9", ["--json", "run", "--offline", "--log-dir", path.join(dir, "logs2"), "-p", "n=4", dir], { env });
    const res2 = JSON.parse(second.stdout) as { steps: { name: string; status: string; cache?: { reason: string } }[] };
    const by2 = Object.fromEntries(res2.steps.map((s) => [s.name, s]));
    expect(by2.gen!.status).toBe("cached");
    expect(by2.total!.status).toBe("succeeded");
    expect(by2.total!.cache!.reason).toContain("param:n changed 3 → 4");
    expect(fs.readFileSync(path.join(dir, "total.txt"), "utf8")).toBe("60");

    const dry = await runCli("http://127.0.0.1:9", ["--json", "run", "--dry-run", dir]);
    const plan = JSON.parse(dry.stdout) as { steps: { name: string; cmd: string; env: Record<string, string> }[] };
    expect(plan.steps.find((s) => s.name === "total")!.cmd).toBe("node --import tsx cairn.ts");
  });

  it("refuses a module without a definition, and a step with both cmd and fn", async () => {
    fs.writeFileSync(path.join(dir, "empty.ts"), "export const nothing = 1;\n");
    const r = await runCli("http://127.0.0.1:9", ["run", "--offline", path.join(dir, "empty.ts")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("must export a pipeline definition");
    fs.writeFileSync(path.join(dir, "both.ts"), `export default { name: "both", steps: { a: { cmd: "true", fn: () => 1 } } };\n`);
    const b = await runCli("http://127.0.0.1:9", ["run", "--offline", path.join(dir, "both.ts")]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("not both");
  });
});
