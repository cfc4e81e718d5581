/** A counter's state in its window, as the rate-limit store reports it. */
export interface LimitState {
  /** Requests left in the window: 0 once the limit is reached. */
  remaining: number
  /** More requests than the limit were counted in this window. */
  exceeded: boolean
  /** Time left in the window. */
  ttlMs: number
}

/**
 * The counters of one request's caller; each call is one atomic step of the store. In-process counters answer at
 * once, shared ones (Redis) with a promise: a decision over in-process counters is made without a promise.
 */
export interface CallerCounters {
  /** Counts the request against the caller's address (the bad-key budget). */
  countAddress (): LimitState | Promise<LimitState>
  /** The address's state, without counting. */
  peekAddress (): LimitState | Promise<LimitState>
  /** Counts the request against the caller's client id. */
  countClient (): LimitState | Promise<LimitState>
}

export interface LimitVerdict {
  refused: boolean
  /** Whose budget decided: the client's own, or its address's budget for requests without a valid key. */
  by: 'client' | 'address'
  state: LimitState
}

/**
 * Which budget a request spends, and whether it is refused.
 *
 * Open mode (no API keys): each client (x-client-id, else address) has its own budget.
 *
 * With API keys, a request without a valid key spends its address's budget; once that budget is used up, every
 * request from the address is refused until the window ends, a valid key included. Were a valid key let through,
 * a throttled address could still tell valid keys from wrong ones (refused = wrong). Each request takes one atomic
 * step on the address counter (a wrong key counts, a valid key peeks), so concurrent guesses cannot slip past it
 * either: a guess is answered by its key only while the address has budget left, and every wrong guess spends it.
 */
export function decideLimit (keysRequired: boolean, authenticated: boolean, counters: CallerCounters): LimitVerdict | Promise<LimitVerdict> {
  if (!keysRequired) return then(counters.countClient(), clientVerdict)
  if (!authenticated) return then(counters.countAddress(), addressVerdict)
  // Both at once (one round trip to a shared store): a refused request may spend one of its client's requests.
  const address = counters.peekAddress()
  const client = counters.countClient()
  if (address instanceof Promise || client instanceof Promise) {
    return Promise.all([address, client]).then(([a, c]) => validKeyVerdict(a, c))
  }
  return validKeyVerdict(address, client)
}

function validKeyVerdict (address: LimitState, client: LimitState): LimitVerdict {
  if (address.remaining === 0) return { refused: true, by: 'address', state: address }
  return clientVerdict(client)
}

function then<T, R> (value: T | Promise<T>, next: (value: T) => R): R | Promise<R> {
  return value instanceof Promise ? value.then(next) : next(value)
}

/** Open mode, and a valid key from an address with budget left: the client's own budget decides. */
export function clientVerdict (state: LimitState): LimitVerdict {
  return verdict('client', state)
}

function verdict (by: LimitVerdict['by'], state: LimitState): LimitVerdict {
  return { refused: state.exceeded, by, state }
}

function addressVerdict (state: LimitState): LimitVerdict {
  return verdict('address', state)
}

/** The refusal's message: the configured limit and window (Retry-After says how long is left). */
export function refusalMessage (by: LimitVerdict['by'], max: number, windowMs: number): string {
  const rate = `${max} ${max === 1 ? 'request' : 'requests'} per ${describeWindow(windowMs)}`
  if (by === 'client') return `Rate limit exceeded: ${rate}`
  return `Rate limit exceeded: this address sent too many requests without a valid x-api-key (${rate}); ` +
    'every request from it is refused until the window ends'
}

const UNITS: Array<[number, string]> = [[86400000, 'day'], [3600000, 'hour'], [60000, 'minute'], [1000, 'second']]

/** 900000 → "15 minutes", 60000 → "minute", 1500 → "1500 ms". */
export function describeWindow (ms: number): string {
  for (const [size, unit] of UNITS) {
    if (ms % size === 0) {
      const n = ms / size
      return n === 1 ? unit : `${n} ${unit}s`
    }
  }
  return `${ms} ms`
}
