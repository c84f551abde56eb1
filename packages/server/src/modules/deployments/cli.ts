import fs from "node:fs";
import { createInterface } from "node:readline/promises";
import { InvalidArgumentError, Option, type Command } from "commander";
import { CairnError, DEFAULT_BATCHING, DeploymentName } from "@cairn/contract";
import { type Cairn, type Deployment, type DeploymentChange, type DeploymentCreateSpec, type DeploymentHistoryEntry, type DeploymentRevisionState, type InferRequest } from "@cairn/sdk";
import { action, clientFor, formatNumber, formatTime, printHeading, printJson, printKeyValues, printTable, usageErrorsExit2, wantsJson, type Cell } from "../../cli/output.js";
import { keyValue, positiveInt, nonNegativeInt } from "../../cli/parsers.js";

/**
 * `cairn deploy create|update|status|ls|promote-canary|rollback|history|stats|delete|predict`: managed
 * deployments on the Cairn server, through the SDK's `cairn.deployments`. They read the root
 * program's `--url`, `--token` and `--json`. Exit codes: 0 done, 1 a server or unexpected error
 * (`error: CODE: message` on stderr), 2 a usage error (checked before any request).
 */

// ---------- option parsers (a thrown InvalidArgumentError is a usage error: exit 2) ----------

function percent(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError("must be a number from 0 to 100");
  return n;
}

function share(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("must be a number from 0 to 1");
  return n;
}


function nonNegativeNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number ≥ 0");
  return n;
}

function positiveSeconds(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number of seconds");
  return n;
}

const usage = (cmd: Command, msg: string): never => cmd.error(`error: ${msg}`, { exitCode: 2, code: "cairn.usage" });

// ---------- the arm flags shared by create and update ----------

interface ArmFlags {
  model?: string;
  version?: number;
  alias?: string;
  canaryVersion?: number;
  canaryAlias?: string;
  canaryPercent?: number;
  /** false: `--no-canary` (update). */
  canary?: boolean;
  shadowVersion?: number;
  shadowAlias?: string;
  /** false: `--no-shadow` (update). */
  shadow?: boolean;
  /** false: `--no-sticky-header` (update). */
  stickyHeader?: string | false;
  /** false: `--no-auto-rollout` (update). */
  autoRollout?: number | false;
  maxBatchSize?: number;
  maxLatencyMs?: number;
  logSample?: number;
  allowNan?: boolean;
  description?: string;
  message?: string;
  wait?: boolean;
  timeout?: number;
}

function addArmOptions(cmd: Command, update: boolean): Command {
  const primary = update ? "switch the primary to" : "the primary serves";
  cmd
    .addOption(new Option("--version <n>", `${primary} this version of the model`).argParser(positiveInt))
    .option("--alias <alias>", `${primary} the version this alias points to, following it as it moves`)
    .addOption(new Option("--canary-version <n>", "a canary serving this version").argParser(positiveInt))
    .option("--canary-alias <alias>", "a canary following this alias")
    .addOption(new Option("--canary-percent <p>", update ? "the canary's share of the traffic, 0-100 (alone: change the current canary's share)" : "the canary's share of the traffic, 0-100").argParser(percent))
    .addOption(new Option("--shadow-version <n>", "a shadow getting a copy of every request (answers logged, never returned)").argParser(positiveInt))
    .option("--shadow-alias <alias>", "a shadow following this alias")
    .option("--sticky-header <header>", "a request header whose value pins a caller to one arm, e.g. x-user-id")
    .addOption(new Option("--auto-rollout <percent>", "when the followed alias moves, start the new version as a canary with this share").argParser(percent))
    .addOption(new Option("--max-batch-size <rows>", `micro-batching: rows per batch (0 or 1: off; default ${DEFAULT_BATCHING.maxBatchSize})`).argParser(nonNegativeInt))
    .addOption(new Option("--max-latency-ms <ms>", `micro-batching: the longest a request waits for others (default ${DEFAULT_BATCHING.maxLatencyMs})`).argParser(nonNegativeNumber))
    .addOption(new Option("--log-sample <share>", "the share of requests written to the inference log, 0-1 (default 1)").argParser(share))
    .option("--allow-nan", "accept NaN in float inputs")
    .option("--description <text>", "the deployment's description");
  if (update) {
    cmd
      .option("--no-canary", "remove the canary")
      .option("--no-shadow", "remove the shadow")
      .option("--no-sticky-header", "stop pinning callers to an arm")
      .option("--no-auto-rollout", "switch at once when the followed alias moves")
      .option("--no-allow-nan", "refuse NaN in float inputs")
      .option("--message <text>", "why (shown in the history)");
  }
  return cmd
    .option("--wait", "wait until every arm is loaded and ready")
    .addOption(new Option("--timeout <seconds>", "with --wait: give up after this long (default 120)").argParser(positiveSeconds));
}

