import fs from "node:fs";
import { Option, type Command } from "commander";
import { isCairnError } from "@cairn/sdk";
import { printError, usageErrorsExit2 } from "../../cli/output.js";
import { keyValue } from "../../cli/parsers.js";
import { loadPipeline } from "./definition.js";
import { EXPORT_FORMATS, exportPipeline, upstreamSteps, type ExportOptions } from "./export.js";
import type { Pipeline } from "./types.js";

/**
 * `cairn pipeline export [PIPELINE] --format k8s|argo --image IMAGE`: prints a pipeline compiled into
 * Kubernetes Jobs or an Argo Workflow (see `export.ts`) on stdout, or writes it to `--out`.
 * Exit codes: 0 done, 1 an unexpected error, 2 usage or an invalid definition / export option.
 */

interface ExportCliOptions extends ExportOptions {
  param?: Record<string, string>;
  paramsFile?: string;
  out?: string;
}

const USAGE = 2;

/** Prints a definition / option error like `cairn run` does: the first line, then one line per problem. */
function printDefinitionError(e: unknown): boolean {
  if (!isCairnError(e) || (e.code !== "INVALID_PARAMETER_VALUE" && e.code !== "RESOURCE_DOES_NOT_EXIST")) return false;
  const list = (e.details ?? []).filter((d) => typeof (d as { message?: unknown }).message === "string") as { message: string }[];
  if (list.length > 0) {
    process.stderr.write(`error: ${e.code}: ${e.message.split("\n")[0]}\n`);
    for (const d of list) process.stderr.write(`  - ${d.message}\n`);
  } else printError(e);
  return true;
}

function exportCommand(target: string, opts: ExportCliOptions): void {
  let pipeline: Pipeline;
  let text: string;
  try {
    pipeline = loadPipeline(target, { params: opts.param ?? {}, ...(opts.paramsFile !== undefined ? { paramsFile: opts.paramsFile } : {}) });
    text = exportPipeline(pipeline, {
      format: opts.format,
      image: opts.image,
      ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
      ...(opts.workdir !== undefined ? { workdir: opts.workdir } : {}),
      ...(opts.pvc !== undefined ? { pvc: opts.pvc } : {}),
      ...(opts.serviceAccount !== undefined ? { serviceAccount: opts.serviceAccount } : {}),
    });
  } catch (e) {
    if (printDefinitionError(e)) {
      process.exitCode = USAGE;
      return;
    }
    throw e;
  }
  if (opts.pvc === undefined && pipeline.steps.some((s) => upstreamSteps(s).length > 0)) {
    process.stderr.write("warning: no --pvc: steps run in separate pods and will not see each other's outputs\n");
  }
  if (opts.out !== undefined) {
    fs.writeFileSync(opts.out, text);
    process.stderr.write(`wrote ${opts.format} manifest${opts.format === "k8s" && pipeline.steps.length !== 1 ? "s" : ""} for pipeline ${pipeline.name} to ${opts.out}\n`);
  } else process.stdout.write(text);
}

/** Adds `cairn pipeline export` (creating the `pipeline` command group when it is not there yet). */
export function registerPipelineExportCommands(program: Command): void {
  const group =
    program.commands.find((c) => c.name() === "pipeline") ?? usageErrorsExit2(program.command("pipeline").description("pipeline tools (run pipelines with `cairn run`)"));
  const exp = group
    .command("export")
    .description("compile a pipeline (cairn.yaml) into Kubernetes Jobs or an Argo Workflow manifest")
    .argument("[pipeline]", "a cairn.yaml file, or a directory holding one", ".")
    .addOption(new Option("--format <format>", "k8s (one Job per step) or argo (one Workflow)").choices([...EXPORT_FORMATS]).makeOptionMandatory())
    .requiredOption("--image <image>", "the container image every step runs in (needs /bin/sh)")
    .option("--namespace <namespace>", "metadata.namespace of the manifests")
    .option("--workdir <dir>", "the steps' working directory, where --pvc is mounted", "/workspace")
    .option("--pvc <claim>", "a PersistentVolumeClaim mounted at the workdir so steps share files (required by k8s when steps depend on others)")
    .option("--service-account <name>", "the pods' service account")
    .option("-p, --param <name=value>", "override a param (repeatable)", keyValue)
    .option("--params-file <file>", "a YAML or JSON file of param values (applied before -p)")
    .option("-o, --out <file>", "write the manifest to a file instead of stdout")
    .action((target: string, opts: ExportCliOptions) => {
      try {
        exportCommand(target, opts);
      } catch (e) {
        printError(e);
        process.exitCode = 1;
      }
    });
  usageErrorsExit2(exp);
}
