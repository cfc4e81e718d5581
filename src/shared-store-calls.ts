import type { Clock, Timer } from './ion/clock.ts'

export interface SharedStoreCallsOptions {
  /** A call slower than this counts as the store failing. */
  timeoutMs: number
  /** Where the timeout's timer comes from (tests move time). */
  clock: Pick<Clock, 'setTimer'>
  log?: { warn (obj: object, msg: string): void, info (obj: object, msg: string): void }
  /** What the store is, in the log lines: e.g. `login budget`. */
  name: string
  /** What the replica does while the store fails, e.g. `this replica counts its own ION logins`. */
  fallback: string
}

/**
 * Calls to a store shared by the replicas (Redis) that decide fail-open: each call is bounded by `timeoutMs`, and a
 * call that throws or is late answers undefined, so the caller decides alone. The switch to and from that mode is
 * logged once each way.
 */
export class SharedStoreCalls {
  readonly #o: SharedStoreCallsOptions
  #failing = false

  constructor (options: SharedStoreCallsOptions) {
    this.#o = options
  }

  async call<T> (fn: () => Promise<T>): Promise<T | undefined> {
    const { timeoutMs, clock, log, name, fallback } = this.#o
    let timer: Timer | undefined
    try {
      const value = await Promise.race([
        fn(),
        new Promise<never>((_resolve, reject) => {
          timer = clock.setTimer(() => reject(new Error(`${name} store did not answer within ${timeoutMs} ms`)), timeoutMs)
        }),
      ])
      if (this.#failing) log?.info({}, `${name} shared through Redis again`)
      this.#failing = false
      return value
    } catch {
      if (!this.#failing) log?.warn({}, `${name} store unreachable: ${fallback}`)
      this.#failing = true
      return undefined
    } finally {
      timer?.cancel()
    }
  }
}
