import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { CairnError } from "@cairn/contract";
import { MLMODEL_FILE } from "@cairn/contract/mlmodel";
import { parseModelUri, type Cairn } from "@cairn/sdk";
import { VERSION } from "../../version.js";
import { dnsLabel } from "../pipelines/export.js";

/**
 * Scale-out exports for `cairn serve` (issue 6).
 *
 * `exportServing` compiles one served model into cluster manifests, as one multi-document YAML
 * string built from plain objects and serialized with the `yaml` package in YAML 1.1 mode (as
 * `cairn pipeline export` does), so strings such as `on` or `0755` stay quoted strings:
 *
 * - `k8s`: an `apps/v1` `Deployment` whose container runs `cairn serve MODEL_URI --host 0.0.0.0
 *   --port P` (the image must have `cairn` on its PATH), a `ClusterIP` `Service` (port 80 → P) and an
 *   `autoscaling/v2` `HorizontalPodAutoscaler` on CPU utilization. Probes: a startup and a liveness
 *   probe on `/v2/health/live` (the server listens only once the first version is downloaded and
 *   warmed, so the startup probe gives that up to `STARTUP_SECONDS`), readiness on `/v2/health/ready`.
 *   Pods carry the `prometheus.io/*` scrape annotations for `/metrics`.
 * - `kserve`: a `serving.kserve.io/v1beta1` `InferenceService` with a custom predictor container
 *   (`kserve-container`, the same command) and `minReplicas`/`maxReplicas`/`scaleMetric: cpu`.
 *   `protocolVersion` is a field of KServe's model-format predictors only; a custom container speaks
 *   what it speaks (here the Open Inference Protocol v2 REST), recorded in `cairn.dev/protocol: v2`.
 *
 * `writeServingImageContext` (`cairn model dockerfile`) writes a Docker build context for a
 * self-contained serving image: the model package baked in, the Cairn packages vendored from this
 * installation, and a `serve-local.mjs` that serves the package with no Cairn server.
 */

export type ServingExportFormat = "k8s" | "kserve";
export const SERVING_EXPORT_FORMATS: readonly ServingExportFormat[] = ["k8s", "kserve"];

export interface ServingExportOptions {
  format: ServingExportFormat;
  /** The name of the manifests (sanitized into a DNS-1035 label). */
  name: string;
  /** The `models:/` URI `cairn serve` serves, verbatim. */
  model: string;
  /** An image with the `cairn` CLI on its PATH. */
  image: string;
  /** The Deployment's initial replicas (default: `minReplicas`). */
  replicas?: number;
  /** Autoscaling floor (default: `replicas`, else 1). */
  minReplicas?: number;
  /** Autoscaling ceiling (default: the larger of `minReplicas` and 3). */
  maxReplicas?: number;
  /** CPU request, a Kubernetes quantity (default `500m`); the HPA's utilization is relative to it. */
  cpu?: string;
  /** Memory request and limit (default `1Gi`). */
  memory?: string;
  /** Target average CPU utilization in percent of the request (default 70). */
  targetCpu?: number;
  /** The container port `cairn serve` listens on (default 8080, KServe's convention). */
  port?: number;
  namespace?: string;
  /** `CAIRN_URL` of the pods: the Cairn server the model is resolved and downloaded from. */
  cairnUrl?: string;
  /** A Secret holding the bearer token, passed as `CAIRN_TOKEN`. */
  tokenSecret?: string;
  /** The key in `tokenSecret` (default `token`). */
  tokenSecretKey?: string;
  maxBatchSize?: number;
  maxLatencyMs?: number;
}

export const DEFAULT_SERVE_PORT = 8080;
export const DEFAULT_CPU = "500m";
export const DEFAULT_MEMORY = "1Gi";
export const DEFAULT_TARGET_CPU = 70;
export const DEFAULT_TOKEN_KEY = "token";
/** Where the pods' `cairn serve` downloads model packages (an emptyDir). */
export const CACHE_DIR = "/var/cache/cairn";
/** How long a pod may take to download and warm its model before the liveness probe counts. */
export const STARTUP_SECONDS = 600;

