import { LRUCache } from 'lru-cache'
import { GatewayError } from '../errors.ts'
import type { RedisClient } from '../redis.ts'
import type { CallerCounters, LimitState } from './client-limits.ts'

/** A client's count in the current window, and the milliseconds left in it (0: no window open). */
export interface WindowCount { current: number, ttl: number }

/**
 * Fixed-window counters: `incr` counts a request, `read` looks without counting. In-process counters answer at once
 * (no promise: the store calls back synchronously), shared ones with a promise.
 */
export interface Counters {
  incr (key: string, windowMs: number): WindowCount | Promise<WindowCount>
  read (key: string, windowMs: number): WindowCount | Promise<WindowCount>
}

// One key per script (KEYS[1] only): a Redis Cluster runs it on the node owning that key's slot. The window starts at
// the first count; a counter found without an expiry (one written before a crash between INCR and PEXPIRE) gets one
// rather than counting for ever.
const INCR_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`
const READ_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current then return {0, 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {tonumber(current), ttl}
`

type Script = (key: string, ...args: Array<string | number>) => Promise<unknown>
interface ScriptedClient {
  gatewayRateLimitIncr?: Script
  gatewayRateLimitRead?: Script
}

function windowCount (reply: unknown): WindowCount {
  if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
    throw new Error(`unexpected rate-limit script reply: ${JSON.stringify(reply)}`)
  }
  return { current: reply[0], ttl: reply[1] }
}

/** One counter per key in Redis, shared by every replica: `<keyPrefix><key>`, expiring with its window. */
export class RedisCounters implements Counters {
  private readonly incrScript: Script
  private readonly readScript: Script
  private readonly keyPrefix: string

  constructor (redis: RedisClient, keyPrefix: string) {
    this.keyPrefix = keyPrefix
    // defineCommand sends EVALSHA (EVAL once the server lacks the script); a Cluster routes it by KEYS[1].
    const scripted = redis as RedisClient & ScriptedClient
    if (!scripted.gatewayRateLimitIncr) redis.defineCommand('gatewayRateLimitIncr', { numberOfKeys: 1, lua: INCR_SCRIPT })
    if (!scripted.gatewayRateLimitRead) redis.defineCommand('gatewayRateLimitRead', { numberOfKeys: 1, lua: READ_SCRIPT })
    this.incrScript = scripted.gatewayRateLimitIncr!.bind(redis)
    this.readScript = scripted.gatewayRateLimitRead!.bind(redis)
  }

  async incr (key: string, windowMs: number): Promise<WindowCount> {
    return windowCount(await this.incrScript(this.keyPrefix + key, windowMs))
  }

  async read (key: string): Promise<WindowCount> {
    return windowCount(await this.readScript(this.keyPrefix + key))
  }
}

/** This process's counters, at most `maxKeys` of them (the least recently counted key goes first). */
export class LocalCounters implements Counters {
  // lru-cache keeps the order of use in typed arrays: a count costs no Map delete and re-insert.
  private readonly windows: LRUCache<string, { current: number, startMs: number }>
  private readonly now: () => number

  constructor (maxKeys = 10000, now: () => number = Date.now) {
    this.windows = new LRUCache({ max: maxKeys })
    this.now = now
  }

  incr (key: string, windowMs: number): WindowCount {
    const now = this.now()
    let window = this.windows.get(key)
    if (window && window.startMs + windowMs > now) {
      window.current++
    } else {
      window = { current: 1, startMs: now }
      this.windows.set(key, window)
    }
    return { current: window.current, ttl: window.startMs + windowMs - now }
  }

  read (key: string, windowMs: number): WindowCount {
    const now = this.now()
    // peek: looking is not using, so a read does not keep a key from being forgotten.
    const found = this.windows.peek(key)
    if (!found || found.startMs + windowMs <= now) return { current: 0, ttl: 0 }
    return { current: found.current, ttl: found.startMs + windowMs - now }
  }

  get size (): number {
    return this.windows.size
  }
}

export interface SharedCountersOptions {
  /** When Redis fails: true counts on this replica's own counters, false refuses with SYS_004. */
  failOpen: boolean
  /** Told of each Redis failure (the caller decides how often to log it). */
  onFailure: (err: Error) => void
  /** The replica's own counters when failing open. */
  local?: Counters
}

/** Counters in Redis; when Redis fails, this replica's own counters (fail open) or SYS_004 503 (fail closed). */
export class SharedCounters implements Counters {
  private readonly local: Counters

  private readonly shared: Counters
  private readonly options: SharedCountersOptions

  constructor (shared: Counters, options: SharedCountersOptions) {
    this.shared = shared
    this.options = options
    this.local = options.local ?? new LocalCounters()
  }

  incr (key: string, windowMs: number): Promise<WindowCount> {
    return this.orFallback('incr', key, windowMs)
  }

  read (key: string, windowMs: number): Promise<WindowCount> {
    return this.orFallback('read', key, windowMs)
  }

  private async orFallback (operation: 'incr' | 'read', key: string, windowMs: number): Promise<WindowCount> {
    try {
      return await this.shared[operation](key, windowMs)
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      this.options.onFailure(error)
      if (this.options.failOpen) return this.local[operation](key, windowMs)
      throw new GatewayError('SYS_004', 'Rate limiting is unavailable; try again shortly', {
        retryAfterS: 1,
        cause: { code: (error as NodeJS.ErrnoException).code },
      })
    }
  }
}

/** The window's fixed limits: `max` requests per `windowMs`. */
export interface WindowLimit { max: number, windowMs: number }

/** A counter's state against the limit (the count that passed `max` is the first refused). */
export function limitState ({ current, ttl }: WindowCount, max: number): LimitState {
  return { remaining: Math.max(0, max - current), exceeded: current > max, ttlMs: ttl }
}

/**
 * One request's caller on the gateway's counters: its address key and its client key. In-process counters answer at
 * once, so `decideLimit` decides without a promise; shared ones answer with a promise.
 */
export class CallerWindows implements CallerCounters {
  private readonly counters: Counters
  private readonly limit: WindowLimit
  private readonly addressKey: string
  private readonly clientKey: string

  constructor (counters: Counters, limit: WindowLimit, addressKey: string, clientKey: string) {
    this.counters = counters
    this.limit = limit
    this.addressKey = addressKey
    this.clientKey = clientKey
  }

  countAddress (): LimitState | Promise<LimitState> {
    return this.state(this.counters.incr(this.addressKey, this.limit.windowMs))
  }

  peekAddress (): LimitState | Promise<LimitState> {
    return this.state(this.counters.read(this.addressKey, this.limit.windowMs))
  }

  countClient (): LimitState | Promise<LimitState> {
    return this.state(this.counters.incr(this.clientKey, this.limit.windowMs))
  }

  private state (count: WindowCount | Promise<WindowCount>): LimitState | Promise<LimitState> {
    const { max } = this.limit
    return count instanceof Promise ? count.then(c => limitState(c, max)) : limitState(count, max)
  }
}
