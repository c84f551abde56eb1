import { Cron } from "croner";
import { CairnError } from "@cairn/contract";

/** A cron job that never runs: parsing and computing times only. */
function parse(expr: string, timezone: string): Cron {
  try {
    return new Cron(expr, { timezone, paused: true, mode: "auto" } as ConstructorParameters<typeof Cron>[1]);
  } catch (e) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid cron "${expr}" (time zone ${timezone}): ${(e as Error).message}. Expected five fields (minute hour day-of-month month day-of-week), or six with seconds first.`);
  }
}

/**
 * Checks a cron expression and time zone.
 * @throws CairnError INVALID_PARAMETER_VALUE naming the problem
 */
export function validateCron(expr: string, timezone: string): void {
  const fields = expr.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid cron "${expr}": expected five fields (minute hour day-of-month month day-of-week), or six with seconds first; got ${fields}`);
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Unknown time zone "${timezone}" (use an IANA name such as UTC or Europe/Berlin)`);
  }
  parse(expr, timezone);
}

/**
 * The first time after `after` (ms) the cron fires, in ms; undefined when it never fires again.
 * @throws CairnError INVALID_PARAMETER_VALUE for an invalid expression
 */
export function nextCronRun(expr: string, timezone: string, after: number): number | undefined {
  const next = parse(expr, timezone).nextRun(new Date(after));
  return next ? next.getTime() : undefined;
}
