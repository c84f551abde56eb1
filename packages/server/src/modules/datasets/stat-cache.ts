import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

/** What a file looked like when it was last hashed. */
export interface CachedStat {
  size: number;
  mtimeNs: string;
  ino: string;
  sha256: string;
}

/**
 * Remembers each file's size, modification time (ns) and inode with its hash, so an unchanged file
 * is not read again by the next `add` or `status` (the trick git's index uses). Kept in a SQLite
 * file (`<dir>/stat-cache.db`), loaded whole into memory on open: 100k entries take a few MB.
 * A file whose size, mtime or inode differs is rehashed; so is one modified within the same
 * nanosecond tick as the cache write would be, which real file systems do not produce.
 */
export class StatCache {
  readonly #db: Database.Database;
  readonly #entries = new Map<string, CachedStat>();

  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.#db = new Database(path.join(dir, "stat-cache.db"));
    this.#db.pragma("journal_mode = WAL");
    this.#db.exec("create table if not exists stats (abs text primary key, size integer not null, mtime_ns text not null, ino text not null, sha256 text not null)");
    for (const r of this.#db.prepare("select abs, size, mtime_ns, ino, sha256 from stats").all() as { abs: string; size: number; mtime_ns: string; ino: string; sha256: string }[]) {
      this.#entries.set(r.abs, { size: r.size, mtimeNs: r.mtime_ns, ino: r.ino, sha256: r.sha256 });
    }
  }

  /** The cached hash of a file when its size, mtime and inode are unchanged. */
  lookup(abs: string, st: { size: number; mtimeNs: string; ino: string }): string | undefined {
    const c = this.#entries.get(abs);
    return c && c.size === st.size && c.mtimeNs === st.mtimeNs && c.ino === st.ino ? c.sha256 : undefined;
  }

  /** Records fresh hashes in one transaction. */
  store(entries: readonly ({ abs: string } & CachedStat)[]): void {
    const put = this.#db.prepare("insert into stats (abs, size, mtime_ns, ino, sha256) values (?, ?, ?, ?, ?) on conflict (abs) do update set size = excluded.size, mtime_ns = excluded.mtime_ns, ino = excluded.ino, sha256 = excluded.sha256");
    this.#db.transaction(() => {
      for (const e of entries) {
        put.run(e.abs, e.size, e.mtimeNs, e.ino, e.sha256);
        this.#entries.set(e.abs, { size: e.size, mtimeNs: e.mtimeNs, ino: e.ino, sha256: e.sha256 });
      }
    })();
  }

  close(): void {
    this.#db.close();
  }
}