type Obj = Record<string, unknown>;

const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * A DNS-1035 label (what Service and InferenceService names must be): a DNS-1123 label that starts
 * with a letter; `max` leaves room for suffixes Kubernetes or KServe append.
 */
export function serviceName(name: string, max = 63): string {
  const label = dnsLabel(name, max);
  return /^[a-z]/.test(label) ? label : dnsLabel(`m-${label}`, max);
}

interface Resolved {
  format: ServingExportFormat;
  name: string;
  model: string;
  modelName: string;
  image: string;
  replicas: number;
  minReplicas: number;
  maxReplicas: number;
  cpu: string;
  memory: string;
  targetCpu: number;
  port: number;
  namespace: string | undefined;
  cairnUrl: string | undefined;
  tokenSecret: string | undefined;
  tokenSecretKey: string;
  maxBatchSize: number | undefined;
  maxLatencyMs: number | undefined;
}

const isWhole = (n: number | undefined, min: number) => n === undefined || (Number.isSafeInteger(n) && n >= min);

/** Checks the options and fills in the defaults; every problem is listed at once. */
function resolve(o: ServingExportOptions): Resolved {
  const problems: string[] = [];
  if (!SERVING_EXPORT_FORMATS.includes(o.format)) problems.push(`format must be one of ${SERVING_EXPORT_FORMATS.join(", ")}`);
  if (!o.name || o.name.trim() === "") problems.push("a name is required (--name)");
  if (!o.image || o.image.trim() === "") problems.push("an image is required (--image)");
  let modelName = "";
  try {
    modelName = parseModelUri(o.model).name;
  } catch {
    problems.push(`the model must be a models:/ URI (models:/name@alias, models:/name/3), not "${o.model}"`);
  }
  for (const [flag, v, min] of [
    ["--replicas", o.replicas, 1],
    ["--min-replicas", o.minReplicas, 1],
    ["--max-replicas", o.maxReplicas, 1],
    ["--target-cpu", o.targetCpu, 1],
    ["--max-batch-size", o.maxBatchSize, 0],
    ["--max-latency-ms", o.maxLatencyMs, 0],
  ] as const) {
    if (!isWhole(v, min)) problems.push(`${flag} must be a whole number ≥ ${min}, not ${v}`);
  }
  const port = o.port ?? DEFAULT_SERVE_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`--port must be 1-65535, not ${o.port}`);
  const minReplicas = o.minReplicas ?? o.replicas ?? 1;
  const maxReplicas = o.maxReplicas ?? Math.max(minReplicas, 3);
  const replicas = o.replicas ?? minReplicas;
  // --replicas alone is also the floor: name the flag that was given.
  if (o.minReplicas === undefined && o.replicas !== undefined && o.replicas > maxReplicas) problems.push(`--replicas (${o.replicas}) is above --max-replicas (${maxReplicas})`);
  else if (minReplicas > maxReplicas) problems.push(`--min-replicas (${minReplicas}) is above --max-replicas (${maxReplicas})`);
  else if (replicas < minReplicas || replicas > maxReplicas) problems.push(`--replicas (${replicas}) is outside ${minReplicas}-${maxReplicas}`);
  const cpu = o.cpu ?? DEFAULT_CPU;
  const memory = o.memory ?? DEFAULT_MEMORY;
  if (!QUANTITY.test(cpu)) problems.push(`--cpu "${cpu}" is not a Kubernetes quantity (e.g. 500m, 2)`);
  if (!QUANTITY.test(memory)) problems.push(`--memory "${memory}" is not a Kubernetes quantity (e.g. 512Mi, 2Gi)`);
  if (o.namespace !== undefined && !DNS1123_LABEL.test(o.namespace)) problems.push(`namespace "${o.namespace}" is not a DNS-1123 label`);
  if (o.tokenSecret !== undefined && !DNS1123_SUBDOMAIN.test(o.tokenSecret)) problems.push(`--token-secret "${o.tokenSecret}" is not a valid Secret name`);
  const tokenSecretKey = o.tokenSecretKey ?? DEFAULT_TOKEN_KEY;
  if (!SECRET_KEY.test(tokenSecretKey)) problems.push(`the token key "${tokenSecretKey}" is not a valid Secret key`);
  if (o.cairnUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(o.cairnUrl)) problems.push(`--cairn-url "${o.cairnUrl}" is not an http(s) URL`);
  if (problems.length > 0) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Cannot export serving manifests for ${o.model}: ${problems.join("; ")}`, {
      details: problems.map((message) => ({ path: "export", message })),
    });
  }
  // KServe appends `-predictor-<hash>`-style suffixes to its objects, so its names are kept shorter.
  const name = serviceName(o.name, o.format === "kserve" ? 45 : 63);
  return {
    format: o.format,
    name,
    model: o.model,
    modelName,
    image: o.image,
    replicas,
    minReplicas,
    maxReplicas,
    cpu,
    memory,
    targetCpu: o.targetCpu ?? DEFAULT_TARGET_CPU,
    port,
    namespace: o.namespace,
    cairnUrl: o.cairnUrl,
    tokenSecret: o.tokenSecret,
    tokenSecretKey,
    maxBatchSize: o.maxBatchSize,
    maxLatencyMs: o.maxLatencyMs,
  };
}

/** The `cairn serve` command line of the pods. */
export function serveCommand(o: { model: string; port: number; maxBatchSize?: number | undefined; maxLatencyMs?: number | undefined }): string[] {
  return [
    "cairn",
    "serve",
    o.model,
    "--host",
    "0.0.0.0",
    "--port",
    String(o.port),
    "--cache-dir",
    CACHE_DIR,
    ...(o.maxBatchSize !== undefined ? ["--max-batch-size", String(o.maxBatchSize)] : []),
    ...(o.maxLatencyMs !== undefined ? ["--max-latency-ms", String(o.maxLatencyMs)] : []),
  ];
}

function env(o: Resolved): Obj[] | undefined {
  const list: Obj[] = [];
  if (o.cairnUrl !== undefined) list.push({ name: "CAIRN_URL", value: o.cairnUrl });
  if (o.tokenSecret !== undefined) list.push({ name: "CAIRN_TOKEN", valueFrom: { secretKeyRef: { name: o.tokenSecret, key: o.tokenSecretKey } } });
  return list.length > 0 ? list : undefined;
}

// CPU is requested but not limited: a CPU limit throttles a busy model server (latency spikes),
// while the request is what the HPA's utilization is measured against. Memory is limited as requested.
const resources = (o: Resolved): Obj => ({ requests: { cpu: o.cpu, memory: o.memory }, limits: { memory: o.memory } });

function probes(o: Resolved): Obj {
  const get = (p: string) => ({ path: p, port: o.port });
  return {
    startupProbe: { httpGet: get("/v2/health/live"), periodSeconds: 5, failureThreshold: Math.ceil(STARTUP_SECONDS / 5) },
    livenessProbe: { httpGet: get("/v2/health/live"), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    readinessProbe: { httpGet: get("/v2/health/ready"), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
  };
}

function container(o: Resolved, name: string): Obj {
  return {
    name,
    image: o.image,
    command: serveCommand(o),
    ports: [{ name: "http", containerPort: o.port, protocol: "TCP" }],
    env: env(o),
    resources: resources(o),
    ...probes(o),
    volumeMounts: [{ name: "model-cache", mountPath: CACHE_DIR }],
  };
}

const labelsOf = (o: Resolved) => ({
  "app.kubernetes.io/name": o.name,
  "app.kubernetes.io/component": "model-server",
  "app.kubernetes.io/part-of": "cairn",
  "cairn.dev/model": dnsLabel(o.modelName),
});
const selectorOf = (o: Resolved) => ({ "app.kubernetes.io/name": o.name, "app.kubernetes.io/component": "model-server" });
const metaOf = (o: Resolved, extra: Obj = {}): Obj => ({
  name: o.name,
  namespace: o.namespace,
  labels: labelsOf(o),
  annotations: { "cairn.dev/model-uri": o.model, ...extra },
});

function k8s(o: Resolved): Obj[] {
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: metaOf(o),
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: selectorOf(o) },
      template: {
        metadata: {
          labels: labelsOf(o),
          annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(o.port), "prometheus.io/path": "/metrics" },
        },
        spec: {
          containers: [container(o, "model-server")],
          volumes: [{ name: "model-cache", emptyDir: {} }],
        },
      },
    },
  };
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: metaOf(o),
    spec: { type: "ClusterIP", selector: selectorOf(o), ports: [{ name: "http", port: 80, targetPort: o.port, protocol: "TCP" }] },
  };
  const hpa = {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: metaOf(o),
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: o.name },
      minReplicas: o.minReplicas,
      maxReplicas: o.maxReplicas,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: o.targetCpu } } }],
    },
  };
  return [deployment, service, hpa];
}

function kserve(o: Resolved): Obj {
  return {
    apiVersion: "serving.kserve.io/v1beta1",
    kind: "InferenceService",
    metadata: metaOf(o, {
      "cairn.dev/protocol": "v2",
      "serving.kserve.io/enable-prometheus-scraping": "true",
      "prometheus.kserve.io/port": String(o.port),
      "prometheus.kserve.io/path": "/metrics",
    }),
    spec: {
      predictor: {
        minReplicas: o.minReplicas,
        maxReplicas: o.maxReplicas,
        scaleMetric: "cpu",
        scaleTarget: o.targetCpu,
        containers: [container(o, "kserve-container")],
        volumes: [{ name: "model-cache", emptyDir: {} }],
      },
    },
  };
}

// `yaml` leaves out undefined values, so optional fields never become `null`.
const toYaml = (docs: Obj[]) => docs.map((d) => stringify(d, { version: "1.1", lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");

/**
 * Compiles a served model into Kubernetes manifests (`k8s`: Deployment, Service, HPA) or a KServe
 * InferenceService (`kserve`), as multi-document YAML. See the module comment for the mapping.
 * @throws CairnError INVALID_PARAMETER_VALUE for a missing name or image, a URI that is not
 *   `models:/…`, bad replica counts or quantities, an invalid namespace, Secret or URL (every
 *   problem in `details`).
 */
export function exportServing(opts: ServingExportOptions): string {
  const o = resolve(opts);
  return toYaml(o.format === "kserve" ? [kserve(o)] : k8s(o));
}

// ---------------------------------------------------------------------------------------------
// Self-contained serving image (`cairn model dockerfile`)

/** The Cairn packages an image needs, in dependency order, by their directory under `packages/`. */
const VENDORED = [
  { pkg: "@cairn/contract", dir: "contract" },
  { pkg: "@cairn/sdk", dir: "sdk" },
  { pkg: "@cairn/server", dir: "server" },
] as const;

/** Where the image's files go, relative to the build context. */
export const IMAGE_CONTEXT = { model: "model", meta: "cairn-model.json", script: "serve-local.mjs", vendor: "vendor" } as const;

export interface ServingImageOptions {
  /** The registry client the model is resolved and downloaded with. */
  cairn: Cairn;
  /** `models:/name@alias`, `models:/name/3`, …: resolved once, so the image pins one version. */
  model: string;
  /** The build context directory (created; files this command writes are replaced). */
  outDir: string;
  /** The base image (default `node:20-slim`; it needs Node ≥ 20.19 and npm). */
  base?: string;
  /** The port the server listens on in the container (default 8080). */
  port?: number;
  /**
   * The `packages/` directory holding built `contract`, `sdk` and `server` packages to vendor
   * (default: the one this module is running from).
   */
  packagesDir?: string;
}

export interface ServingImageContext {
  dir: string;
  name: string;
  version: string;
  /** The files written, relative to `dir` (the model package as one `model/` entry). */
  files: string[];
}

/** This installation's `packages/` directory: the module is `<packages>/server/{src,dist}/modules/serving/export.*`. */
export function defaultPackagesDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
}

function copyBuilt(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) copyBuilt(src, dst);
    // Source maps and declarations are not needed to run, and would double the image layer.
    else if (entry.isFile() && !/\.(map|d\.ts)$/.test(entry.name)) fs.copyFileSync(src, dst);
  }
}

function vendorPackagesCheck(packagesDir: string): void {
  const missing = VENDORED.filter((v) => !fs.existsSync(path.join(packagesDir, v.dir, "dist")) || !fs.existsSync(path.join(packagesDir, v.dir, "package.json")));
  if (missing.length > 0) {
    throw new CairnError(
      "INVALID_STATE",
      `The Cairn packages to put in the image are not built (${missing.map((v) => path.join(packagesDir, v.dir, "dist")).join(", ")}): run \`npm run build\` in the Cairn checkout first`,
    );
  }
}

