import { describe, expect, it } from "vitest";
import { LogBatchRequest, parseCanonicalLogBatch } from "./tracking.js";

function rand<T>(xs: T[]): T {
  return xs[Math.floor(Math.random() * xs.length)]!;
}

describe("parseCanonicalLogBatch", () => {
  it("agrees with LogBatchRequest on every input it accepts, and never accepts what the schema rejects", () => {
    const keys = ["loss", "acc/top-1", "a b:c", "", "../x", "k".repeat(251), 7, "a//b", "x.y"];
    const values: unknown[] = [0.5, -3, 1e300, "NaN", "x", null, true, 2];
    const ints: unknown[] = [undefined, 0, 12, -4, 1.5, "17", Number.MAX_SAFE_INTEGER + 2, null];
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const n = rand([0, 1, 3, 20]);
      const metrics = Array.from({ length: n }, () => {
        const m: Record<string, unknown> = { key: rand(keys), value: rand(values) };
        const ts = rand(ints);
        const st = rand(ints);
        if (ts !== undefined) m.timestamp = ts;
        if (st !== undefined) m.step = st;
        return m;
      });
      const body: Record<string, unknown> = rand([{ metrics }, { metrics, params: [{ key: "p", value: "1" }] }, { metrics, tags: [{ key: "t", value: 5 }] }, { metrics: "no" }, { metrics, batchId: "b-1:x" }, { metrics, batchId: "bad id!" }]);
      const fast = parseCanonicalLogBatch(body);
      const slow = LogBatchRequest.safeParse(body);
      if (fast !== undefined) {
        accepted++;
        expect(slow.success).toBe(true);
        expect(fast).toEqual(slow.data);
      }
    }
    expect(accepted).toBeGreaterThan(50);
  });

  it("leaves over-limit batches to the schema", () => {
    const metrics = Array.from({ length: 1001 }, (_, i) => ({ key: "m", value: i }));
    expect(parseCanonicalLogBatch({ metrics })).toBeUndefined();
    const mixed = { metrics: metrics.slice(0, 950), params: Array.from({ length: 60 }, (_, i) => ({ key: `p${i}`, value: "1" })) };
    expect(parseCanonicalLogBatch(mixed)).toBeUndefined();
    expect(LogBatchRequest.safeParse(mixed).success).toBe(false);
  });
});
