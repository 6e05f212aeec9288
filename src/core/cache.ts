/**
 * Cache for upstream responses, with three duties: serve fresh responses without a
 * call, share one call among concurrent views of the same key, and serve the last
 * good response, marked stale, when the upstream fails or is too slow.
 */
import { LRUCache } from 'lru-cache';
import { isUpstreamError, UpstreamError, UpstreamService } from './errors';

export interface CacheRecord {
  value: unknown;
  /** Epoch milliseconds when the upstream responded. */
  storedAt: number;
  /** Epoch milliseconds until which the record is served without asking upstream. */
  freshUntil: number;
  /** True when the upstream responded 404. Such records are never served as stale data. */
  notFound?: boolean;
}

export interface CacheBackend {
  get(key: string): Promise<CacheRecord | undefined>;
  /** Stores a record that is dropped after `keepMs`. */
  set(key: string, record: CacheRecord, keepMs: number): Promise<void>;
  /** Deletes every key that starts with `prefix`, used to purge an uninstalled tenant. */
  deleteByPrefix(prefix: string): Promise<void>;
}

export interface CachePolicy {
  /** How long an answer is served without calling upstream. */
  freshMs: number;
  /** How long an answer is kept to be shown, marked stale, when upstream fails. */
  keepMs: number;
  /** How long a 404 is remembered. */
  notFoundMs: number;
}

export interface Cached<T> {
  value: T;
  storedAt: number;
  /** Epoch milliseconds until which the value is served without asking upstream; in the past for a stale value. */
  freshUntil: number;
  stale: boolean;
  /** Reason a stale value is served. */
  error?: UpstreamError;
}

/** Shares upstream calls between callers; the Redis variant extends the sharing to other processes. */
export interface CallSharing {
  run<T>(key: string, loader: () => Promise<T>): Promise<T>;
}

export class LocalCallSharing implements CallSharing {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  run<T>(key: string, loader: () => Promise<T>): Promise<T> {
    const existing = this.inFlight.get(key);
    if (existing) {
      return existing as Promise<T>;
    }
    const started = loader().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }
}

export interface CacheEvents {
  /** A backend failure that the cache survived by acting as a miss. */
  backendError(operation: string, error: unknown): void;
}

/** How long a purge is remembered: ten times the longest upstream timeout that the configuration allows (60 s). */
const PURGE_MEMORY_MS = 10 * 60 * 1000;

export class UpstreamCache {
  /** Recent purges by key prefix, with the purge count at that moment and when it happened. */
  private readonly purges = new Map<string, { sequence: number; at: number }>();
  private purgeSequence = 0;

