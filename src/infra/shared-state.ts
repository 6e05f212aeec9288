/**
 * State that replicas of the add-on share: the upstream cache, the sharing of
 * in-flight calls, the Docker Hub rate-limit pause and tenant change events.
 * One process keeps it in memory; several share it through Redis (redis-state.ts).
 */
import { CacheBackend, CallSharing, LocalCallSharing, MemoryCacheBackend } from '../core/cache';
import { MemoryRateLimitGate, RateLimitGate } from '../core/rate-limit';
import type { TenantEvents } from '../connect/tenants';

export interface SharedState {
  cacheBackend: CacheBackend;
  callSharing: CallSharing;
  dockerHubGate: RateLimitGate;
  tenantEvents: TenantEvents;
  /** Returns a problem description when a shared dependency cannot be reached. */
  checkReadiness(): Promise<string | undefined>;
  close(): Promise<void>;
}

export function createMemorySharedState(): SharedState {
  const listeners: Array<(clientKey: string) => void> = [];
  return {
    cacheBackend: new MemoryCacheBackend(),
    callSharing: new LocalCallSharing(),
    dockerHubGate: new MemoryRateLimitGate(),
    tenantEvents: {
      // In one process the caller has already dropped its own copy.
      publish: () => undefined,
      subscribe: (listener) => listeners.push(listener),
    },
    checkReadiness: async () => undefined,
    close: async () => undefined,
  };
}
