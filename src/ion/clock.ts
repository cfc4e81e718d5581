/** A pending timer; cancelling twice, or after it fired, does nothing. */
export interface Timer {
  cancel (): void
}

/**
 * Time as the token manager sees it: the current time and one-shot timers. Timers never keep the process alive.
 * A callback may return the work it started (a promise that never rejects), so that a test clock can wait for that
 * work before moving on.
 */
export interface Clock {
  now (): number
  setTimer (fn: () => void | Promise<void>, ms: number): Timer
}

/** The real clock: `now` (Date.now by default) and unref'd setTimeout. */
export function systemClock (now: () => number = Date.now): Clock {
  return {
    now,
    setTimer (fn, ms) {
      const handle = setTimeout(fn, Math.max(0, ms))
      handle.unref()
      return { cancel: () => clearTimeout(handle) }
    },
  }
}

/** Resolves after `ms` on `clock`. */
export function sleepOn (clock: Clock, ms: number): Promise<void> {
  return new Promise(resolve => { clock.setTimer(resolve, ms) })
}
