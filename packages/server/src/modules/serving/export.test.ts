import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseAllDocuments } from "yaml";
import { Command } from "commander";
import { CairnError } from "@cairn/contract";
import { CACHE_DIR, exportServing, serviceName, type ServingExportOptions } from "./export.js";
import { registerServingExportCommands } from "./export-cli.js";

// Structural checks written from the published schemas (Kubernetes apps/v1, core/v1 and
// autoscaling/v2 OpenAPI; KServe's v1beta1 InferenceService CRD): nothing is downloaded.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const URI = "models:/credit-risk/scorer@champion";
const base: ServingExportOptions = { format: "k8s", name: "Credit Scorer", model: URI, image: "ghcr.io/acme/cairn:0.1.0" };

const docs = (text: string): Any[] => {
  const all = parseAllDocuments(text, { version: "1.1" });
  if (!Array.isArray(all)) throw new Error("not a document stream");
  for (const d of all) expect(d.errors).toEqual([]);
  return all.map((d) => d.toJS() as Any);
};
const k8s = (o: Partial<ServingExportOptions> = {}) => docs(exportServing({ ...base, ...o }));
const kserve = (o: Partial<ServingExportOptions> = {}) => docs(exportServing({ ...base, format: "kserve", ...o }))[0]!;

/** No `null` anywhere: optional fields are left out, not serialized empty. */
function noNulls(v: unknown, at = "$"): void {
  expect(v, at).not.toBeNull();
  if (Array.isArray(v)) v.forEach((x, i) => noNulls(x, `${at}[${i}]`));
  else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) noNulls(x, `${at}.${k}`);
}

function checkMeta(m: Any): void {
  expect(typeof m.apiVersion).toBe("string");
  expect(typeof m.kind).toBe("string");
  expect(m.metadata.name).toMatch(DNS1123_LABEL);
  expect(m.metadata.name.length).toBeLessThanOrEqual(63);
  for (const [k, v] of Object.entries(m.metadata.labels ?? {})) {
    expect(k).toMatch(LABEL_KEY);
    expect(v).toMatch(LABEL_VALUE);
    expect((v as string).length).toBeLessThanOrEqual(63);
  }
  for (const v of Object.values(m.metadata.annotations ?? {})) expect(typeof v).toBe("string");
  noNulls(m);
}

function checkServeContainer(c: Any, port: number): void {
  expect(typeof c.image).toBe("string");
  for (const a of c.command) expect(typeof a).toBe("string");
  expect(c.command.slice(0, 3)).toEqual(["cairn", "serve", c.command[2]]);
  const arg = (flag: string) => c.command[c.command.indexOf(flag) + 1];
  expect(arg("--host")).toBe("0.0.0.0");
  expect(arg("--port")).toBe(String(port));
  expect(arg("--cache-dir")).toBe(CACHE_DIR);
  expect(c.ports).toEqual([{ name: "http", containerPort: port, protocol: "TCP" }]);
  expect(c.readinessProbe.httpGet).toEqual({ path: "/v2/health/ready", port });
  expect(c.livenessProbe.httpGet).toEqual({ path: "/v2/health/live", port });
  expect(c.startupProbe.httpGet).toEqual({ path: "/v2/health/live", port });
  for (const kind of ["requests", "limits"]) for (const q of Object.values(c.resources[kind])) expect(q).toMatch(QUANTITY);
  expect(Object.keys(c.resources.requests).sort()).toEqual(["cpu", "memory"]);
  expect(c.resources.limits.memory).toBe(c.resources.requests.memory);
  expect(c.volumeMounts).toEqual([{ name: "model-cache", mountPath: CACHE_DIR }]);
}

