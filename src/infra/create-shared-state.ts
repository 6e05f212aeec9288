import type { AppConfig } from '../config';
import type { Logger } from '../logger';
import { createMemorySharedState, SharedState } from './shared-state';

/** Picks in-memory state for one process, or Redis when REDIS_URL is set. */
export async function createSharedState(config: AppConfig, logger: Logger): Promise<SharedState> {
  if (!config.redisUrl) {
    return createMemorySharedState();
  }
  const { createRedisSharedState } = await import('./redis-state');
  return createRedisSharedState(config.redisUrl, logger);
}