/** Copies the built Cairn packages (package.json + dist) into `vendor/`. */
function vendorPackages(packagesDir: string, vendorDir: string): void {
  vendorPackagesCheck(packagesDir);
  fs.rmSync(vendorDir, { recursive: true, force: true });
  for (const v of VENDORED) {
    const to = path.join(vendorDir, v.dir);
    fs.mkdirSync(to, { recursive: true });
    fs.copyFileSync(path.join(packagesDir, v.dir, "package.json"), path.join(to, "package.json"));
    copyBuilt(path.join(packagesDir, v.dir, "dist"), path.join(to, "dist"));
  }
}

/** The image's own package.json: the vendored Cairn packages, their npm dependencies from the registry. */
function appPackageJson(): string {
  const deps = Object.fromEntries(VENDORED.map((v) => [v.pkg, `file:./${IMAGE_CONTEXT.vendor}/${v.dir}`]));
  // `overrides` make the server's and the SDK's own `@cairn/*` dependencies use the vendored copies too.
  const overrides = { "@cairn/contract": "$@cairn/contract", "@cairn/sdk": "$@cairn/sdk" };
  return `${JSON.stringify({ name: "cairn-model-image", private: true, type: "module", dependencies: deps, overrides }, null, 2)}\n`;
}

/** The script the image runs: serves the baked-in package through `ModelHost.loadDirectory`. */
function serveLocalScript(): string {
  return `// Generated by \`cairn model dockerfile\` (Cairn ${VERSION}): serves the model package in ./${IMAGE_CONTEXT.model}
// with the Cairn model server (Open Inference Protocol v2 on /v2/..., MLflow's /invocations, /metrics),
// without a Cairn server. Settings come from the environment: HOST (0.0.0.0), PORT (8080),
// CAIRN_MAX_BATCH_SIZE (64), CAIRN_MAX_LATENCY_MS (2), CAIRN_INTRA_OP_THREADS, CAIRN_INTER_OP_THREADS,
// CAIRN_ALLOW_NAN (1 to accept NaN inputs).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
// @cairn/server exports only its top-level API; the serving modules are imported by file.
const serverRoot = process.env.CAIRN_SERVER_ROOT ?? path.join(here, "node_modules", "@cairn", "server");
const load = (rel) => import(pathToFileURL(path.join(serverRoot, "dist", "modules", "serving", rel)).href);
const { ModelHost } = await load("model-host.js");
const { buildServeApp } = await load("serve-app.js");

const meta = JSON.parse(fs.readFileSync(path.join(here, ${JSON.stringify(IMAGE_CONTEXT.meta)}), "utf8"));
const int = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(\`\${name} must be a whole number, not '\${v}'\`);
  return n;
};
const runtime = {};
if (int("CAIRN_INTRA_OP_THREADS", 0) > 0) runtime.intraOpThreads = int("CAIRN_INTRA_OP_THREADS", 0);
if (int("CAIRN_INTER_OP_THREADS", 0) > 0) runtime.interOpThreads = int("CAIRN_INTER_OP_THREADS", 0);
const host = new ModelHost({
  cacheDir: path.join(here, "cache"),
  runtime,
  batching: { maxBatchSize: int("CAIRN_MAX_BATCH_SIZE", 64), maxLatencyMs: int("CAIRN_MAX_LATENCY_MS", 2) },
});
const model = await host.loadDirectory(path.join(here, ${JSON.stringify(IMAGE_CONTEXT.model)}), { name: meta.name, version: String(meta.version), signature: meta.signature ?? null });
const app = buildServeApp({ host, allowNaN: process.env.CAIRN_ALLOW_NAN === "1" });
const port = int("PORT", ${DEFAULT_SERVE_PORT});
await app.listen({ host: process.env.HOST ?? "0.0.0.0", port });
process.stderr.write(\`serving \${model.name} version \${model.version} (\${model.platform}) from \${meta.uri} on port \${port}\\n\`);
const stop = () => void app.close().then(() => host.close()).then(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
`;
}

