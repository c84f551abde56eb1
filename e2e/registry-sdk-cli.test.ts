/**
 * The model registry through the SDK (`cairn.models`) and the `cairn models` CLI against a real
 * server: versions registered from runs, aliases and their history, `models:/` URIs, compare,
 * byte-for-byte downloads, typed errors, tables, JSON and exit codes.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn, CairnError, parseModelUri } from "@cairn/sdk";
import { startServer } from "../packages/server/src/server.js";
import { runCli } from "./processes.js";


let server: { url: string; close(): Promise<void> };
let dataDir: string;
let tmp: string;
let cairn: Cairn;

/** Two training runs with different params and metrics, each with a `model` artifact directory. */
const runs: { id: string; files: Record<string, Buffer> }[] = [];

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-reg-data-"));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-reg-"));
  server = await startServer({ port: 0, dataDir, logLevel: "silent" });
  cairn = new Cairn({ url: server.url, handleExit: false });

  for (const [i, lr] of [0.1, 0.01].entries()) {
    const run = await cairn.startRun({ experiment: "e2e-registry", runName: `lr-${lr}`, captureContext: false });
    run.log({ params: { lr, optimizer: "adam" }, metrics: { auc: 0.8 + i / 10, loss: 0.5 - i / 10 } });
    const src = path.join(tmp, `model-${i}`);
    fs.mkdirSync(path.join(src, "weights"), { recursive: true });
    const files: Record<string, Buffer> = {
      MLmodel: Buffer.from(`flavors:\n  test:\n    run: ${i}\n`),
      "weights/w.bin": randomBytes(300_000 + i),
      "weights/empty.bin": Buffer.alloc(0),
    };
    for (const [rel, b] of Object.entries(files)) fs.writeFileSync(path.join(src, rel), b);
    await run.logArtifact(src, "model");
    await run.end();
    runs.push({ id: run.id, files });
  }
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

function expectFiles(dir: string, files: Record<string, Buffer>): void {
  for (const [rel, b] of Object.entries(files)) expect(Buffer.compare(fs.readFileSync(path.join(dir, rel)), b), rel).toBe(0);
}

/** Every file under `dir`, relative and sorted. */
function tree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    .sort();
}

