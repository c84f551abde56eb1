import { spawn } from "node:child_process";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeServer, type FakeServer } from "../test/fake-server.js";

const CHILD = path.resolve(import.meta.dirname, "../test/exit-child.ts");

let fake: FakeServer;
beforeEach(async () => {
  fake = await startFakeServer();
});
afterEach(async () => {
  await fake.close();
});

/** Runs the child in `mode`; calls `onReady` once it has queued its metrics. */
function runChild(mode: string, onReady?: (child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@cairn/source", "--import", "tsx", CHILD, mode], {
      env: { ...process.env, CAIRN_URL: fake.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (onReady && stdout.includes("ready")) {
        const f = onReady;
        onReady = undefined;
        f(child);
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function serverSide() {
  const points = fake.logRequests().flatMap((r) => r.json.metrics as { key: string; step: number }[]);
  const patches = fake.requests.filter((r) => r.method === "PATCH").map((r) => r.json as { status: string; endTime: number });
  return { steps: points.filter((p) => p.key === "loss").map((p) => p.step), patches };
}

const all = Array.from({ length: 2500 }, (_, i) => i);

describe("exit hooks (child process)", () => {
  it("SIGTERM: flushes everything, marks the run KILLED, then dies of the signal", async () => {
    const res = await runChild("sigterm", (child) => child.kill("SIGTERM"));
    expect(res.signal).toBe("SIGTERM");
    const { steps, patches } = serverSide();
    expect(steps).toEqual(all);
    expect(patches).toHaveLength(1);
    expect(patches[0]!.status).toBe("KILLED");
    expect(patches[0]!.endTime).toBeGreaterThan(0);
  });

  it("SIGINT: marks the run KILLED", async () => {
    const res = await runChild("sigterm", (child) => child.kill("SIGINT"));
    expect(res.signal).toBe("SIGINT");
    expect(serverSide().patches[0]!.status).toBe("KILLED");
    expect(serverSide().steps).toEqual(all);
  });

  it("uncaught exception: flushes, marks the run FAILED, prints the error, exits 1", async () => {
    const res = await runChild("throw");
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("boom");
    const { steps, patches } = serverSide();
    expect(steps).toEqual(all);
    expect(patches.map((p) => p.status)).toEqual(["FAILED"]);
  });

  it("unhandled rejection: marks the run FAILED, exits 1", async () => {
    const res = await runChild("reject");
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("rejected boom");
    expect(serverSide().patches.map((p) => p.status)).toEqual(["FAILED"]);
    expect(serverSide().steps).toEqual(all);
  });

  it("program ends without run.end(): flushes and marks the run FINISHED, exit 0", async () => {
    const res = await runChild("return");
    expect(res.code).toBe(0);
    expect(res.stderr).toBe("");
    const { steps, patches } = serverSide();
    expect(steps).toEqual(all);
    expect(patches.map((p) => p.status)).toEqual(["FINISHED"]);
  });
});