describe("exportServing k8s", () => {
  it("emits a Deployment, a ClusterIP Service and an autoscaling/v2 HPA that fit together", () => {
    const all = k8s({ cairnUrl: "http://cairn.mlops:5005", tokenSecret: "cairn-token", namespace: "serving", maxBatchSize: 32, maxLatencyMs: 5 });
    expect(all.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual(["apps/v1 Deployment", "v1 Service", "autoscaling/v2 HorizontalPodAutoscaler"]);
    all.forEach(checkMeta);
    const [dep, svc, hpa] = all as [Any, Any, Any];
    for (const d of all) {
      expect(d.metadata.name).toBe("credit-scorer");
      expect(d.metadata.namespace).toBe("serving");
      expect(d.metadata.annotations["cairn.dev/model-uri"]).toBe(URI);
    }
    expect(svc.metadata.name).toMatch(DNS1035_LABEL);

    // Selectors match the pod labels.
    const podLabels = dep.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) expect(podLabels[k]).toBe(v);
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(podLabels[k]).toBe(v);
    expect(podLabels["cairn.dev/model"]).toBe("credit-risk-scorer");

    const c = dep.spec.template.spec.containers[0];
    expect(dep.spec.template.spec.containers).toHaveLength(1);
    checkServeContainer(c, 8080);
    // The URI survives YAML quoting verbatim (`@`, `/`, `:`).
    expect(c.command[2]).toBe(URI);
    expect(c.command).toEqual(["cairn", "serve", URI, "--host", "0.0.0.0", "--port", "8080", "--cache-dir", CACHE_DIR, "--max-batch-size", "32", "--max-latency-ms", "5"]);
    expect(c.env).toEqual([
      { name: "CAIRN_URL", value: "http://cairn.mlops:5005" },
      { name: "CAIRN_TOKEN", valueFrom: { secretKeyRef: { name: "cairn-token", key: "token" } } },
    ]);
    expect(c.resources).toEqual({ requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "1Gi" } });
    expect(dep.spec.template.spec.volumes).toEqual([{ name: "model-cache", emptyDir: {} }]);
    expect(dep.spec.template.metadata.annotations).toEqual({ "prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics" });

    expect(svc.spec).toEqual({ type: "ClusterIP", selector: dep.spec.selector.matchLabels, ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }] });

    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: dep.metadata.name });
    expect(hpa.spec.metrics).toEqual([{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }]);
    expect([dep.spec.replicas, hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([1, 1, 3]);
  });

  it("applies replicas, resources, target, port; leaves env out without URL or secret", () => {
    const [dep, svc, hpa] = k8s({ replicas: 3, minReplicas: 2, maxReplicas: 10, cpu: "2", memory: "4Gi", targetCpu: 55, port: 9000 }) as [Any, Any, Any];
    const c = dep.spec.template.spec.containers[0];
    checkServeContainer(c, 9000);
    expect(c.env).toBeUndefined();
    expect(c.command).not.toContain("--max-batch-size");
    // `2` stays the string Kubernetes expects, not a number.
    expect(c.resources.requests).toEqual({ cpu: "2", memory: "4Gi" });
    expect(svc.spec.ports[0]).toMatchObject({ port: 80, targetPort: 9000 });
    expect([dep.spec.replicas, hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([3, 2, 10]);
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(55);
    expect(dep.spec.template.metadata.annotations["prometheus.io/port"]).toBe("9000");
    // --replicas alone sets the floor too.
    const [d2, , h2] = k8s({ replicas: 4 }) as [Any, Any, Any];
    expect([d2.spec.replicas, h2.spec.minReplicas, h2.spec.maxReplicas]).toEqual([4, 4, 4]);
  });

  it("keeps YAML 1.1 look-alikes strings: on, yes, 0755, 1e3", () => {
    const text = exportServing({ ...base, name: "0755", model: "models:/on@0755", namespace: "on", tokenSecret: "yes", tokenSecretKey: "0755", cairnUrl: "http://on:1e3", image: "registry/on:1.10" });
    const [dep, svc] = docs(text) as [Any, Any];
    expect(dep.metadata.name).toBe("m-0755");
    expect(svc.metadata.name).toMatch(DNS1035_LABEL);
    expect(dep.metadata.namespace).toBe("on");
    const c = dep.spec.template.spec.containers[0];
    expect(c.command[2]).toBe("models:/on@0755");
    expect(c.image).toBe("registry/on:1.10");
    expect(c.env[1].valueFrom.secretKeyRef).toEqual({ name: "yes", key: "0755" });
    expect(dep.metadata.labels["cairn.dev/model"]).toBe("on");
    expect(dep.spec.template.metadata.annotations["prometheus.io/scrape"]).toBe("true");
    // Read with a YAML 1.2 parser too: the same strings.
    const again = parseAllDocuments(text).map((d) => d.toJS() as Any);
    expect(again[0]!.spec.template.spec.containers[0].command[2]).toBe("models:/on@0755");
    expect(again[0]!.metadata.namespace).toBe("on");
  });

  it("makes names DNS-1035 labels", () => {
    for (const n of ["Credit Scorer", "0755", "___", "a".repeat(100), "Model.v2_final"]) {
      const s = serviceName(n);
      expect(s).toMatch(DNS1035_LABEL);
      expect(s.length).toBeLessThanOrEqual(63);
    }
  });

  it("lists every invalid option at once", () => {
    let err: unknown;
    try {
      exportServing({ ...base, image: "", model: "credit-risk@champion", minReplicas: 5, maxReplicas: 2, cpu: "lots", namespace: "Not_OK", port: 70000, tokenSecret: "Bad Secret" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    const e = err as CairnError;
    expect(e.code).toBe("INVALID_PARAMETER_VALUE");
    const messages = (e.details as { message: string }[]).map((d) => d.message).join("\n");
    for (const m of [/image/, /models:\//, /--min-replicas \(5\) is above --max-replicas \(2\)/, /--cpu "lots"/, /namespace "Not_OK"/, /--port/, /--token-secret/]) expect(messages).toMatch(m);
    expect(() => exportServing({ ...base, replicas: 9, maxReplicas: 3 })).toThrow(/--replicas \(9\) is above --max-replicas \(3\)/);
    expect(() => exportServing({ ...base, replicas: 1, minReplicas: 2 })).toThrow(/--replicas \(1\) is outside 2-3/);
    expect(() => exportServing({ ...base, format: "helm" as never })).toThrow(/format must be one of k8s, kserve/);
  });
});

describe("exportServing kserve", () => {
  it("emits one InferenceService with a custom predictor container", () => {
    const isvc = kserve({ minReplicas: 2, maxReplicas: 6, targetCpu: 60, cpu: "1", memory: "2Gi", cairnUrl: "http://cairn:5005", tokenSecret: "cairn-token", namespace: "models" });
    checkMeta(isvc);
    expect([isvc.apiVersion, isvc.kind]).toEqual(["serving.kserve.io/v1beta1", "InferenceService"]);
    expect(isvc.metadata.name).toBe("credit-scorer");
    expect(isvc.metadata.name).toMatch(DNS1035_LABEL);
    expect(isvc.metadata.namespace).toBe("models");
    expect(isvc.metadata.annotations).toMatchObject({
      "cairn.dev/protocol": "v2",
      "cairn.dev/model-uri": URI,
      "serving.kserve.io/enable-prometheus-scraping": "true",
      "prometheus.kserve.io/port": "8080",
      "prometheus.kserve.io/path": "/metrics",
    });
    const p = isvc.spec.predictor;
    expect(Object.keys(isvc.spec)).toEqual(["predictor"]);
    expect(p).toMatchObject({ minReplicas: 2, maxReplicas: 6, scaleMetric: "cpu", scaleTarget: 60 });
    expect(p.containers).toHaveLength(1);
    const c = p.containers[0];
    expect(c.name).toBe("kserve-container");
    checkServeContainer(c, 8080);
    expect(c.command[2]).toBe(URI);
    expect(c.resources).toEqual({ requests: { cpu: "1", memory: "2Gi" }, limits: { memory: "2Gi" } });
    expect(c.env.map((e: Any) => e.name)).toEqual(["CAIRN_URL", "CAIRN_TOKEN"]);
    expect(p.volumes).toEqual([{ name: "model-cache", emptyDir: {} }]);
  });

  it("keeps KServe names short enough for its generated suffixes", () => {
    const isvc = kserve({ name: "a-very-long-inference-service-name-that-goes-on-and-on-and-on" });
    expect(isvc.metadata.name.length).toBeLessThanOrEqual(45);
    expect(isvc.metadata.name).toMatch(DNS1035_LABEL);
  });
});

describe("cairn deploy export / cairn model dockerfile (CLI)", () => {
  let dir: string | undefined;
  afterEach(() => {
    vi.restoreAllMocks();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    process.exitCode = undefined;
  });

  function program(withModels = false): Command {
    const p = new Command("cairn").option("--url <url>").option("--token <token>").option("--json");
    if (withModels) p.command("models").description("registry");
    registerServingExportCommands(p);
    return p;
  }

  async function cli(args: string[], p = program()): Promise<{ out: string; err: string }> {
    let out = "";
    let err = "";
    vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
    await p.parseAsync(["node", "cairn", ...args]);
    vi.restoreAllMocks();
    return { out, err };
  }

  it("prints the manifests, or writes -o", async () => {
    const { out } = await cli(["deploy", "export", "--format", "k8s", "--name", "scorer", "--model", URI, "--image", "img:1", "--replicas", "2", "--max-replicas", "5", "--token-secret", "tok"]);
    const all = docs(out);
    expect(all.map((d) => d.kind)).toEqual(["Deployment", "Service", "HorizontalPodAutoscaler"]);
    expect(all[0]!.spec.template.spec.containers[0].command[2]).toBe(URI);
    expect(all[2]!.spec).toMatchObject({ minReplicas: 2, maxReplicas: 5 });

    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-deploy-export-"));
    const file = path.join(dir, "isvc.yaml");
    const r = await cli(["deploy", "export", "--format", "kserve", "--name", "scorer", "--model", URI, "--image", "img:1", "-o", file]);
    expect(r.out).toBe("");
    expect(r.err).toContain(`wrote InferenceService for ${URI} to ${file}`);
    expect(docs(fs.readFileSync(file, "utf8"))[0]!.kind).toBe("InferenceService");
    const j = await cli(["--json", "deploy", "export", "--format", "kserve", "--name", "scorer", "--model", URI, "--image", "img:1", "-o", file]);
    expect(JSON.parse(j.out)).toEqual({ format: "kserve", out: file, model: URI });
  });

  it("reports invalid options with exit code 2, one line per problem", async () => {
    const r = await cli(["deploy", "export", "--format", "k8s", "--name", "s", "--model", "not-a-uri", "--image", "img", "--cpu", "x"]);
    expect(process.exitCode).toBe(2);
    expect(r.err).toMatch(/^error: INVALID_PARAMETER_VALUE: .*\n {2}- .*models:\//);
    expect(r.err).toContain('--cpu "x"');
  });

  it("usage errors exit 2", async () => {
    const exit = vi.spyOn(process, "exit").mockImplementation(((code: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const p = program();
    await expect(p.parseAsync(["node", "cairn", "deploy", "export", "--format", "helm", "--name", "a", "--model", URI, "--image", "x"])).rejects.toThrow("exit 2");
    await expect(p.parseAsync(["node", "cairn", "deploy", "export", "--format", "k8s", "--name", "a", "--model", URI])).rejects.toThrow("exit 2");
    await expect(p.parseAsync(["node", "cairn", "deploy", "export", "--format", "k8s", "--name", "a", "--model", URI, "--image", "x", "--replicas", "0"])).rejects.toThrow("exit 2");
    expect(exit).toHaveBeenCalledWith(2);
  });

  it("puts dockerfile in the registry's models group (answering to `model`), else in a new model group", () => {
    const withModels = program(true);
    const models = withModels.commands.find((c) => c.name() === "models")!;
    expect(models.aliases()).toContain("model");
    expect(models.commands.map((c) => c.name())).toContain("dockerfile");
    expect(withModels.commands.filter((c) => c.name() === "model")).toEqual([]);
    const alone = program();
    const model = alone.commands.find((c) => c.name() === "model")!;
    expect(model.commands.map((c) => c.name())).toEqual(["dockerfile"]);
    expect(alone.commands.find((c) => c.name() === "deploy")!.commands.map((c) => c.name())).toEqual(["export"]);
  });
});
