import { describe, expect, it } from "vitest";
import type { InferenceRecord } from "@cairn/contract";
import { InferenceLogBuffer } from "./log-buffer.js";

const rec = (i: number): InferenceRecord => ({ requestId: `r${i}`, version: "1", deployment: "serve:m", arm: "primary", inputs: [], outputs: [], latencyMs: 1, status: 200, time: i });

describe("InferenceLogBuffer", () => {
  it("never waits on the sink, sends in batches, and keeps a failed batch for the next send", async () => {
    const sent: string[][] = [];
    let fail = true;
    const buf = new InferenceLogBuffer({ sink: async (rs) => {
      if (fail) throw new Error("log unreachable");
      sent.push(rs.map((r) => r.requestId));
    }, batchSize: 3, flushMs: 60_000 });
    for (let i = 0; i < 7; i++) buf.log(rec(i));
    await buf.flush();
    expect(sent).toEqual([]);
    expect(buf.stats()).toMatchObject({ pending: 7, failedSends: 1, logged: 0 });
    fail = false;
    await buf.flush();
    expect(sent).toEqual([["r0", "r1", "r2"], ["r3", "r4", "r5"], ["r6"]]);
    expect(buf.stats()).toMatchObject({ pending: 0, logged: 7 });
    await buf.close();
  });

  it("sheds records (not requests) when full, and counts them", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const buf = new InferenceLogBuffer({ sink: () => gate, capacity: 5, flushMs: 60_000 });
    for (let i = 0; i < 8; i++) buf.log(rec(i));
    expect(buf.stats()).toMatchObject({ pending: 5, shed: 3 });
    const sending = buf.flush();
    release();
    await sending;
    expect(buf.stats()).toMatchObject({ pending: 0, logged: 5, shed: 3 });
    await buf.close();
  });

  it("keeps sending after a round that found nothing to send", async () => {
    const sent: string[] = [];
    const buf = new InferenceLogBuffer({ sink: async (rs) => void sent.push(...rs.map((r) => r.requestId)), flushMs: 60_000 });
    await buf.flush();
    buf.log(rec(1));
    await buf.flush();
    expect(sent).toEqual(["r1"]);
    await buf.close();
  });

  it("samples a share of requests", async () => {
    let n = 0;
    const buf = new InferenceLogBuffer({ sink: async () => {}, sample: 0.25, random: () => [0.1, 0.5, 0.9, 0.2][n++ % 4]!, flushMs: 60_000 });
    for (let i = 0; i < 8; i++) buf.log(rec(i));
    expect(buf.stats()).toMatchObject({ pending: 4, sampledOut: 4 });
    await buf.close();
    expect(buf.stats()).toMatchObject({ pending: 0, logged: 4 });
  });

  it("sends what was queued when a round began, in one batch, and builds deferred records only then", async () => {
    const batches: string[][] = [];
    let built = 0;
    let i = 100;
    const buf = new InferenceLogBuffer({
      sink: async (rs) => {
        batches.push(rs.map((r) => r.requestId));
        // Traffic keeps arriving while a batch is on its way: it waits for the next round.
        buf.log(() => (built++, rec(i++)));
      },
      flushMs: 60_000,
    });
    for (let k = 0; k < 5; k++) buf.log(() => (built++, rec(k)));
    expect(built).toBe(0);
    await buf.flush();
    expect(batches).toEqual([["r0", "r1", "r2", "r3", "r4"]]);
    expect(buf.stats()).toMatchObject({ pending: 1, logged: 5 });
    await buf.flush();
    expect(batches[1]).toEqual(["r100"]);
    await buf.close();
  });

  it("drops a batch the log refuses for good (a 4xx), counting it as shed, and keeps one that failed for now", async () => {
    let mode: "refuse" | "down" | "ok" = "refuse";
    const sent: string[] = [];
    const buf = new InferenceLogBuffer({
      sink: async (rs) => {
        if (mode === "refuse") throw Object.assign(new Error("bad record"), { status: 400 });
        if (mode === "down") throw Object.assign(new Error("unavailable"), { status: 503 });
        sent.push(...rs.map((r) => r.requestId));
      },
      flushMs: 60_000,
    });
    buf.log(rec(1));
    await buf.flush();
    expect(buf.stats()).toMatchObject({ pending: 0, shed: 1, failedSends: 1 });
    mode = "down";
    buf.log(rec(2));
    await buf.flush();
    expect(buf.stats()).toMatchObject({ pending: 1, shed: 1 });
    mode = "ok";
    await buf.close();
    expect(sent).toEqual(["r2"]);
  });
});
