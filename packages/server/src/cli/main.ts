#!/usr/bin/env node
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, Option } from "commander";
import { CONFIG_ENV, type ServerConfig } from "../platform/config.js";
import { VERSION } from "../version.js";
import { usageErrorsExit2 } from "./output.js";
import { registerTrackingCommands } from "../modules/tracking/cli.js";
import { registerRegistryCommands } from "../modules/registry/cli.js";
import { registerAuthCommands } from "../modules/auth/cli.js";
import { registerAuditCommands } from "../modules/audit/cli.js";
import { registerDataCommands } from "../modules/datasets/cli.js";
import { registerPipelineCommands } from "../modules/pipelines/cli.js";
import { registerPipelineExportCommands } from "../modules/pipelines/export-cli.js";
import { registerRemotePipelineCommands } from "../modules/pipelines/remote-cli.js";
import { registerServeCommand } from "../modules/serving/serve-cli.js";
import { registerServingExportCommands } from "../modules/serving/export-cli.js";
import { registerDeploymentCommands } from "../modules/deployments/cli.js";
import { registerSweepCommand } from "../modules/pipelines/sweep-cli.js";
import { registerMonitoringCommands } from "../modules/monitoring/cli.js";

/**
 * Builds the `cairn` command-line program. Client commands share `--url`, `--token` and `--json`.
 */
export function buildProgram(): Command {
  const program = new Command("cairn")
    .description("Cairn: experiment tracking, model registry, data, pipelines, serving and monitoring in one server")
    .version(VERSION)
    .addOption(new Option("--url <url>", "server URL").env("CAIRN_URL").default("http://127.0.0.1:5005"))
    .addOption(new Option("--token <token>", "bearer token, when the server has auth on").env("CAIRN_TOKEN"))
    .option("--json", "print machine-readable JSON instead of tables", false)
    .showHelpAfterError();
  usageErrorsExit2(program);
  rootVersionOnlyBeforeSubcommand(program);

  program
    .command("server")
    .description("start the Cairn server (SQLite and ./cairn-data by default)")
    .addOption(new Option("--host <host>", "address to listen on").env(CONFIG_ENV.host).default("127.0.0.1"))
    .addOption(new Option("--port <port>", "port to listen on").env(CONFIG_ENV.port).default("5005"))
    .addOption(new Option("--data-dir <dir>", "data directory for the embedded defaults").env(CONFIG_ENV.dataDir).default("./cairn-data"))
    .addOption(new Option("--backend-store-uri <uri>", "sqlite:///path.db or postgresql://user@host:5432/db (default: sqlite in the data dir)").env(CONFIG_ENV.backendStoreUri))
    .addOption(new Option("--artifacts-uri <uri>", "file:///path or s3://bucket/prefix (default: <data-dir>/artifacts)").env(CONFIG_ENV.artifactsUri))
    .addOption(new Option("--auth", "turn auth on: users, API tokens and project roles (the first start prints an admin token once)").env(CONFIG_ENV.auth))
    .addOption(new Option("--auth-tokens <tokens>", "comma-separated static admin bearer tokens; turns auth on").env(CONFIG_ENV.authTokens))
    .addOption(new Option("--insecure", "allow a non-loopback --host with auth off (anyone who can reach it can change everything)").env(CONFIG_ENV.insecure))
    .addOption(new Option("--no-audit", `do not record mutating requests in the audit log (env ${CONFIG_ENV.audit}=false)`))
    .addOption(new Option("--allowed-hosts <names>", "comma-separated host names a loopback-bound server also answers to (reverse proxy)").env(CONFIG_ENV.allowedHosts))
    .addOption(new Option("--body-limit <bytes>", "largest JSON request body").env(CONFIG_ENV.bodyLimit))
    .addOption(new Option("--drift-upload-limit <bytes>", "largest upload to POST /api/v1/drift (the files compared)").env(CONFIG_ENV.driftUploadLimit))
    .addOption(new Option("--log-level <level>", "fatal|error|warn|info|debug|silent").env(CONFIG_ENV.logLevel).default("info"))
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { startServer } = await import("../server.js");
      const str = (k: string): string | undefined => (typeof opts[k] === "string" ? (opts[k] as string) : undefined);
      const flag = (k: string): boolean | undefined => (opts[k] === undefined ? undefined : opts[k] === true || /^(1|true|yes|on)$/i.test(String(opts[k])));
      const cfg: Partial<ServerConfig> = { host: str("host")!, port: Number(opts.port), dataDir: str("dataDir")!, logLevel: str("logLevel")! };
      if (flag("auth") !== undefined) cfg.auth = flag("auth");
      if (flag("insecure") !== undefined) cfg.insecure = flag("insecure");
      // Commander defaults a --no-x option to true; only an explicit --no-audit overrides CAIRN_AUDIT.
      if (opts.audit === false) cfg.audit = false;
      if (str("backendStoreUri")) cfg.backendStoreUri = str("backendStoreUri");
      if (str("artifactsUri")) cfg.artifactsUri = str("artifactsUri");
      if (str("authTokens")) cfg.authTokens = str("authTokens")!.split(",");
      if (str("allowedHosts")) cfg.allowedHosts = str("allowedHosts")!.split(",");
      if (str("bodyLimit")) cfg.bodyLimit = Number(str("bodyLimit"));
      if (str("driftUploadLimit")) cfg.driftUploadLimit = Number(str("driftUploadLimit"));
      if (!Number.isInteger(cfg.port)) program.error(`error: --port must be a number, got '${opts.port}'`, { exitCode: 2 });
      const server = await startServer(cfg);
      server.app.log.info({ url: server.url, backend: redact(server.config.backendStoreUri), artifacts: server.config.artifactsUri }, "Cairn server listening");
      process.stderr.write(`Cairn ${VERSION} listening on ${server.url} (UI at ${server.url}/)\n`);
      if (server.bootstrapToken) {
        process.stdout.write(`\nAuth is on. An admin user 'admin' was created with this token (shown once; store it safely):\n\n  ${server.bootstrapToken}\n\nUse it with: export CAIRN_TOKEN=<token>   (MLflow clients: MLFLOW_TRACKING_TOKEN=<token>)\n\n`);
      }
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        server.app.log.info({ signal }, "shutting down");
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });

  registerTrackingCommands(program);
  registerRegistryCommands(program);
  registerAuthCommands(program);
  registerAuditCommands(program);
  registerDataCommands(program);
  registerPipelineCommands(program);
  registerPipelineExportCommands(program);
  registerRemotePipelineCommands(program);
  registerServeCommand(program);
  registerServingExportCommands(program);
  registerDeploymentCommands(program);
  registerSweepCommand(program);
  registerMonitoringCommands(program);
  registerDemoCommand(program);
  return program;
}

