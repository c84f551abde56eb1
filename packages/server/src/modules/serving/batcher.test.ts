import { CairnError } from "@cairn/contract";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MicroBatcher, type BatchInfo } from "./batcher.js";
import type { Datatype, Tensor, TensorData } from "./tensor.js";

/** Every input comes back as `<name>_out` (same data), plus a scalar and a 7-element output without a batch dim. */
async function echo(inputs: Tensor[]): Promise<Tensor[]> {
  return [
    ...inputs.map((t) => ({ ...t, name: `${t.name}_out`, shape: [...t.shape] })),
    { name: "calls", datatype: "INT32" as const, shape: [], data: new Int32Array([42]) },
    { name: "classes", datatype: "BYTES" as const, shape: [7], data: ["a", "b", "c", "d", "e", "f", "g"] },
  ];
}

/** `rows` rows of `cols` FP32 values identifying the request and row: id * 1000 + row * 10 + col. */
function fp32(id: number, rows: number, cols = 2, name = "x"): Tensor {
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = id * 1000 + r * 10 + c;
  return { name, datatype: "FP32", shape: [rows, cols], data };
}

function out(outputs: Tensor[], name: string): Tensor {
  const t = outputs.find((o) => o.name === name);
  if (!t) throw new Error(`no output ${name}`);
  return t;
}

