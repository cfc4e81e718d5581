import type { Redis } from 'ioredis'
import type { CacheDriver } from '../driver.ts'
import { decodeEntry, encodeEntry } from '../entry.ts'

export interface RedisDriverOptions {
  /** Prepended to every key, so the gateway never touches keys it does not own. */
  keyPrefix?: string
}

const SCAN_BATCH = 500

function escapeGlob (s: string): string {
  return s.replace(/[*?[\]\\]/g, c => `\\${c}`)
}

/** Entries in Redis with their TTL set there. Borrows the client: never connects, never quits it. */
export function createRedisDriver (redis: Redis, { keyPrefix = 'ion-gateway:cache:' }: RedisDriverOptions = {}): CacheDriver {
  return {
    name: 'redis',
    async get (key) {
      const data = await redis.getBuffer(keyPrefix + key)
      return data ? decodeEntry(data) : undefined
    },
    async set (key, entry, ttlMs) {
      await redis.set(keyPrefix + key, encodeEntry(entry), 'PX', Math.max(1, Math.ceil(ttlMs)))
    },
    async delete (key) {
      await redis.del(keyPrefix + key)
    },
    async purge (prefix = '') {
      let cursor = '0'
      let n = 0
      const match = escapeGlob(keyPrefix + prefix) + '*'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_BATCH)
        cursor = next
        if (keys.length > 0) n += await redis.unlink(...keys)
      } while (cursor !== '0')
      return n
    },
    async close () {
      // the client belongs to whoever created it
    },
  }
}
