import { createHash } from 'node:crypto'
import { GatewayError } from '../errors.ts'
import type { RedisClient } from '../redis.ts'
import { SharedStoreCalls } from '../shared-store-calls.ts'
import type { Clock } from './clock.ts'
import type { TokenLogger } from './token-logger.ts'
import { clientKeyPart } from './token-store.ts'

export const LOGIN_WINDOW_MS = 60_000
export const LOGIN_DAY_MS = 86_400_000

/** At most `limit` logins in any `windowMs` (a sliding window). */
export interface LoginWindow { windowMs: number, limit: number }

/**
 * The answer to "may a 401 cost a login now?": `claimed` (this call spent the interval's one login), `same` (it was
 * already spent on this very token: the login that replaces it is made or under way, follow it), `spent` (spent on
 * another token within the interval: no login, the 401 is relayed).
 */
export type ReloginClaim = 'claimed' | 'same' | 'spent'

/**
 * Where the login budget lives. Methods throw when the store is unreachable. Times are the caller's clock, so
 * replicas agree as far as their clocks do and tests can move time.
 */
export interface LoginBudgetStore {
  /** Claims the one login allowed after an ION 401 until `nowMs + intervalMs`, for the token fingerprinted `fp`. */
  claimRelogin (fp: string, nowMs: number, intervalMs: number): Promise<ReloginClaim>
  /**
   * Takes one login if it fits every sliding window: 0 when it does (and is counted), else the ms until it would.
   * The windows' lengths are in ascending order; the longest decides how long login times are kept.
   */
  takeLogin (id: string, nowMs: number, windows: readonly LoginWindow[]): Promise<number>
}

/** A token's name in the budget: never the token itself. */
export function tokenFingerprint (accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('hex').slice(0, 16)
}

/** This process's view: one replica's logins. */
export class MemoryLoginBudgetStore implements LoginBudgetStore {
  #relogin: { fp: string, untilMs: number } | undefined
  #stamps: number[] = []

  async claimRelogin (fp: string, nowMs: number, intervalMs: number): Promise<ReloginClaim> {
    return this.claimReloginNow(fp, nowMs, intervalMs)
  }

  claimReloginNow (fp: string, nowMs: number, intervalMs: number): ReloginClaim {
    const held = this.#relogin
    if (held && held.untilMs > nowMs) return held.fp === fp ? 'same' : 'spent'
    this.#relogin = { fp, untilMs: nowMs + intervalMs }
    return 'claimed'
  }

  /** The interval's 401 login was spent on another token than `fp`. */
  spentOnOther (fp: string, nowMs: number): boolean {
    const held = this.#relogin
    return held !== undefined && held.untilMs > nowMs && held.fp !== fp
  }

  /** Mirrors a decision the shared store made (`fp` undefined: spent on a token this process does not know). */
  noteRelogin (fp: string | undefined, untilMs: number): void {
    this.#relogin = { fp: fp ?? '', untilMs }
  }

  async takeLogin (_id: string, nowMs: number, windows: readonly LoginWindow[]): Promise<number> {
    return this.takeLoginNow(nowMs, windows)
  }

