import { describe, expect, it } from "vitest";
import { MONITORING_LIMITS, isCairnError, type FeedbackRecord, type PerformanceResponse } from "@cairn/contract";
import { Cairn } from "./cairn.js";

interface Call {
  method: string;
  url: string;
  body: any;
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** A client whose fetch records each call and answers with `answer(call, n)`. */
function fake(answer: (c: Call, n: number) => Response, retries = 0) {
  const calls: Call[] = [];
  const fetchFake: typeof fetch = async (input, init) => {
    const c: Call = { method: init?.method ?? "GET", url: String(input), body: init?.body === undefined ? undefined : JSON.parse(String(init.body)) };
    calls.push(c);
    return answer(c, calls.length);
  };
  const cairn = new Cairn({ url: "http://cairn.test:5005/", token: "tok", handleExit: false, fetch: fetchFake, retry: { retries, minDelayMs: 1, maxDelayMs: 1 } });
  return { cairn, calls };
}

const records = (n: number): FeedbackRecord[] => Array.from({ length: n }, (_, i) => ({ requestId: `r${i}`, label: i % 2 === 0 }));
/** A server answer: every record accepted, the even-numbered ones (by request id) unmatched. */
const answer = (c: Call) => {
  const rs = c.body.records as FeedbackRecord[];
  return json({ accepted: rs.length, updated: 0, unmatched: rs.filter((r) => Number(r.requestId.slice(1)) % 2 === 0).length });
};
const URL_ = "http://cairn.test:5005/api/v1/deployments/fraud/feedback";

describe("Monitoring.postFeedback", () => {
  it("posts up to feedbackPerPost records at a time, in order, and sums the answers", async () => {
    const { cairn, calls } = fake(answer);
    const n = 2 * MONITORING_LIMITS.feedbackPerPost + 5;
    const progress: [number, number][] = [];
    const r = await cairn.monitoring.postFeedback("fraud", records(n), { onProgress: (done, total) => progress.push([done, total]) });
    expect(r).toEqual({ accepted: n, updated: 0, unmatched: Math.ceil(n / 2) });
    expect(calls.map((c) => [c.method, c.url, c.body.records.length])).toEqual([
      ["POST", URL_, MONITORING_LIMITS.feedbackPerPost],
      ["POST", URL_, MONITORING_LIMITS.feedbackPerPost],
      ["POST", URL_, 5],
    ]);
    expect(calls.flatMap((c) => c.body.records.map((x: FeedbackRecord) => x.requestId))).toEqual(records(n).map((x) => x.requestId));
    expect(progress).toEqual([
      [MONITORING_LIMITS.feedbackPerPost, n],
      [2 * MONITORING_LIMITS.feedbackPerPost, n],
      [n, n],
    ]);
  });

  it("takes a smaller batchSize, sums updated too, and sends time only when given", async () => {
    const { cairn, calls } = fake((c) => json({ accepted: 1, updated: c.body.records.length - 1, unmatched: 0 }));
    const rs: FeedbackRecord[] = [{ requestId: "a", label: 1.5, time: 10 }, { requestId: "b", label: "cat" }, { requestId: "c", label: 0 }];
    expect(await cairn.monitoring.postFeedback("fraud", rs, { batchSize: 2 })).toEqual({ accepted: 2, updated: 1, unmatched: 0 });
    expect(calls.map((c) => c.body)).toEqual([{ records: rs.slice(0, 2) }, { records: rs.slice(2) }]);
    await expect(cairn.monitoring.postFeedback("fraud", rs, { batchSize: MONITORING_LIMITS.feedbackPerPost + 1 })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(cairn.monitoring.postFeedback("fraud", rs, { batchSize: 0 })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(cairn.monitoring.postFeedback("fraud", [])).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE", message: /no feedback records/ });
    expect(calls).toHaveLength(2);
  });

  it("feedback() posts one record; the deployment name is URL-encoded", async () => {
    const { cairn, calls } = fake(() => json({ accepted: 0, updated: 1, unmatched: 0 }));
    expect(await cairn.monitoring.feedback("a b", "req-1", "chargeback")).toEqual({ accepted: 0, updated: 1, unmatched: 0 });
    await cairn.monitoring.feedback("fraud", "req-2", false, { time: 1234 });
    expect(calls.map((c) => [c.url, c.body])).toEqual([
      ["http://cairn.test:5005/api/v1/deployments/a%20b/feedback", { records: [{ requestId: "req-1", label: "chargeback" }] }],
      [URL_, { records: [{ requestId: "req-2", label: false, time: 1234 }] }],
    ]);
  });

  it("a refused first post is the server's error as is", async () => {
    const { cairn, calls } = fake(() => json({ error_code: "INVALID_PARAMETER_VALUE", message: "records[1] (request 'r1'): label is a number, but deployment 'fraud' has boolean labels" }, 400));
    const e = await cairn.monitoring.postFeedback("fraud", records(3)).catch((x: unknown) => x);
    expect(isCairnError(e) && [e.code, e.status, e.message]).toEqual(["INVALID_PARAMETER_VALUE", 400, "records[1] (request 'r1'): label is a number, but deployment 'fraud' has boolean labels"]);
    expect(calls).toHaveLength(1);
  });

  it("a refused later post: records counted from the first given, what the earlier posts stored, no further posts", async () => {
    const { cairn, calls } = fake((c, n) =>
      n === 2 ? json({ error_code: "INVALID_PARAMETER_VALUE", message: "records[3] (request 'r5'): label must be a finite number", details: [{ path: "records.3.label", message: "bad" }] }, 400) : answer(c),
    );
    const e = await cairn.monitoring.postFeedback("fraud", records(7), { batchSize: 2 }).catch((x: unknown) => x);
    expect(isCairnError(e)).toBe(true);
    if (!isCairnError(e)) return;
    expect(e.code).toBe("INVALID_PARAMETER_VALUE");
    expect(e.message).toBe("records[5] (request 'r5'): label must be a finite number (records 2 to 6 were not stored; the 2 before them were: accepted 2, updated 0, unmatched 1)");
    expect(e.details).toEqual([{ path: "records.5.label", message: "bad" }]);
    expect(calls).toHaveLength(2);
  });

  it("retries a transient failure of a post, never a refusal", async () => {
    const { cairn, calls } = fake((c, n) => (n === 1 ? json({ error_code: "TEMPORARILY_UNAVAILABLE", message: "busy" }, 503) : answer(c)), 2);
    expect(await cairn.monitoring.postFeedback("fraud", records(3))).toEqual({ accepted: 3, updated: 0, unmatched: 2 });
    expect(calls).toHaveLength(2);
    const refused = fake(() => json({ error_code: "RESOURCE_DOES_NOT_EXIST", message: "Deployment 'fraud' not found" }, 404), 2);
    await expect(refused.cairn.monitoring.postFeedback("fraud", records(3))).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST", status: 404 });
    expect(refused.calls).toHaveLength(1);
  });

  it("stops before the next post when the signal is aborted", async () => {
    const ctl = new AbortController();
    const { cairn, calls } = fake(answer);
    const p = cairn.monitoring.postFeedback("fraud", records(5), { batchSize: 2, signal: ctl.signal, onProgress: (done) => done === 2 && ctl.abort() });
    await expect(p).rejects.toThrow();
    expect(calls).toHaveLength(1);
  });
});

describe("Monitoring.performance", () => {
  const body: PerformanceResponse = { deployment: "fraud", model: "m", task: "classification", labelType: "boolean", positive: "true", threshold: 0.5, from: 0, to: 10, windowSeconds: 10, series: [] };

  it("sends the query (positive as a string, absent fields left out) and returns the response", async () => {
    const { cairn, calls } = fake(() => json(body));
    expect(await cairn.monitoring.performance("fraud")).toEqual(body);
    await cairn.monitoring.performance("fraud", { from: 5, to: 10, windowSeconds: 60, task: "classification", output: "proba", positive: 1, threshold: 0.7 });
    await cairn.monitoring.performance("fraud", { positive: false, to: undefined });
    const B = "http://cairn.test:5005/api/v1/deployments/fraud/performance";
    expect(calls.map((c) => [c.method, c.url])).toEqual([
      ["GET", B],
      ["GET", `${B}?from=5&to=10&windowSeconds=60&task=classification&output=proba&positive=1&threshold=0.7`],
      ["GET", `${B}?positive=false`],
    ]);
  });

  it("throws the server's error", async () => {
    const { cairn } = fake(() => json({ error_code: "INVALID_PARAMETER_VALUE", message: "too many windows" }, 400));
    await expect(cairn.monitoring.performance("fraud", { windowSeconds: 1 })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE", message: "too many windows" });
  });
});

describe("Monitoring.driftFiles", () => {
  const report = { columns: [], dataset: { driftedColumns: 0, totalColumns: 0, share: 0, driftShare: 0.5, datasetDrift: false, noData: true }, reference: { rows: 1, truncated: false, source: "ref.csv" }, current: { rows: 0, truncated: false, source: "cur.csv" } };

  it("streams the reference file's bytes, then the current file's, saying where one ends", async () => {
    const seen: { url: string; body: string; type: string }[] = [];
    const fetchFake: typeof fetch = async (input, init) => {
      const chunks: Buffer[] = [];
      for await (const c of init!.body as unknown as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
      seen.push({ url: String(input), body: Buffer.concat(chunks).toString(), type: new Headers(init!.headers).get("content-type") ?? "" });
      return json(report);
    };
    const cairn = new Cairn({ url: "http://cairn.test:5005/", handleExit: false, fetch: fetchFake });
    const r = await cairn.monitoring.driftFiles({ reference: { file: { bytes: Buffer.from("a\n1\n"), name: "ref.csv" } }, current: { bytes: Buffer.from("a\n2\n"), name: "cur.csv", format: "csv" }, columns: ["a"], test: "ks" });
    expect(r).toEqual(report);
    await cairn.monitoring.driftFiles({ reference: { dataset: "credit@v3", path: "train.csv" }, current: { bytes: Buffer.from("a\n2\n") } });
    expect(seen).toEqual([
      { url: "http://cairn.test:5005/api/v1/drift?currentName=cur.csv&currentFormat=csv&referenceBytes=4&referenceName=ref.csv&columns=a&test=ks", body: "a\n1\na\n2\n", type: "application/octet-stream" },
      { url: "http://cairn.test:5005/api/v1/drift?currentName=upload&reference=credit%40v3&referencePath=train.csv", body: "a\n2\n", type: "application/octet-stream" },
    ]);
  });

  it("refuses a local file it cannot read, and an empty reference file, before sending", async () => {
    const { cairn, calls } = fake(() => json(report));
    await expect(cairn.monitoring.driftFiles({ reference: { dataset: "credit@v3" }, current: "/no/such/file.csv" })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(cairn.monitoring.driftFiles({ reference: { file: { bytes: new Uint8Array(0) } }, current: { bytes: Buffer.from("a\n") } })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    expect(calls).toEqual([]);
  });
});
