import { setTimeout as sleep } from "node:timers/promises";
import { CairnError } from "@cairn/contract";

/** Where alert webhooks may go: host names (`hooks.slack.com`), `*.example.com` for subdomains, optionally `:port`. */
export class WebhookAllowList {
  readonly #exact = new Set<string>();
  readonly #suffixes: { suffix: string; port: string | undefined }[] = [];

  /** @throws CairnError INVALID_PARAMETER_VALUE for an entry that is not a host name pattern */
  constructor(entries: readonly string[]) {
    for (const raw of entries.map((e) => e.trim().toLowerCase()).filter(Boolean)) {
      const m = /^(\*\.)?([a-z0-9.-]+|\[[0-9a-f:]+\])(?::(\d{1,5}))?$/.exec(raw);
      if (!m) throw new CairnError("INVALID_PARAMETER_VALUE", `Webhook allow-list entry '${raw}' is not a host name, *.domain or host:port`);
      if (m[1]) this.#suffixes.push({ suffix: `.${m[2]}`, port: m[3] });
      else this.#exact.add(m[3] ? `${m[2]}:${m[3]}` : m[2]!);
    }
  }

  /** Whether a URL may be called: http(s), and its host (with its port, when the entry names one) on the list. */
  allows(url: URL): boolean {
    if (url.protocol !== "https:" && url.protocol !== "http:") return false;
    if (url.username || url.password) return false;
    const host = url.hostname.toLowerCase();
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    if (this.#exact.has(host) || this.#exact.has(`${host}:${port}`)) return true;
    return this.#suffixes.some((s) => host.endsWith(s.suffix) && (s.port === undefined || s.port === port));
  }

  /**
   * Checks a webhook URL when a rule is saved, so a bad target is refused up front.
   * @throws CairnError INVALID_PARAMETER_VALUE (not a URL, not http(s)) or PERMISSION_DENIED (host not on the list)
   */
  check(url: string): URL {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new CairnError("INVALID_PARAMETER_VALUE", `Webhook URL '${url}' is not a URL`);
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new CairnError("INVALID_PARAMETER_VALUE", `Webhook URL '${url}' must be http or https`);
    if (!this.allows(u)) throw new CairnError("PERMISSION_DENIED", `Webhook host '${u.host}' is not allowed; an admin can add it to CAIRN_WEBHOOK_ALLOWED_HOSTS`);
    return u;
  }
}

export interface WebhookOptions {
  allowList: WebhookAllowList;
  /** Per attempt (default 5 s). */
  timeoutMs?: number;
  /** Attempts in all (default 3); a network error, 429 or 5xx is tried again after 0.5 s, 1 s, … */
  attempts?: number;
  /** Redirects followed, each to an allowed host only (default 3). */
  maxRedirects?: number;
  backoffMs?: number;
  fetch?: typeof fetch;
}

/** What a delivery did. */
export interface WebhookResult {
  ok: boolean;
  /** The last HTTP status, when any answer came. */
  status?: number;
  attempts: number;
  error?: string;
}

/**
 * POSTs a JSON payload to an allow-listed URL: a time limit per attempt, retries with backoff on
 * network errors, 429 and 5xx, and redirects followed by hand so that one pointing off the list is
 * refused instead of followed. Never throws: the result says what happened.
 */
export async function deliverWebhook(url: string, payload: unknown, o: WebhookOptions): Promise<WebhookResult> {
  const doFetch = o.fetch ?? globalThis.fetch;
  const attempts = Math.max(1, o.attempts ?? 3);
  const body = JSON.stringify(payload);
  let last: WebhookResult = { ok: false, attempts: 0, error: "not sent" };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let target: URL;
    try {
      target = o.allowList.check(url);
    } catch (e) {
      return { ok: false, attempts: attempt - 1, error: (e as Error).message };
    }
    try {
      for (let hop = 0; ; hop++) {
        const res = await doFetch(target, { method: "POST", headers: { "content-type": "application/json", "user-agent": "cairn-alerts" }, body, redirect: "manual", signal: AbortSignal.timeout(o.timeoutMs ?? 5000) });
        await res.body?.cancel().catch(() => undefined);
        if (res.status >= 300 && res.status < 400 && res.headers.get("location")) {
          const next = new URL(res.headers.get("location")!, target);
          if (!o.allowList.allows(next)) return { ok: false, status: res.status, attempts: attempt, error: `redirect to '${next.host}', which is not on the allow-list, was not followed` };
          if (hop >= (o.maxRedirects ?? 3)) return { ok: false, status: res.status, attempts: attempt, error: "too many redirects" };
          target = next;
          continue;
        }
        last = { ok: res.ok, status: res.status, attempts: attempt, ...(res.ok ? {} : { error: `answered ${res.status}` }) };
        break;
      }
    } catch (e) {
      last = { ok: false, attempts: attempt, error: (e as Error).name === "TimeoutError" ? `no answer within ${o.timeoutMs ?? 5000} ms` : String((e as Error).message ?? e) };
    }
    const retry = !last.ok && (last.status === undefined || last.status === 429 || last.status >= 500);
    if (!retry || attempt === attempts) return last;
    await sleep((o.backoffMs ?? 500) * 2 ** (attempt - 1));
  }
  return last;
}
