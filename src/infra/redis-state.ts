/**
 * Shared state in Redis, for several replicas of the add-on. Built on ioredis, not
 * on ACE's Redis store, which never connects its client.
 *
 * Redis is an optimisation here, never a dependency of a panel view: commands fail
 * fast while it is down (no offline queue, short command timeout), and every
 * caller then falls back to what one process can do alone.
 */
import crypto from 'node:crypto';
import Redis from 'ioredis';
import { CacheBackend, CacheRecord, CallSharing, LocalCallSharing } from '../core/cache';
import { UpstreamError, UpstreamErrorKind, UpstreamService } from '../core/errors';
import { MemoryRateLimitGate, RateLimitGate } from '../core/rate-limit';
import type { Logger } from '../logger';
import type { SharedState } from './shared-state';

const KEY_PREFIX = 'dhfb:';
const TENANT_CHANNEL = `${KEY_PREFIX}tenant-changed`;
const COMMAND_TIMEOUT_MS = 250;
/** How long one replica may hold a call before others stop waiting and call upstream themselves. */
const CALL_LOCK_MS = 10_000;
/** How long a finished call's outcome stays readable for the replicas that waited on it. */
const CALL_RESULT_MS = 5_000;
const CALL_POLL_INTERVAL_MS = 20;
const SCAN_BATCH = 500;
const MAX_SCAN_ROUNDS = 10_000;

