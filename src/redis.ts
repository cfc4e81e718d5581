import { Redis, type RedisOptions } from 'ioredis'

/**
 * The shared Redis client. Redis is optional and never fatal: commands fail fast while it is down (no offline
 * queue, short timeouts) so callers can fall back, and ioredis reconnects in the background.
 */
export function createRedisClient (url: string, overrides: RedisOptions = {}): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 2000,
    retryStrategy: attempt => Math.min(100 * 2 ** attempt, 2000),
    ...overrides,
  })
}