/** Lets queued microtasks and already-due macrotasks run. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A `run` whose calls stay pending until the test settles them. */
function controlledRun() {
  const calls: { inputs: Tensor[]; release: () => void; fail: (err: unknown) => void }[] = [];
  const run = vi.fn(
    (inputs: Tensor[]) =>
      new Promise<Tensor[]>((resolve, reject) => {
        calls.push({ inputs, release: () => void echo(inputs).then(resolve), fail: reject });
      }),
  );
  return { run, calls };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("MicroBatcher", () => {
  it("runs a lone request at once, with its own inputs and outputs untouched", async () => {
    const run = vi.fn(echo);
    const batcher = new MicroBatcher({ run, maxBatchSize: 32, maxLatencyMs: 200 });
    const input = fp32(1, 3);
    const started = performance.now();
    const outputs = await batcher.submit([input]);
    expect(performance.now() - started).toBeLessThan(100);
    expect(run).toHaveBeenCalledTimes(1);
    expect(run.mock.calls[0]![0][0]).toBe(input);
    expect(out(outputs, "x_out").data).toBe(input.data);
    await batcher.close();
  });

  it("coalesces 20 concurrent single-row requests into few batches and gives each its own row", async () => {
    const sizes: number[] = [];
    const run = vi.fn(async (inputs: Tensor[]) => {
      sizes.push(inputs[0]!.shape[0]!);
      await new Promise((r) => setTimeout(r, 20));
      return echo(inputs);
    });
    const batcher = new MicroBatcher({ run, maxBatchSize: 8, maxLatencyMs: 5 });
    // Arrivals spread over time, as from independent clients, so most land while the model is busy.
    const pending = Array.from({ length: 20 }, (_, i) => new Promise((r) => setTimeout(r, i * 2)).then(() => batcher.submit([fp32(i, 1)])));
    const results = await Promise.all(pending);
    expect(run.mock.calls.length).toBeLessThanOrEqual(8);
    expect(sizes.every((s) => s <= 8)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(20);
    results.forEach((outputs, i) => {
      const x = out(outputs, "x_out");
      expect(x.shape).toEqual([1, 2]);
      expect([...(x.data as Float32Array)]).toEqual([i * 1000, i * 1000 + 1]);
    });
    const stats = batcher.stats();
    expect(stats).toMatchObject({ batches: run.mock.calls.length, requests: 20, rows: 20, queueDepth: 0, running: 0 });
    await batcher.close();
  });

  it("coalesces requests submitted in the same tick into one batch", async () => {
    const run = vi.fn(echo);
    const batcher = new MicroBatcher({ run, maxBatchSize: 8, maxLatencyMs: 1000 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => batcher.submit([fp32(i, 1)])));
    expect(run.mock.calls.map((c) => c[0][0]!.shape[0])).toEqual([8, 8, 4]);
    results.forEach((outputs, i) => expect((out(outputs, "x_out").data as Float32Array)[0]).toBe(i * 1000));
  });

  it("splits mixed row counts back per request for FP32, INT64, BYTES and FP16, and hands unbatched outputs whole", async () => {
    const run = vi.fn(echo);
    const batcher = new MicroBatcher({ run, maxBatchSize: 64, maxLatencyMs: 50 });
    const request = (id: number, rows: number): Tensor[] => {
      const n = rows * 3;
      const seq = <T,>(f: (k: number) => T): T[] => Array.from({ length: n }, (_, k) => f(k));
      return [
        { name: "f", datatype: "FP32", shape: [rows, 3], data: Float32Array.from(seq((k) => id * 100 + k + 0.5)) },
        { name: "i", datatype: "INT64", shape: [rows, 3], data: BigInt64Array.from(seq((k) => id * 100 + k), (v) => BigInt(v) * 10_000_000_000n) },
        { name: "s", datatype: "BYTES", shape: [rows, 3], data: seq((k) => `r${id}-${k}`) },
        { name: "h", datatype: "FP16", shape: [rows, 3], data: Uint16Array.from(seq((k) => 0x3c00 + id * 100 + k)) },
      ];
    };
    const rowCounts = [1, 3, 2, 0, 4];
    const requests = rowCounts.map((rows, id) => request(id, rows));
    const results = await Promise.all(requests.map((inputs) => batcher.submit(inputs)));

    expect(run).toHaveBeenCalledTimes(1);
    const batchInputs = run.mock.calls[0]![0];
    expect(batchInputs.map((t) => [t.name, t.shape])).toEqual([
      ["f", [10, 3]],
      ["i", [10, 3]],
      ["s", [10, 3]],
      ["h", [10, 3]],
    ]);
    expect(batchInputs[1]!.data).toBeInstanceOf(BigInt64Array);
    expect(batchInputs[3]!.data).toBeInstanceOf(Uint16Array);

    results.forEach((outputs, id) => {
      const rows = rowCounts[id]!;
      for (const input of requests[id]!) {
        const o = out(outputs, `${input.name}_out`);
        expect(o.datatype).toBe(input.datatype);
        expect(o.shape).toEqual([rows, 3]);
        expect((o.data as TensorData).constructor).toBe(input.data.constructor);
        expect(Array.from(o.data as ArrayLike<unknown>)).toEqual(Array.from(input.data as ArrayLike<unknown>));
      }
      expect(out(outputs, "calls")).toMatchObject({ shape: [], data: new Int32Array([42]) });
      expect(out(outputs, "classes")).toMatchObject({ shape: [7], data: ["a", "b", "c", "d", "e", "f", "g"] });
    });
  });

  it("batches requests whose inputs come in a different order, in the first request's order", async () => {
    const run = vi.fn(echo);
    const batcher = new MicroBatcher({ run, maxBatchSize: 64, maxLatencyMs: 50 });
    const [a, b] = await Promise.all([
      batcher.submit([fp32(1, 1, 2, "x"), fp32(2, 1, 3, "y")]),
      batcher.submit([fp32(4, 2, 3, "y"), fp32(3, 2, 2, "x")]),
    ]);
    expect(run).toHaveBeenCalledTimes(1);
    expect(run.mock.calls[0]![0].map((t) => [t.name, t.shape])).toEqual([
      ["x", [3, 2]],
      ["y", [3, 3]],
    ]);
    expect([...(out(a!, "y_out").data as Float32Array)]).toEqual([...fp32(2, 1, 3).data as Float32Array]);
    expect([...(out(b!, "x_out").data as Float32Array)]).toEqual([...fp32(3, 2, 2).data as Float32Array]);
  });

  it("runs requests with different trailing shapes, datatypes or names in separate batches", async () => {
    const run = vi.fn(echo);
    const batcher = new MicroBatcher({ run, maxBatchSize: 64, maxLatencyMs: 50 });
    const asFp64 = (t: Tensor): Tensor => ({ ...t, datatype: "FP64", data: Float64Array.from(t.data as Float32Array) });
    const inputs = [[fp32(0, 1, 2)], [fp32(1, 2, 3)], [fp32(2, 1, 2)], [asFp64(fp32(3, 1, 2))], [fp32(4, 1, 2, "z")], [fp32(5, 2, 3)]];
    const results = await Promise.all(inputs.map((i) => batcher.submit(i)));
    expect(run).toHaveBeenCalledTimes(4);
    const batches = run.mock.calls.map((c) => c[0].map((t) => `${t.name}:${t.datatype}:${t.shape.join("x")}`).join(","));
    expect(batches.sort()).toEqual(["x:FP32:2x2", "x:FP32:4x3", "x:FP64:1x2", "z:FP32:1x2"].sort());
    results.forEach((outputs, id) => {
      const input = inputs[id]![0]!;
      const o = out(outputs, `${input.name}_out`);
      expect(o.shape).toEqual(input.shape);
      expect(Array.from(o.data as Float32Array)).toEqual(Array.from(input.data as Float32Array));
    });
  });

  it("runs a request larger than maxBatchSize alone and unsplit, and fills batches oldest first", async () => {
    const { run, calls } = controlledRun();
    const batcher = new MicroBatcher({ run, maxBatchSize: 4, maxLatencyMs: 1000 });
    const first = batcher.submit([fp32(0, 1)]);
    await tick();
    expect(calls).toHaveLength(1);
    const rest = [batcher.submit([fp32(1, 10)]), batcher.submit([fp32(2, 1)]), batcher.submit([fp32(3, 3)]), batcher.submit([fp32(4, 1)])];
    await tick();
    expect(batcher.stats()).toMatchObject({ queueDepth: 4, queuedRows: 15, running: 1 });
    for (let i = 0; i < 4; i++) {
      calls[i]!.release();
      await tick();
    }
    await Promise.all([first, ...rest]);
    expect(calls.map((c) => c.inputs[0]!.shape[0])).toEqual([1, 10, 4, 1]);
    const big = await rest[0]!;
    expect(out(big, "x_out").shape).toEqual([10, 2]);
    expect(batcher.stats().batchSizeBuckets).toEqual([
      { le: 1, count: 2 },
      { le: 2, count: 2 },
      { le: 4, count: 3 },
      { le: Infinity, count: 4 },
    ]);
  });

  it("rejects every request of a failing batch with the run's error, and only those", async () => {
    const { run, calls } = controlledRun();
    const batcher = new MicroBatcher({ run, maxBatchSize: 16, maxLatencyMs: 1000 });
    const first = batcher.submit([fp32(0, 1)]);
    await tick();
    const a = batcher.submit([fp32(1, 1)]);
    const b = batcher.submit([fp32(2, 2)]);
    const other = batcher.submit([fp32(3, 1, 5)]);
    const settled = Promise.allSettled([a, b, other]);
    calls[0]!.release();
    await tick();
    expect(calls).toHaveLength(2);
    const boom = new Error("session exploded");
    calls[1]!.fail(boom);
    await tick();
    expect(calls).toHaveLength(3);
    calls[2]!.release();
    const [ra, rb, rother] = await settled;
    expect(ra).toEqual({ status: "rejected", reason: boom });
    expect(rb).toEqual({ status: "rejected", reason: boom });
    expect(rother.status).toBe("fulfilled");
    await expect(first).resolves.toBeDefined();
    expect(batcher.stats()).toMatchObject({ batches: 3, failedBatches: 1 });
  });

  it("rejects every request of a batch when run throws synchronously", async () => {
    const run = vi.fn((): Promise<Tensor[]> => {
      throw new Error("sync failure");
    });
    const batcher = new MicroBatcher({ run, maxBatchSize: 16, maxLatencyMs: 10 });
    const results = await Promise.allSettled([batcher.submit([fp32(1, 1)]), batcher.submit([fp32(2, 1)])]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("removes a request aborted before its batch starts and rejects it with an AbortError", async () => {
    const { run, calls } = controlledRun();
    const batcher = new MicroBatcher({ run, maxBatchSize: 16, maxLatencyMs: 1000 });
    const first = batcher.submit([fp32(0, 1)]);
    await tick();
    const controller = new AbortController();
    const aborted = batcher.submit([fp32(1, 3)], controller.signal);
    const kept = batcher.submit([fp32(2, 1)]);
    await tick();
    expect(batcher.stats()).toMatchObject({ queueDepth: 2, queuedRows: 4 });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
    expect(batcher.stats()).toMatchObject({ queueDepth: 1, queuedRows: 1, aborted: 1 });
    calls[0]!.release();
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.inputs[0]!.shape).toEqual([1, 2]);
    calls[1]!.release();
    await Promise.all([first, kept]);

    await expect(batcher.submit([fp32(3, 1)], AbortSignal.abort())).rejects.toMatchObject({ name: "AbortError" });
  });

  it("lets a request whose batch has started finish even if its signal aborts", async () => {
    const { run, calls } = controlledRun();
    const batcher = new MicroBatcher({ run, maxBatchSize: 16, maxLatencyMs: 1000 });
    const controller = new AbortController();
    const pending = batcher.submit([fp32(1, 1)], controller.signal);
    await tick();
    expect(calls).toHaveLength(1);
    controller.abort();
    calls[0]!.release();
    await expect(pending).resolves.toBeDefined();
    expect(batcher.stats().aborted).toBe(0);
  });

  it("rejects with RESOURCE_EXHAUSTED beyond maxQueue waiting requests", async () => {
    const { run, calls } = controlledRun();
    const batcher = new MicroBatcher({ run, maxBatchSize: 16, maxLatencyMs: 1000, maxQueue: 2 });
    const running = batcher.submit([fp32(0, 1)]);
    await tick();
    const queued = [batcher.submit([fp32(1, 1)]), batcher.submit([fp32(2, 1)])];
    const err = await batcher.submit([fp32(3, 1)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe("RESOURCE_EXHAUSTED");
    expect(batcher.stats().rejectedQueueFull).toBe(1);
    calls[0]!.release();
    await tick();
    calls[1]!.release();
    await Promise.all([running, ...queued]);
  });

  it("close rejects queued requests, waits for the running batch and refuses new ones", async () => {
    const { run, calls } = controlledRun();
    const batcher = new MicroBatcher({ run, maxBatchSize: 16, maxLatencyMs: 1000 });
    const running = batcher.submit([fp32(0, 1)]);
    await tick();
    const queued = [batcher.submit([fp32(1, 1)]), batcher.submit([fp32(2, 1, 3)])];
    let closed = false;
    const closing = batcher.close().then(() => {
      closed = true;
    });
    for (const q of queued) await expect(q).rejects.toMatchObject({ code: "TEMPORARILY_UNAVAILABLE" });
    await tick();
    expect(closed).toBe(false);
    calls[0]!.release();
    await closing;
    await expect(running).resolves.toBeDefined();
    expect(calls).toHaveLength(1);
    await expect(batcher.submit([fp32(3, 1)])).rejects.toMatchObject({ code: "TEMPORARILY_UNAVAILABLE" });
  });

  it("without adaptive mode waits maxLatencyMs for a batch to fill, or flushes at maxBatchSize rows", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const run = vi.fn(echo);
    const batcher = new MicroBatcher({ run, maxBatchSize: 4, maxLatencyMs: 50, adaptive: false });
    const lone = batcher.submit([fp32(0, 1)]);
    await vi.advanceTimersByTimeAsync(49);
    expect(run).not.toHaveBeenCalled();
    const second = batcher.submit([fp32(1, 2)]);
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(1);
    expect(run.mock.calls[0]![0][0]!.shape).toEqual([3, 2]);
    await Promise.all([lone, second]);

    const full = [batcher.submit([fp32(2, 1)]), batcher.submit([fp32(3, 3)])];
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(2);
    await Promise.all(full);
  });

  it("with spare concurrency waits maxLatencyMs only while another batch is running", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { run, calls } = controlledRun();
    const batcher = new MicroBatcher({ run, maxBatchSize: 8, maxLatencyMs: 30, concurrency: 2 });
    const first = batcher.submit([fp32(0, 1)]);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);
    const queued = [batcher.submit([fp32(1, 1)]), batcher.submit([fp32(2, 1)])];
    await vi.advanceTimersByTimeAsync(29);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.inputs[0]!.shape[0]).toBe(2);
    calls[0]!.release();
    calls[1]!.release();
    await Promise.all([first, ...queued]);
  });

  it("runs requests it cannot batch alone and rejects tensors whose data does not match their shape", async () => {
    const run = vi.fn(echo);
    const batcher = new MicroBatcher({ run, maxBatchSize: 64, maxLatencyMs: 50 });
    const odd: Tensor[] = [fp32(1, 2), fp32(2, 3, 2, "y")];
    const scalar: Tensor[] = [{ name: "x", datatype: "FP32", shape: [], data: new Float32Array([7]) }];
    const results = await Promise.all([batcher.submit(odd), batcher.submit(scalar), batcher.submit([fp32(3, 1)]), batcher.submit([fp32(4, 1)])]);
    expect(run).toHaveBeenCalledTimes(3);
    expect(out(results[0]!, "y_out").shape).toEqual([3, 2]);
    expect(out(results[1]!, "x_out").data).toEqual(new Float32Array([7]));
    const bad: Tensor = { name: "x", datatype: "FP32" as Datatype, shape: [2, 2], data: new Float32Array(3) };
    await expect(batcher.submit([bad])).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
  });

  it("reports every batch to onBatch and survives a throwing hook", async () => {
    const infos: BatchInfo[] = [];
    const batcher = new MicroBatcher({
      run: echo,
      maxBatchSize: 8,
      maxLatencyMs: 10,
      onBatch: (info) => {
        infos.push(info);
        throw new Error("metrics are down");
      },
    });
    await Promise.all([batcher.submit([fp32(1, 2)]), batcher.submit([fp32(2, 3)])]);
    expect(infos).toHaveLength(1);
    expect(infos[0]).toMatchObject({ size: 5, requests: 2, ok: true });
    expect(infos[0]!.waitedMs).toBeGreaterThanOrEqual(0);
    expect(infos[0]!.runMs).toBeGreaterThanOrEqual(0);
    expect(batcher.stats()).toMatchObject({ batches: 1, requests: 2, rows: 5 });
  });

  it("refuses invalid options", () => {
    expect(() => new MicroBatcher({ run: echo, maxBatchSize: 0, maxLatencyMs: 1 })).toThrow(CairnError);
    expect(() => new MicroBatcher({ run: echo, maxBatchSize: 4, maxLatencyMs: -1 })).toThrow(CairnError);
    expect(() => new MicroBatcher({ run: echo, maxBatchSize: 4, maxLatencyMs: 1, concurrency: 0 })).toThrow(CairnError);
  });
});