function dockerfile(base: string, port: number, name: string, version: string, uri: string): string {
  const ready = `fetch('http://127.0.0.1:'+(process.env.PORT||${port})+'/v2/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;
  return `# Generated by \`cairn model dockerfile\` (Cairn ${VERSION}): ${uri} → ${name} version ${version}.
# Build: docker build -t ${dnsLabel(name)}:${version} .   Run: docker run -p ${port}:${port} ${dnsLabel(name)}:${version}
FROM ${base}
ENV NODE_ENV=production
WORKDIR /app
# The Cairn packages are vendored in the context; npm fetches only their npm dependencies
# (use a registry mirror through an .npmrc here for air-gapped builds).
COPY package.json ./
COPY ${IMAGE_CONTEXT.vendor}/ ./${IMAGE_CONTEXT.vendor}/
RUN npm install --omit=dev --install-links --no-audit --no-fund && npm cache clean --force
COPY ${IMAGE_CONTEXT.model}/ ./${IMAGE_CONTEXT.model}/
COPY ${IMAGE_CONTEXT.meta} ${IMAGE_CONTEXT.script} ./
RUN mkdir -p /app/cache && chown node:node /app/cache
USER node
ENV HOST=0.0.0.0 PORT=${port}
EXPOSE ${port}
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["node", "-e", ${JSON.stringify(ready)}]
CMD ["node", "/app/${IMAGE_CONTEXT.script}"]
`;
}

function readme(name: string, version: string, uri: string, port: number, base: string): string {
  return `# Serving image for ${name} version ${version}

Generated by \`cairn model dockerfile ${uri}\` (Cairn ${VERSION}). The image serves this one version with
the Cairn model server and needs no Cairn server at run time.

| Path | What |
| --- | --- |
| \`${IMAGE_CONTEXT.model}/\` | the model package (\`MLmodel\` and its files), as \`cairn models download\` writes it |
| \`${IMAGE_CONTEXT.meta}\` | the URI it came from, the resolved name, version and signature |
| \`${IMAGE_CONTEXT.script}\` | the entry point: loads the package (\`ModelHost.loadDirectory\`), warms it up, serves it |
| \`${IMAGE_CONTEXT.vendor}/\` | the built \`@cairn/contract\`, \`@cairn/sdk\` and \`@cairn/server\` packages (package.json + dist) |
| \`package.json\` | depends on the vendored packages (\`file:\`); their npm dependencies come from the registry |

## Build and run

    docker build -t ${dnsLabel(name)}:${version} .
    docker run --rm -p ${port}:${port} ${dnsLabel(name)}:${version}
    curl localhost:${port}/v2/health/ready
    curl -X POST localhost:${port}/v2/models/${name}/infer -H 'content-type: application/json' -d '{"inputs": [...]}'

The base image is \`${base}\` (Node ≥ 20.19 with npm; a Debian-based image, since onnxruntime-node and the
other native dependencies ship glibc binaries). The Cairn packages need no network at build time; \`npm
install\` still fetches their npm dependencies (fastify, onnxruntime-node, ...): for an air-gapped build,
point npm at a mirror (an \`.npmrc\` copied before \`npm install\`) or pre-populate a cache.

## Settings (environment)

\`PORT\` (${port}), \`HOST\` (0.0.0.0), \`CAIRN_MAX_BATCH_SIZE\` (64; 0 or 1 turns micro-batching off),
\`CAIRN_MAX_LATENCY_MS\` (2), \`CAIRN_INTRA_OP_THREADS\`, \`CAIRN_INTER_OP_THREADS\`, \`CAIRN_ALLOW_NAN=1\`.

Endpoints are those of \`cairn serve\`: \`/v2/health/live\`, \`/v2/health/ready\` (200 once the model is
loaded and warmed; the image's HEALTHCHECK uses it), \`/v2/models/${name}[/versions/${version}]/infer\`,
\`POST /invocations\`, \`GET /metrics\`. Unlike \`cairn serve models:/…@alias\`, the image does not follow an
alias: rebuild it to ship another version.
`;
}

