/**
 * Installed workspaces ("tenants"), kept in ACE's settings store: sqlite by
 * default, PostgreSQL when DATABASE_URL names it. Only the fields the add-on needs
 * are stored, never the whole install payload.
 */
import { LRUCache } from 'lru-cache';
import { z } from 'zod';

export interface Tenant {
  clientKey: string;
  key: string;
  sharedSecret: string;
  baseUrl: string;
  baseApiUrl: string;
  productType: string;
  /** Workspace UUID from the install payload's principal, with braces. */
  principalUuid?: string;
  installedAt: string;
}

/** The subset of ACE's StoreAdapter this module uses. */
export interface SettingsStore {
  get(key: string, clientKey: string): Promise<unknown>;
  set(key: string, value: unknown, clientKey: string): Promise<unknown>;
  del(clientKey: string): Promise<unknown>;
}

const CLIENT_INFO_KEY = 'clientInfo';

const storedTenantSchema = z.object({
  clientKey: z.string(),
  key: z.string(),
  sharedSecret: z.string(),
  baseUrl: z.string(),
  baseApiUrl: z.string(),
  productType: z.string(),
  principalUuid: z.string().optional(),
  installedAt: z.string(),
});

/** Tenant access as the lifecycle and panel routes use it. */
export interface Tenants {
  get(clientKey: string): Promise<Tenant | undefined>;
  save(tenant: Tenant): Promise<void>;
  delete(clientKey: string): Promise<void>;
}

export class TenantStore implements Tenants {
  /** Tail of the write queue. sqlite allows one writer at a time, and concurrent Sequelize transactions fail with SQLITE_BUSY. */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly settings: SettingsStore) {}

  async get(clientKey: string): Promise<Tenant | undefined> {
    const stored = await this.settings.get(CLIENT_INFO_KEY, clientKey);
    if (stored === null || stored === undefined) {
      return undefined;
    }
    const parsed = storedTenantSchema.safeParse(stored);
    return parsed.success ? parsed.data : undefined;
  }

  async save(tenant: Tenant): Promise<void> {
    await this.serialized(() => this.settings.set(CLIENT_INFO_KEY, tenant, tenant.clientKey));
  }

  /** Deletes every row the tenant has in the settings store. */
  async delete(clientKey: string): Promise<void> {
    await this.serialized(() => this.settings.del(clientKey));
  }

  private serialized<T>(write: () => Promise<T>): Promise<T> {
    const result = this.writes.then(write, write);
    this.writes = result.catch(() => undefined);
    return result;
  }
}

/** Announces tenant changes to every process, so that each drops its cached copy. */
export interface TenantEvents {
  publish(clientKey: string): void;
  subscribe(listener: (clientKey: string) => void): void;
}

/** How long a tenant read from the store is reused in memory; changes announced through TenantEvents apply at once. */
export const TENANT_CACHE_TTL_MS = 60_000;
const TENANT_CACHE_MAX_ENTRIES = 10_000;

/**
 * Keeps recently read tenants in memory, so that a warm panel view does not query
 * the database. Unknown clientKeys are remembered too, so that forged tokens
 * cannot turn into one database query each.
 */
export class CachedTenantStore implements Tenants {
  private readonly recent = new LRUCache<string, { tenant: Tenant | null }>({
    max: TENANT_CACHE_MAX_ENTRIES,
    ttl: TENANT_CACHE_TTL_MS,
  });

  constructor(
    private readonly store: TenantStore,
    private readonly events: TenantEvents,
  ) {
    events.subscribe((clientKey) => this.recent.delete(clientKey));
  }

  async get(clientKey: string): Promise<Tenant | undefined> {
    const cached = this.recent.get(clientKey);
    if (cached) {
      return cached.tenant ?? undefined;
    }
    const tenant = await this.store.get(clientKey);
    this.recent.set(clientKey, { tenant: tenant ?? null });
    return tenant;
  }

  async save(tenant: Tenant): Promise<void> {
    await this.store.save(tenant);
    this.invalidate(tenant.clientKey);
  }

  async delete(clientKey: string): Promise<void> {
    await this.store.delete(clientKey);
    this.invalidate(clientKey);
  }

  /** Drops the cached copy here and in every other process. */
  invalidate(clientKey: string): void {
    this.recent.delete(clientKey);
    this.events.publish(clientKey);
  }
}