/** Bad combinations of arm flags, as a usage message (undefined when fine). */
export function armFlagProblem(o: ArmFlags, update: boolean): string | undefined {
  if (o.version !== undefined && o.alias !== undefined) return "give either --version or --alias, not both";
  if (!update && o.version === undefined && o.alias === undefined) return "give the primary's --version N or --alias A";
  if (o.canaryVersion !== undefined && o.canaryAlias !== undefined) return "give either --canary-version or --canary-alias, not both";
  if (o.shadowVersion !== undefined && o.shadowAlias !== undefined) return "give either --shadow-version or --shadow-alias, not both";
  const canaryRef = o.canaryVersion !== undefined || o.canaryAlias !== undefined;
  if (o.canary === false && (canaryRef || o.canaryPercent !== undefined)) return "--no-canary removes the canary: do not give --canary-version, --canary-alias or --canary-percent with it";
  if (o.shadow === false && (o.shadowVersion !== undefined || o.shadowAlias !== undefined)) return "--no-shadow removes the shadow: do not give --shadow-version or --shadow-alias with it";
  if (canaryRef && o.canaryPercent === undefined) return "a canary needs --canary-percent P (its share of the traffic, 0-100)";
  if (!update && !canaryRef && o.canaryPercent !== undefined) return "--canary-percent goes with --canary-version or --canary-alias";
  if (o.timeout !== undefined && !o.wait) return "--timeout goes with --wait";
  return undefined;
}

const ref = (version: number | undefined, alias: string | undefined) => (version !== undefined ? { version } : alias !== undefined ? { alias } : undefined);

/** The create request for `cairn deploy create NAME …` (flags already checked). */
export function createRequest(name: string, o: ArmFlags): DeploymentCreateSpec {
  const req: DeploymentCreateSpec = { name, model: o.model!, primary: ref(o.version, o.alias)! };
  const canary = ref(o.canaryVersion, o.canaryAlias);
  if (canary) req.canary = { ...canary, percent: o.canaryPercent! };
  const shadow = ref(o.shadowVersion, o.shadowAlias);
  if (shadow) req.shadow = shadow;
  if (typeof o.stickyHeader === "string") req.stickyHeader = o.stickyHeader;
  if (typeof o.autoRollout === "number") req.autoRollout = { canaryPercent: o.autoRollout };
  if (o.maxBatchSize !== undefined || o.maxLatencyMs !== undefined) req.batching = { maxBatchSize: o.maxBatchSize ?? DEFAULT_BATCHING.maxBatchSize, maxLatencyMs: o.maxLatencyMs ?? DEFAULT_BATCHING.maxLatencyMs };
  if (o.logSample !== undefined) req.logSample = o.logSample;
  if (o.allowNan) req.allowNaN = true;
  if (o.description !== undefined) req.description = o.description;
  return req;
}

/**
 * The change for `cairn deploy update NAME …` (flags already checked). `current` is needed only when
 * the flags change part of a setting (`--canary-percent` alone, one of the batching flags): see `updateNeedsCurrent`.
 * @throws CairnError INVALID_STATE when `--canary-percent` alone is given and the deployment has no canary
 */