  constructor(
    private readonly backend: CacheBackend,
    private readonly sharing: CallSharing,
    private readonly events: CacheEvents,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Returns the cached answer for `key`, or calls `loader` once for all concurrent
   * callers. Waits at most until `deadline`; the call itself goes on and fills the
   * cache for the next view.
   *
   * @throws UpstreamError when there is neither a fresh answer nor an older good one.
   */
  async load<T>(
    key: string,
    service: UpstreamService,
    policy: CachePolicy,
    deadline: number,
    loader: () => Promise<T>,
  ): Promise<Cached<T>> {
    const purgeMark = this.purgeMark();
    const record = await this.read(key);
    if (record && record.freshUntil > this.now()) {
      if (record.notFound) {
        throw new UpstreamError(service, 'not-found', 'remembered 404', { rememberedUntil: record.freshUntil });
      }
      return { value: record.value as T, storedAt: record.storedAt, freshUntil: record.freshUntil, stale: false };
    }

    const call = this.sharing.run(key, () => this.callAndStore(key, policy, purgeMark, loader));
    try {
      const value = await withDeadline(call, deadline, service);
      const storedAt = this.now();
      return { value, storedAt, freshUntil: storedAt + policy.freshMs, stale: false };
    } catch (error) {
      if (record && !record.notFound && isUpstreamError(error) && error.kind !== 'not-found') {
        return { value: record.value as T, storedAt: record.storedAt, freshUntil: record.freshUntil, stale: true, error };
      }
      throw error;
    }
  }

  /** Deletes every key that starts with `prefix`, and keeps calls already in flight for such keys from writing back. */
  deleteByPrefix(prefix: string): Promise<void> {
    this.notePurge(prefix);
    return this.backend.deleteByPrefix(prefix);
  }

  /**
   * Records that the keys under `prefix` were purged, here or by another process
   * that shares the backend, so that a call that started earlier does not store
   * its response under them afterwards.
   * NOTE: a view that arrives after the purge while such a call is still in flight
   * shares it and shows its response once, although nothing is stored.
   */
  notePurge(prefix: string): void {
    const now = this.now();
    for (const [known, purge] of this.purges) {
      if (now - purge.at > PURGE_MEMORY_MS) this.purges.delete(known);
    }
    this.purgeSequence += 1;
    this.purges.delete(prefix);
    this.purges.set(prefix, { sequence: this.purgeSequence, at: now });
  }

  /** Returns a mark to pass to purgedSince later. */
  purgeMark(): number {
    return this.purgeSequence;
  }

  /** Tells whether a purge covering `key` happened after `mark` was taken. */
  purgedSince(key: string, mark: number): boolean {
    if (this.purgeSequence === mark) return false;
    for (const [prefix, purge] of this.purges) {
      if (purge.sequence > mark && key.startsWith(prefix)) return true;
    }
    return false;
  }

  private async callAndStore<T>(key: string, policy: CachePolicy, mark: number, loader: () => Promise<T>): Promise<T> {
    try {
      const value = await loader();
      const storedAt = this.now();
      if (!this.purgedSince(key, mark)) {
        await this.write(key, { value, storedAt, freshUntil: storedAt + policy.freshMs }, policy.keepMs);
      }
      return value;
    } catch (error) {
      if (isUpstreamError(error, 'not-found') && !this.purgedSince(key, mark)) {
        const storedAt = this.now();
        const record = { value: null, storedAt, freshUntil: storedAt + policy.notFoundMs, notFound: true };
        await this.write(key, record, policy.notFoundMs);
      }
      throw error;
    }
  }

  private async read(key: string): Promise<CacheRecord | undefined> {
    try {
      return await this.backend.get(key);
    } catch (error) {
      this.events.backendError('get', error);
      return undefined;
    }
  }

  private async write(key: string, record: CacheRecord, keepMs: number): Promise<void> {
    try {
      await this.backend.set(key, record, keepMs);
    } catch (error) {
      this.events.backendError('set', error);
    }
  }
}

/** Resolves with `promise`, or rejects with a timeout at `deadline`; the promise itself is not cancelled. */
export function withDeadline<T>(promise: Promise<T>, deadline: number, service: UpstreamService): Promise<T> {
  const remainingMs = deadline - Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UpstreamError(service, 'timeout', 'the panel time budget ran out')),
      Math.max(0, remainingMs),
    );
  });
  // The shared call may reject after the deadline won; that rejection is already handled by its other awaiters.
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** In-process backend, bounded by entry count. */
export class MemoryCacheBackend implements CacheBackend {
  private readonly entries: LRUCache<string, CacheRecord>;

  constructor(maxEntries = 10_000) {
    this.entries = new LRUCache({ max: maxEntries });
  }

  async get(key: string): Promise<CacheRecord | undefined> {
    return this.entries.get(key);
  }

  async set(key: string, record: CacheRecord, keepMs: number): Promise<void> {
    this.entries.set(key, record, { ttl: Math.max(1, keepMs) });
  }

  async deleteByPrefix(prefix: string): Promise<void> {
    deleteKeysWithPrefix(this.entries, prefix);
  }
}

/** Deletes every entry of an LRU cache whose key starts with `prefix`. */
export function deleteKeysWithPrefix<V extends {}>(entries: LRUCache<string, V>, prefix: string): void {
  // The keys are copied first, so that the loop does not delete from the cache it iterates.
  for (const key of [...entries.keys()]) {
    if (key.startsWith(prefix)) {
      entries.delete(key);
    }
  }
}
