import { GatewayError } from '../errors.ts'
import { systemClock } from '../ion/clock.ts'
import type { RedisClient } from '../redis.ts'
import { SharedStoreCalls } from '../shared-store-calls.ts'
import { SYSTEMS, type SystemId } from './systems.ts'

/** The longest hold an ION `Retry-After` can cause: a broken or hostile value must not stop a system for hours. */
export const HOLD_MAX_S = 300
/** The hold after an ION 429 without a usable `Retry-After`. */
export const HOLD_DEFAULT_S = 1
/** A replica asks the shared store for other replicas' holds on a system at most this often. */
export const SHARED_HOLD_CHECK_MS = 500
/** ION_CALLS_PER_MIN counts calls in fixed windows of this length, aligned on the clock's minutes. */
export const CALL_WINDOW_MS = 60_000

/**
 * How long ION asked to be left alone, in whole seconds within [1, HOLD_MAX_S]: `Retry-After` as delta seconds or an
 * HTTP-date (then against `nowMs`); absent, empty or unreadable: HOLD_DEFAULT_S.
 */
export function holdSeconds (retryAfter: string | string[] | undefined, nowMs: number): number {
  const value = (Array.isArray(retryAfter) ? retryAfter[0] : retryAfter)?.trim()
  if (!value) return HOLD_DEFAULT_S
  let seconds: number
  if (/^\d+$/.test(value)) {
    seconds = Number(value)
  } else {
    const at = Date.parse(value)
    if (Number.isNaN(at)) return HOLD_DEFAULT_S
    seconds = Math.ceil((at - nowMs) / 1000)
  }
  return Math.min(HOLD_MAX_S, Math.max(1, seconds))
}

/**
 * Where holds and the per-minute count live across replicas. Methods throw when the store is unreachable. Times are
 * the caller's clock (as for the login budget), so tests can move time and replicas agree as far as their clocks do.
 */
export interface CallBudgetStore {
  /** Holds `system` until `untilMs`; a longer hold already recorded is kept. */
  hold (system: SystemId, untilMs: number, nowMs: number): Promise<void>
  /** The end of the recorded hold on `system` (0: none). */
  holdUntil (system: SystemId): Promise<number>
  /** Counts one call in the window starting at `windowStartMs`: the count with it, or -1 when `limit` is reached. */
  takeCall (windowStartMs: number, windowMs: number, limit: number): Promise<number>
}

// ARGV: until, ttl. Keeps the later of the recorded and the new end; PX only cleans up.
const HOLD = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur >= tonumber(ARGV[1]) then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return tonumber(ARGV[1])`

// ARGV: limit, ttl. A refused call is not counted: the count says how many calls ION got.
const TAKE_CALL = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if n >= tonumber(ARGV[1]) then return -1 end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`

/**
 * Holds and the call count in Redis, over a BORROWED ioredis client, under the tenant namespace:
 * `<ns>hold:<SYSTEM>` (the end of the hold, ms) and `<ns>calls:<window start, ms>` (calls in that minute). Every
 * script touches one key, so a Cluster needs no hash tag.
 */
export class RedisCallBudgetStore implements CallBudgetStore {
  readonly #redis: RedisClient
  readonly #keys: { hold: string, calls: string }

  /** `keys`: the namespace's `hold` and `calls` prefixes (src/redis-namespace.ts). */
  constructor (redis: RedisClient, keys: { hold: string, calls: string }) {
    this.#redis = redis
    this.#keys = { hold: keys.hold, calls: keys.calls }
  }

  holdKey (system: SystemId): string {
    return `${this.#keys.hold}${SYSTEMS[system]}`
  }

  callsKey (windowStartMs: number): string {
    return `${this.#keys.calls}${windowStartMs}`
  }

  async hold (system: SystemId, untilMs: number, nowMs: number): Promise<void> {
    await this.#redis.eval(HOLD, 1, this.holdKey(system), Math.ceil(untilMs), Math.max(1, Math.ceil(untilMs - nowMs)))
  }

  async holdUntil (system: SystemId): Promise<number> {
    return Number(await this.#redis.get(this.holdKey(system))) || 0
  }

  async takeCall (windowStartMs: number, windowMs: number, limit: number): Promise<number> {
    // Kept one window past its end, so a replica whose clock lags a little still finds the count.
    return Number(await this.#redis.eval(TAKE_CALL, 1, this.callsKey(windowStartMs), limit, windowMs * 2))
  }
}

/** ION is held (after its 429) or the minute's calls are spent: API_005 429, ION not called. */
export class CallsHeldError extends GatewayError {
  readonly waitMs: number
  constructor (message: string, waitMs: number) {
    super('API_005', message, { retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) })
    this.waitMs = waitMs
  }
}

export interface CallBudgetLogger {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface CallBudgetOptions {
  /** The shared store (Redis); without one, holds and the count are this replica's. */
  store?: CallBudgetStore
  now: () => number
  /** ION_CALLS_PER_MIN for the tenant; 0 = no count. */
  callsPerMinute: number
  /** A store call slower than this counts as the store failing. */
  storeTimeoutMs: number
  /** Default SHARED_HOLD_CHECK_MS. */
  holdCheckIntervalMs?: number
  log?: CallBudgetLogger
  /** A call was not sent to ION because of a hold or the spent count. */
  onHeld? (system: SystemId, reason: 'hold' | 'budget'): void
}

/**
 * ION's call budget as this replica sees it. After an ION 429 the system is held for its `Retry-After` (capped) here
 * and, through the store, on every replica; other replicas read a system's hold at most once per
 * `holdCheckIntervalMs`, so a request pays no store round trip for holds in the common case. With `callsPerMinute`,
 * every call to ION takes one from the tenant's count of the current minute (one round trip to the store per call);
 * while the store fails, this replica counts alone (fail open) and keeps the holds it knows.
 */
export class CallBudget {
  readonly #o: CallBudgetOptions
  readonly #checkEveryMs: number
  readonly #holds = new Map<SystemId, number>()
  readonly #nextCheck = new Map<SystemId, number>()
  readonly #checking = new Map<SystemId, Promise<void>>()
  /** This replica's count of the current window: its own calls while the store fails, the store's count otherwise. */
  #window = { startMs: 0, used: 0 }
  readonly #calls: SharedStoreCalls

