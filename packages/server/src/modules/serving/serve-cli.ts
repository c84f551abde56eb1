import os from "node:os";
import path from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { Cairn } from "@cairn/sdk";
import { action, globalOptions, usageErrorsExit2 } from "../../cli/output.js";
import { positiveInt } from "../../cli/parsers.js";
import { ModelHost } from "./model-host.js";
import { buildServeApp } from "./serve-app.js";

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
}

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be a whole number ≥ 0");
  return n;
}

/** Adds `cairn serve MODEL_URI`: one registry model behind the Open Inference Protocol and MLflow's /invocations. */
export function registerServeCommand(program: Command): void {
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
          const app = buildServeApp({ host, ...(opts.allowNan ? { allowNaN: true } : {}) });
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
            void app.close().then(() => host.close()).then(() => process.exit(0));
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        }),
      ),
  );
}
