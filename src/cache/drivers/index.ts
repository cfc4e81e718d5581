import type { RedisClient } from '../../redis.ts'
import type { CacheDriver } from '../driver.ts'
import { createMemoryDriver } from './memory.ts'
import { createRedisDriver } from './redis.ts'

export { createMemoryDriver, createRedisDriver }

/** The driver CACHE_DRIVER names, or undefined for `none`. */
export function driverFor (name: 'memory' | 'redis' | 'none', settings: { maxBytes: number, redis: RedisClient | null, redisKeyPrefix: string }): CacheDriver | undefined {
  if (name === 'memory') return createMemoryDriver({ maxBytes: settings.maxBytes })
  if (name === 'redis' && settings.redis) return createRedisDriver(settings.redis, { keyPrefix: settings.redisKeyPrefix })
  return undefined
}
