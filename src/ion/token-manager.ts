import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { GatewayError, isGatewayError } from '../errors.ts'
import type { TokenClient } from './token-client.ts'
import { MemoryTokenStore, type StoredToken, type TokenStore } from './token-store.ts'

export type RefreshTrigger = 'initial' | 'proactive' | 'background' | 'unauthorized'

/** pino-like. The manager never passes a token, a refresh token or a secret to it. */
export interface TokenLogger {
  debug (obj: object, msg: string): void
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

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
  now?: () => number
  random?: () => number
}

export type TokenStoreState = 'memory' | 'redis' | 'redis-unavailable'

export interface TokenManagerState {
  hasValidToken: boolean
  expiresAtMs?: number
  lastRefreshAtMs?: number
  lastError?: { code: string, atMs: number }
  store: TokenStoreState
}

export interface TokenManager {
  /** A valid token; throws AUTH_001 (credentials refused) or AUTH_003 (endpoint failing, with retryAfterS). */
  getAccessToken (): Promise<string>
  /** The held token when it is usable now (a due refresh is started in the background), else undefined: no await. */
  peekAccessToken (): string | undefined
  /** ION answered 401 to `token`: forget it (here and in the store, if still that one) so the next call refreshes once. */
  invalidate (token: string): Promise<void>
  state (): TokenManagerState
  /** Starts the background check and a first fetch; never throws, never rejects. */
  start (): void
  /** Stops timers, waits for a refresh in flight, revokes the tokens this process obtained and did not share. Idempotent. */
  close (): Promise<void>
}

const noop = (): void => {}
const noopLogger: TokenLogger = { debug: noop, info: noop, warn: noop, error: noop }
/** Refresh up to this fraction of the buffer earlier, at random: replicas sharing a token do not all wake at once. */
const JITTER = 0.2
const REJECTED_KEPT = 8
const OWN_TOKENS_KEPT = 32

class StoreTimeoutError extends Error {
  readonly code = 'ETIMEDOUT'
  constructor (ms: number) {
    super(`token store did not answer within ${ms} ms`)
    this.name = 'StoreTimeoutError'
  }
}

/** Redis errors name a host or a command at most; only the name and code are logged anyway. */
function errorSummary (err: unknown): { name: string, code?: string } {
  const e = err as { name?: unknown, code?: unknown } | undefined
  const name = typeof e?.name === 'string' ? e.name : 'Error'
  return typeof e?.code === 'string' ? { name, code: e.code } : { name }
}

/**
 * Obtains and refreshes the ION token without ever stampeding ION: one refresh in flight per process, one per
 * cluster through the store's lock, a still-valid token served while a refresh runs, fast failure while the token
 * endpoint is down, a process-local token while the shared store is unreachable. Tokens never reach a log line,
 * an error or `state()`.
 */
