#!/usr/bin/env node
import { Command, Option } from "commander";
import { CONFIG_ENV, type ServerConfig } from "../platform/config.js";
import { VERSION } from "../version.js";
import { usageErrorsExit2 } from "./output.js";
import { registerTrackingCommands } from "../modules/tracking/cli.js";
import { registerRegistryCommands } from "../modules/registry/cli.js";

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

  program
    .command("server")
    .description("start the Cairn server (SQLite and ./cairn-data by default)")
    .addOption(new Option("--host <host>", "address to listen on").env(CONFIG_ENV.host).default("127.0.0.1"))
    .addOption(new Option("--port <port>", "port to listen on").env(CONFIG_ENV.port).default("5005"))
    .addOption(new Option("--data-dir <dir>", "data directory for the embedded defaults").env(CONFIG_ENV.dataDir).default("./cairn-data"))
    .addOption(new Option("--backend-store-uri <uri>", "sqlite:///path.db or postgresql://user@host:5432/db (default: sqlite in the data dir)").env(CONFIG_ENV.backendStoreUri))
    .addOption(new Option("--artifacts-uri <uri>", "file:///path or s3://bucket/prefix (default: <data-dir>/artifacts)").env(CONFIG_ENV.artifactsUri))
    .addOption(new Option("--auth-tokens <tokens>", "comma-separated bearer tokens; turns auth on").env(CONFIG_ENV.authTokens))
    .addOption(new Option("--allowed-hosts <names>", "comma-separated host names a loopback-bound server also answers to (reverse proxy)").env(CONFIG_ENV.allowedHosts))
    .addOption(new Option("--body-limit <bytes>", "largest JSON request body").env(CONFIG_ENV.bodyLimit))
    .addOption(new Option("--log-level <level>", "fatal|error|warn|info|debug|silent").env(CONFIG_ENV.logLevel).default("info"))
    .action(async (opts: Record<string, string | undefined>) => {
      const { startServer } = await import("../server.js");
      const cfg: Partial<ServerConfig> = { host: opts.host!, port: Number(opts.port), dataDir: opts.dataDir!, logLevel: opts.logLevel! };
      if (opts.backendStoreUri) cfg.backendStoreUri = opts.backendStoreUri;
      if (opts.artifactsUri) cfg.artifactsUri = opts.artifactsUri;
      if (opts.authTokens) cfg.authTokens = opts.authTokens.split(",");
      if (opts.allowedHosts) cfg.allowedHosts = opts.allowedHosts.split(",");
      if (opts.bodyLimit) cfg.bodyLimit = Number(opts.bodyLimit);
      if (!Number.isInteger(cfg.port)) program.error(`error: --port must be a number, got '${opts.port}'`, { exitCode: 2 });
      const server = await startServer(cfg);
      server.app.log.info({ url: server.url, backend: redact(server.config.backendStoreUri), artifacts: server.config.artifactsUri }, "Cairn server listening");
      process.stderr.write(`Cairn ${VERSION} listening on ${server.url} (UI at ${server.url}/)\n`);
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
  return program;
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