export function updateRequest(o: ArmFlags, current?: Deployment): DeploymentChange {
  const change: DeploymentChange = {};
  const primary = ref(o.version, o.alias);
  if (primary) change.primary = primary;
  const canary = ref(o.canaryVersion, o.canaryAlias);
  if (o.canary === false) change.canary = null;
  else if (canary) change.canary = { ...canary, percent: o.canaryPercent! };
  else if (o.canaryPercent !== undefined) {
    const c = current?.spec.canary;
    if (!c) throw new CairnError("INVALID_STATE", `Deployment '${current?.name ?? "?"}' has no canary: give --canary-version or --canary-alias with --canary-percent`);
    change.canary = { ...(c.version !== undefined ? { version: c.version } : { alias: c.alias! }), percent: o.canaryPercent };
  }
  const shadow = ref(o.shadowVersion, o.shadowAlias);
  if (o.shadow === false) change.shadow = null;
  else if (shadow) change.shadow = shadow;
  if (o.stickyHeader === false) change.stickyHeader = null;
  else if (typeof o.stickyHeader === "string") change.stickyHeader = o.stickyHeader;
  if (o.autoRollout === false) change.autoRollout = null;
  else if (typeof o.autoRollout === "number") change.autoRollout = { canaryPercent: o.autoRollout };
  if (o.maxBatchSize !== undefined || o.maxLatencyMs !== undefined) {
    const b = current?.spec.batching ?? DEFAULT_BATCHING;
    change.batching = { maxBatchSize: o.maxBatchSize ?? b.maxBatchSize, maxLatencyMs: o.maxLatencyMs ?? b.maxLatencyMs };
  }
  if (o.logSample !== undefined) change.logSample = o.logSample;
  if (o.allowNan !== undefined) change.allowNaN = o.allowNan;
  if (o.description !== undefined) change.description = o.description;
  if (o.message !== undefined) change.message = o.message;
  return change;
}

/** Whether the flags change anything (`--message` and `--wait` alone do not). */
export function hasChange(o: ArmFlags): boolean {
  const { message: _m, wait: _w, timeout: _t, canary, shadow, ...rest } = o;
  return canary === false || shadow === false || Object.values(rest).some((v) => v !== undefined);
}

/** Whether `updateRequest` needs the deployment's current spec for these flags. */
export function updateNeedsCurrent(o: ArmFlags): boolean {
  const canaryRef = o.canaryVersion !== undefined || o.canaryAlias !== undefined;
  return (o.canaryPercent !== undefined && !canaryRef && o.canary !== false) || (o.maxBatchSize !== undefined) !== (o.maxLatencyMs !== undefined);
}

// ---------- output ----------

/** `@alias` or the version number. */
const refText = (r: { version?: string | undefined; alias?: string | undefined } | null | undefined) => (!r ? "" : r.alias !== undefined ? `@${r.alias}` : (r.version ?? ""));

/** Each arm's share of the traffic, as shown. */
function traffic(d: Deployment, arm: Deployment["arms"][number]): string {
  if (arm.arm === "shadow") return "copy";
  const p = arm.percent ?? (arm.arm === "primary" ? 100 - (d.spec.canary?.percent ?? 0) : d.spec.canary?.percent);
  return p === undefined ? "" : `${formatNumber(p)}%`;
}

/** Prints a deployment: a header, then its arms. */
export function printDeployment(d: Deployment): void {
  const pairs: [string, Cell][] = [
    ["name", d.name],
    ["model", d.spec.model],
    ["revision", d.revision],
    ["state", d.state],
  ];
  if (d.error) pairs.push(["error", d.error]);
  if (d.description) pairs.push(["description", d.description]);
  if (d.spec.stickyHeader) pairs.push(["sticky header", d.spec.stickyHeader]);
  if (d.spec.autoRollout) pairs.push(["auto-rollout", `canary at ${formatNumber(d.spec.autoRollout.canaryPercent)}% when the alias moves`]);
  pairs.push(["batching", d.spec.batching.maxBatchSize <= 1 ? "off" : `${d.spec.batching.maxBatchSize} rows, ${formatNumber(d.spec.batching.maxLatencyMs)} ms`]);
  pairs.push(["log sample", d.spec.logSample]);
  pairs.push(["updated", formatTime(d.updatedAt)]);
  pairs.push(["created", `${formatTime(d.createdAt)} by ${d.createdBy}`]);
  printKeyValues(pairs);
  printHeading("Arms");
  printTable(
    ["ARM", "REF", "VERSION", "TRAFFIC", "STATE", "SERVING", "ERROR"],
    d.arms.map((a) => [a.arm, refText(a.ref), a.version, traffic(d, a), a.state, a.servingVersion ?? "-", a.error ?? "-"]),
    { maxCell: 80 },
  );
}

