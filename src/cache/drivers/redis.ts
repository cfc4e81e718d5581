import type { Redis } from 'ioredis'
import { scanTargets, type RedisClient } from '../../redis.ts'
import type { CacheDriver } from '../driver.ts'
import { decodeEntry, encodeEntry } from '../entry.ts'

export interface RedisDriverOptions {
  /** Prepended to every key (the tenant namespace's cache prefix): the driver never touches keys it does not own. */
  keyPrefix: string
}

/** Keys asked of one SCAN call, and so the most one UNLINK batch removes. */
const SCAN_BATCH = 500

function escapeGlob (s: string): string {
  return s.replace(/[*?[\]\\]/g, c => `\\${c}`)
}

/**
 * Removes the keys matching `pattern` from one server, in batches of at most SCAN_BATCH (never KEYS, so Redis is
 * never blocked). On a Cluster node the keys of one batch may hash to different slots, and a multi-key UNLINK
 * across slots is refused (CROSSSLOT): there each key is unlinked alone, in one pipeline per batch.
 */
async function unlinkMatching (server: Redis, pattern: string, perKey: boolean): Promise<number> {
  let cursor = '0'
  let n = 0
  do {
    const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH)
    cursor = next
    if (keys.length === 0) continue
    if (!perKey) {
      n += await server.unlink(...keys)
      continue
    }
    const pipeline = server.pipeline()
    for (const key of keys) pipeline.unlink(key)
    for (const [err, removed] of (await pipeline.exec()) ?? []) {
      // A key whose slot moved meanwhile (MOVED) is left to its new owner's scan.
      if (!err) n += Number(removed)
    }
  } while (cursor !== '0')
  return n
}

/** Entries in Redis with their TTL set there. Borrows the client: never connects, never quits it. */
export function createRedisDriver (redis: RedisClient, { keyPrefix }: RedisDriverOptions): CacheDriver {
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
      const pattern = escapeGlob(keyPrefix + prefix) + '*'
      const servers = scanTargets(redis)
      const perKey = servers[0] !== redis
      const counts = await Promise.all(servers.map(server => unlinkMatching(server, pattern, perKey)))
      return counts.reduce((a, b) => a + b, 0)
    },
    async close () {
      // the client belongs to whoever created it
    },
  }
}
