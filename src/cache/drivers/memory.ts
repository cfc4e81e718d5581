import { LRUCache } from 'lru-cache'
import type { CacheDriver } from '../driver.ts'
import { entrySizeBytes, type CacheEntry } from '../entry.ts'

export interface MemoryDriverOptions {
  /** Upper bound of the bytes held (bodies plus headers), evicting least recently used entries. */
  maxBytes: number
}

/** A process-local LRU bounded by size (lru-cache), entries expiring by TTL. */
export function createMemoryDriver ({ maxBytes }: MemoryDriverOptions): CacheDriver & { sizeBytes (): number } {
  const lru = new LRUCache<string, CacheEntry>({
    maxSize: maxBytes,
    sizeCalculation: entry => Math.max(1, entrySizeBytes(entry)),
    // An entry larger than the whole cache is simply not stored.
    maxEntrySize: maxBytes,
    ttlAutopurge: false,
  })
  return {
    name: 'memory',
    async get (key) {
      return lru.get(key)
    },
    async set (key, entry, ttlMs) {
      lru.set(key, entry, { ttl: Math.max(1, ttlMs) })
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