/**
 * `cairn demo`: the whole lifecycle on the embedded default, built on examples/credit-risk (its
 * compiled `dist/demo/main.js`, found from this package's place in the repository).
 */
function registerDemoCommand(program: Command): void {
  usageErrorsExit2(
    program
      .command("demo")
      .description("run the whole model lifecycle on a fresh embedded server in about two minutes: data → pipeline → registry and approval → deployment → traffic → drift → alert → retraining → shadow evaluation → canary → 100%")
      .option("--port <port>", "port for the demo's server (the next free one when taken; 0: any)", "5005")
      .option("--data-dir <dir>", "a new or empty directory for its data (default: a fresh temporary one)")
      .option("--rows <n>", "borrowers in each training dataset version", "20000")
      .option("--serve", "keep serving the UI afterwards (the default on a terminal)")
      .option("--no-serve", "stop the server when the demo ends")
      .option("--summary <file>", "write what the demo did as JSON")
      .action(async (opts: { port: string; dataDir?: string; rows: string; serve?: boolean; summary?: string }, cmd: Command) => {
        const port = Number(opts.port);
        const rows = Number(opts.rows);
        if (!Number.isInteger(port) || port < 0 || port > 65535) cmd.error(`error: --port must be a port number, got '${opts.port}'`, { exitCode: 2 });
        if (!Number.isInteger(rows) || rows < 2000) cmd.error(`error: --rows must be a whole number >= 2000, got '${opts.rows}'`, { exitCode: 2 });
        const entry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../examples/credit-risk/dist/demo/main.js");
        if (!existsSync(entry)) throw new Error(`the demo lives in the repository's examples/credit-risk and is not built (${entry} is missing): run npm run build`);
        const { runDemoCli } = (await import(pathToFileURL(entry).href)) as { runDemoCli(o: { port: number; rows: number; dataDir?: string; serve?: boolean; summary?: string }): Promise<unknown> };
        await runDemoCli({ port, rows, ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), ...(opts.serve !== undefined ? { serve: opts.serve } : {}), ...(opts.summary ? { summary: path.resolve(opts.summary) } : {}) });
        process.exit(0);
      }),
  );
}

function redact(uri: string): string {
  return uri.replace(/\/\/([^:@/]+):[^@/]+@/, "//$1:***@");
}

/** Runs the CLI; errors print `error: CODE: message` and exit 1. */
export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    process.stderr.write(`error: ${err.code && /^[A-Z_]+$/.test(err.code) ? `${err.code}: ` : ""}${err.message ?? String(e)}\n`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("/cli/main.ts")) {
  void main();
}

/**
 * Commander recognises the root's `-V, --version` anywhere on the command line, so
 * `cairn deploy create … --version 3` would print Cairn's version and exit 0 without deploying (the
 * same happens to `cairn models card … --version N`). This keeps the root flag only before the
 * first subcommand, leaving a later `--version` to the subcommand that declares it.
 */
function rootVersionOnlyBeforeSubcommand(program: Command): void {
  const parseOptions = program.parseOptions.bind(program);
  program.parseOptions = (args: string[]) => {
    const opt = program.options.find((o) => o.long === "--version");
    const sub = args.findIndex((a) => !a.startsWith("-") && program.commands.some((c) => c.name() === a || c.aliases().includes(a)));
    const flag = args.findIndex((a) => a === "--version" || (opt?.short !== undefined && a === opt.short));
    if (!opt || sub < 0 || flag < 0 || flag < sub) return parseOptions(args);
    const options = program.options as Option[];
    const i = options.indexOf(opt);
    options.splice(i, 1);
    try {
      return parseOptions(args);
    } finally {
      options.splice(i, 0, opt);
    }
  };
}
