import { useCallback, useEffect, useRef, useState, type RefObject } from "react";

/** The state of one async load. */
export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `fn` whenever `deps` change and keeps only the latest answer
 * (an earlier, slower request never overwrites a later one).
 */
export function useAsync<T>(fn: () => Promise<T>, deps: readonly unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  const gen = useRef(0);
  useEffect(() => {
    const my = ++gen.current;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    fn().then(
      (data) => {
        if (gen.current === my) setState({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (gen.current === my) setState((s) => ({ data: s.data, error, loading: false }));
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** Becomes true once the element has scrolled into view (and stays true), to defer expensive loads. */
export function useInView<E extends Element>(rootMargin = "200px"): [RefObject<E | null>, boolean] {
  const ref = useRef<E>(null);
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el || seen) return;
    if (typeof IntersectionObserver === "undefined") {
      setSeen(true);
      return;
    }
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        setSeen(true);
        io.disconnect();
      }
    }, { rootMargin });
    io.observe(el);
    return () => io.disconnect();
  }, [seen, rootMargin]);
  return [ref, seen];
}

/** A piece of state persisted in localStorage under `key` (JSON). */
export function useStoredState<T>(key: string, initial: T): [T, (v: T) => void] {
  const read = (): T => {
    try {
      const raw = window.localStorage.getItem(key);
      return raw === null ? initial : (JSON.parse(raw) as T);
    } catch {
      return initial;
    }
  };
  const [value, setValue] = useState<T>(read);
  const lastKey = useRef(key);
  useEffect(() => {
    if (lastKey.current !== key) {
      lastKey.current = key;
      setValue(read());
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const set = useCallback(
    (v: T) => {
      setValue(v);
      try {
        window.localStorage.setItem(key, JSON.stringify(v));
      } catch {
        // storage full or disabled: keep the in-memory value only
      }
    },
    [key],
  );
  return [value, set];
}

/** One page of a paged listing: its items and the token of the next page, if any. */
export interface Page<T> {
  items: T[];
  next?: string | undefined;
}

/** Options of {@link usePaged}. */
export interface PagedOptions<T> {
  /** Identity of an item: an item of a later page whose key was already loaded is skipped. */
  key?: (item: T) => string;
  /** Called with the items of each first page as it arrives. */
  onFirstPage?: (items: T[]) => void;
  /** On an error, drop the next-page token (and, on the first page, the items loaded so far). */
  dropOnError?: boolean;
}

/** The state of a paged listing loaded by {@link usePaged}. */
export interface PagedState<T> {
  items: T[];
  next: string | undefined;
  loading: boolean;
  error: unknown;
  /** Fetches the page after the last one loaded and appends it. */
  loadMore: () => void;
  /** Fetches the last requested page again (after an error). */
  retry: () => void;
  /** Starts again from the first page. */
  reload: () => void;
}

function sameDeps(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

/**
 * A listing read a page at a time: `fetchPage(token)` loads the first page whenever `deps`
 * change, and each `loadMore` appends the next one. Answers to superseded requests are dropped.
 */
export function usePaged<T>(fetchPage: (pageToken: string | undefined) => Promise<Page<T>>, deps: readonly unknown[], options: PagedOptions<T> = {}): PagedState<T> {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(undefined);
  // `n` makes a request for the same token again count as a new one.
  const [page, setPage] = useState<{ token: string | undefined; n: number }>({ token: undefined, n: 0 });
  const [seenDeps, setSeenDeps] = useState(deps);
  // New deps start from the first page; adjusting state during render avoids a request with a stale token.
  if (!sameDeps(seenDeps, deps)) {
    setSeenDeps(deps);
    if (page.token !== undefined) setPage({ token: undefined, n: page.n + 1 });
  }

  useEffect(() => {
    let live = true;
    const token = page.token;
    setLoading(true);
    setError(undefined);
    fetchPage(token).then(
      (r) => {
        if (!live) return;
        const { key, onFirstPage } = options;
        if (token === undefined) {
          setItems(r.items);
          onFirstPage?.(r.items);
        } else {
          setItems((prev) => {
            if (!key) return prev.concat(r.items);
            const seen = new Set(prev.map(key));
            return prev.concat(r.items.filter((x) => !seen.has(key(x))));
          });
        }
        setNext(r.next || undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        if (options.dropOnError) {
          if (token === undefined) setItems([]);
          setNext(undefined);
        }
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, page]);

  return {
    items,
    next,
    loading,
    error,
    loadMore: () => {
      if (next) setPage((p) => ({ token: next, n: p.n + 1 }));
    },
    retry: () => setPage((p) => ({ ...p, n: p.n + 1 })),
    reload: () => setPage((p) => ({ token: undefined, n: p.n + 1 })),
  };
}
