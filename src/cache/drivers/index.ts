import type { Redis } from 'ioredis'
import type { CacheDriver } from '../driver.ts'
import { createMemoryDriver } from './memory.ts'
import { createRedisDriver } from './redis.ts'

export { createMemoryDriver, createRedisDriver }

/** The driver CACHE_DRIVER names, or undefined for `none`. */
export function driverFor (name: 'memory' | 'redis' | 'none', settings: { maxBytes: number, redis: Redis | null }): CacheDriver | undefined {
  if (name === 'memory') return createMemoryDriver({ maxBytes: settings.maxBytes })
  if (name === 'redis' && settings.redis) return createRedisDriver(settings.redis)
  return undefined
}
