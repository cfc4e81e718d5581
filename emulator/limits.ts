/** Milliseconds since the epoch; `Date.now` unless a test passes its own clock. */
export type Clock = () => number

export const MINUTE_MS = 60_000

/**
 * At most `limit` events in any `windowMs` (a sliding window, like ION's per-minute peaks); `limit` 0 means no limit.
 * Keeps one timestamp per event still in the window, so memory is bounded by the limit.
 */
export class SlidingWindowQuota {
  private stamps: number[] = []
  private readonly windowMs: number
  private readonly now: Clock
  limit: number

  constructor (limit: number, windowMs: number, now: Clock) {
    this.limit = limit
    this.windowMs = windowMs
    this.now = now
  }

  /** Counts one event; undefined when it fits, else the whole seconds until one would (at least 1). */
  take (): number | undefined {
    if (this.limit <= 0) return undefined
    const now = this.now()
    let expired = 0
    while (expired < this.stamps.length && (this.stamps[expired] as number) <= now - this.windowMs) expired++
    if (expired > 0) this.stamps.splice(0, expired)
    if (this.stamps.length >= this.limit) {
      // The stamp that has to leave the window before the count drops below the limit.
      const blocking = this.stamps[this.stamps.length - this.limit] as number
      return Math.max(1, Math.ceil((blocking + this.windowMs - now) / 1000))
    }
    this.stamps.push(now)
    return undefined
  }

  reset (): void {
    this.stamps = []
  }
}

export function checkLimit (value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer (0 = no limit), got ${value}`)
  return value
}
