import { InvalidArgumentError, type Command } from "commander";
import { describeGate, type GateInput, type PromotionPolicyInput, type PromotionRequest, type PromotionStatus } from "@cairn/sdk";
import { action, clientFor, formatTime, printHeading, printJson, printKeyValues, printTable, wantsJson } from "../../cli/output.js";
import { positiveInt } from "../../cli/parsers.js";

const STATUSES: PromotionStatus[] = ["open", "approved", "rejected", "cancelled"];

function collect<T>(parse: (v: string) => T): (v: string, prev: T[] | undefined) => T[] {
  return (v, prev) => [...(prev ?? []), parse(v)];
}

/**
 * A gate from its command-line form: `metrics.NAME OP VALUE` (OP one of >= > <= < ==),
 * `champion:NAME:MAX[:lower]` (not worse than the champion by more than MAX; `lower` when lower is
 * better) or `signature` (compatible with the champion's signature).
 * @throws InvalidArgumentError for anything else
 * @example parseGate("metrics.accuracy>=0.9") // { kind: "metric", metric: "accuracy", op: ">=", value: 0.9 }
 */
export function parseGate(spec: string): GateInput {
  const s = spec.trim();
  if (s === "signature") return { kind: "signature_compatible" };
  const metric = /^metrics\.(.+?)\s*(>=|<=|==|>|<)\s*(\S+)$/.exec(s);
  if (metric) {
    const value = Number(metric[3]);
    if (!Number.isFinite(value)) throw new InvalidArgumentError(`'${metric[3]}' in gate '${spec}' is not a number`);
    return { kind: "metric", metric: metric[1]!, op: metric[2] as ">=" | ">" | "<=" | "<" | "==", value };
  }
  const champ = /^champion:(.+):([^:]+):(lower|higher)$/.exec(s) ?? /^champion:(.+):([^:]+)$/.exec(s);
  if (champ) {
    const max = Number(champ[2]);
    if (!Number.isFinite(max) || max < 0) throw new InvalidArgumentError(`'${champ[2]}' in gate '${spec}' must be a number >= 0`);
    return { kind: "champion_regression", metric: champ[1]!, maxRegression: max, higherIsBetter: champ[3] !== "lower" };
  }
  throw new InvalidArgumentError(`expected 'metrics.NAME>=VALUE' (or > <= < ==), 'champion:NAME:MAX[:lower]' or 'signature', got '${spec}'`);
}

function printRequest(r: PromotionRequest): void {
  printKeyValues([
    ["id", r.id],
    ["model", r.name],
    ["alias", r.alias],
    ["version", `${r.fromVersion === null ? "(none)" : r.fromVersion} → ${r.version}`],
    ["status", r.status],
    ["gates", r.gateResults.length === 0 ? "(none)" : r.gatesPassed ? "all passed" : `${r.gateResults.filter((g) => !g.passed).length} failed`],
    ["requester", r.requester],
    ["reason", r.reason],
    ["created", formatTime(r.createdAt)],
    ...(r.decidedBy !== null ? ([["decided by", r.decidedBy], ["decided", formatTime(r.decidedAt)], ["decision comment", r.decisionComment ?? ""]] as [string, string][]) : []),
  ]);
  if (r.gateResults.length) {
    printHeading("Gates");
    printTable(["PASSED", "GATE", "RESULT"], r.gateResults.map((g) => [g.passed ? "yes" : "NO", describeGate(g.gate), g.message]), { maxCell: 100 });
  }
  if (r.comments.length) {
    printHeading("Comments");
    printTable(["TIME", "AUTHOR", "TEXT"], r.comments.map((c) => [formatTime(c.time), c.author, c.text]), { maxCell: 100 });
  }
}

/** A decided or changed request: one line, or the request as JSON. */
function done(cmd: Command, r: PromotionRequest, line: string): void {
  if (wantsJson(cmd)) return printJson({ promotionRequest: r });
  process.stdout.write(`${line}\n`);
}

/**
 * Adds the promotion commands to `cairn models`: `policy`, `promote`, `requests`, `request`,
 * `approve`, `reject`, `cancel` and `comment`. Errors print `error: CODE: message` and exit 1.
 * @example registerPromotionCommands(program.command("models"));
 */
