import { describe, expect, it } from "vitest";
import { advanceRule, INITIAL_RULE_STATE, type RuleEvent, type RuleState, type ThresholdRule } from "./alert-rules.js";

/** Runs a rule over (time s, value) windows and returns the events. */
function run(rule: ThresholdRule, windows: [number, number | null][]): { events: (RuleEvent["kind"] | null)[]; state: RuleState } {
  let state = INITIAL_RULE_STATE;
  const events: (RuleEvent["kind"] | null)[] = [];
  for (const [t, v] of windows) {
    const r = advanceRule(rule, state, t * 1000, v);
    state = r.state;
    events.push(r.event?.kind ?? null);
  }
  return { events, state };
}

describe("advanceRule", () => {
  it("fires once when breached, stays firing without firing again, and resolves", () => {
    const { events, state } = run({ op: ">", threshold: 0.1 }, [[0, 0.05], [60, 0.2], [120, 0.3], [180, 0.05]]);
    expect(events).toEqual([null, "fired", null, "resolved"]);
    expect(state).toEqual({ status: "ok", consecutive: 0, lastFiredAt: 60_000 });
  });

  it("waits for N consecutive breached windows, and a clean window starts the count again", () => {
    const rule: ThresholdRule = { op: ">=", threshold: 0.5, forWindows: 3 };
    expect(run(rule, [[0, 0.5], [1, 0.6], [2, 0.1], [3, 0.7], [4, 0.8], [5, 0.9]]).events).toEqual([null, null, null, null, null, "fired"]);
    expect(run(rule, [[0, 0.5], [1, 0.6]]).state.status).toBe("pending");
  });

  it("keeps its state through windows without data", () => {
    const rule: ThresholdRule = { op: "<", threshold: 0.8, forWindows: 2 };
    expect(run(rule, [[0, 0.7], [1, null], [2, 0.6]]).events).toEqual([null, null, "fired"]);
    expect(run(rule, [[0, 0.7], [1, Number.NaN], [2, 0.9]]).state).toEqual({ status: "ok", consecutive: 0, lastFiredAt: null });
  });

  it("records a firing within the cooldown as suppressed (no actions), and fires again after it", () => {
    const rule: ThresholdRule = { op: ">", threshold: 1, cooldownSeconds: 600 };
    expect(run(rule, [[0, 2], [60, 0], [120, 2], [180, 0], [700, 2]]).events).toEqual(["fired", "resolved", "suppressed", "resolved", "fired"]);
  });
});
