import { randomUUID } from 'node:crypto'
import { GatewayError, isGatewayError } from '../errors.ts'
import { systemClock, type Clock, type Timer } from './clock.ts'
import { HeldToken, type RefreshTrigger } from './held-token.ts'
import { LoginBudget, LoginsHeldError, type LoginBudgetStore } from './login-budget.ts'
import { OwnTokens } from './own-tokens.ts'
import { RefreshBackoff } from './refresh-backoff.ts'
import type { TokenClient } from './token-client.ts'
import { noopLogger, type TokenLogger } from './token-logger.ts'
import { TokenSharing, type TokenStoreState } from './token-sharing.ts'
import { MemoryTokenStore, type StoredToken, type TokenStore } from './token-store.ts'

export type { RefreshTrigger } from './held-token.ts'
export type { TokenLogger } from './token-logger.ts'
export type { TokenStoreState } from './token-sharing.ts'

export interface TokenManagerDeps {
  client: TokenClient
  /** Where the token lives: a Redis store shares it between replicas. Default: a process-local memory store. */
  store?: TokenStore
  /** Refresh this long before expiry (clamped to half the token's lifetime, plus up to 20% jitter). */
  refreshBufferMs: number
  /** Background check: refreshes in the window, picks up a token another replica stored, notices Redis coming back. */
  checkIntervalMs: number
  logger?: TokenLogger
  /** Once per call to ION's token endpoint (for token_refreshes_total{success,trigger}). */
  onRefresh?: (event: { success: boolean, trigger: RefreshTrigger }) => void
  /** Once per login (a token request to ION, its fallback grant included), just before it is made (ion_logins_total{reason}). */
  onLogin?: (reason: RefreshTrigger) => void
  /** ION 401s cause at most one login per this interval, cluster-wide through `loginBudgetStore`. Default 60000. */
  reloginIntervalMs?: number
  /** Logins of every kind (initial, proactive, background, after a 401) in any minute. Default 10. */
  loginsPerMinute?: number
  /** Logins of every kind in any 24 hours (Infor allows a tenant 1,000 a day). Default 500. */
  loginsPerDay?: number
  /** Where the login budget is shared between replicas (Redis); default: this process's own count. */
  loginBudgetStore?: LoginBudgetStore
  /** After a failed refresh, callers without a valid token fail fast for this long, doubling per failure. Default 1000..5000. */
  failureBackoffMs?: { initial: number, max: number }
  /** Cap of that backoff when ION refused the credentials (AUTH_001): each attempt is a service-account login. Default 300000. */
  refusedBackoffMaxMs?: number
  /** How long one replica may hold the cluster refresh lock; longer than the token client's timeout. Default 20000. */
  lockTtlMs?: number
  /** A store call slower than this counts as the store being unreachable. Default 1000. */
  storeTimeoutMs?: number
  /** How often a replica waiting for another one's refresh reads the store. Default 50. */
  pollMs?: number
  /** The current time, when no `clock` is given. Default Date.now. */
  now?: () => number
  /** The time and the timers (refresh, backoff, background check, store deadline, lock polling). Default: real ones. */
  clock?: Clock
  random?: () => number
}

export interface TokenManagerState {
  hasValidToken: boolean
  expiresAtMs?: number
  lastRefreshAtMs?: number
  lastError?: { code: string, atMs: number }
  store: TokenStoreState
}

/**
 * What the caller of invalidate() does with the request ION answered 401: `retry` it (the token was dropped and a
 * login is allowed, or it had already been replaced), or `relay` the refusal (the login an ION 401 may cause in this
 * interval was spent on another token: the token is kept and no login is made).
 */
export type UnauthorizedVerdict = 'retry' | 'relay'

export interface TokenManager {
  /** A valid token; throws AUTH_001 (credentials refused) or AUTH_003 (endpoint failing, with retryAfterS). */
  getAccessToken (): Promise<string>
  /** The held token when it is usable now (a due refresh is started in the background), else undefined: no await. */
  peekAccessToken (): string | undefined
  /**
   * ION answered 401 to `token`. If the interval's 401 login is still unspent (or was spent on this very token), forget
   * it here and in the store so the next call refreshes once; else keep it. Concurrent calls for one token share one
   * decision.
   */
  invalidate (token: string): Promise<UnauthorizedVerdict>
  state (): TokenManagerState
  /** Starts the background check and a first fetch; never throws, never rejects. */
  start (): void
  /** Stops timers, waits for a refresh in flight, revokes the tokens this process obtained and did not share. Idempotent. */
  close (): Promise<void>
}

const noop = (): void => {}

/**
 * Obtains and refreshes the ION token without ever stampeding ION: one refresh in flight per process, one per
 * cluster through the store's lock, a still-valid token served while a refresh runs, fast failure while the token
 * endpoint is down, a process-local token while the shared store is unreachable. Tokens never reach a log line,
 * an error or `state()`.
 *
 * This is the lifecycle (single flight, timers, start and close); what is held, the failure backoff, the sharing
 * through the store and the tokens to revoke are collaborators of their own.
 */