  constructor (options: CallBudgetOptions) {
    this.#o = options
    this.#checkEveryMs = options.holdCheckIntervalMs ?? SHARED_HOLD_CHECK_MS
    this.#calls = new SharedStoreCalls({
      timeoutMs: options.storeTimeoutMs,
      clock: systemClock(),
      ...(options.log ? { log: options.log } : {}),
      name: 'ION call budget',
      fallback: 'this replica keeps its own holds and count',
    })
  }

  /**
   * Throws CallsHeldError while `system` is held (known here, or recorded by another replica). A promise only when
   * the store is due to be asked (at most once per interval per system): the common case costs no await.
   */
  checkHold (system: SystemId): Promise<void> | undefined {
    this.assertNotHeld(system)
    const { store, now } = this.#o
    if (!store || now() < (this.#nextCheck.get(system) ?? 0)) return undefined
    let checking = this.#checking.get(system)
    if (!checking) {
      this.#nextCheck.set(system, now() + this.#checkEveryMs)
      checking = this.#readSharedHold(system).finally(() => this.#checking.delete(system))
      this.#checking.set(system, checking)
    }
    return checking.then(() => this.assertNotHeld(system))
  }

  /** Throws CallsHeldError while this replica knows `system` is held; no store round trip. */
  assertNotHeld (system: SystemId): void {
    const waitMs = (this.#holds.get(system) ?? 0) - this.#o.now()
    if (waitMs <= 0) return
    this.#o.onHeld?.(system, 'hold')
    throw new CallsHeldError(`ION asked for no ${SYSTEMS[system]} calls for now (it answered 429); the gateway holds them back`, waitMs)
  }

  /** Whether ION_CALLS_PER_MIN is set: then every call to ION goes through takeCall. */
  get counting (): boolean {
    return this.#o.callsPerMinute > 0
  }

  /** Takes one call from the minute's count (ION_CALLS_PER_MIN); throws CallsHeldError when it is spent. */
  async takeCall (system: SystemId): Promise<void> {
    const { callsPerMinute: limit, now } = this.#o
    if (limit <= 0) return
    const nowMs = now()
    const startMs = nowMs - (nowMs % CALL_WINDOW_MS)
    if (this.#window.startMs !== startMs) this.#window = { startMs, used: 0 }
    const shared = await this.#shared(s => s.takeCall(startMs, CALL_WINDOW_MS, limit))
    let taken: boolean
    if (shared === undefined) {
      taken = this.#window.used < limit
      if (taken) this.#window.used++
    } else {
      taken = shared >= 0
      this.#window.used = taken ? shared : limit
    }
    if (taken) return
    this.#o.onHeld?.(system, 'budget')
    throw new CallsHeldError(`The gateway's ${limit} ION calls a minute (ION_CALLS_PER_MIN) are spent`, startMs + CALL_WINDOW_MS - nowMs)
  }

  /** ION answered 429: hold the system for its Retry-After, here and for every replica. */
  async tooManyRequests (system: SystemId, retryAfter: string | string[] | undefined): Promise<void> {
    const nowMs = this.#o.now()
    const untilMs = nowMs + holdSeconds(retryAfter, nowMs) * 1000
    this.#holdLocally(system, untilMs)
    await this.#shared(s => s.hold(system, untilMs, nowMs))
  }

  /** The share of ION_CALLS_PER_MIN spent in the current window, as this replica last saw it (0 when off). */
  usedRatio (): number {
    const { callsPerMinute: limit, now } = this.#o
    if (limit <= 0) return 0
    const nowMs = now()
    if (this.#window.startMs !== nowMs - (nowMs % CALL_WINDOW_MS)) return 0
    return Math.min(1, this.#window.used / limit)
  }

  #holdLocally (system: SystemId, untilMs: number): void {
    if (untilMs > (this.#holds.get(system) ?? 0)) this.#holds.set(system, untilMs)
  }

  async #readSharedHold (system: SystemId): Promise<void> {
    const untilMs = await this.#shared(s => s.holdUntil(system))
    if (untilMs !== undefined) this.#holdLocally(system, untilMs)
  }

  /** The store's answer, or undefined when there is none or it failed (then this replica decides). */
  async #shared<T> (fn: (s: CallBudgetStore) => Promise<T>): Promise<T | undefined> {
    const { store } = this.#o
    return store ? this.#calls.call(() => fn(store)) : undefined
  }
}