/**
 * Writes a Docker build context for a self-contained serving image of one model version (`cairn
 * model dockerfile`): the model package downloaded into `model/`, its metadata, the built Cairn
 * packages in `vendor/`, `package.json`, `serve-local.mjs`, a `Dockerfile` (FROM, COPY, EXPOSE,
 * HEALTHCHECK on `/v2/health/ready`, CMD) and a `README.md`. The model is resolved once, so an alias
 * pins the version it names now.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST (model, version, alias), INVALID_PARAMETER_VALUE (a
 *   malformed URI or port, a version that is not a packaged model), INVALID_STATE (the Cairn
 *   packages are not built)
 */
export async function writeServingImageContext(opts: ServingImageOptions): Promise<ServingImageContext> {
  const port = opts.port ?? DEFAULT_SERVE_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CairnError("INVALID_PARAMETER_VALUE", `The port must be 1-65535, not ${opts.port}`);
  const base = opts.base ?? "node:20-slim";
  if (base.trim() === "" || /\s/.test(base)) throw new CairnError("INVALID_PARAMETER_VALUE", `The base image "${base}" is not an image reference`);
  const dir = path.resolve(opts.outDir);
  const packagesDir = opts.packagesDir ?? defaultPackagesDir();
  // Checked before the download, which can be large.
  vendorPackagesCheck(packagesDir);
  const version = await opts.cairn.models.resolve(opts.model);
  const pinned = `models:/${version.name}/${version.version}`;
  const modelDir = path.join(dir, IMAGE_CONTEXT.model);
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(modelDir, { recursive: true, force: true });
  await opts.cairn.models.download(pinned, modelDir);
  if (!fs.existsSync(path.join(modelDir, MLMODEL_FILE))) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Model ${version.name} version ${version.version} is not a packaged model (no MLmodel file); Cairn serves packaged models (onnx or cairn_js): see \`cairn models package\``);
  }
  vendorPackages(packagesDir, path.join(dir, IMAGE_CONTEXT.vendor));
  const name = version.name;
  const v = String(version.version);
  const write = (rel: string, text: string) => fs.writeFileSync(path.join(dir, rel), text);
  write(IMAGE_CONTEXT.meta, `${JSON.stringify({ uri: opts.model, name, version: v, signature: version.signature ?? null }, null, 2)}\n`);
  write("package.json", appPackageJson());
  write(IMAGE_CONTEXT.script, serveLocalScript());
  write("Dockerfile", dockerfile(base, port, name, v, opts.model));
  write(".dockerignore", "cache\nnode_modules\n");
  write("README.md", readme(name, v, opts.model, port, base));
  return {
    dir,
    name,
    version: v,
    files: [`${IMAGE_CONTEXT.model}/`, IMAGE_CONTEXT.meta, `${IMAGE_CONTEXT.vendor}/`, "package.json", IMAGE_CONTEXT.script, "Dockerfile", ".dockerignore", "README.md"],
  };
}
