import type { StoredToken } from './token-store.ts'

/** What started a call to ION's token endpoint (the trigger label of token_refreshes_total). */
export type RefreshTrigger = 'initial' | 'proactive' | 'background' | 'unauthorized'

/** Refresh up to this fraction of the buffer earlier, at random: replicas sharing a token do not all wake at once. */
const JITTER = 0.2
/** Refused access tokens remembered: a late answer from the store or a refresh can still carry one of them. */
const REJECTED_KEPT = 8

export function lifetimeMs (t: StoredToken): number {
  return Math.max(1, t.expiresAtMs - t.obtainedAtMs)
}

/** Not handed out in its last moments: a request must be able to reach ION before it expires. */
export function marginMs (t: StoredToken): number {
  return Math.min(5000, lifetimeMs(t) / 10)
}

/** How long before expiry a refresh is due: the configured buffer, at most half the lifetime, at least twice the margin. */
export function bufferMs (t: StoredToken, refreshBufferMs: number): number {
  return Math.max(2 * marginMs(t), Math.min(refreshBufferMs, lifetimeMs(t) / 2))
}

/** When to refresh `t`: `buffer` before expiry, up to 20% of it earlier; `random` in [0, 1). */
export function refreshAtMs (t: StoredToken, refreshBufferMs: number, random: number): number {
  return t.expiresAtMs - bufferMs(t, refreshBufferMs) * (1 + JITTER * random)
}

/**
 * What the process holds: nothing yet, a token (with the time its refresh is due), or nothing because ION refused
 * the last one (the next refresh is then counted as 'unauthorized').
 */
export type TokenPhase =
  | { kind: 'empty' }
  | { kind: 'held', token: StoredToken, refreshAtMs: number }
  | { kind: 'refused' }

export interface HeldTokenOptions {
  refreshBufferMs: number
  now: () => number
  random: () => number
}

/** The token this process serves, the refresh token kept beside it, and the tokens ION refused. */
export class HeldToken {
  #phase: TokenPhase = { kind: 'empty' }
  #everHeld = false
  /** The newest refresh token seen; kept when the access token is dropped after a 401. */
  #refreshToken: string | undefined
  readonly #rejected: string[] = []
  readonly #options: HeldTokenOptions

  constructor (options: HeldTokenOptions) {
    this.#options = options
  }

  get phase (): TokenPhase {
    return this.#phase
  }

  /** The held token, usable or not. */
  get token (): StoredToken | undefined {
    return this.#phase.kind === 'held' ? this.#phase.token : undefined
  }

  get refreshToken (): string | undefined {
    return this.#refreshToken
  }

  isRejected (accessToken: string): boolean {
    return this.#rejected.includes(accessToken)
  }

  /** Not refused by ION and not in its last moments. */
  usable (t: StoredToken | undefined): t is StoredToken {
    return t !== undefined && !this.isRejected(t.accessToken) && t.expiresAtMs - this.#options.now() > marginMs(t)
  }

  /** A token found in the store that spares a call to ION: not the one being replaced, not due for refresh. */
  acceptable (t: StoredToken | undefined, replacing: string | undefined): t is StoredToken {
    return this.usable(t) && t.accessToken !== replacing && this.#options.now() < t.expiresAtMs - bufferMs(t, this.#options.refreshBufferMs)
  }

  /** The held token when it can be handed out now. */
  usableToken (): StoredToken | undefined {
    const t = this.token
    return this.usable(t) ? t : undefined
  }

  /** A token is held and its refresh time has come. */
  refreshDue (): boolean {
    return this.#phase.kind === 'held' && this.#options.now() >= this.#phase.refreshAtMs
  }

  /** Why a caller without a usable token asks for one. */
  trigger (): RefreshTrigger {
    if (this.#phase.kind === 'refused') return 'unauthorized'
    return this.#everHeld ? 'proactive' : 'initial'
  }

  /** Holds `t` from now on; returns when its refresh is due. */
  adopt (t: StoredToken): number {
    const at = refreshAtMs(t, this.#options.refreshBufferMs, this.#options.random())
    this.#phase = { kind: 'held', token: t, refreshAtMs: at }
    if (t.refreshToken) this.#refreshToken = t.refreshToken
    this.#everHeld = true
    return at
  }

  /** ION refused `accessToken`: dropped if it is the held one (false when it was already replaced). */
  refuse (accessToken: string): boolean {
    if (this.token?.accessToken !== accessToken) return false
    this.#phase = { kind: 'refused' }
    this.#rejected.push(accessToken)
    if (this.#rejected.length > REJECTED_KEPT) this.#rejected.shift()
    return true
  }

  /** Forgets everything (on close). */
  clear (): void {
    this.#phase = { kind: 'empty' }
    this.#refreshToken = undefined
  }
}
