import fs from "node:fs";
import path from "node:path";
import { CairnError } from "@cairn/contract";

/** One regular file of a tree, as `lstat`/`stat` saw it. */
export interface TreeFile {
  /** Path relative to the root, `/`-separated. */
  path: string;
  /** Absolute path to read the content from (a symlink's target inside the tree). */
  abs: string;
  size: number;
  /** Modification time in nanoseconds, as a decimal string (exact, unlike a float of milliseconds). */
  mtimeNs: string;
  ino: string;
  /** Permission bits (e.g. 0o644); executables keep their x bits. */
  mode: number;
}

const invalid = (msg: string) => new CairnError("INVALID_PARAMETER_VALUE", msg);

function within(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * Every regular file under `root` (or `root` itself when it is a file), sorted by path. Symlinks
 * are followed when their target stays inside the tree (each directory is entered once, so link
 * cycles end); one that leaves the tree is refused, as are sockets, devices and FIFOs.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST for a missing root; INVALID_PARAMETER_VALUE for a symlink leaving the tree or a special file; PERMISSION_DENIED for an unreadable directory
 */
export function walkTree(root: string): TreeFile[] {
  let top: fs.Stats;
  try {
    top = fs.statSync(root, { bigint: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No such file or directory: ${root}`);
    throw e;
  }
  const realRoot = fs.realpathSync(root);
  if (top.isFile()) {
    const st = fs.statSync(realRoot, { bigint: true });
    return [{ path: path.basename(root), abs: realRoot, size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ino: st.ino.toString(), mode: Number(st.mode) & 0o777 }];
  }
  const out: TreeFile[] = [];
  const seenDirs = new Set<string>([realRoot]);
  const stack: [string, string][] = [[realRoot, ""]];
  while (stack.length) {
    const [dir, rel] = stack.pop()!;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EACCES") throw new CairnError("PERMISSION_DENIED", `Cannot read directory ${path.join(root, rel)}`);
      throw e;
    }
    for (const name of names) {
      const abs = path.join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      let real = abs;
      let st = fs.lstatSync(abs, { bigint: true });
      if (st.isSymbolicLink()) {
        try {
          real = fs.realpathSync(abs);
        } catch {
          throw invalid(`Symlink ${relPath} points to nothing`);
        }
        if (!within(realRoot, real)) throw invalid(`Symlink ${relPath} leaves the tree (it points to ${real})`);
        st = fs.statSync(real, { bigint: true });
      }
      if (st.isDirectory()) {
        if (!seenDirs.has(real)) {
          seenDirs.add(real);
          stack.push([real, relPath]);
        }
      } else if (st.isFile()) {
        out.push({ path: relPath, abs: real, size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ino: st.ino.toString(), mode: Number(st.mode) & 0o777 });
      } else {
        throw invalid(`${relPath} is not a regular file, directory or symlink`);
      }
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