export async function createRedisSharedState(url: string, logger: Logger): Promise<SharedState> {
  const log = logger.child({ area: 'redis' });
  const options = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  };
  const client = new Redis(url, options);
  const subscriber = new Redis(url, { ...options, enableOfflineQueue: true });
  let lastErrorLogged = 0;
  for (const connection of [client, subscriber]) {
    connection.on('error', (error: Error) => {
      // ioredis reports every reconnect attempt; one line per 10 seconds is enough.
      if (Date.now() - lastErrorLogged > 10_000) {
        lastErrorLogged = Date.now();
        log.warn({ error: { type: error.name, message: error.message } }, 'Redis connection error; using local state');
      }
    });
  }
  await Promise.all([client.connect(), subscriber.connect()]).catch((error: Error) => {
    log.warn({ error: { type: error.name, message: error.message } }, 'Redis not reachable at start-up; will keep retrying');
  });

  const listeners: Array<(clientKey: string) => void> = [];
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === TENANT_CHANNEL) listeners.forEach((listener) => listener(message));
  });
  subscriber.subscribe(TENANT_CHANNEL).catch(() => undefined);

  return {
    cacheBackend: new RedisCacheBackend(client),
    callSharing: new RedisCallSharing(client),
    dockerHubGate: new RedisRateLimitGate(client, `${KEY_PREFIX}pause:docker-hub`),
    tenantEvents: {
      publish: (clientKey) => {
        client.publish(TENANT_CHANNEL, clientKey).catch(() => undefined);
      },
      subscribe: (listener) => listeners.push(listener),
    },
    checkReadiness: async () => {
      try {
        await client.ping();
        return undefined;
      } catch (error) {
        return `redis: ${(error as Error).message}`;
      }
    },
    close: async () => {
      await Promise.allSettled([client.quit(), subscriber.quit()]);
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

export class RedisCacheBackend implements CacheBackend {
  constructor(private readonly redis: Redis) {}

  async get(key: string): Promise<CacheRecord | undefined> {
    const stored = await this.redis.get(KEY_PREFIX + key);
    return stored === null ? undefined : (JSON.parse(stored) as CacheRecord);
  }

  async set(key: string, record: CacheRecord, keepMs: number): Promise<void> {
    await this.redis.set(KEY_PREFIX + key, JSON.stringify(record), 'PX', Math.max(1, Math.round(keepMs)));
  }

  async deleteByPrefix(prefix: string): Promise<void> {
    const pattern = `${escapeGlob(KEY_PREFIX + prefix)}*`;
    let cursor = '0';
    for (let round = 0; round < MAX_SCAN_ROUNDS; round += 1) {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
      if (keys.length > 0) {
        await this.redis.del(...keys);
      }
      cursor = next;
      if (cursor === '0') return;
    }
  }
}

type CallOutcome =
  | { ok: true; value: unknown }
  | { ok: false; service: UpstreamService; kind: UpstreamErrorKind; detail: string; status?: number; retryAt?: number };

/**
 * Shares a call among replicas: the replica that takes the lock calls upstream and
 * publishes the outcome; the others wait for it. Without Redis each replica calls
 * on its own, still shared within the process.
 */
export class RedisCallSharing implements CallSharing {
  private readonly local = new LocalCallSharing();

  constructor(private readonly redis: Redis) {}

  run<T>(key: string, loader: () => Promise<T>): Promise<T> {
    return this.local.run(key, () => this.runAcrossReplicas(key, loader));
  }

  private async runAcrossReplicas<T>(key: string, loader: () => Promise<T>): Promise<T> {
    const lockKey = `${KEY_PREFIX}lock:${key}`;
    const resultKey = `${KEY_PREFIX}result:${key}`;
    const token = crypto.randomUUID();
    let acquired: boolean;
    try {
      acquired = (await this.redis.set(lockKey, token, 'PX', CALL_LOCK_MS, 'NX')) === 'OK';
    } catch {
      return loader();
    }
    if (acquired) {
      return this.callAndPublish(loader, lockKey, resultKey, token);
    }
    const outcome = await this.waitForOutcome(resultKey, lockKey);
    if (!outcome) {
      return loader();
    }
    if (outcome.ok) {
      return outcome.value as T;
    }
    throw new UpstreamError(outcome.service, outcome.kind, outcome.detail, {
      status: outcome.status,
      retryAt: outcome.retryAt,
    });
  }

  private async callAndPublish<T>(loader: () => Promise<T>, lockKey: string, resultKey: string, token: string) {
    let outcome: CallOutcome;
    try {
      const value = await loader();
      outcome = { ok: true, value };
      return value;
    } catch (error) {
      outcome =
        error instanceof UpstreamError
          ? { ok: false, service: error.service, kind: error.kind, detail: error.detail, status: error.status, retryAt: error.retryAt }
          : { ok: false, service: 'docker-hub', kind: 'invalid-response', detail: 'call failed' };
      throw error;
    } finally {
      await this.publish(resultKey, lockKey, token, outcome!);
    }
  }

  private async publish(resultKey: string, lockKey: string, token: string, outcome: CallOutcome) {
    try {
      await this.redis.set(resultKey, JSON.stringify(outcome), 'PX', CALL_RESULT_MS);
      // Release only our own lock; a slow call may have outlived it.
      if ((await this.redis.get(lockKey)) === token) {
        await this.redis.del(lockKey);
      }
    } catch {
      // Waiting replicas fall back to their own call when the lock expires.
    }
  }

  /** Polls for the outcome while the lock is held; undefined means "call it yourself". */
  private async waitForOutcome(resultKey: string, lockKey: string): Promise<CallOutcome | undefined> {
    const giveUpAt = Date.now() + CALL_LOCK_MS;
    while (Date.now() < giveUpAt) {
      try {
        const [result, lock] = await Promise.all([this.redis.get(resultKey), this.redis.exists(lockKey)]);
        if (result !== null) return JSON.parse(result) as CallOutcome;
        if (lock === 0) {
          // The holder finished between our two reads, or died; one more read settles which.
          const late = await this.redis.get(resultKey);
          return late === null ? undefined : (JSON.parse(late) as CallOutcome);
        }
      } catch {
        return undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, CALL_POLL_INTERVAL_MS));
    }
    return undefined;
  }
}

export class RedisRateLimitGate implements RateLimitGate {
  private readonly local = new MemoryRateLimitGate();

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async pausedUntil(): Promise<number | undefined> {
    const local = await this.local.pausedUntil();
    if (local !== undefined) return local;
    try {
      const stored = Number(await this.redis.get(this.key));
      return Number.isFinite(stored) && stored > Date.now() ? stored : undefined;
    } catch {
      return undefined;
    }
  }

  async pause(until: number): Promise<void> {
    await this.local.pause(until);
    const ttl = Math.round(until - Date.now());
    if (ttl <= 0) return;
    try {
      await this.redis.set(this.key, String(until), 'PX', ttl);
    } catch {
      // The local pause still protects this replica.
    }
  }
}

function escapeGlob(value: string): string {
  return value.replace(/[*?[\]\\]/g, '\\$&');
}
