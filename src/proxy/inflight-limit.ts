/** Gives up a wait: `abort(reason)` rejects the waiter with `reason`; the function returned stops listening. */
export type CancelWiring = (abort: (reason: Error) => void) => () => void

interface Waiter {
  grant (): void
}

/**
 * At most `max` holders at once, the others waiting in arrival order (FIFO). A waiter leaves the queue when its
 * cancellation fires (its deadline passed, its client went away). Hand-written because p-limit and its kin cannot
 * drop a queued task; the whole contract is `tryAcquire`, `acquire` and `release`.
 */
export class InflightLimit {
  readonly max: number
  #active = 0
  readonly #queue = new Set<Waiter>()

  constructor (max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`)
    this.max = max
  }

  get active (): number {
    return this.#active
  }

  get queued (): number {
    return this.#queue.size
  }

  /** Takes a place when one is free and nobody waits (the common case: no promise). */
  tryAcquire (): boolean {
    if (this.#active >= this.max || this.#queue.size > 0) return false
    this.#active++
    return true
  }

  /** Waits for a place in arrival order; rejects with the reason of `cancel` if it fires first. */
  acquire (cancel: CancelWiring): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      let stop = (): void => {}
      const waiter: Waiter = {
        grant: () => {
          stop()
          resolve()
        },
      }
      this.#queue.add(waiter)
      const unsubscribe = cancel(reason => {
        // Granted already: the place is the caller's, who releases it.
        if (!this.#queue.delete(waiter)) return
        stop()
        reject(reason)
      })
      // Cancelled while being wired (e.g. a deadline already passed): nothing is left to listen to.
      if (this.#queue.has(waiter)) stop = unsubscribe
      else unsubscribe()
    })
  }

  /** Gives a place back: to the longest waiter, else to the pool. */
  release (): void {
    const next = this.#queue.values().next()
    if (next.done === true) {
      if (this.#active > 0) this.#active--
      return
    }
    this.#queue.delete(next.value)
    // The place passes on without being freed: a newcomer's tryAcquire cannot jump the queue.
    next.value.grant()
  }
}
