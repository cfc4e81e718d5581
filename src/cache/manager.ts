import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import { LRUCache } from 'lru-cache'
import { readUpTo } from '../bounded-read.ts'
import { GatewayError, isGatewayError } from '../errors.ts'
import type { CacheDriver } from './driver.ts'
import type { CacheEntry } from './entry.ts'
import { freshness, refuseToStore } from './policy.ts'

export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'BYPASS'

/** ION's answer as the proxy got it. */
export interface OriginAnswer {
  statusCode: number
  /** ION's headers, unfiltered (the policy reads Set-Cookie, Vary, Cache-Control). */
  upstreamHeaders: IncomingHttpHeaders
  /** The headers the client may see. */
  clientHeaders: Record<string, string | string[]>
  body: AsyncIterable<Buffer>
  /** The error a body that fails while it is read becomes (the transport's own mapping); API_001 when absent. */
  bodyError? (err: unknown): Error
  /** Drops the body unread (when a stale entry is served instead). */
  discard (): void
}

export interface CachedAnswer {
  statusCode: number
  headers: Record<string, string | string[]>
  body: Buffer | Readable
  cacheStatus: CacheStatus
  ageS?: number
}

export interface CacheRequest {
  key: string
  /** Bounded metric label `api` (the proxy's: the system, `m3:PROGRAM/TRANSACTION` or `m3:other`). */
  api: string
  ttlS: number
  /** Whether the client allows answering from the cache, and storing ION's answer. */
  lookup: boolean
  store: boolean
  /**
   * HEAD: answered from a GET entry when there is one, else joins a GET or HEAD call in flight for the same key;
   * never stored.
   */
  headOnly?: boolean
  /**
   * The caller's own say on a complete 200 answer the HTTP rules would store (M3 answers its errors with 200):
   * false keeps it out of the cache. Asked at most once per request, only by the request that called the origin.
   */
  storable? (body: Buffer): boolean
  fetchOrigin: () => Promise<OriginAnswer>
}

export interface CacheEvents {
  hit? (api: string): void
  miss? (api: string): void
  stale? (api: string): void
  /** SYS_001: the driver failed; the request went on without the cache. */
  error? (err: unknown, operation: 'get' | 'set' | 'purge'): void
}

export interface ResponseCacheOptions {
  driver: CacheDriver
  staleS: number
  maxEntryBytes: number
  /** Followers of a coalesced miss give up after this long (API_002). */
  waitTimeoutMs: number
  events?: CacheEvents
  now?: () => number
}

type Shared =
  | { kind: 'answer', statusCode: number, headers: Record<string, string | string[]>, body: Buffer }
  | { kind: 'unshareable' }

export interface ResponseCache {
  fetch (request: CacheRequest): Promise<CachedAnswer>
  /**
   * A fresh entry's answer when the driver can say at once (memory): counted as a hit, exactly as `fetch` would
   * answer it. Undefined when there is none, when a call to ION is in flight for the key (`fetch` joins it), or when
   * the driver answers only by promise (Redis): then ask `fetch`. The common request, a fresh hit, costs no promise.
   */
  freshAnswer (key: string, api: string, headOnly: boolean): CachedAnswer | undefined
  purge (keyPrefix?: string): Promise<number>
  /** Hits / (hits + misses) since start, 0 when nothing was looked up. */
  hitRatio (): number
  /** Resolves once every store begun so far has reached the driver (or failed): requests never wait for it. */
  whenIdle (): Promise<void>
  readonly driverName: string
}

// API_005: ION is held (its 429) or the minute's calls are spent; a stored answer is better than a refusal.
const STALE_ON_CODES = new Set(['API_001', 'API_002', 'API_005', 'AUTH_003'])
const STALE_ON_STATUS = new Set([500, 502, 503, 504])
// HEAD calls in flight are shared under their own name: a GET cannot use a HEAD's answer (it has no body).
const HEAD_FLIGHT = 'HEAD\u0000'

/**
 * Read-through cache for ION answers: fresh hits, one upstream call for all identical concurrent misses, stale
 * answers when ION fails, and a driver failure never failing a request.
 */