describe("cairn.models against a real server", () => {
  it("registers versions from runs, moves an alias, resolves, compares and downloads", async () => {
    const model = await cairn.models.create("e2e-fraud", { description: "fraud model", tags: { team: "risk" } });
    expect(model).toMatchObject({ name: "e2e-fraud", description: "fraud model", tags: { team: "risk" }, aliases: [] });

    const v1 = await cairn.models.createVersion({ name: "e2e-fraud", source: `runs:/${runs[0]!.id}/model`, tags: { framework: "test" } });
    const v2 = await cairn.models.createVersion({ name: "e2e-fraud", source: `runs:/${runs[1]!.id}/model`, description: "smaller lr" });
    expect([v1.version, v2.version]).toEqual(["1", "2"]);
    // A runs:/ source records its run.
    expect(v1.runId).toBe(runs[0]!.id);
    expect(v1.tags).toEqual({ framework: "test" });
    expect(await cairn.models.getDownloadUri("e2e-fraud", 2)).toMatch(new RegExp(`^mlflow-artifacts:/.*/${runs[1]!.id}/artifacts/model$`));

    // Set, then move the alias; the history says both, newest first.
    const before = Date.now();
    await cairn.models.setAlias("e2e-fraud", "champion", 1);
    await new Promise((r) => setTimeout(r, 5));
    const between = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await cairn.models.setAlias("e2e-fraud", "champion", "2");
    expect((await cairn.models.getByAlias("e2e-fraud", "champion")).version).toBe("2");
    const { history } = await cairn.models.aliasHistory("e2e-fraud", "champion");
    expect(history.map((h) => [h.fromVersion, h.toVersion])).toEqual([
      ["1", "2"],
      [null, "1"],
    ]);
    expect(history[1]!.time).toBeGreaterThanOrEqual(before);
    expect((await cairn.models.aliasHistory("e2e-fraud", "champion", { at: between })).versionAt).toBe("1");
    expect((await cairn.models.aliasHistory("e2e-fraud", "champion", { at: before - 1000 })).versionAt).toBeNull();

    // models:/ URIs.
    expect(parseModelUri("models:/e2e-fraud@champion")).toEqual({ name: "e2e-fraud", alias: "champion" });
    expect((await cairn.models.resolve("models:/e2e-fraud@champion")).version).toBe("2");
    expect((await cairn.models.resolve("models:/e2e-fraud/1")).runId).toBe(runs[0]!.id);
    expect((await cairn.models.resolve("models:/e2e-fraud/latest")).version).toBe("2");
    await expect(cairn.models.resolve("fraud@champion")).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });

    // Compare: the source runs' params and latest metrics, in the order asked.
    const cmp = await cairn.models.compare("e2e-fraud", [2, 1]);
    expect(cmp.map((c) => c.version.version)).toEqual(["2", "1"]);
    expect(cmp.map((c) => c.params)).toEqual([
      { lr: "0.01", optimizer: "adam" },
      { lr: "0.1", optimizer: "adam" },
    ]);
    expect(cmp[0]!.metrics.auc).toBeCloseTo(0.9);
    expect(cmp[1]!.metrics.loss).toBeCloseTo(0.5);

    // Download: the version's files land directly in the directory, byte for byte.
    const dest = path.join(tmp, "dl-champion");
    let progress = 0;
    const got = await cairn.models.download("models:/e2e-fraud@champion", dest, { onProgress: (d) => (progress = d) });
    expect(got.path).toBe(dest);
    expect(got.version.version).toBe("2");
    expect(tree(dest)).toEqual(["MLmodel", "weights/empty.bin", "weights/w.bin"]);
    expectFiles(dest, runs[1]!.files);
    expect(progress).toBe(Object.values(runs[1]!.files).reduce((n, b) => n + b.length, 0));

    // A single-file version lands as that file.
    const v3 = await cairn.models.createVersion({ name: "e2e-fraud", source: `runs:/${runs[0]!.id}/model/MLmodel` });
    const one = await cairn.models.download(`models:/e2e-fraud/${v3.version}`, path.join(tmp, "dl-one"));
    expect(one.path).toBe(path.join(tmp, "dl-one", "MLmodel"));
    expect(fs.readFileSync(one.path)).toEqual(runs[0]!.files.MLmodel);

    // Tags, descriptions and search.
    await cairn.models.setVersionTag("e2e-fraud", 1, "validated", "yes");
    expect((await cairn.models.getVersion("e2e-fraud", 1)).tags).toEqual({ framework: "test", validated: "yes" });
    await cairn.models.deleteVersionTag("e2e-fraud", 1, "validated");
    await cairn.models.updateVersion("e2e-fraud", 1, { description: "first" });
    expect((await cairn.models.getVersion("e2e-fraud", 1)).description).toBe("first");
    await cairn.models.setTag("e2e-fraud", "owner", "ana");
    await cairn.models.deleteTag("e2e-fraud", "team");
    expect((await cairn.models.update("e2e-fraud", { description: "d2" })).tags).toEqual({ owner: "ana" });
    const names: string[] = [];
    for await (const m of cairn.models.searchAll({ filter: "name LIKE 'e2e-%'", maxResults: 1 })) names.push(m.name);
    expect(names).toContain("e2e-fraud");
    const versions: string[] = [];
    for await (const v of cairn.models.searchVersionsAll({ filter: "name = 'e2e-fraud'", orderBy: ["version_number ASC"], maxResults: 1 })) versions.push(v.version);
    expect(versions).toEqual(["1", "2", "3"]);
  });

  it("downloads a version stored outside any run through the proxied artifact routes", async () => {
    const files: Record<string, Buffer> = { "conf/a b.json": Buffer.from('{"x":1}'), "blob.bin": randomBytes(70_000) };
    for (const [rel, b] of Object.entries(files)) {
      const url = `${server.url}/api/2.0/mlflow-artifacts/artifacts/e2e-store/m1/${rel.split("/").map(encodeURIComponent).join("/")}`;
      const res = await fetch(url, { method: "PUT", body: b });
      expect(res.status).toBe(200);
    }
    await cairn.models.create("e2e-proxied");
    const v = await cairn.models.createVersion({ name: "e2e-proxied", source: "mlflow-artifacts:/e2e-store/m1" });
    const dest = path.join(tmp, "dl-proxied");
    const got = await cairn.models.download("models:/e2e-proxied/1", dest);
    expect(got).toMatchObject({ path: dest, artifactUri: "mlflow-artifacts:/e2e-store/m1", version: { version: v.version } });
    expect(tree(dest)).toEqual(["blob.bin", "conf/a b.json"]);
    expectFiles(dest, files);
  });

  it("throws typed errors", async () => {
    const e = await cairn.models.get("no-such-model").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CairnError);
    expect(e).toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST", status: 404 });
    await expect(cairn.models.resolve("models:/no-such-model@champion")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    await expect(cairn.models.getVersion("e2e-fraud", 99)).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    await expect(cairn.models.create("e2e-fraud")).rejects.toMatchObject({ code: "RESOURCE_ALREADY_EXISTS" });
    await expect(cairn.models.setAlias("e2e-fraud", "latest", 1)).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(cairn.models.createVersion({ name: "e2e-fraud", source: "/etc/passwd" })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(cairn.models.download("models:/e2e-fraud@nope", path.join(tmp, "never"))).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    expect(fs.existsSync(path.join(tmp, "never"))).toBe(false);
  });
});


