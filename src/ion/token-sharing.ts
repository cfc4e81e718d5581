import { GatewayError } from '../errors.ts'
import { sleepOn, type Clock, type Timer } from './clock.ts'
import type { RefreshTrigger } from './held-token.ts'
import type { TokenLogger } from './token-logger.ts'
import type { StoredToken, TokenStore } from './token-store.ts'

/** The store's kind, and for a shared one whether it answers (`redis-unavailable`: a process-local token is used). */
export type TokenStoreState = 'memory' | 'redis' | 'redis-unavailable' | 'file' | 'file-unavailable'

export type StoreResult<T> = { ok: true, value: T } | { ok: false }

export interface TokenSharingOptions {
  store: TokenStore
  clock: Clock
  log: TokenLogger
  /** This process's name on the refresh lock. */
  owner: string
  /** How long one replica may hold the cluster refresh lock; longer than the token client's timeout. */
  lockTtlMs: number
  /** A store call slower than this counts as the store being unreachable. */
  storeTimeoutMs: number
  /** How often a replica waiting for another one's refresh reads the store. */
  pollMs: number
}

/** How one refresh goes through the store. */
export interface ObtainRequest {
  trigger: RefreshTrigger
  /** A token found in the store that spares a call to ION. */
  accept: (t: StoredToken | undefined) => t is StoredToken
  /** Calls ION, with the newest refresh token the store knows (if any). */
  fetch: (refreshToken: string | undefined) => Promise<StoredToken>
  /** The manager is closing: stop waiting. */
  closed: () => boolean
}

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
 * Sharing the token through the store: every call bounded in time and never throwing, the store's reachability
 * tracked (and logged when it changes), and the lock protocol that lets one replica of the cluster call ION.
 */
export class TokenSharing {
  readonly #o: TokenSharingOptions
  #state: TokenStoreState

  constructor (options: TokenSharingOptions) {
    this.#o = options
    this.#state = options.store.kind
  }

  get state (): TokenStoreState {
    return this.#state
  }

  /** Other replicas see what is stored. */
  get shared (): boolean {
    return this.#o.store.shared
  }

  #mark (ok: boolean, err?: unknown): void {
    const { kind, shared } = this.#o.store
    if (!shared || kind === 'memory') return
    const next: TokenStoreState = ok ? kind : `${kind}-unavailable`
    if (next === this.#state) return
    this.#state = next
    const through = kind === 'redis' ? 'Redis' : 'the token file'
    if (ok) this.#o.log.info({}, `token store reachable again: sharing the ION token through ${through}`)
    else this.#o.log.warn({ err: errorSummary(err) }, 'token store unreachable: using a process-local ION token')
  }

  /** One store call, bounded by storeTimeoutMs; a failure is reported and never thrown. */
  async call<T> (fn: (s: TokenStore) => Promise<T>): Promise<StoreResult<T>> {
    const { clock, storeTimeoutMs } = this.#o
    let timer: Timer | undefined
    try {
      const value = await Promise.race([
        fn(this.#o.store),
        new Promise<never>((_resolve, reject) => {
          timer = clock.setTimer(() => reject(new StoreTimeoutError(storeTimeoutMs)), storeTimeoutMs)
        }),
      ])
      this.#mark(true)
      return { ok: true, value }
    } catch (err) {
      this.#mark(false, err)
      return { ok: false }
    } finally {
      timer?.cancel()
    }
  }

  /**
   * The store's protocol: take its token if it spares a call to ION; else the lock holder calls ION and stores the
   * answer while the others poll for it. `issued`: this process called ION and the store does not share the answer
   * (it is this process's to revoke). undefined: the store is unreachable (the caller goes local).
   */
  async obtain (req: ObtainRequest): Promise<{ token: StoredToken, issued: boolean } | undefined> {
    const { clock, owner, lockTtlMs, pollMs, log } = this.#o
    const deadline = clock.now() + lockTtlMs + 2 * pollMs
    for (;;) {
      if (req.closed()) throw new GatewayError('SYS_004', 'The gateway is shutting down')
      const found = await this.call(s => s.get())
      if (!found.ok) return undefined
      if (req.accept(found.value)) {
        log.debug({ trigger: req.trigger }, 'ION token taken from the token store')
        return { token: found.value, issued: false }
      }
      const locked = await this.call(s => s.tryLock(owner, lockTtlMs))
      if (!locked.ok) return undefined
      if (locked.value) {
        try {
          const again = await this.call(s => s.get())
          if (again.ok && req.accept(again.value)) return { token: again.value, issued: false }
          const latest = again.ok ? again.value : found.value
          const token = await req.fetch(latest?.refreshToken)
          const stored = await this.call(s => s.set(token))
          return { token, issued: !stored.ok || !this.shared }
        } finally {
          await this.call(s => s.unlock(owner))
        }
      }
      // Another replica holds the lock; if it died, the lock expires within lockTtlMs and someone else takes it.
      if (clock.now() >= deadline) throw new GatewayError('AUTH_003', 'Timed out waiting for another replica to refresh the ION token', { retryAfterS: 1 })
      await sleepOn(clock, pollMs)
    }
  }

  /** Shares `t` (obtained while the store was unreachable) if the store answers and holds none; true when stored. */
  async publish (t: StoredToken, stillWanted: () => boolean): Promise<boolean> {
    const { owner, lockTtlMs } = this.#o
    const locked = await this.call(s => s.tryLock(owner, lockTtlMs))
    if (!locked.ok || !locked.value) return false
    try {
      const found = await this.call(s => s.get())
      if (!found.ok || found.value !== undefined || !stillWanted()) return false
      return (await this.call(s => s.set(t))).ok
    } finally {
      await this.call(s => s.unlock(owner))
    }
  }
}
