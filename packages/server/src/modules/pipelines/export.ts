import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { CairnError } from "@cairn/contract";
import type { Pipeline, Step } from "./types.js";

/**
 * `cairn pipeline export`: compiles a resolved {@link Pipeline} into cluster manifests, as one
 * multi-document YAML string. Nothing is escaped by hand: the manifests are built as plain objects and
 * serialized with the `yaml` package (in YAML 1.1 mode, so strings such as `yes`, `on` or `0755`
 * are quoted and stay strings for Kubernetes' YAML 1.1 parser).
 *
 * Two formats:
 *
 * - `argo`: one `argoproj.io/v1alpha1` `Workflow` whose entrypoint `main` is a DAG template; each
 *   step is a DAG task (its `dependencies` are the steps it reads outputs of) and a container template
 *   (`/bin/sh -c CMD`, resources, `retryStrategy` with exponential backoff, `activeDeadlineSeconds`
 *   per attempt). The pipeline's resolved params are listed under `spec.arguments.parameters` for
 *   reference (the commands already have them interpolated); names are made Argo-safe (`train.lr` →
 *   `train_lr`).
 * - `k8s`: one `batch/v1` `Job` per step. Plain Jobs have no ordering, so ordering goes through the
 *   shared volume (`pvc`, mounted at `workdir`, required when any step depends on another):
 *   - every Job's main container runs the step's command and, only when it exits 0, creates the
 *     completion marker `$CAIRN_WORKDIR/.cairn/done/<step>`;
 *   - a Job with upstream steps has an init container `wait-for-upstream` that polls
 *     (`until [ -f $CAIRN_WORKDIR/.cairn/done/<up> ]; do sleep 2; done`) until every upstream
 *     marker exists, and an annotation `cairn.dev/depends-on: a,b` listing them;
 *   - so all Jobs can be applied at once (`kubectl apply -f`): downstream pods wait in their init
 *     container. Markers persist on the volume: clear `$WORKDIR/.cairn/done` (or use a fresh claim)
 *     before applying the pipeline again, or downstream steps start at once. A failed upstream Job
 *     leaves its dependents waiting; delete them (`-l cairn.dev/pipeline=NAME`).
 *   - Retries are the Job's `backoffLimit` (Kubernetes' own backoff, not `retryDelayMs`). The
 *     per-attempt timeout is the pod's `activeDeadlineSeconds` for steps without upstream steps; for
 *     the others that deadline would also count the time spent waiting, so their command runs under
 *     `timeout N` instead (when the image has a `timeout` utility; otherwise without a limit).
 *
 * Names are sanitized into DNS-1123 labels (lowercase letters, digits, `-`; at most 63 characters),
 * kept unique with a short hash suffix; the original names stay in `CAIRN_PIPELINE` / `CAIRN_STEP`
 * and the `cairn.dev/step-name` annotation.
 */

export type ExportFormat = "k8s" | "argo";
export const EXPORT_FORMATS: readonly ExportFormat[] = ["k8s", "argo"];

export interface ExportOptions {
  format: ExportFormat;
  /** The container image every step runs in (it needs `/bin/sh`). */
  image: string;
  namespace?: string;
  /** The working directory of every step, where the shared volume is mounted (default `/workspace`). */
  workdir?: string;
  /** A PersistentVolumeClaim mounted at `workdir` so steps share files (required for `k8s` with dependencies). */
  pvc?: string;
  serviceAccount?: string;
}

export const DEFAULT_WORKDIR = "/workspace";
/** The volume name of the shared claim in the pod specs. */
export const WORKSPACE_VOLUME = "workspace";
/** Where completion markers go under the workdir (k8s format). */
export const DONE_DIR = ".cairn/done";
const MAX_LABEL = 63;
/** Argo appends 5 characters to a `generateName`. */
const ARGO_SUFFIX = 5;

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Names

const shortHash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 6);

/**
 * A DNS-1123 label from any name: lowercase, runs of other characters become `-`, trimmed to start and
 * end with a letter or digit, at most `max` characters (shortened names get a hash of the original).
 */
export function dnsLabel(name: string, max = MAX_LABEL): string {
  let s = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-+|-+$/g, "");
  if (s === "") s = `x-${shortHash(name)}`;
  if (s.length > max) s = `${s.slice(0, max - 7).replace(/-+$/, "")}-${shortHash(name)}`;
  return s;
}

/** Unique sanitized names for `names`, never one of `reserved`; clashes get a hash suffix. */
function uniqueLabels(names: string[], max: number, reserved: string[] = []): Map<string, string> {
  const used = new Set(reserved);
  const out = new Map<string, string>();
  for (const n of names) {
    let s = dnsLabel(n, max);
    for (let i = 0; used.has(s); i++) {
      const suffix = `-${shortHash(`${n}#${i}`)}`;
      s = `${dnsLabel(n, max - suffix.length)}${suffix}`;
    }
    used.add(s);
    out.set(n, s);
  }
  return out;
}

