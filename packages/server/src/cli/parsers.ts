import { InvalidArgumentError } from "commander";

// Option and argument parsers shared by the CLI's commands. A thrown InvalidArgumentError is a usage error (exit 2).

/** A positive integer. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

/** A whole number ≥ 0. */
export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("must be a whole number ≥ 0");
  return n;
}

/** `KEY=VALUE`, collected into a record over repeated options. */
export function keyValue(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError("expected KEY=VALUE");
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
}

/** A point in time: milliseconds since the epoch or an ISO date. */
export function timeArg(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError("expected milliseconds since the epoch or an ISO date");
  return n;
}

/** Repeated string options collected into a list. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** A number >= 0 (commander option parser). @throws InvalidArgumentError otherwise */
export function nonNegativeNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number >= 0");
  return n;
}

/** A number in [0, 1] (commander option parser). @throws InvalidArgumentError otherwise */
export function fraction(v: string): number {
  const n = nonNegativeNumber(v);
  if (n > 1) throw new InvalidArgumentError("must be between 0 and 1");
  return n;
}