const cli = (...args: string[]) => runCli(server.url, args);

describe("cairn models CLI", () => {
  it("registers, aliases, lists, shows, compares and downloads", async () => {
    const reg1 = await cli("models", "register", "e2e-cli-model", `runs:/${runs[0]!.id}/model`, "--tag", "stage=test", "--description", "first");
    expect(reg1.stderr).toBe("");
    expect(reg1.code).toBe(0);
    expect(reg1.stdout).toContain("Created registered model 'e2e-cli-model'");
    expect(reg1.stdout).toContain("Registered 'e2e-cli-model' version 1");
    const reg2 = await cli("--json", "models", "register", "e2e-cli-model", `runs:/${runs[1]!.id}/model`);
    expect(reg2.code).toBe(0);
    expect(JSON.parse(reg2.stdout)).toMatchObject({ createdModel: false, modelVersion: { version: "2", runId: runs[1]!.id } });

    const alias = await cli("models", "alias", "e2e-cli-model", "prod", "1");
    expect(alias.code).toBe(0);
    expect((await cairn.models.getByAlias("e2e-cli-model", "prod")).version).toBe("1");
    expect((await cli("models", "alias", "e2e-cli-model", "prod", "2")).code).toBe(0);

    const list = await cli("--json", "models", "list", "--filter", "name LIKE 'e2e-cli-%'");
    expect(list.code).toBe(0);
    const parsed = JSON.parse(list.stdout) as { registeredModels: { name: string; aliases: { alias: string; version: string }[] }[] };
    expect(parsed.registeredModels.map((m) => m.name)).toEqual(["e2e-cli-model"]);
    expect(parsed.registeredModels[0]!.aliases).toEqual([{ alias: "prod", version: "2" }]);

    const show = await cli("models", "show", "e2e-cli-model");
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^FIELD\s+VALUE/);
    expect(show.stdout).toMatch(/\nVERSION\s+ALIASES\s+STAGE\s+STATUS\s+FLAVORS\s+RUN ID\s+SOURCE\s+CREATED\n\s*2\s+prod\s+None\s+READY\s+test\s+\S+/);
    expect(show.stdout).toMatch(/\n\s*1\s+-\s+None\s+READY\s+test/);
    expect(show.stdout).toMatch(/\nALIAS\s+VERSION\nprod\s+2/);

    const hist = await cli("models", "history", "e2e-cli-model", "prod");
    expect(hist.code).toBe(0);
    expect(hist.stdout).toMatch(/^TIME\s+FROM\s+TO\s+ACTOR\s+REQUEST\n.*\s1\s+2\s.*\n.*\(none\)\s+1\s/);

    const cmp = await cli("models", "compare", "e2e-cli-model", "1", "2");
    expect(cmp.code).toBe(0);
    expect(cmp.stdout).toMatch(/\*\s+params\.lr\s+0\.1\s+0\.01/);
    expect(cmp.stdout).toMatch(/\n\s+params\.optimizer\s+adam\s+adam/);
    expect(cmp.stdout).toMatch(/\*\s+metrics\.auc\s+0\.8\s+0\.9/);

    const dest = path.join(tmp, "cli-dl");
    const down = await cli("models", "download", "e2e-cli-model@prod", dest);
    expect(down.stderr).toBe("");
    expect(down.code).toBe(0);
    expect(down.stdout).toContain(`version 2 to ${dest}`);
    expectFiles(dest, runs[1]!.files);

    const del = await cli("models", "alias", "e2e-cli-model", "prod", "--delete");
    expect(del.code).toBe(0);
    await expect(cairn.models.getByAlias("e2e-cli-model", "prod")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
  });

  it("exits 1 with `error: CODE: message` for server errors and 2 for usage errors", async () => {
    const res = await cli("models", "show", "no-such-model");
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(/^error: RESOURCE_DOES_NOT_EXIST: /);
    expect(res.stderr).not.toMatch(/\n\s+at /);

    const down = await cli("models", "download", "no-such-model@prod", path.join(tmp, "cli-never"));
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: RESOURCE_DOES_NOT_EXIST: /);

    const usage = await cli("models", "alias", "e2e-cli-model", "prod");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("VERSION");
    expect((await cli("models", "download", "not-a-ref", tmp)).code).toBe(2);
  });
});

