import { describe, expect, it } from "vitest";
import type { ClaimedTask } from "@cairn/contract";
import { stepEnv } from "./worker.js";

describe("worker: a step's environment", () => {
  const task = { runId: "run-1", stepRunId: "step-run-1" } as ClaimedTask;

  it("never hands a step the worker's own credentials", () => {
    const saved = { c: process.env.CAIRN_TOKEN, m: process.env.MLFLOW_TRACKING_TOKEN };
    process.env.CAIRN_TOKEN = "worker-admin-token";
    process.env.MLFLOW_TRACKING_TOKEN = "worker-admin-token";
    try {
      const env = stepEnv("http://cairn:5005", undefined, task);
      expect(env.CAIRN_TOKEN).toBeUndefined();
      expect(env.MLFLOW_TRACKING_TOKEN).toBeUndefined();
      expect(env).toMatchObject({ CAIRN_URL: "http://cairn:5005", CAIRN_RUN_ID: "step-run-1", CAIRN_PIPELINE_RUN_ID: "run-1" });
      expect(stepEnv("http://cairn:5005", "step-scoped", task).CAIRN_TOKEN).toBe("step-scoped");
    } finally {
      if (saved.c === undefined) delete process.env.CAIRN_TOKEN;
      else process.env.CAIRN_TOKEN = saved.c;
      if (saved.m === undefined) delete process.env.MLFLOW_TRACKING_TOKEN;
      else process.env.MLFLOW_TRACKING_TOKEN = saved.m;
    }
  });
});
