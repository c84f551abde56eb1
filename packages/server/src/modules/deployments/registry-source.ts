import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { CairnError } from "@cairn/contract";
import type { BlobStore } from "../../platform/blob/blob-store.js";
import { proxiedKey } from "../tracking/service.js";
import type { RegistryService } from "../registry/service.js";
import type { PackageSource } from "../serving/model-host.js";

/**
 * A package source over the server's own registry and artifact store: deployments on the main
 * server read versions without going through HTTP (and without a token).
 */
export function registryPackageSource(registry: RegistryService, blobs: BlobStore): PackageSource {
  return {
    async resolve(uri) {
      const { modelVersion: v } = await registry.resolveModelUri(uri);
      return { name: v.name, version: String(v.version), signature: v.signature, created: v.creationTimestamp };
    },
    async download(name, version, dir) {
      const key = proxiedKey(await registry.getDownloadUri(name, Number(version)));
      const st = await blobs.stat(key);
      if (!st) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Model ${name} version ${version} has no files at its source`);
      fs.mkdirSync(dir, { recursive: true });
      if (!st.isDir) return copyFile(blobs, key, path.join(dir, path.posix.basename(key)));
      await copyTree(blobs, key, dir);
    },
  };
}

async function copyTree(blobs: BlobStore, prefix: string, dir: string): Promise<void> {
  for (const e of await blobs.list(prefix)) {
    // Listing paths are relative and `/`-separated; refuse anything that would leave the directory.
    const target = path.resolve(dir, ...e.path.split("/"));
    if (!target.startsWith(dir + path.sep)) throw new CairnError("INVALID_PARAMETER_VALUE", `Artifact path '${e.path}' leaves the package directory`);
    if (e.isDir) {
      fs.mkdirSync(target, { recursive: true });
      await copyTree(blobs, join(prefix, e.path), target);
    } else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      await copyFile(blobs, join(prefix, e.path), target);
    }
  }
}

async function copyFile(blobs: BlobStore, key: string, target: string): Promise<void> {
  const { stream } = await blobs.get(key);
  await pipeline(stream, fs.createWriteStream(target));
}

const join = (prefix: string, rel: string) => (prefix === "" ? rel : `${prefix}/${rel}`);
