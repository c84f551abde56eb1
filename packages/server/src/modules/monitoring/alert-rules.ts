/** How a rule compares a series' value with its threshold. */
export type Comparison = ">" | ">=" | "<" | "<=";

/** A threshold rule on one monitor series. */
export interface ThresholdRule {
  /** Breached when `value op threshold`. */
  op: Comparison;
  threshold: number;
  /** Consecutive breached windows before it fires (default 1). */
  forWindows?: number;
  /** After firing, a new firing within this many seconds runs no actions (it is recorded as suppressed). */
  cooldownSeconds?: number;
}

/** Where a rule stands between windows (stored with the rule). */
export interface RuleState {
  status: "ok" | "pending" | "firing";
  /** Breached windows in a row. */
  consecutive: number;
  /** When actions last ran (ms). */
  lastFiredAt: number | null;
}

/** What one window did to a rule: it fired (actions run), fired within its cooldown (no actions), or resolved. */
export interface RuleEvent {
  kind: "fired" | "suppressed" | "resolved";
  time: number;
  value: number;
}

export const INITIAL_RULE_STATE: RuleState = { status: "ok", consecutive: 0, lastFiredAt: null };

function breached(op: Comparison, value: number, threshold: number): boolean {
  switch (op) {
    case ">":
      return value > threshold;
    case ">=":
      return value >= threshold;
    case "<":
      return value < threshold;
    case "<=":
      return value <= threshold;
  }
}

/**
 * Advances a rule by one window's value. A window without data (`null`, e.g. no traffic) neither
 * breaches nor clears: the state is kept. `forWindows` breaches in a row make it fire once (actions
 * run, unless within the cooldown of the last firing: then `suppressed`); it stays firing, without
 * firing again, until a window does not breach (`resolved`).
 */
export function advanceRule(rule: ThresholdRule, state: RuleState, time: number, value: number | null): { state: RuleState; event?: RuleEvent } {
  if (value === null || !Number.isFinite(value)) return { state };
  if (!breached(rule.op, value, rule.threshold)) {
    const next: RuleState = { status: "ok", consecutive: 0, lastFiredAt: state.lastFiredAt };
    return state.status === "firing" ? { state: next, event: { kind: "resolved", time, value } } : { state: next };
  }
  const consecutive = state.consecutive + 1;
  if (state.status === "firing") return { state: { ...state, consecutive } };
  if (consecutive < Math.max(1, rule.forWindows ?? 1)) return { state: { status: "pending", consecutive, lastFiredAt: state.lastFiredAt } };
  const cooling = state.lastFiredAt !== null && time - state.lastFiredAt < (rule.cooldownSeconds ?? 0) * 1000;
  return cooling
    ? { state: { status: "firing", consecutive, lastFiredAt: state.lastFiredAt }, event: { kind: "suppressed", time, value } }
    : { state: { status: "firing", consecutive, lastFiredAt: time }, event: { kind: "fired", time, value } };
}
