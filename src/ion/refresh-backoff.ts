import { GatewayError } from '../errors.ts'

export interface RefreshBackoffOptions {
  /** First wait after a failure, doubled per further failure up to `maxMs`. */
  initialMs: number
  maxMs: number
  /** The cap when ION refused the credentials (AUTH_001): every attempt is a service-account login ION counts. */
  refusedMaxMs: number
  now: () => number
}

/**
 * The token endpoint's recent failures: how long callers without a valid token fail fast, and the last error
 * (reported by state(), handed to those callers with a Retry-After).
 */
export class RefreshBackoff {
  #failures = 0
  #untilMs = 0
  #lastError: { error: GatewayError, atMs: number } | undefined
  readonly #options: RefreshBackoffOptions

  constructor (options: RefreshBackoffOptions) {
    this.#options = { ...options, refusedMaxMs: Math.max(options.maxMs, options.refusedMaxMs) }
  }

  get failures (): number {
    return this.#failures
  }

  get lastError (): { error: GatewayError, atMs: number } | undefined {
    return this.#lastError
  }

  /** Milliseconds until the backoff ends; 0 or less when it has. */
  remainingMs (): number {
    return this.#untilMs - this.#options.now()
  }

  /** The last error, with the time left as Retry-After, while the backoff lasts; else undefined. */
  blocking (): GatewayError | undefined {
    const remainingMs = this.remainingMs()
    const last = this.#lastError?.error
    if (remainingMs <= 0 || !last) return undefined
    return new GatewayError(last.code, last.message, { retryAfterS: Math.max(1, Math.ceil(remainingMs / 1000)), cause: last })
  }

  succeeded (): void {
    this.#failures = 0
    this.#untilMs = 0
    this.#lastError = undefined
  }

  /** Records a failed refresh; returns how long to wait before the next attempt (at least `atLeastMs`). */
  failed (error: GatewayError, atLeastMs = 0): number {
    const { initialMs, maxMs, refusedMaxMs, now } = this.#options
    this.#failures++
    // Refused credentials rarely fix themselves and every attempt is a login ION counts: back off much further.
    const capMs = error.code === 'AUTH_001' ? refusedMaxMs : maxMs
    const waitMs = Math.max(atLeastMs, Math.min(capMs, initialMs * 2 ** Math.min(this.#failures - 1, 30)))
    this.#untilMs = now() + waitMs
    this.#lastError = { error, atMs: now() }
    return waitMs
  }
}
