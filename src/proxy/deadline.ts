import { EventEmitter } from 'node:events'

/**
 * The deadline of one forwarded request, in the form undici accepts as a request `signal`: an EventEmitter with
 * `aborted` that emits `abort`. An AbortController with undici's listener costs measurably more per request
 * (bench/README.md); this costs one timer. Code that needs a real
 * AbortSignal (timers/promises, a token wait) asks for `signal`, made only then.
 */
export class RequestDeadline extends EventEmitter {
  aborted = false
  private readonly timer: NodeJS.Timeout
  private controller: AbortController | undefined

  readonly timeoutMs: number

  constructor (timeoutMs: number) {
    super()
    this.timeoutMs = timeoutMs
    this.timer = setTimeout(() => this.expire(), timeoutMs)
  }

  /** An AbortSignal aborted when the deadline passes (already aborted if it has). */
  get signal (): AbortSignal {
    this.controller ??= new AbortController()
    if (this.aborted) this.controller.abort()
    return this.controller.signal
  }

  /** Stops the timer: the request finished (its body is bounded by undici's own bodyTimeout from here). */
  clear (): void {
    clearTimeout(this.timer)
  }

  private expire (): void {
    this.aborted = true
    this.controller?.abort()
    this.emit('abort')
  }
}