/** An Argo parameter name (`[-a-zA-Z0-9_]+`). */
const argoParamName = (n: string) => n.replace(/[^-a-zA-Z0-9_]/g, "_") || "_";

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** The steps a step reads outputs of, in first-mention order. */
export function upstreamSteps(step: Step): string[] {
  return [...new Set(step.deps.flatMap((d) => (d.kind === "step" ? [d.step] : [])))];
}

/** CPU cores as a Kubernetes quantity: `2`, `500m`. */
export function cpuQuantity(cpu: number): string {
  if (Number.isInteger(cpu)) return String(cpu);
  return `${Math.max(1, Math.round(cpu * 1000))}m`;
}

function resourcesOf(step: Step): Obj | undefined {
  const { cpu, memoryMb, gpu } = step.resources;
  const requests: Obj = {};
  const limits: Obj = {};
  if (cpu > 0) requests.cpu = cpuQuantity(cpu);
  if (memoryMb > 0) {
    requests.memory = `${Math.ceil(memoryMb)}Mi`;
    limits.memory = `${Math.ceil(memoryMb)}Mi`;
  }
  if (gpu > 0) limits["nvidia.com/gpu"] = String(Math.ceil(gpu));
  const r: Obj = {};
  if (Object.keys(requests).length > 0) r.requests = requests;
  if (Object.keys(limits).length > 0) r.limits = limits;
  return Object.keys(r).length > 0 ? r : undefined;
}

function envOf(pipeline: Pipeline, step: Step, workdir: string): { name: string; value: string }[] {
  const own = Object.entries(step.env)
    .filter(([k]) => !["CAIRN_PIPELINE", "CAIRN_STEP", "CAIRN_WORKDIR"].includes(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => ({ name, value: String(value) }));
  return [...own, { name: "CAIRN_PIPELINE", value: pipeline.name }, { name: "CAIRN_STEP", value: step.name }, { name: "CAIRN_WORKDIR", value: workdir }];
}

const timeoutSeconds = (step: Step) => (step.timeoutMs === undefined ? undefined : Math.max(1, Math.ceil(step.timeoutMs / 1000)));

/** A Go/Argo duration: whole seconds as `5s`, else milliseconds. */
const duration = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.max(0, Math.round(ms))}ms`);

/** Drops undefined values so the YAML carries no `null`s. */
function compact<T extends Obj>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const toYaml = (docs: Obj[]) => docs.map((d) => stringify(d, { version: "1.1", lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");

// ---------------------------------------------------------------------------------------------
// Export

/**
 * Compiles a pipeline into Kubernetes Jobs (`k8s`) or an Argo Workflow (`argo`), as multi-document
 * YAML. See the module comment for how ordering, retries and timeouts map.
 * @throws CairnError INVALID_PARAMETER_VALUE for a missing image, a relative workdir, or a `k8s`
 *   export of a pipeline with dependencies but no `pvc`.
 */
export function exportPipeline(pipeline: Pipeline, opts: ExportOptions): string {
  const workdir = opts.workdir ?? DEFAULT_WORKDIR;
  const problems: string[] = [];
  if (!EXPORT_FORMATS.includes(opts.format)) problems.push(`format must be one of ${EXPORT_FORMATS.join(", ")}`);
  if (!opts.image || opts.image.trim() === "") problems.push("an image is required (--image)");
  if (!workdir.startsWith("/")) problems.push(`workdir must be an absolute path, not "${workdir}"`);
  if (opts.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(opts.namespace)) problems.push(`namespace "${opts.namespace}" is not a DNS-1123 label`);
  if (opts.format === "k8s" && opts.pvc === undefined && pipeline.steps.some((s) => upstreamSteps(s).length > 0)) {
    problems.push("k8s Jobs order steps through marker files on a shared volume: give a PersistentVolumeClaim (--pvc)");
  }
  if (problems.length > 0) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Cannot export pipeline ${pipeline.name}: ${problems.join("; ")}`, {
      details: problems.map((message) => ({ path: "export", message })),
    });
  }
  const o = { ...opts, workdir };
  return toYaml(opts.format === "argo" ? [argoWorkflow(pipeline, o)] : k8sJobs(pipeline, o));
}

type Resolved = ExportOptions & { workdir: string };

function volumeMounts(o: Resolved) {
  return o.pvc === undefined ? undefined : [{ name: WORKSPACE_VOLUME, mountPath: o.workdir }];
}
function volumes(o: Resolved) {
  return o.pvc === undefined ? undefined : [{ name: WORKSPACE_VOLUME, persistentVolumeClaim: { claimName: o.pvc } }];
}