/** The settings besides the arms, as named in a history summary. */
const SETTINGS: [keyof DeploymentRevisionState["spec"], string][] = [
  ["stickyHeader", "sticky header"],
  ["autoRollout", "auto-rollout"],
  ["batching", "batching"],
  ["logSample", "log sample"],
  ["allowNaN", "allow NaN"],
];

/**
 * `primary 1 → 2, canary 3 (50%) → -`: what a history entry changed in each arm's version and share,
 * then the names of other settings it changed.
 */
export function historySummary(e: Pick<DeploymentHistoryEntry, "action" | "from" | "to">): string {
  if (e.action === "delete") return "stopped serving";
  const side = (s: DeploymentRevisionState | null, arm: "primary" | "canary" | "shadow"): string => {
    if (!s) return "";
    const v = s.versions[arm];
    if (v === null) return "";
    return arm === "canary" && s.spec.canary ? `${v} (${formatNumber(s.spec.canary.percent)}%)` : v;
  };
  const parts: string[] = [];
  for (const arm of ["primary", "canary", "shadow"] as const) {
    const from = side(e.from, arm);
    const to = side(e.to, arm);
    if (e.from === null) {
      if (to) parts.push(`${arm} ${to}`);
    } else if (from !== to) parts.push(`${arm} ${from || "-"} → ${to || "-"}`);
  }
  if (e.from !== null) {
    const changed = SETTINGS.filter(([k]) => JSON.stringify(e.from!.spec[k]) !== JSON.stringify(e.to.spec[k])).map(([, label]) => label);
    if (changed.length) parts.push(`${changed.join(", ")} changed`);
  }
  return parts.join(", ") || (e.from === null ? "" : "no change");
}

// ---------- helpers ----------