  takeLoginNow (nowMs: number, windows: readonly LoginWindow[]): number {
    const longestMs = Math.max(...windows.map(w => w.windowMs))
    this.#stamps = this.#stamps.filter(at => at > nowMs - longestMs)
    let waitMs = 0
    for (const { windowMs, limit } of windows) {
      let inWindow = 0
      for (let i = this.#stamps.length - 1; i >= 0 && (this.#stamps[i] as number) > nowMs - windowMs; i--) inWindow++
      if (inWindow >= limit) {
        // The stamp that must leave the window before its count drops below the limit.
        const blocking = this.#stamps[this.#stamps.length - limit] as number
        waitMs = Math.max(waitMs, 1, blocking + windowMs - nowMs)
      }
    }
    if (waitMs === 0) this.#stamps.push(nowMs)
    return waitMs
  }

  /** This process's logins within the last `windowMs`. */
  recentLogins (nowMs: number, windowMs: number): number {
    let n = 0
    for (let i = this.#stamps.length - 1; i >= 0 && (this.#stamps[i] as number) > nowMs - windowMs; i--) n++
    return n
  }

  /** Mirrors a login the shared store counted. */
  noteLogin (nowMs: number): void {
    this.#stamps.push(nowMs)
  }
}

// ARGV: fingerprint, now, interval. The value is "<untilMs> <fp>"; PX only cleans up.
const CLAIM_RELOGIN = `
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, ' ', 1, true)
  if sep and tonumber(string.sub(v, 1, sep - 1)) > tonumber(ARGV[2]) then
    if string.sub(v, sep + 1) == ARGV[1] then return 2 end
    return 0
  end
end
redis.call('SET', KEYS[1], (tonumber(ARGV[2]) + tonumber(ARGV[3])) .. ' ' .. ARGV[1], 'PX', ARGV[3])
return 1`

// ARGV: member, now, then window and limit pairs, the longest window last. A sorted set of login times (at most the
// longest window's limit of them); answers 0 (taken) or the ms until one fits every window.
const TAKE_LOGIN = `
local now = tonumber(ARGV[2])
local longest = tonumber(ARGV[#ARGV - 1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local n = redis.call('ZCARD', KEYS[1])
local wait = 0
for i = 3, #ARGV, 2 do
  local window, limit = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf') >= limit then
    local blocking = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
    wait = math.max(wait, 1, math.ceil(tonumber(blocking[2]) + window - now))
  end
end
if wait > 0 then return wait end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], longest)
return 0`

const CLAIMS: Record<number, ReloginClaim> = { 0: 'spent', 1: 'claimed', 2: 'same' }

/**
 * The budget shared by every replica, over a BORROWED ioredis client. Keys sit beside the token's, under its hash
 * tag (one Cluster slot, single-key scripts): `<token key>:relogin` (the 401 interval) and `<token key>:logins` (the
 * login times of the last minute).
 */
export class RedisLoginBudgetStore implements LoginBudgetStore {
  readonly reloginKey: string
  readonly loginsKey: string
  readonly #redis: RedisClient

  constructor (redis: RedisClient, { keyPrefix, clientId }: { keyPrefix: string, clientId: string }) {
    this.#redis = redis
    const tokenKey = `${keyPrefix}{${clientKeyPart(clientId)}}`
    this.reloginKey = `${tokenKey}:relogin`
    this.loginsKey = `${tokenKey}:logins`
  }

  async claimRelogin (fp: string, nowMs: number, intervalMs: number): Promise<ReloginClaim> {
    const answer = await this.#redis.eval(CLAIM_RELOGIN, 1, this.reloginKey, fp, Math.floor(nowMs), Math.max(1, Math.ceil(intervalMs)))
    return CLAIMS[Number(answer)] ?? 'spent'
  }

  async takeLogin (id: string, nowMs: number, windows: readonly LoginWindow[]): Promise<number> {
    const sorted = [...windows].sort((a, b) => a.windowMs - b.windowMs)
    const args = sorted.flatMap(w => [w.windowMs, w.limit])
    return Number(await this.#redis.eval(TAKE_LOGIN, 1, this.loginsKey, id, Math.floor(nowMs), ...args))
  }
}

/** ION_LOGINS_PER_MIN or ION_LOGINS_PER_DAY is used up: no call to ION until `waitMs` has passed. */
export class LoginsHeldError extends GatewayError {
  readonly waitMs: number
  constructor (waitMs: number, perMinute: number, perDay: number) {
    super('AUTH_003', `No ION login now: the gateway's logins (${perMinute} a minute, ${perDay} a day) are used up`, { retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) })
    this.waitMs = waitMs
  }
}

export interface LoginBudgetOptions {
  /** The shared store (Redis); without one, the budget is this process's. */
  store?: LoginBudgetStore
  clock: Clock
  log: TokenLogger
  /** This process's name, to tell its logins apart in the shared window. */
  owner: string
  /** ION 401s cause at most one login per interval. */
  reloginIntervalMs: number
  /** Logins of every kind in any minute. */
  loginsPerMinute: number
  /** Logins of every kind in any 24 hours. */
  loginsPerDay: number
  /** A store call slower than this counts as the store failing. */
  storeTimeoutMs: number
}

/**
 * ION's login budget: after an ION 401, one login per interval for the whole cluster; logins of any kind, at most
 * `loginsPerMinute` in any minute and `loginsPerDay` in any 24 hours. Decided in the shared store when it answers; when it fails, by this process alone
 * (so at most one 401 login per interval and `loginsPerMinute` per replica). The shared store's decisions are mirrored
 * here, so a store that fails mid-interval does not reopen what the cluster already spent as far as this replica saw.
 */
export class LoginBudget {
  readonly #o: LoginBudgetOptions
  readonly #local = new MemoryLoginBudgetStore()
  readonly #calls: SharedStoreCalls
  #seq = 0

  constructor (options: LoginBudgetOptions) {
    this.#o = options
    this.#calls = new SharedStoreCalls({
      timeoutMs: options.storeTimeoutMs,
      clock: options.clock,
      log: options.log,
      name: 'login budget',
      fallback: 'this replica counts its own ION logins',
    })
  }

  /** May this 401 (on `accessToken`) cost a login? */
  async claimRelogin (accessToken: string): Promise<ReloginClaim> {
    const { clock, reloginIntervalMs } = this.#o
    const fp = tokenFingerprint(accessToken)
    const nowMs = clock.now()
    // Known spent: a 401 storm does not ask the shared store once per request.
    if (this.#local.spentOnOther(fp, nowMs)) return 'spent'
    const shared = await this.#shared(s => s.claimRelogin(fp, nowMs, reloginIntervalMs))
    if (shared === undefined) return this.#local.claimReloginNow(fp, nowMs, reloginIntervalMs)
    this.#local.noteRelogin(shared === 'spent' ? undefined : fp, nowMs + reloginIntervalMs)
    return shared
  }

  /** Takes a login, or throws LoginsHeldError while the minute's or the day's logins are used up. */
  async takeLogin (): Promise<void> {
    const { clock, loginsPerMinute, loginsPerDay, owner } = this.#o
    const windows = [{ windowMs: LOGIN_WINDOW_MS, limit: loginsPerMinute }, { windowMs: LOGIN_DAY_MS, limit: loginsPerDay }]
    const nowMs = clock.now()
    const shared = await this.#shared(s => s.takeLogin(`${owner}:${++this.#seq}`, nowMs, windows))
    if (shared === 0) this.#local.noteLogin(nowMs)
    const waitMs = shared ?? this.#local.takeLoginNow(nowMs, windows)
    if (waitMs > 0) throw new LoginsHeldError(waitMs, loginsPerMinute, loginsPerDay)
  }

  /** The shared store's answer, or undefined when there is none or it failed (then this process decides). */
  async #shared<T> (fn: (s: LoginBudgetStore) => Promise<T>): Promise<T | undefined> {
    const { store } = this.#o
    return store ? this.#calls.call(() => fn(store)) : undefined
  }
}