export function registerPromotionCommands(models: Command): void {
  models
    .command("policy")
    .description("show a model's promotion policy, or change it: --protect and --gate each replace their list (repeatable); --clear empties both")
    .argument("<name>", "model name")
    .option("--protect <alias>", "an alias that changes only through approved promotion requests (repeatable)", collect(String))
    .option("--gate <gate>", "a validation gate: 'metrics.NAME>=VALUE', 'champion:NAME:MAX[:lower]' or 'signature' (repeatable)", collect(parseGate))
    .option("--clear", "remove every protected alias and gate")
    .action(
      action(async (name: string, opts: { protect?: string[]; gate?: GateInput[]; clear?: boolean }, cmd: Command) => {
        const promotions = clientFor(cmd).models.promotions;
        let res = await promotions.getPolicy(name);
        if (opts.clear || opts.protect || opts.gate) {
          const next: PromotionPolicyInput = opts.clear ? { protectedAliases: [], gates: [] } : { protectedAliases: res.policy.protectedAliases, gates: res.policy.gates };
          if (opts.protect) next.protectedAliases = opts.protect;
          if (opts.gate) next.gates = opts.gate;
          res = await promotions.setPolicy(name, next);
        }
        if (wantsJson(cmd)) return printJson(res);
        printKeyValues([
          ["model", res.name],
          ["protected aliases", res.policy.protectedAliases.join(", ") || "(none)"],
          ["updated", res.lastUpdatedTimestamp === null ? "(never)" : formatTime(res.lastUpdatedTimestamp)],
        ]);
        if (res.policy.gates.length) {
          printHeading("Gates");
          printTable(["#", "GATE"], res.policy.gates.map((g, i) => [i + 1, describeGate(g)]), { maxCell: 100 });
        }
      }),
    );

  models
    .command("promote")
    .description("open a promotion request to point an alias at a version (gates are checked now and at approval)")
    .argument("<name>", "model name")
    .argument("<version>", "version number", positiveInt)
    .requiredOption("--alias <alias>", "the alias, e.g. production")
    .requiredOption("--reason <text>", "why this version should take the alias")
    .action(
      action(async (name: string, version: number, opts: { alias: string; reason: string }, cmd: Command) => {
        const r = await clientFor(cmd).models.promotions.request(name, { alias: opts.alias, version, reason: opts.reason });
        if (wantsJson(cmd)) return printJson({ promotionRequest: r });
        process.stdout.write(`Opened promotion request ${r.id}: '${r.name}@${r.alias}' ${r.fromVersion === null ? "(none)" : `v${r.fromVersion}`} → v${r.version}\n\n`);
        printRequest(r);
      }),
    );

  models
    .command("requests")
    .description("list promotion requests, newest first")
    .argument("[name]", "only this model's requests")
    .option("--status <status>", `one of ${STATUSES.join(", ")}`)
    .option("--alias <alias>", "only requests for this alias")
    .option("--max <n>", "show at most N requests", positiveInt, 100)
    .action(
      action(async (name: string | undefined, opts: { status?: string; alias?: string; max: number }, cmd: Command) => {
        if (opts.status !== undefined && !STATUSES.includes(opts.status as PromotionStatus)) {
          cmd.error(`error: --status must be one of ${STATUSES.join(", ")}, got '${opts.status}'`, { exitCode: 2, code: "cairn.usage" });
        }
        const list: PromotionRequest[] = [];
        const query = { ...(name === undefined ? {} : { name }), ...(opts.alias === undefined ? {} : { alias: opts.alias }), ...(opts.status === undefined ? {} : { status: opts.status as PromotionStatus }), maxResults: Math.min(opts.max, 1000) };
        for await (const r of clientFor(cmd).models.promotions.listAll(query)) {
          list.push(r);
          if (list.length >= opts.max) break;
        }
        if (wantsJson(cmd)) return printJson({ promotionRequests: list });
        printTable(
          ["ID", "MODEL", "ALIAS", "FROM", "TO", "STATUS", "GATES", "REQUESTER", "CREATED", "REASON"],
          list.map((r) => [r.id, r.name, r.alias, r.fromVersion ?? "", r.version, r.status, r.gateResults.length === 0 ? "-" : r.gatesPassed ? "pass" : "FAIL", r.requester, formatTime(r.createdAt), r.reason]),
          { maxCell: 60 },
        );
      }),
    );

  models
    .command("request")
    .description("show one promotion request with its gate results and comments")
    .argument("<id>", "request id", positiveInt)
    .action(
      action(async (id: number, _opts: unknown, cmd: Command) => {
        const r = await clientFor(cmd).models.promotions.get(id);
        if (wantsJson(cmd)) return printJson({ promotionRequest: r });
        printRequest(r);
      }),
    );

  models
    .command("approve")
    .description("approve a promotion request (not your own): gates are rechecked and the alias moves")
    .argument("<id>", "request id", positiveInt)
    .option("--comment <text>", "a note on the decision")
    .action(
      action(async (id: number, opts: { comment?: string }, cmd: Command) => {
        const r = await clientFor(cmd).models.promotions.approve(id, opts.comment === undefined ? {} : { comment: opts.comment });
        done(cmd, r, `Approved request ${r.id}: '${r.name}@${r.alias}' → version ${r.version}`);
      }),
    );

  models
    .command("reject")
    .description("reject a promotion request, saying why")
    .argument("<id>", "request id", positiveInt)
    .requiredOption("--comment <text>", "why it is rejected")
    .action(
      action(async (id: number, opts: { comment: string }, cmd: Command) => {
        const r = await clientFor(cmd).models.promotions.reject(id, opts.comment);
        done(cmd, r, `Rejected request ${r.id}`);
      }),
    );

  models
    .command("cancel")
    .description("cancel your own open promotion request")
    .argument("<id>", "request id", positiveInt)
    .option("--comment <text>", "why")
    .action(
      action(async (id: number, opts: { comment?: string }, cmd: Command) => {
        const r = await clientFor(cmd).models.promotions.cancel(id, opts.comment === undefined ? {} : { comment: opts.comment });
        done(cmd, r, `Cancelled request ${r.id}`);
      }),
    );

  models
    .command("comment")
    .description("add a comment to a promotion request")
    .argument("<id>", "request id", positiveInt)
    .argument("<text>", "the comment")
    .action(
      action(async (id: number, text: string, _opts: unknown, cmd: Command) => {
        const r = await clientFor(cmd).models.promotions.comment(id, text);
        done(cmd, r, `Commented on request ${r.id} (${r.comments.length} comment${r.comments.length === 1 ? "" : "s"})`);
      }),
    );
}