/** The body of `--data`: inline JSON, `@file` or `@-` (stdin). */
function readData(cmd: Command, data: string): unknown {
  let text = data;
  if (data.startsWith("@")) {
    const file = data.slice(1);
    try {
      text = file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8");
    } catch (e) {
      return usage(cmd, `cannot read --data ${data}: ${(e as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    return usage(cmd, `--data is not valid JSON: ${(e as Error).message}`);
  }
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

async function finish(cairn: Cairn, d: Deployment, o: ArmFlags, cmd: Command): Promise<void> {
  let out = d;
  if (o.wait) {
    if (!wantsJson(cmd)) process.stderr.write(`waiting for deployment '${d.name}' to be ready…\n`);
    try {
      out = await cairn.deployments.waitUntilReady(d.name, { timeoutMs: (o.timeout ?? 120) * 1000 });
    } catch (e) {
      // Show where it stands, then fail (exit 1) with the reason.
      if (!wantsJson(cmd)) {
        try {
          printDeployment(await cairn.deployments.get(d.name));
        } catch {
          // the error below says enough
        }
      }
      throw e;
    }
  }
  if (wantsJson(cmd)) printJson(out);
  else printDeployment(out);
}

/** The group named `name` (or aliased so), else a new one. */
function group(program: Command, names: string[], create: () => Command): Command {
  return program.commands.find((c) => names.includes(c.name()) || c.aliases().some((a) => names.includes(a))) ?? create();
}

// ---------- commands ----------

/**
 * Adds the managed-deployment commands to the `deploy` group (created when absent; `cairn deploy
 * export` joins the same group).
 * @example registerDeploymentCommands(program); // cairn deploy create fraud --model fraud --alias champion --wait
 */
export function registerDeploymentCommands(program: Command): void {
  const deploy = group(program, ["deploy"], () => usageErrorsExit2(program.command("deploy")));
  deploy.description("managed deployments on the Cairn server (canary, shadow, history, rollback) and cluster manifests for `cairn serve`");

  addArmOptions(
    deploy
      .command("create")
      .description("deploy a registered model on the Cairn server (it loads in the background; --wait waits until it is ready)")
      .argument("<name>", "the deployment's name (a DNS label: lower-case letters, digits and '-')")
      .requiredOption("--model <model>", "the registered model whose versions it serves"),
    false,
  ).action(
    action(async (name: string, o: ArmFlags, cmd: Command) => {
      const problem = armFlagProblem(o, false);
      if (problem) usage(cmd, problem);
      const named = DeploymentName.safeParse(name);
      if (!named.success) usage(cmd, `deployment name '${name}' ${named.error.issues[0]?.message ?? "is invalid"}`);
      const cairn = clientFor(cmd);
      await finish(cairn, await cairn.deployments.create(createRequest(name, o)), o, cmd);
    }),
  );

  addArmOptions(
    deploy
      .command("update")
      .description("change a deployment (a new revision in its history): primary, canary, shadow, routing, batching")
      .argument("<name>", "the deployment"),
    true,
  ).action(
    action(async (name: string, o: ArmFlags, cmd: Command) => {
      const problem = armFlagProblem(o, true);
      if (problem) usage(cmd, problem);
      if (!hasChange(o)) usage(cmd, "nothing to change: give at least one of the arm, routing, batching or logging options");
      const cairn = clientFor(cmd);
      const current = updateNeedsCurrent(o) ? await cairn.deployments.get(name) : undefined;
      await finish(cairn, await cairn.deployments.update(name, updateRequest(o, current)), o, cmd);
    }),
  );

  deploy
    .command("status")
    .description("show a deployment: its spec, revision, state and each arm's state")
    .argument("<name>", "the deployment")
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const d = await clientFor(cmd).deployments.get(name);
        if (wantsJson(cmd)) printJson(d);
        else printDeployment(d);
      }),
    );

  deploy
    .command("ls")
    .alias("list")
    .description("list deployments")
    .option("--model <model>", "only this model's")
    .action(
      action(async (o: { model?: string }, cmd: Command) => {
        const list = await clientFor(cmd).deployments.list(o.model === undefined ? {} : { model: o.model });
        if (wantsJson(cmd)) return printJson({ deployments: list });
        printTable(
          ["NAME", "MODEL", "PRIMARY", "CANARY", "SHADOW", "REVISION", "STATE", "UPDATED"],
          list.map((d) => {
            const arm = (a: "primary" | "canary" | "shadow") => d.arms.find((x) => x.arm === a);
            const canary = arm("canary");
            return [
              d.name,
              d.spec.model,
              arm("primary")?.version ?? refText(d.spec.primary),
              canary ? `${canary.version} (${traffic(d, canary)})` : "",
              arm("shadow")?.version ?? "",
              d.revision,
              d.state,
              formatTime(d.updatedAt),
            ];
          }),
        );
      }),
    );

  deploy
    .command("promote-canary")
    .description("make the canary's version the primary and remove the canary")
    .argument("<name>", "the deployment")
    .option("--message <text>", "why (shown in the history)")
    .action(
      action(async (name: string, o: { message?: string }, cmd: Command) => {
        const d = await clientFor(cmd).deployments.promoteCanary(name, o.message === undefined ? {} : { message: o.message });
        if (wantsJson(cmd)) printJson(d);
        else printDeployment(d);
      }),
    );

  deploy
    .command("rollback")
    .description("return to the previous revision's state (or --to-revision's), recorded as a new revision")
    .argument("<name>", "the deployment")
    .addOption(new Option("--to-revision <n>", "the revision whose state to return to").argParser(positiveInt))
    .option("--message <text>", "why (shown in the history)")
    .action(
      action(async (name: string, o: { toRevision?: number; message?: string }, cmd: Command) => {
        const opts: { toRevision?: number; message?: string } = {};
        if (o.toRevision !== undefined) opts.toRevision = o.toRevision;
        if (o.message !== undefined) opts.message = o.message;
        const d = await clientFor(cmd).deployments.rollback(name, opts);
        if (wantsJson(cmd)) printJson(d);
        else printDeployment(d);
      }),
    );

  deploy
    .command("history")
    .description("a deployment's changes, newest first: who, when, what")
    .argument("<name>", "the deployment")
    .addOption(new Option("--limit <n>", "at most N entries").argParser(positiveInt))
    .addOption(new Option("--before <revision>", "entries below this revision (page on)").argParser(positiveInt))
    .action(
      action(async (name: string, o: { limit?: number; before?: number }, cmd: Command) => {
        const opts: { limit?: number; before?: number } = {};
        if (o.limit !== undefined) opts.limit = o.limit;
        if (o.before !== undefined) opts.before = o.before;
        const page = await clientFor(cmd).deployments.history(name, opts);
        if (wantsJson(cmd)) return printJson(page);
        printTable(
          ["REVISION", "TIME", "ACTOR", "ACTION", "CHANGE", "MESSAGE"],
          page.history.map((e) => [e.revision, formatTime(e.time), e.actor, e.action, historySummary(e), e.message]),
          { maxCell: 80 },
        );
        if (page.next !== undefined) process.stderr.write(`(older entries: --before ${page.next})\n`);
      }),
    );

  deploy
    .command("stats")
    .description("live traffic of a deployment on the server: per-arm requests, errors and latency")
    .argument("<name>", "the deployment")
    .addOption(new Option("--window <seconds>", "over the last N seconds, 10-3600 (default 300)").argParser(positiveInt))
    .action(
      action(async (name: string, o: { window?: number }, cmd: Command) => {
        if (o.window !== undefined && (o.window < 10 || o.window > 3600)) usage(cmd, "--window must be from 10 to 3600 seconds");
        const s = await clientFor(cmd).deployments.stats(name, o.window === undefined ? {} : { windowSeconds: o.window });
        if (wantsJson(cmd)) return printJson(s);
        const ms = (v: number | null) => (v === null ? "" : `${formatNumber(v)} ms`);
        printTable(["ARM", "VERSION", "REQUESTS", "ERRORS", "P50", "P99"], s.arms.map((a) => [a.arm, a.version, a.requests, a.errors, ms(a.p50Ms), ms(a.p99Ms)]));
        if (s.shadowDropped > 0) process.stdout.write(`shadow copies dropped (shadow saturated): ${s.shadowDropped}\n`);
      }),
    );

  deploy
    .command("delete")
    .description("delete a deployment: it stops serving (its history and inference log are kept)")
    .argument("<name>", "the deployment")
    .option("-y, --yes", "do not ask for confirmation")
    .action(
      action(async (name: string, o: { yes?: boolean }, cmd: Command) => {
        if (!o.yes) {
          if (!process.stdin.isTTY) usage(cmd, `refusing to delete deployment '${name}' without --yes (stdin is not a terminal)`);
          if (!(await confirm(`Delete deployment '${name}'? It stops serving at once. [y/N] `))) {
            process.stderr.write("not deleted\n");
            process.exitCode = 1;
            return;
          }
        }
        await clientFor(cmd).deployments.delete(name);
        if (wantsJson(cmd)) printJson({ deleted: name });
        else process.stderr.write(`deleted deployment '${name}'\n`);
      }),
    );

  deploy
    .command("predict")
    .description("send one request to a deployment and print the answer (Open Inference Protocol v2; --invocations: MLflow scoring)")
    .argument("<name>", "the deployment")
    .requiredOption("--data <json>", "the request body: JSON, @file or @- (stdin)")
    .option("--invocations", "send an MLflow scoring body (dataframe_split, instances, …) to /invocations instead")
    .option("-H, --header <key=value>", "a request header, e.g. the sticky header (repeatable)", keyValue)
    .action(
      action(async (name: string, o: { data: string; invocations?: boolean; header?: Record<string, string> }, cmd: Command) => {
        const body = readData(cmd, o.data);
        if (!o.invocations && (typeof body !== "object" || body === null || !Array.isArray((body as { inputs?: unknown }).inputs))) {
          usage(cmd, `--data must be an Open Inference Protocol request, {"inputs": [{"name", "datatype", "shape", "data"}, …]} (or use --invocations for MLflow scoring)`);
        }
        const cairn = clientFor(cmd);
        const opts = o.header ? { headers: o.header } : {};
        const p = o.invocations ? await cairn.deployments.invoke(name, body, opts) : await cairn.deployments.predict(name, body as InferRequest, opts);
        if (wantsJson(cmd)) return printJson(p);
        process.stderr.write(`answered by the ${p.arm ?? "?"} arm, version ${p.version ?? "?"}, request id ${p.requestId ?? "?"}\n`);
        printJson(p.response);
      }),
    );

  for (const c of deploy.commands) if (c.name() !== "export") usageErrorsExit2(c);
}
