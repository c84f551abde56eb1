/**
 * Step `fetch` of `train.yaml`: downloads a version of the raw dataset from the Cairn server at
 * `CAIRN_URL` (token `CAIRN_TOKEN`) into `--out`, and, inside a tracked run (`CAIRN_RUN_ID`), records
 * it as the run's input, so the lineage reads dataset version → training run → model version.
 * Usage: fetch.ts --dataset credit-raw@latest --file raw.csv --out data/source --record data/source.json
 * (`--record` names the version fetched, for the register step to link as the model's training data.)
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Cairn } from "@cairn/sdk";
import { Args, runStep } from "../cli-args.js";
import { writeJson } from "../csv.js";

runStep("fetch", async () => {
  const args = new Args(process.argv.slice(2));
  const ref = args.string("dataset");
  const out = args.string("out");
  const file = args.string("file", "raw.csv");
  const cairn = new Cairn({ handleExit: false });
  const version = await cairn.datasets.use(ref, out);
  writeJson(args.string("record"), { dataset: version.dataset, version: version.number, digest: version.digest });
  if (!existsSync(join(out, file))) throw new Error(`${version.dataset}@v${version.number} has no file '${file}'`);
  console.log(`fetch: ${version.dataset}@v${version.number} (${version.digest.slice(0, 12)}, ${version.fileCount} file${version.fileCount === 1 ? "" : "s"}, ${version.totalBytes} bytes) → ${out}`);
});