describe("registry governance through the SDK and CLI", () => {
  it("sets signatures, checks compatibility, documents with a card and retires a version", async () => {
    const name = "e2e-gov";
    await cairn.models.create(name);
    const v1 = await cairn.models.createVersion({
      name,
      source: `runs:/${runs[0]!.id}/model`,
      signature: { inputs: [{ name: "x", dtype: "int32", shape: [-1, 3] }], outputs: [{ name: "y", dtype: "float32", shape: [-1] }] },
    });
    expect(v1.signature?.inputs[0]?.name).toBe("x");
    await cairn.models.createVersion({ name, source: `runs:/${runs[1]!.id}/model` });
    await cairn.models.setSignature(name, 2, { inputs: [{ name: "x", dtype: "int64", shape: [-1, 3] }, { name: "z", dtype: "bool", shape: [-1] }], outputs: [] });
    const compat = await cairn.models.compatibility(name, 1, 2);
    expect(compat.compatible).toBe(false);
    expect(compat.findings.map((f) => [f.kind, f.breaking])).toEqual([
      ["dtype_changed", false],
      ["input_added_required", true],
      ["output_removed", true],
    ]);
    await expect(cairn.models.setSignature(name, 2, { inputs: [{ name: "x", dtype: "int99" as "int32", shape: [] }], outputs: [] })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });

    await cairn.models.setCard(name, { version: 2, intendedUse: "Demo | test", owners: ["ada"], riskClass: "limited" });
    expect((await cairn.models.getCard(name)).evaluationResults?.metrics.auc).toBeCloseTo(0.9);
    expect(await cairn.models.getCardMarkdown(name, { version: 1 })).toContain("| Risk class | Limited |");

    const table = await cli("models", "compat", name, "1", "2");
    expect([table.code, table.stderr]).toEqual([0, ""]);
    expect(table.stdout).toMatch(/yes\s+input_added_required\s+inputs\.z/);
    expect(table.stdout).toContain("is NOT compatible with version 1");
    const md = await cli("models", "card", name, "--markdown");
    expect(md.code).toBe(0);
    expect(md.stdout).toContain("# Model card: e2e-gov");
    expect(md.stdout).toContain("Demo | test");

    const retire = await cli("--json", "models", "retire", name, "1", "--state", "archived", "--reason", "replaced by v2");
    expect(retire.code).toBe(0);
    expect(JSON.parse(retire.stdout).modelVersion.retirement).toMatchObject({ state: "archived", reason: "replaced by v2" });
    // An archived version cannot be promoted (protected aliases move only by promotion).
    await expect(cairn.models.promotions.request(name, { alias: "production", version: 1, reason: "try" })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    expect((await cairn.models.unretire(name, 1)).retirement).toBeNull();
    await cairn.models.setAlias(name, "champion", 1);
  }, 60_000);
});