export function createTokenManager (deps: TokenManagerDeps): TokenManager {
  const { client } = deps
  const store = deps.store ?? new MemoryTokenStore({ now: deps.now })
  const ownsStore = deps.store === undefined
  const log = deps.logger ?? noopLogger
  const now = deps.now ?? Date.now
  const random = deps.random ?? Math.random
  const backoff = deps.failureBackoffMs ?? { initial: 1000, max: 5000 }
  const refusedBackoffMaxMs = Math.max(backoff.max, deps.refusedBackoffMaxMs ?? 300000)
  const lockTtlMs = deps.lockTtlMs ?? 20000
  const storeTimeoutMs = deps.storeTimeoutMs ?? 1000
  const pollMs = deps.pollMs ?? 50
  const owner = randomUUID()

  let current: { token: StoredToken, refreshAtMs: number } | undefined
  /** The newest refresh token seen; kept when the access token is dropped after a 401. */
  let refreshToken: string | undefined
  /** Access tokens ION refused (401): never served or adopted again. */
  const rejected: string[] = []
  let everHadToken = false
  /** Set by invalidate(): the refresh it causes is counted as 'unauthorized'. */
  let afterUnauthorized = false
  let inflight: Promise<StoredToken> | undefined
  let lastRefreshAtMs: number | undefined
  let lastError: GatewayError | undefined
  let lastErrorAtMs = 0
  let failures = 0
  let backoffUntilMs = 0
  let storeState: TokenStoreState = store.shared ? 'redis' : 'memory'
  /**
   * Tokens this process obtained and did not share (memory store, or Redis unreachable): the ones close() revokes.
   * Keyed by access token; `refreshToken` is dropped once it has been spent.
   */
  const own = new Map<string, { expiresAtMs: number, refreshToken?: string }>()
  let checkTimer: NodeJS.Timeout | undefined
  let refreshTimer: NodeJS.Timeout | undefined
  let checking = false
  let closed = false
  let closing: Promise<void> | undefined

  function lifetimeMs (t: StoredToken): number {
    return Math.max(1, t.expiresAtMs - t.obtainedAtMs)
  }
  /** Not handed out in its last moments: a request must be able to reach ION before it expires. */
  function marginMs (t: StoredToken): number {
    return Math.min(5000, lifetimeMs(t) / 10)
  }
  function bufferMs (t: StoredToken): number {
    return Math.max(2 * marginMs(t), Math.min(deps.refreshBufferMs, lifetimeMs(t) / 2))
  }
  function isRejected (accessToken: string): boolean {
    return rejected.includes(accessToken)
  }
  function usable (t: StoredToken | undefined): t is StoredToken {
    return t !== undefined && !isRejected(t.accessToken) && t.expiresAtMs - now() > marginMs(t)
  }
  /** A token found in the store that spares a call to ION: not the one being replaced, not due for refresh. */
  function acceptable (t: StoredToken | undefined, replacing: string | undefined): t is StoredToken {
    return usable(t) && t.accessToken !== replacing && now() < t.expiresAtMs - bufferMs(t)
  }

  function markStore (ok: boolean, err?: unknown): void {
    if (!store.shared) return
    const next: TokenStoreState = ok ? 'redis' : 'redis-unavailable'
    if (next === storeState) return
    storeState = next
    if (ok) log.info({}, 'token store reachable again: sharing the ION token through Redis')
    else log.warn({ err: errorSummary(err) }, 'token store unreachable: using a process-local ION token')
  }

  /** Every store call is bounded in time; a failure is reported and never thrown. */
  async function storeCall<T> (fn: (s: TokenStore) => Promise<T>): Promise<{ ok: true, value: T } | { ok: false }> {
    let timer: NodeJS.Timeout | undefined
    try {
      const value = await Promise.race([
        fn(store),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new StoreTimeoutError(storeTimeoutMs)), storeTimeoutMs)
        }),
      ])
      markStore(true)
      return { ok: true, value }
    } catch (err) {
      markStore(false, err)
      return { ok: false }
    } finally {
      clearTimeout(timer)
    }
  }

  function rememberOwn (t: StoredToken): void {
    for (const [access, entry] of own) {
      if (own.size < OWN_TOKENS_KEPT && (entry.expiresAtMs > now() || entry.refreshToken)) continue
      own.delete(access)
    }
    own.set(t.accessToken, t.refreshToken ? { expiresAtMs: t.expiresAtMs, refreshToken: t.refreshToken } : { expiresAtMs: t.expiresAtMs })
  }

  /** A refresh token handed to ION is spent, whether it was honoured (rotation) or refused (fallback grant). */
  function spent (used: string | undefined): void {
    if (!used) return
    for (const entry of own.values()) if (entry.refreshToken === used) delete entry.refreshToken
  }

  function adopt (t: StoredToken): void {
    current = { token: t, refreshAtMs: t.expiresAtMs - bufferMs(t) * (1 + JITTER * random()) }
    if (t.refreshToken) refreshToken = t.refreshToken
    everHadToken = true
    afterUnauthorized = false
    setTimer(current.refreshAtMs - now())
  }

  /** The one refresh timer: at the current token's refresh time, or when a failure backoff ends. */
  function setTimer (inMs: number): void {
    if (closed) return
    clearTimeout(refreshTimer)
    refreshTimer = setTimeout(wake, Math.max(0, inMs))
    refreshTimer.unref()
  }

  function wake (): void {
    // Timers may fire a little before Date.now() reaches the backoff's end: sleep again rather than give up.
    const remainingMs = backoffUntilMs - now()
    if (remainingMs > 0) setTimer(remainingMs + 1)
    else kick('background')
  }

  /** A refresh nobody waits for (the current token is still served): skipped while one runs or during backoff. */
  function kick (trigger: RefreshTrigger): void {
    if (closed || inflight || now() < backoffUntilMs) return
    refresh(trigger).catch(noop) // logged and counted in doRefresh
  }

  async function fromIon (trigger: RefreshTrigger, preferredRefreshToken: string | undefined): Promise<StoredToken> {
    const using = preferredRefreshToken ?? refreshToken
    try {
      const issued = await client.fetchToken(using)
      spent(using)
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

  /**
   * The store's protocol: take its token if it spares a call to ION; else the lock holder calls ION and stores the
   * answer while the others poll for it. undefined: the store is unreachable (the caller goes local).
   */
  async function throughStore (trigger: RefreshTrigger, replacing: string | undefined): Promise<StoredToken | undefined> {
    const deadline = now() + lockTtlMs + 2 * pollMs
    for (;;) {
      if (closed) throw new GatewayError('SYS_004', 'The gateway is shutting down')
      const found = await storeCall(s => s.get())
      if (!found.ok) return undefined
      if (acceptable(found.value, replacing)) {
        log.debug({ trigger }, 'ION token taken from the token store')
        return found.value
      }
      const locked = await storeCall(s => s.tryLock(owner, lockTtlMs))
      if (!locked.ok) return undefined
      if (locked.value) {
        try {
          const again = await storeCall(s => s.get())
          if (again.ok && acceptable(again.value, replacing)) return again.value
          const latest = again.ok ? again.value : found.value
          const issued = await fromIon(trigger, latest?.refreshToken)
          const stored = await storeCall(s => s.set(issued))
          if (!stored.ok || !store.shared) rememberOwn(issued)
          return issued
        } finally {
          await storeCall(s => s.unlock(owner))
        }
      }
      // Another replica holds the lock; if it died, the lock expires within lockTtlMs and someone else takes it.
      if (now() >= deadline) throw new GatewayError('AUTH_003', 'Timed out waiting for another replica to refresh the ION token', { retryAfterS: 1 })
      await sleep(pollMs)
    }
  }

  async function obtain (trigger: RefreshTrigger, replacing: string | undefined): Promise<StoredToken> {
    const viaStore = await throughStore(trigger, replacing)
    if (viaStore) return viaStore
    const issued = await fromIon(trigger, undefined)
    rememberOwn(issued)
    return issued
  }

  async function doRefresh (trigger: RefreshTrigger): Promise<StoredToken> {
    const replacing = current?.token.accessToken
    try {
      let token = await obtain(trigger, replacing)
      // Invalidated while this refresh was reading the store: fetch past it once.
      if (isRejected(token.accessToken)) token = await obtain(trigger, token.accessToken)
      failures = 0
      backoffUntilMs = 0
      lastError = undefined
      adopt(token)
      return token
    } catch (err) {
      const error = isGatewayError(err) ? err : new GatewayError('AUTH_003', 'ION token refresh failed', { retryAfterS: 1 })
      if (closed) throw error
      failures++
      // Refused credentials rarely fix themselves and every attempt is a login ION counts: back off much further.
      const capMs = error.code === 'AUTH_001' ? refusedBackoffMaxMs : backoff.max
      const waitMs = Math.min(capMs, backoff.initial * 2 ** Math.min(failures - 1, 30))
      backoffUntilMs = now() + waitMs
      lastError = error
      lastErrorAtMs = now()
      // Recovery does not wait for traffic: try again by itself when the backoff ends.
      setTimer(waitMs)
      log.warn({ code: error.code, trigger, failures, retryInMs: waitMs, keptValidToken: usable(current?.token) }, `ION token refresh failed: ${error.message}`)
      throw error
    }
  }

  function refresh (trigger: RefreshTrigger): Promise<StoredToken> {
    if (closed) return Promise.reject(new GatewayError('SYS_004', 'The gateway is shutting down'))
    if (inflight) return inflight
    const remainingMs = backoffUntilMs - now()
    if (remainingMs > 0 && lastError) {
      const e = lastError
      return Promise.reject(new GatewayError(e.code, e.message, { retryAfterS: Math.max(1, Math.ceil(remainingMs / 1000)), cause: e }))
    }
    inflight = doRefresh(trigger).finally(() => { inflight = undefined })
    return inflight
  }

  /** Shares a token obtained while Redis was unreachable, once Redis answers again and holds none. */
  async function publish (t: StoredToken): Promise<void> {
    const locked = await storeCall(s => s.tryLock(owner, lockTtlMs))
    if (!locked.ok || !locked.value) return
    try {
      const found = await storeCall(s => s.get())
      if (!found.ok || found.value !== undefined || current?.token !== t || !usable(t)) return
      const stored = await storeCall(s => s.set(t))
      if (stored.ok) {
        own.delete(t.accessToken)
        log.info({}, 'process-local ION token shared through the token store')
      }
    } finally {
      await storeCall(s => s.unlock(owner))
    }
  }

  async function check (): Promise<void> {
    if (closed || inflight || checking) return
    checking = true
    try {
      if (store.shared) {
        // Also how a store that was unreachable is noticed coming back.
        const found = await storeCall(s => s.get())
        const mine = current?.token
        if (found.ok && found.value && found.value.accessToken !== mine?.accessToken) {
          const t = found.value
          if (acceptable(t, mine?.accessToken) && (!usable(mine) || t.expiresAtMs > mine.expiresAtMs)) {
            adopt(t)
            log.debug({}, 'ION token refreshed by another replica taken from the token store')
          }
        } else if (found.ok && !found.value && mine && own.has(mine.accessToken) && usable(mine)) {
          await publish(mine)
        }
      }
      const held = current
      if (!held || !usable(held.token) || now() >= held.refreshAtMs) kick('background')
    } finally {
      checking = false
    }
  }

  function peekAccessToken (): string | undefined {
    const held = current
    if (!held || !usable(held.token)) return undefined
    if (now() >= held.refreshAtMs) kick('proactive')
    return held.token.accessToken
  }

  return {
    peekAccessToken,

    async getAccessToken () {
      const held = peekAccessToken()
      if (held !== undefined) return held
      const trigger: RefreshTrigger = afterUnauthorized ? 'unauthorized' : everHadToken ? 'proactive' : 'initial'
      return (await refresh(trigger)).accessToken
    },

    async invalidate (token) {
      // Repeated or stale (the token was already replaced): nothing to do, no second refresh.
      if (current?.token.accessToken !== token) return
      current = undefined
      afterUnauthorized = true
      rejected.push(token)
      if (rejected.length > REJECTED_KEPT) rejected.shift()
      log.info({}, 'ION refused the current token: it will be refreshed once')
      await storeCall(s => s.clear(token))
    },

    state () {
      const t = current?.token
      const s: TokenManagerState = { hasValidToken: usable(t), store: storeState }
      if (t) s.expiresAtMs = t.expiresAtMs
      if (lastRefreshAtMs !== undefined) s.lastRefreshAtMs = lastRefreshAtMs
      if (lastError) s.lastError = { code: lastError.code, atMs: lastErrorAtMs }
      return s
    },

    start () {
      if (closed || checkTimer) return
      checkTimer = setInterval(() => { check().catch(noop) }, deps.checkIntervalMs)
      checkTimer.unref()
      if (!current) refresh('initial').catch(noop) // logged in doRefresh; readiness reports it
    },

    close () {
      closing ??= (async () => {
        closed = true
        clearInterval(checkTimer)
        clearTimeout(refreshTimer)
        if (inflight) await inflight.catch(noop)
        // A token shared through the store stays: other replicas are using it.
        const revocations: Array<Promise<void>> = []
        for (const [accessToken, entry] of own) {
          if (entry.expiresAtMs > now()) revocations.push(client.revoke(accessToken, 'access_token'))
          if (entry.refreshToken) revocations.push(client.revoke(entry.refreshToken, 'refresh_token'))
        }
        own.clear()
        current = undefined
        refreshToken = undefined
        await Promise.all(revocations)
        if (revocations.length > 0) log.info({ revoked: revocations.length }, 'process-local ION tokens revoked')
        if (ownsStore) await store.close()
      })()
      return closing
    },
  }
}
