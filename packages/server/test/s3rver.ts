import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** s3rver's built-in account; it checks signatures against these. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

// s3rver runs in a child process because it encrypts ListObjectsV2 continuation tokens with DES,
// which Node 17+ (OpenSSL 3) only offers with --openssl-legacy-provider: in-process, every
// truncated listing would fail with HTTP 500. It also keeps the server's memory out of the
// suites' memory measurements.
const SERVER_SCRIPT = `
import S3rver from "s3rver";
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  directory: process.env.S3RVER_DIR,
  silent: true,
  configureBuckets: [{ name: process.env.S3RVER_BUCKET }],
});
const { port } = await server.run();
process.stdout.write(JSON.stringify({ port }) + "\\n");
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
`;

/**
 * Starts a local S3-compatible server (s3rver) with one bucket, in a temporary directory.
 * @throws Error when it exits before listening
 */
export async function startS3rver(bucket: string): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "cairn-s3rver-"));
  const proc = spawn(process.execPath, ["--openssl-legacy-provider", "--no-warnings", "--input-type=module", "-e", SERVER_SCRIPT], {
    // Resolves `s3rver` from the server package's dependencies.
    cwd: path.dirname(fileURLToPath(import.meta.url)),
    env: { ...process.env, S3RVER_DIR: dir, S3RVER_BUCKET: bucket },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    proc.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    proc.on("exit", (code) => reject(new Error(`s3rver exited with ${code}: ${stderr}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.stdin?.end();
        await exited;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
