import { LRUCache } from 'lru-cache'
import type { CacheDriver } from '../driver.ts'
import { entrySizeBytes, stringSizeBytes, type CacheEntry } from '../entry.ts'

export interface MemoryDriverOptions {
  /** Upper bound of the bytes held (keys, bodies, headers and per-entry bookkeeping), evicting least recently used entries. */
  maxBytes: number
  /** The clock TTLs are measured on, in ms (default: `performance.now`); tests pass their own. */
  now?: () => number
}

/**
 * The body in a Buffer of its own. A small Buffer is usually a slice of Node's shared 8 KiB pool, and holding the
 * slice holds the whole slab: 3 KB bodies held ~4 KB each.
 */
function ownedBody (body: Buffer): Buffer {
  if (body.byteOffset === 0 && body.buffer.byteLength === body.length) return body
  const copy = Buffer.allocUnsafeSlow(body.length)
  body.copy(copy)
  return copy
}

/** A process-local LRU bounded by size (lru-cache), entries expiring by TTL. */
export function createMemoryDriver ({ maxBytes, now }: MemoryDriverOptions): CacheDriver & { sizeBytes (): number } {
  const lru = new LRUCache<string, CacheEntry>({
    maxSize: maxBytes,
    sizeCalculation: (entry, key) => entrySizeBytes(entry) + stringSizeBytes(key),
    // An entry larger than the whole cache is simply not stored.
    maxEntrySize: maxBytes,
    ttlAutopurge: false,
    // lru-cache caches the time for ttlResolution ms behind a timer; with a given clock, read it every time.
    ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
  })
  return {
    name: 'memory',
    async get (key) {
      return lru.get(key)
    },
    peek (key) {
      return lru.get(key)
    },
    async set (key, entry, ttlMs) {
      lru.set(key, { ...entry, body: ownedBody(entry.body) }, { ttl: Math.max(1, ttlMs) })
    },
    async delete (key) {
      lru.delete(key)
    },
    async purge (keyPrefix) {
      if (keyPrefix === undefined) {
        const n = lru.size
        lru.clear()
        return n
      }
      let n = 0
      for (const key of [...lru.keys()]) {
        if (key.startsWith(keyPrefix)) {
          lru.delete(key)
          n++
        }
      }
      return n
    },
    async close () {
      lru.clear()
    },
    sizeBytes () {
      return lru.calculatedSize
    },
  }
}
