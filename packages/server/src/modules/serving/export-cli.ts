import fs from "node:fs";
import { InvalidArgumentError, Option, type Command } from "commander";
import { isCairnError } from "@cairn/sdk";
import { action, clientFor, printError, printJson, usageErrorsExit2, wantsJson } from "../../cli/output.js";
import { positiveInt, nonNegativeInt } from "../../cli/parsers.js";
import { dnsLabel } from "../pipelines/export.js";
import { exportServing, SERVING_EXPORT_FORMATS, writeServingImageContext, type ServingExportOptions } from "./export.js";

/**
 * `cairn deploy export --format k8s|kserve --name NAME --model models:/x@y --image IMAGE`: prints the
 * manifests that run `cairn serve` at scale (see `export.ts`) on stdout, or writes them to `-o`.
 * `cairn model dockerfile models:/x@y --out DIR`: writes a build context for a self-contained serving image.
 * Exit codes: 0 done, 1 an unexpected or server error, 2 usage or an invalid option.
 */

interface DeployExportCli extends ServingExportOptions {
  out?: string;
}

interface DockerfileCli {
  out: string;
  base: string;
  port: number;
}

const USAGE = 2;


function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError("must be a port number (1-65535)");
  return n;
}

/** An option error: the first line, then one line per problem; exit 2. */
function printOptionError(e: unknown): boolean {
  if (!isCairnError(e) || e.code !== "INVALID_PARAMETER_VALUE") return false;
  const list = (e.details ?? []).filter((d) => typeof (d as { message?: unknown }).message === "string") as { message: string }[];
  if (list.length > 0) {
    process.stderr.write(`error: ${e.code}: ${e.message.split(": ")[0]}\n`);
    for (const d of list) process.stderr.write(`  - ${d.message}\n`);
  } else printError(e);
  process.exitCode = USAGE;
  return true;
}

/** The group named `name` (or aliased so), else a new one. */
function group(program: Command, names: string[], create: () => Command): Command {
  return program.commands.find((c) => names.includes(c.name()) || c.aliases().some((a) => names.includes(a))) ?? create();
}

/**
 * Adds `cairn deploy export` and `cairn model dockerfile`. The `deploy` group is created when absent.
 * `dockerfile` goes into the registry's `models` group when there is one (which then also answers to
 * `model`), else into a `model` group created here.
 */
export function registerServingExportCommands(program: Command): void {
  const deploy = group(program, ["deploy"], () => usageErrorsExit2(program.command("deploy").description("deploy served models: cluster manifests for `cairn serve`")));
  const exp = deploy
    .command("export")
    .description("compile a served model into Kubernetes manifests (Deployment, Service, HPA) or a KServe InferenceService")
    .addOption(new Option("--format <format>", "k8s (Deployment + Service + HorizontalPodAutoscaler) or kserve (InferenceService)").choices([...SERVING_EXPORT_FORMATS]).makeOptionMandatory())
    .requiredOption("--name <name>", "the name of the manifests (made a DNS-1035 label)")
    .requiredOption("--model <uri>", "the model to serve: models:/name@alias, models:/name/3, models:/name/latest")
    .requiredOption("--image <image>", "an image with the cairn CLI on its PATH")
    .addOption(new Option("--replicas <n>", "initial replicas (default: --min-replicas)").argParser(positiveInt))
    .addOption(new Option("--min-replicas <n>", "autoscaling floor (default: --replicas, else 1)").argParser(positiveInt))
    .addOption(new Option("--max-replicas <n>", "autoscaling ceiling (default: max(min, 3))").argParser(positiveInt))
    .option("--cpu <quantity>", "CPU request per pod (the HPA's utilization is relative to it)", "500m")
    .option("--memory <quantity>", "memory request and limit per pod", "1Gi")
    .addOption(new Option("--target-cpu <percent>", "target average CPU utilization").argParser(positiveInt).default(70))
    .addOption(new Option("--port <port>", "the port cairn serve listens on in the pod").argParser(port).default(8080))
    .option("--namespace <namespace>", "metadata.namespace of the manifests")
    .option("--cairn-url <url>", "CAIRN_URL of the pods: the Cairn server the model is downloaded from")
    .option("--token-secret <secret>", "a Secret whose key 'token' is the pods' CAIRN_TOKEN")
    .option("--token-secret-key <key>", "the key in --token-secret", "token")
    .addOption(new Option("--max-batch-size <rows>", "micro-batching: rows per batch (0 or 1: off)").argParser(nonNegativeInt))
    .addOption(new Option("--max-latency-ms <ms>", "micro-batching: the longest a request waits for others").argParser(nonNegativeInt))
    .option("-o, --out <file>", "write the manifests to a file instead of stdout")
    .action((opts: DeployExportCli, cmd: Command) => {
      let text: string;
      try {
        const { out: _out, ...rest } = opts;
        text = exportServing(rest);
      } catch (e) {
        if (printOptionError(e)) return;
        printError(e);
        process.exitCode = 1;
        return;
      }
      if (opts.out === undefined) {
        process.stdout.write(text);
        return;
      }
      fs.writeFileSync(opts.out, text);
      const what = opts.format === "kserve" ? "InferenceService" : "Deployment, Service and HorizontalPodAutoscaler";
      if (wantsJson(cmd)) printJson({ format: opts.format, out: opts.out, model: opts.model });
      else process.stderr.write(`wrote ${what} for ${opts.model} to ${opts.out}\n`);
    });
  usageErrorsExit2(exp);

  const model = group(program, ["model", "models"], () => usageErrorsExit2(program.command("model").description("model tools")));
  if (model.name() !== "model" && !model.aliases().includes("model")) model.alias("model");
  const dockerfile = model
    .command("dockerfile")
    .description("write a Docker build context for a self-contained image serving one model version (no Cairn server needed at run time)")
    .argument("<model-uri>", "models:/name@alias, models:/name/3 or models:/name/latest (resolved now: the image pins that version)")
    .requiredOption("--out <dir>", "the build context directory to write")
    .option("--base <image>", "the base image (Node ≥ 20.19 with npm, glibc)", "node:20-slim")
    .addOption(new Option("--port <port>", "the port the server listens on in the container").argParser(port).default(8080))
    .action(
      action(async (uri: string, opts: DockerfileCli, cmd: Command) => {
        try {
          const ctx = await writeServingImageContext({ cairn: clientFor(cmd), model: uri, outDir: opts.out, base: opts.base, port: opts.port });
          if (wantsJson(cmd)) printJson(ctx);
          else {
            process.stdout.write(`wrote a build context for ${ctx.name} version ${ctx.version} to ${ctx.dir}: ${ctx.files.join(", ")}\n`);
            process.stdout.write(`build it with: docker build -t ${dnsLabel(ctx.name)}:${ctx.version} ${ctx.dir}   (see ${ctx.dir}/README.md)\n`);
          }
        } catch (e) {
          if (isCairnError(e) && e.code === "INVALID_PARAMETER_VALUE" && /port|base image|Invalid model URI/.test(e.message)) {
            printError(e);
            process.exitCode = USAGE;
            return;
          }
          throw e;
        }
      }),
    );
  usageErrorsExit2(dockerfile);
}