function argoWorkflow(pipeline: Pipeline, o: Resolved): Obj {
  const names = uniqueLabels(pipeline.steps.map((s) => s.name), MAX_LABEL, ["main"]);
  const seen = new Set<string>();
  const parameters = Object.entries(pipeline.params).map(([k, v]) => {
    let name = argoParamName(k);
    while (seen.has(name)) name = `${name}_`;
    seen.add(name);
    return { name, value: String(v) };
  });
  const tasks = pipeline.steps.map((s) => {
    const deps = upstreamSteps(s).map((d) => names.get(d) ?? dnsLabel(d));
    return compact({ name: names.get(s.name)!, template: names.get(s.name)!, dependencies: deps.length > 0 ? deps : undefined });
  });
  const templates: Obj[] = [
    { name: "main", dag: { tasks } },
    ...pipeline.steps.map((s) =>
      compact({
        name: names.get(s.name)!,
        metadata: { annotations: { "cairn.dev/step-name": s.name } },
        retryStrategy: s.retries > 0 ? { limit: String(s.retries), backoff: { duration: duration(s.retryDelayMs), factor: 2 } } : undefined,
        activeDeadlineSeconds: timeoutSeconds(s),
        container: compact({
          image: o.image,
          command: ["/bin/sh", "-c", s.cmd],
          workingDir: o.workdir,
          env: envOf(pipeline, s, o.workdir),
          resources: resourcesOf(s),
          volumeMounts: volumeMounts(o),
        }),
      }),
    ),
  ];
  const prefix = dnsLabel(pipeline.name, MAX_LABEL - ARGO_SUFFIX - 1);
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Workflow",
    metadata: compact({
      generateName: `${prefix}-`,
      namespace: o.namespace,
      labels: { "app.kubernetes.io/part-of": "cairn", "cairn.dev/pipeline": dnsLabel(pipeline.name) },
      annotations: { "cairn.dev/pipeline-name": pipeline.name },
    }),
    spec: compact({
      entrypoint: "main",
      serviceAccountName: o.serviceAccount,
      arguments: parameters.length > 0 ? { parameters } : undefined,
      volumes: volumes(o),
      templates,
    }),
  };
}

/** The main container's script in k8s Jobs: `$1` is the step command, `$2` the marker name. */
function k8sScript(timeout: number | undefined): string {
  const run = timeout === undefined ? '/bin/sh -c "$1"' : `if command -v timeout >/dev/null 2>&1; then timeout ${timeout} /bin/sh -c "$1"; else /bin/sh -c "$1"; fi`;
  return `${run} || exit $?\nmkdir -p "$CAIRN_WORKDIR/${DONE_DIR}" && touch "$CAIRN_WORKDIR/${DONE_DIR}/$2"`;
}

function k8sJobs(pipeline: Pipeline, o: Resolved): Obj[] {
  const pipelineLabel = dnsLabel(pipeline.name);
  const steps = uniqueLabels(pipeline.steps.map((s) => s.name), MAX_LABEL);
  // Job names: `<pipeline>-<step>`, unique, at most 63 characters (the job-name label).
  const jobNames = uniqueLabels(pipeline.steps.map((s) => `${pipeline.name}-${steps.get(s.name)!}`), MAX_LABEL);
  return pipeline.steps.map((s) => {
    const step = steps.get(s.name)!;
    const ups = upstreamSteps(s).map((d) => steps.get(d) ?? dnsLabel(d));
    const labels = { "app.kubernetes.io/part-of": "cairn", "cairn.dev/pipeline": pipelineLabel, "cairn.dev/step": step };
    const timeout = timeoutSeconds(s);
    const env = envOf(pipeline, s, o.workdir);
    const initContainers =
      ups.length === 0
        ? undefined
        : [
            compact({
              name: "wait-for-upstream",
              image: o.image,
              command: ["/bin/sh", "-c", ups.map((u) => `until [ -f "$CAIRN_WORKDIR/${DONE_DIR}/${u}" ]; do sleep 2; done`).join("\n")],
              env,
              volumeMounts: volumeMounts(o),
            }),
          ];
    return {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: compact({
        name: jobNames.get(`${pipeline.name}-${step}`)!,
        namespace: o.namespace,
        labels,
        annotations: compact({
          "cairn.dev/pipeline-name": pipeline.name,
          "cairn.dev/step-name": s.name,
          "cairn.dev/depends-on": ups.length > 0 ? ups.join(",") : undefined,
          "cairn.dev/timeout-seconds": timeout === undefined ? undefined : String(timeout),
        }),
      }),
      spec: {
        backoffLimit: s.retries,
        template: {
          metadata: { labels },
          spec: compact({
            restartPolicy: "Never",
            serviceAccountName: o.serviceAccount,
            activeDeadlineSeconds: ups.length === 0 ? timeout : undefined,
            initContainers,
            containers: [
              compact({
                name: "step",
                image: o.image,
                command: ["/bin/sh", "-c", k8sScript(ups.length === 0 ? undefined : timeout), "cairn-step", s.cmd, step],
                workingDir: o.workdir,
                env,
                resources: resourcesOf(s),
                volumeMounts: volumeMounts(o),
              }),
            ],
            volumes: volumes(o),
          }),
        },
      },
    };
  });
}