export function createTokenManager (deps: TokenManagerDeps): TokenManager {
  const { client } = deps
  const clock = deps.clock ?? systemClock(deps.now)
  const now = (): number => clock.now()
  const store = deps.store ?? new MemoryTokenStore({ now })
  const ownsStore = deps.store === undefined
  const log = deps.logger ?? noopLogger
  const failureBackoff = deps.failureBackoffMs ?? { initial: 1000, max: 5000 }
  const held = new HeldToken({ refreshBufferMs: deps.refreshBufferMs, now, random: deps.random ?? Math.random })
  const backoff = new RefreshBackoff({ initialMs: failureBackoff.initial, maxMs: failureBackoff.max, refusedMaxMs: deps.refusedBackoffMaxMs ?? 300000, now })
  const own = new OwnTokens(now)
  const owner = randomUUID()
  const storeTimeoutMs = deps.storeTimeoutMs ?? 1000
  const sharing = new TokenSharing({
    store,
    clock,
    log,
    owner,
    lockTtlMs: deps.lockTtlMs ?? 20000,
    storeTimeoutMs,
    pollMs: deps.pollMs ?? 50,
  })
  const budget = new LoginBudget({
    ...(deps.loginBudgetStore ? { store: deps.loginBudgetStore } : {}),
    clock,
    log,
    owner,
    reloginIntervalMs: deps.reloginIntervalMs ?? 60000,
    loginsPerMinute: deps.loginsPerMinute ?? 10,
    loginsPerDay: deps.loginsPerDay ?? 500,
    storeTimeoutMs,
  })
  /** invalidate() decisions in flight, by token: a 401 storm on one token asks the budget once. */
  const deciding = new Map<string, Promise<UnauthorizedVerdict>>()

  let inflight: Promise<StoredToken> | undefined
  let lastRefreshAtMs: number | undefined
  /** One timer for the held token's refresh time or the end of a failure backoff, one for the background check. */
  let refreshTimer: Timer | undefined
  let checkTimer: Timer | undefined
  let checking = false
  let closed = false
  let closing: Promise<void> | undefined

  function adopt (t: StoredToken): void {
    armRefresh(held.adopt(t) - now())
  }

  function armRefresh (inMs: number): void {
    if (closed) return
    refreshTimer?.cancel()
    refreshTimer = clock.setTimer(wake, Math.max(0, inMs))
  }

  function armCheck (): void {
    if (closed) return
    checkTimer = clock.setTimer(() => {
      armCheck()
      return check().catch(noop)
    }, deps.checkIntervalMs)
  }

  function wake (): Promise<void> | undefined {
    // Timers may fire a little before the clock reaches the backoff's end: sleep again rather than give up.
    const remainingMs = backoff.remainingMs()
    if (remainingMs > 0) armRefresh(remainingMs + 1)
    else return kick('background')
  }

  /** A refresh nobody waits for (the current token is still served): skipped while one runs or during backoff. */
  function kick (trigger: RefreshTrigger): Promise<void> | undefined {
    if (closed || inflight || backoff.remainingMs() > 0) return undefined
    return refresh(trigger).then(noop, noop) // logged and counted in doRefresh
  }

  async function fromIon (trigger: RefreshTrigger, preferredRefreshToken: string | undefined): Promise<StoredToken> {
    const using = preferredRefreshToken ?? held.refreshToken
    // Every token request is a login as far as the budget goes, the refresh-token grant included (README "Tokens").
    await budget.takeLogin()
    deps.onLogin?.(trigger)
    try {
      const issued = await client.fetchToken(using)
      own.spent(using)
      deps.onRefresh?.({ success: true, trigger })
      lastRefreshAtMs = now()
      log.info({ trigger, grant: issued.grant, expiresInS: Math.round((issued.expiresAtMs - now()) / 1000) }, 'ION token obtained')
      const { accessToken, expiresAtMs, obtainedAtMs } = issued
      return issued.refreshToken ? { accessToken, refreshToken: issued.refreshToken, expiresAtMs, obtainedAtMs } : { accessToken, expiresAtMs, obtainedAtMs }
    } catch (err) {
      deps.onRefresh?.({ success: false, trigger })
      throw err
    }
  }

  async function obtain (trigger: RefreshTrigger, replacing: string | undefined): Promise<StoredToken> {
    const viaStore = await sharing.obtain({
      trigger,
      accept: (t): t is StoredToken => held.acceptable(t, replacing),
      fetch: refreshToken => fromIon(trigger, refreshToken),
      closed: () => closed,
    })
    if (viaStore) {
      if (viaStore.issued) own.remember(viaStore.token)
      return viaStore.token
    }
    const issued = await fromIon(trigger, undefined)
    own.remember(issued)
    return issued
  }

  async function doRefresh (trigger: RefreshTrigger): Promise<StoredToken> {
    const replacing = held.token?.accessToken
    try {
      let token = await obtain(trigger, replacing)
      // Invalidated while this refresh was reading the store: fetch past it once.
      if (held.isRejected(token.accessToken)) token = await obtain(trigger, token.accessToken)
      backoff.succeeded()
      adopt(token)
      return token
    } catch (err) {
      const error = isGatewayError(err) ? err : new GatewayError('AUTH_003', 'ION token refresh failed', { retryAfterS: 1 })
      if (closed) throw error
      // Logins used up: try again when the minute's window has room, not sooner.
      const waitMs = backoff.failed(error, err instanceof LoginsHeldError ? err.waitMs : 0)
      // Recovery does not wait for traffic: try again by itself when the backoff ends.
      armRefresh(waitMs)
      log.warn({ code: error.code, trigger, failures: backoff.failures, retryInMs: waitMs, keptValidToken: held.usableToken() !== undefined }, `ION token refresh failed: ${error.message}`)
      throw error
    }
  }

  function refresh (trigger: RefreshTrigger): Promise<StoredToken> {
    if (closed) return Promise.reject(new GatewayError('SYS_004', 'The gateway is shutting down'))
    if (inflight) return inflight
    const blocked = backoff.blocking()
    if (blocked) return Promise.reject(blocked)
    inflight = doRefresh(trigger).finally(() => { inflight = undefined })
    return inflight
  }

  /** Takes a newer token another replica stored; shares a process-local one once the store answers and holds none. */
  async function syncWithStore (): Promise<void> {
    const found = await sharing.call(s => s.get())
    if (!found.ok) return
    const mine = held.token
    const theirs = found.value
    if (theirs && theirs.accessToken !== mine?.accessToken) {
      if (held.acceptable(theirs, mine?.accessToken) && (!held.usable(mine) || theirs.expiresAtMs > mine.expiresAtMs)) {
        adopt(theirs)
        log.debug({}, 'ION token refreshed by another replica taken from the token store')
      }
    } else if (!theirs && mine && own.has(mine.accessToken) && held.usable(mine)) {
      if (await sharing.publish(mine, () => held.token === mine && held.usable(mine))) {
        own.forget(mine.accessToken)
        log.info({}, 'process-local ION token shared through the token store')
      }
    }
  }

  async function decide (token: string): Promise<UnauthorizedVerdict> {
    const claim = await budget.claimRelogin(token)
    if (claim === 'spent') {
      if (held.token?.accessToken !== token) return 'retry'
      log.debug({}, 'ION refused the current token, but a 401 already caused a login in this interval: the token is kept and the 401 relayed')
      return 'relay'
    }
    // Replaced while the budget was asked: the retry uses the newer token.
    if (!held.refuse(token)) return 'retry'
    log.info({ followsReplica: claim === 'same' }, 'ION refused the current token: it will be refreshed once')
    await sharing.call(s => s.clear(token))
    return 'retry'
  }

  async function check (): Promise<void> {
    if (closed || inflight || checking) return
    checking = true
    try {
      // Also how a store that was unreachable is noticed coming back.
      if (sharing.shared) await syncWithStore()
      if (!held.usableToken() || held.refreshDue()) await kick('background')
    } finally {
      checking = false
    }
  }

  function peekAccessToken (): string | undefined {
    const t = held.usableToken()
    if (!t) return undefined
    if (held.refreshDue()) kick('proactive')
    return t.accessToken
  }

  return {
    peekAccessToken,

    async getAccessToken () {
      const t = peekAccessToken()
      if (t !== undefined) return t
      return (await refresh(held.trigger())).accessToken
    },

    async invalidate (token) {
      // Stale (already replaced, or already dropped and being refreshed): the retry takes the newer token.
      if (held.token?.accessToken !== token) return 'retry'
      let pending = deciding.get(token)
      if (!pending) {
        pending = decide(token).finally(() => deciding.delete(token))
        deciding.set(token, pending)
      }
      return pending
    },

    state () {
      const t = held.token
      const s: TokenManagerState = { hasValidToken: held.usable(t), store: sharing.state }
      if (t) s.expiresAtMs = t.expiresAtMs
      if (lastRefreshAtMs !== undefined) s.lastRefreshAtMs = lastRefreshAtMs
      const last = backoff.lastError
      if (last) s.lastError = { code: last.error.code, atMs: last.atMs }
      return s
    },

    start () {
      if (closed || checkTimer) return
      armCheck()
      if (!held.token) refresh('initial').catch(noop) // logged in doRefresh; readiness reports it
    },

    close () {
      closing ??= (async () => {
        closed = true
        refreshTimer?.cancel()
        checkTimer?.cancel()
        if (inflight) await inflight.catch(noop)
        held.clear()
        const revoked = await own.revokeAll(client)
        if (revoked > 0) log.info({ revoked }, 'process-local ION tokens revoked')
        if (ownsStore) await store.close()
      })()
      return closing
    },
  }
}