export function createResponseCache (options: ResponseCacheOptions): ResponseCache {
  const { driver, events = {} } = options
  const now = options.now ?? Date.now
  const inflight = new Map<string, Promise<Shared>>()
  // A lookup that was still on its way to the driver when another request stored the entry comes back empty, after
  // that request's flight is over: without this it would call ION again. Each completed store gets a sequence
  // number; a miss whose lookup began before its key's last store reads the driver once more.
  const storedSeq = new LRUCache<string, number>({ max: 10000 })
  let storeSeq = 0
  let hits = 0
  let misses = 0

  async function safeGet (key: string): Promise<{ entry?: CacheEntry, failed: boolean }> {
    try {
      const entry = await driver.get(key)
      return entry ? { entry, failed: false } : { failed: false }
    } catch (err) {
      events.error?.(err, 'get')
      return { failed: true }
    }
  }

  function safeSet (key: string, entry: CacheEntry): Promise<void> {
    return driver.set(key, entry, entry.staleUntilMs - now())
      .then(() => { storedSeq.set(key, ++storeSeq) }, err => events.error?.(err, 'set'))
  }

  // Stores still on their way to the driver, each until its flight is released too (for whenIdle).
  const pendingStores = new Set<Promise<unknown>>()
  function track (storing: Promise<unknown>): void {
    const tracked = storing.catch(() => {}).finally(() => pendingStores.delete(tracked))
    pendingStores.add(tracked)
  }

  /** The entry as the driver holds it now: for a lookup that raced a store (see storedSeq). */
  async function lookUp (key: string): Promise<{ entry?: CacheEntry, failed: boolean }> {
    const seqBefore = storeSeq
    const found = await safeGet(key)
    if (found.failed || (found.entry && now() < found.entry.freshUntilMs)) return found
    return (storedSeq.get(key) ?? 0) > seqBefore ? safeGet(key) : found
  }

  function fromEntry (entry: CacheEntry, cacheStatus: CacheStatus): CachedAnswer {
    const ageS = Math.max(0, Math.floor((now() - entry.storedAtMs) / 1000))
    return { statusCode: entry.statusCode, headers: entry.headers, body: entry.body, cacheStatus, ageS }
  }

  function waitFor<T> (promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new GatewayError('API_002', `ION did not answer within ${options.waitTimeoutMs} ms`)), options.waitTimeoutMs)
      timer.unref()
    })
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
  }

  function canServeStale (err: unknown): boolean {
    return isGatewayError(err) && STALE_ON_CODES.has(err.code)
  }

  /**
   * `settle` may be given the pending store: the flight then stays joinable until the entry is in the driver, so a
   * request whose lookup raced the write still shares this answer instead of calling ION again.
   */
  async function lead (req: CacheRequest, stale: CacheEntry | undefined, lookedUp: boolean, settle: (s: Shared, storing?: Promise<void>) => void, fail: (err: unknown) => void): Promise<CachedAnswer> {
    let origin: OriginAnswer
    try {
      origin = await req.fetchOrigin()
    } catch (err) {
      // Followers share the failure (and each serves its stale entry): a failing ION is not called once per waiter.
      fail(err)
      const fallback = stale ?? (canServeStale(err) ? (await safeGet(req.key)).entry : undefined)
      if (fallback && canServeStale(err) && now() < fallback.staleUntilMs) {
        events.stale?.(req.api)
        return fromEntry(fallback, 'STALE')
      }
      throw err
    }
    if (STALE_ON_STATUS.has(origin.statusCode)) {
      const fallback = stale ?? (await safeGet(req.key)).entry
      if (fallback && now() < fallback.staleUntilMs) {
        origin.discard()
        fail(new GatewayError('API_001', `ION answered ${origin.statusCode}`))
        events.stale?.(req.api)
        return fromEntry(fallback, 'STALE')
      }
    }
    const read = await readUpTo(origin.body, options.maxEntryBytes).catch((err: unknown) => {
      throw origin.bodyError?.(err) ?? new GatewayError('API_001', 'ION closed the connection mid-answer', { cause: err })
    })
    if ('partial' in read) {
      settle({ kind: 'unshareable' })
      return { statusCode: origin.statusCode, headers: origin.clientHeaders, body: read.partial, cacheStatus: lookedUp ? 'MISS' : 'BYPASS' }
    }
    const body = read.complete
    const answer: Shared = { kind: 'answer', statusCode: origin.statusCode, headers: origin.clientHeaders, body }
    const fresh = req.store && !req.headOnly && req.ttlS > 0 &&
      !refuseToStore(origin.statusCode, origin.upstreamHeaders, body, options.maxEntryBytes) && req.storable?.(body) !== false
      ? freshness(origin.upstreamHeaders, req.ttlS, options.staleS)
      : undefined
    if (fresh && fresh.ttlS > 0) {
      const nowMs = now()
      const storing = safeSet(req.key, {
        statusCode: origin.statusCode,
        headers: origin.clientHeaders,
        body,
        // ION's Age counts: the `age` a hit reports is the answer's age, not only the time it spent here.
        storedAtMs: nowMs - fresh.ageS * 1000,
        freshUntilMs: nowMs + fresh.ttlS * 1000,
        staleUntilMs: nowMs + (fresh.ttlS + fresh.staleS) * 1000,
      })
      settle(answer, storing)
    } else {
      settle(answer)
    }
    return { statusCode: origin.statusCode, headers: origin.clientHeaders, body, cacheStatus: lookedUp ? 'MISS' : 'BYPASS' }
  }

  async function follow (req: CacheRequest, pending: Promise<Shared>, stale: CacheEntry | undefined, lookedUp: boolean): Promise<CachedAnswer> {
    const shared = await waitFor(pending).catch(async (err: unknown) => {
      if (!canServeStale(err)) throw err
      const fallback = stale ?? (await safeGet(req.key)).entry
      if (fallback && now() < fallback.staleUntilMs) return { kind: 'stale' as const, entry: fallback }
      throw err
    })
    if (shared.kind === 'stale') {
      events.stale?.(req.api)
      return fromEntry(shared.entry, 'STALE')
    }
    if (shared.kind === 'answer') {
      return { statusCode: shared.statusCode, headers: shared.headers, body: shared.body, cacheStatus: lookedUp ? 'MISS' : 'BYPASS' }
    }
    return passThrough(req)
  }

  async function passThrough (req: CacheRequest): Promise<CachedAnswer> {
    const origin = await req.fetchOrigin()
    return { statusCode: origin.statusCode, headers: origin.clientHeaders, body: Readable.from(origin.body), cacheStatus: 'BYPASS' }
  }

  /** The call in flight this request can share: a GET's for both methods, else a HEAD's for a HEAD. */
  function flightFor (req: Pick<CacheRequest, 'key' | 'headOnly'>): Promise<Shared> | undefined {
    const get = inflight.get(req.key)
    return get === undefined && req.headOnly ? inflight.get(HEAD_FLIGHT + req.key) : get
  }

  return {
    driverName: driver.name,

    async fetch (req) {
      let stale: CacheEntry | undefined
      let lookedUp = false
      // A flight in progress means the entry is missing or stale: join it without a driver round trip.
      const joinable = req.lookup ? flightFor(req) : undefined
      if (joinable) {
        misses++
        events.miss?.(req.api)
        return follow(req, joinable, undefined, true)
      }
      if (req.lookup) {
        const found = await lookUp(req.key)
        lookedUp = !found.failed
        if (found.entry) {
          if (now() < found.entry.freshUntilMs) {
            hits++
            events.hit?.(req.api)
            return fromEntry(found.entry, 'HIT')
          }
          if (now() < found.entry.staleUntilMs) stale = found.entry
        }
        if (lookedUp) {
          misses++
          events.miss?.(req.api)
        }
      }
      const pending = flightFor(req)
      if (pending) return follow(req, pending, stale, lookedUp)

      let settle!: (s: Shared) => void
      let fail!: (err: unknown) => void
      const shared = new Promise<Shared>((resolve, reject) => { settle = resolve; fail = reject })
      shared.catch(() => {})
      const flightKey = req.headOnly ? HEAD_FLIGHT + req.key : req.key
      inflight.set(flightKey, shared)
      const release = (): void => {
        if (inflight.get(flightKey) === shared) inflight.delete(flightKey)
      }
      let settled = false
      const settleOnce = (s: Shared, storing?: Promise<void>): void => {
        if (settled) return
        settled = true
        settle(s)
        if (storing) track(storing.finally(release))
        else release()
      }
      const failOnce = (err: unknown): void => {
        if (settled) return
        settled = true
        release()
        fail(err)
      }
      try {
        return await lead(req, stale, lookedUp, settleOnce, failOnce)
      } catch (err) {
        failOnce(err)
        throw err
      } finally {
        settleOnce({ kind: 'unshareable' })
      }
    },

    freshAnswer (key, api, headOnly) {
      if (!driver.peek || flightFor({ key, headOnly })) return undefined
      let entry: CacheEntry | undefined
      try {
        entry = driver.peek(key)
      } catch {
        // fetch() asks the driver again, and reports the failure.
        return undefined
      }
      if (!entry || now() >= entry.freshUntilMs) return undefined
      hits++
      events.hit?.(api)
      return fromEntry(entry, 'HIT')
    },

    async purge (keyPrefix) {
      try {
        return await driver.purge(keyPrefix)
      } catch (err) {
        events.error?.(err, 'purge')
        throw new GatewayError('SYS_001', 'The cache could not be purged', { statusCode: 503, cause: err })
      }
    },

    async whenIdle () {
      while (pendingStores.size > 0) await Promise.allSettled([...pendingStores])
    },

    hitRatio () {
      return hits + misses === 0 ? 0 : hits / (hits + misses)
    },
  }
}
