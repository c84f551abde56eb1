import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { CairnError } from "@cairn/contract";
import { createProgress, describeError, formatBytes, formatDuration, formatNumber, formatTime, printTable, truncate } from "./output.js";
import { compareRows } from "../modules/tracking/cli.js";

function capture(): { stream: Writable; text: () => string } {
  let out = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => out };
}

describe("CLI output helpers", () => {
  it("prints a borderless aligned table, truncating long cells", () => {
    const c = capture();
    printTable(["ID", "NAME", "ACC"], [["1", "a".repeat(60), 0.5], ["22", "b", 12]], { stream: c.stream, maxCell: 10 });
    expect(c.text()).toBe(["ID  NAME        ACC", "1   aaaaaaaaa…  0.5", "22  b            12", ""].join("\n"));
  });

  it("formats numbers, times, durations and sizes", () => {
    expect(formatNumber(0.123456789)).toBe("0.123457");
    expect(formatNumber(NaN)).toBe("NaN");
    expect(formatNumber(1e-7)).toBe("1.0000e-7");
    expect(formatTime(null)).toBe("-");
    expect(formatTime(new Date(2024, 0, 2, 3, 4, 5).getTime())).toBe("2024-01-02 03:04:05");
    expect(formatDuration(950)).toBe("950ms");
    expect(formatDuration(65_000)).toBe("1m05s");
    expect(formatDuration(3_720_000)).toBe("1h02m");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(truncate("abc\ndef", 5)).toBe("abc⏎…");
  });

  it("describes errors as CODE: message", () => {
    expect(describeError(new CairnError("RESOURCE_DOES_NOT_EXIST", "no run"))).toBe("RESOURCE_DOES_NOT_EXIST: no run");
    expect(describeError(new Error("boom"))).toBe("INTERNAL_ERROR: boom");
  });

  it("shows no progress bar when the stream is not a terminal", () => {
    const c = capture();
    const bar = createProgress("upload", false, c.stream as unknown as NodeJS.WriteStream);
    bar.update(1, 2);
    bar.stop();
    expect(c.text()).toBe("");
  });

  it("marks the compare rows that differ", () => {
    const run = (id: string, lr: string, acc: number) => ({
      info: { runId: id, runName: id, experimentId: "1", userId: "u", status: "FINISHED" as const, startTime: 0, endTime: 10, artifactUri: "", lifecycleStage: "active" as const },
      data: { metrics: [{ key: "acc", value: acc, step: 0, timestamp: 0 }], params: { lr, opt: "adam" }, tags: {} },
      inputs: { datasetInputs: [] },
    });
    const rows = compareRows([run("a", "0.1", 0.9), run("b", "0.01", 0.9)]);
    expect(rows.map((r) => [r.key, r.differs])).toEqual([
      ["status", false],
      ["duration", false],
      ["params.lr", true],
      ["params.opt", false],
      ["metrics.acc", false],
    ]);
  });
});
