import type { TokenClient } from './token-client.ts'
import type { StoredToken } from './token-store.ts'

const KEPT = 32

/**
 * Tokens this process obtained and did not share (memory store, or Redis unreachable): nobody else knows them, so
 * close() revokes them. A token shared through the store stays unrevoked: other replicas are using it.
 */
export class OwnTokens {
  /** Keyed by access token; the refresh token is dropped once it has been spent. */
  readonly #tokens = new Map<string, { expiresAtMs: number, refreshToken?: string }>()
  readonly #now: () => number

  constructor (now: () => number) {
    this.#now = now
  }

  has (accessToken: string): boolean {
    return this.#tokens.has(accessToken)
  }

  remember (t: StoredToken): void {
    for (const [access, entry] of this.#tokens) {
      if (this.#tokens.size < KEPT && (entry.expiresAtMs > this.#now() || entry.refreshToken)) continue
      this.#tokens.delete(access)
    }
    this.#tokens.set(t.accessToken, t.refreshToken ? { expiresAtMs: t.expiresAtMs, refreshToken: t.refreshToken } : { expiresAtMs: t.expiresAtMs })
  }

  /** A refresh token handed to ION is spent, whether it was honoured (rotation) or refused (fallback grant). */
  spent (refreshToken: string | undefined): void {
    if (!refreshToken) return
    for (const entry of this.#tokens.values()) if (entry.refreshToken === refreshToken) delete entry.refreshToken
  }

  /** Shared since: no longer this process's alone. */
  forget (accessToken: string): void {
    this.#tokens.delete(accessToken)
  }

  /** Revokes every unexpired access token and every unspent refresh token; returns how many revocations were sent. */
  async revokeAll (client: TokenClient): Promise<number> {
    const revocations: Array<Promise<void>> = []
    for (const [accessToken, entry] of this.#tokens) {
      if (entry.expiresAtMs > this.#now()) revocations.push(client.revoke(accessToken, 'access_token'))
      if (entry.refreshToken) revocations.push(client.revoke(entry.refreshToken, 'refresh_token'))
    }
    this.#tokens.clear()
    await Promise.all(revocations)
    return revocations.length
  }
}
