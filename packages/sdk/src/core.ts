import { apiRoutes, buildPath, CairnError, BINARY, type ApiRoutes, type RouteDef, type RouteInput, type RouteOutput } from "@cairn/contract";

/** Options for a low-level API client. */
export interface ApiClientOptions {
  /** Server base URL, e.g. `http://127.0.0.1:5005`. */
  url: string;
  /** Bearer token, sent when the server has auth on. */
  token?: string | undefined;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 60 s). */
  timeoutMs?: number;
}

/** One typed method per native route, derived from the contract's route table. */
export type ApiMethods = {
  [K in keyof ApiRoutes as ApiRoutes[K] extends { body: typeof BINARY } | { response: typeof BINARY } ? never : K]: (
    input: RouteInput<ApiRoutes[K]> & { signal?: AbortSignal },
  ) => Promise<RouteOutput<ApiRoutes[K]>>;
};

/**
 * The low-level typed client: `api.getRun({ params: { id } })`. Works in browsers and Node
 * (it needs only `fetch`). Every failure is a `CairnError` carrying the server's code;
 * a network failure is `TEMPORARILY_UNAVAILABLE`.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly api: ApiMethods;

  constructor(opts: ApiClientOptions) {
    this.baseUrl = opts.url.replace(/\/+$/, "");
    this.#token = opts.token;
    this.#fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
    const api: Record<string, unknown> = {};
    for (const [name, route] of Object.entries(apiRoutes)) {
      api[name] = (input: Record<string, unknown>) => this.call(route, input);
    }
    this.api = api as ApiMethods;
  }

  /** Headers every request carries (auth). */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.#token ? { authorization: `Bearer ${this.#token}`, ...extra } : extra;
  }

  /** The absolute URL of a route with its params and query filled in. */
  url(route: RouteDef, params?: Record<string, unknown>, query?: Record<string, unknown>): string {
    let u = this.baseUrl + buildPath(route.path, params);
    if (query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) qs.set(k, String(v));
      const s = qs.toString();
      if (s) u += `?${s}`;
    }
    return u;
  }

  /**
   * Sends a raw request and throws a typed CairnError for any non-2xx answer.
   * @throws CairnError with the server's code, or TEMPORARILY_UNAVAILABLE when the server cannot be reached
   */
  async fetchRaw(url: string, init: RequestInit & { duplex?: "half" } = {}): Promise<Response> {
    const signal = init.signal ?? AbortSignal.timeout(this.#timeoutMs);
    let res: Response;
    try {
      res = await this.#fetch(url, { ...init, signal, headers: this.headers((init.headers as Record<string, string>) ?? {}) });
    } catch (e) {
      throw new CairnError("TEMPORARILY_UNAVAILABLE", `Cannot reach the Cairn server at ${this.baseUrl}: ${(e as Error).message}`, { cause: e });
    }
    if (!res.ok) {
      let body: unknown;
      try {
        body = await res.json();
      } catch {
        body = undefined;
      }
      throw CairnError.fromBody(body, res.status);
    }
    return res;
  }

  /**
   * Calls one JSON route of the contract. `signal` cancels it (instead of the client's timeout), e.g.
   * a long poll when its caller stops.
   * @throws CairnError (see fetchRaw)
   */
  async call<R extends RouteDef>(route: R, input: { params?: unknown; query?: unknown; body?: unknown; signal?: AbortSignal } = {}): Promise<RouteOutput<R>> {
    const init: RequestInit = { method: route.method };
    if (input.signal) init.signal = input.signal;
    if (input.body !== undefined) {
      init.body = JSON.stringify(input.body);
      init.headers = { "content-type": "application/json" };
    }
    const res = await this.fetchRaw(this.url(route, input.params as Record<string, unknown>, input.query as Record<string, unknown>), init);
    return (await res.json()) as RouteOutput<R>;
  }
}
