import os from "node:os";
import path from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { Cairn } from "@cairn/sdk";
import { action, clientFor, formatTime, globalOptions, printJson, printTable, usageErrorsExit2, wantsJson } from "../../cli/output.js";
import { parseDuration } from "../pipelines/definition.js";
import { positiveInt, nonNegativeInt } from "../../cli/parsers.js";
import { ModelHost } from "./model-host.js";
import { buildServeApp } from "./serve-app.js";
import { InferenceLogBuffer } from "./log-buffer.js";

interface ServeOptions {
  host: string;
  port: string;
  intraOpThreads?: number;
  interOpThreads?: number;
  maxBatchSize: number;
  maxLatencyMs: number;
  allowNan?: boolean;
  cacheDir?: string;
  pollSeconds: number;
  log: boolean;
  logSample: number;
}

function share(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("must be a number from 0 to 1");
  return n;
}


/** Adds `cairn serve MODEL_URI` (one registry model behind the Open Inference Protocol and MLflow's /invocations) and `cairn inference-log MODEL`. */
export function registerServeCommand(program: Command): void {
  usageErrorsExit2(
    program
      .command("inference-log")
      .description("a model's logged predictions, oldest first")
      .argument("<model>", "the registered model")
      .option("--version <v>", "only this version's")
      .option("--deployment <name>", "only this deployment's (serve:<model> for cairn serve)")
      .addOption(new Option("--since <duration>", "only the last …, e.g. 15m, 1h").argParser((v: string) => {
        const ms = parseDuration(v);
        if (ms === undefined || ms <= 0) throw new InvalidArgumentError("must be a duration such as 15m or 1h");
        return ms;
      }))
      .addOption(new Option("--limit <n>", "at most N records").argParser(positiveInt).default(100))
      .action(
        action(async (model: string, opts: { version?: string; deployment?: string; since?: number; limit: number }, cmd: Command) => {
          const page = await clientFor(cmd).client.api.queryInferenceLog({
            params: { name: model },
            query: { limit: opts.limit, ...(opts.version ? { version: opts.version } : {}), ...(opts.deployment ? { deployment: opts.deployment } : {}), ...(opts.since ? { from: Date.now() - opts.since } : {}) },
          });
          if (wantsJson(cmd)) return printJson(page);
          printTable(
            ["TIME", "REQUEST", "VERSION", "DEPLOYMENT", "ARM", "STATUS", "LATENCY"],
            page.records.map((r) => [formatTime(r.time), r.requestId, r.version, r.deployment, r.arm, r.status, `${r.latencyMs.toFixed(2)} ms`]),
          );
        }),
      ),
  );

  usageErrorsExit2(
    program
      .command("serve")
      .description("serve one registry model: Open Inference Protocol v2 REST (/v2/...) and MLflow's POST /invocations")
      .argument("<model-uri>", "models:/name@alias, models:/name/3 or models:/name/latest")
      .option("--host <host>", "address to listen on", "127.0.0.1")
      .option("--port <port>", "port to listen on", "8080")
      .addOption(new Option("--intra-op-threads <n>", "onnxruntime threads within an operator").argParser(positiveInt))
      .addOption(new Option("--inter-op-threads <n>", "onnxruntime threads across operators").argParser(positiveInt))
      .addOption(new Option("--max-batch-size <rows>", "micro-batching: rows per batch (0 or 1: off)").argParser(nonNegativeInt).default(64))
      .addOption(new Option("--max-latency-ms <ms>", "micro-batching: the longest a request waits for others while the model is busy").argParser(nonNegativeInt).default(2))
      .option("--allow-nan", "accept NaN in float inputs")
      .option("--cache-dir <dir>", "where model packages are downloaded (default: <tmp>/cairn-serve)")
      .addOption(new Option("--poll-seconds <s>", "with an alias: how often to check whether it moved, and roll forward (0: never)").argParser(nonNegativeInt).default(10))
      .option("--no-log", "do not record predictions in the server's inference log")
      .addOption(new Option("--log-sample <share>", "the share of requests logged, 0–1").argParser(share).default(1))
      .action(
        action(async (uri: string, opts: ServeOptions, cmd: Command) => {
          const g = globalOptions(cmd);
          const cairn = new Cairn({ url: g.url, token: g.token, handleExit: false });
          const host = new ModelHost({
            cairn,
            cacheDir: path.resolve(opts.cacheDir ?? path.join(os.tmpdir(), "cairn-serve")),
            runtime: { ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}), ...(opts.interOpThreads ? { interOpThreads: opts.interOpThreads } : {}) },
            batching: { maxBatchSize: opts.maxBatchSize, maxLatencyMs: opts.maxLatencyMs },
          });
          const model = await host.load(uri);
          let logFailing = false;
          const log = opts.log
            ? new InferenceLogBuffer({
                sample: opts.logSample,
                sink: async (records) => {
                  try {
                    await cairn.client.api.appendInferenceLog({ params: { name: model.name }, body: { records } });
                  } catch (e) {
                    // Said once per run of failures: the buffer keeps the records and tries again.
                    if (!logFailing) process.stderr.write(`warning: inference log: ${(e as Error).message}; keeping records and retrying\n`);
                    logFailing = true;
                    throw e;
                  }
                  logFailing = false;
                },
              })
            : undefined;
          const app = buildServeApp({ host, ...(log ? { log } : {}), ...(opts.allowNan ? { allowNaN: true } : {}) });
          const port = Number(opts.port);
          if (!Number.isInteger(port)) cmd.error(`error: --port must be a number, got '${opts.port}'`, { exitCode: 2 });
          await app.listen({ host: opts.host, port });
          const addr = app.server.address();
          const url = typeof addr === "object" && addr ? `http://${opts.host}:${addr.port}` : `http://${opts.host}:${port}`;
          process.stderr.write(`serving ${model.name} version ${model.version} (${model.platform}) on ${url}: POST ${url}/v2/models/${model.name}/infer, POST ${url}/invocations\n`);

          // An alias can move (a promotion): follow it, loading and warming the new version before switching.
          let timer: NodeJS.Timeout | undefined;
          if (uri.includes("@") && opts.pollSeconds > 0) {
            timer = setInterval(async () => {
              try {
                const v = await cairn.models.resolve(uri);
                if (String(v.version) !== host.current?.version) {
                  const next = await host.load(uri);
                  process.stderr.write(`${uri} moved: now serving version ${next.version}\n`);
                }
              } catch (e) {
                process.stderr.write(`warning: following ${uri}: ${(e as Error).message}; still serving version ${host.current?.version}\n`);
              }
            }, opts.pollSeconds * 1000);
          }
          const stop = () => {
            if (timer) clearInterval(timer);
            void app
              .close()
              .then(() => log?.close())
              .then(() => host.close())
              .then(() => process.exit(0));
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        }),
      ),
  );
}
