import type { CacheEntry } from './entry.ts'

/**
 * The contract every cache driver keeps: async, `undefined` is a miss, units in the names.
 * Drivers throw on failure; the cache manager decides what a failure means (it never fails a request).
 */
export interface CacheDriver {
  readonly name: string
  get (key: string): Promise<CacheEntry | undefined>
  /**
   * The same as `get`, answered at once: only a driver that holds its entries in this process has it (memory). The
   * cache manager answers fresh hits through it without a promise.
   */
  peek? (key: string): CacheEntry | undefined
  /** Keeps the entry for `ttlMs` (its stale window included), then forgets it. */
  set (key: string, entry: CacheEntry, ttlMs: number): Promise<void>
  delete (key: string): Promise<void>
  /** Removes every entry whose key starts with `keyPrefix` (all entries when omitted); returns how many. */
  purge (keyPrefix?: string): Promise<number>
  close (): Promise<void>
}
