import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import { destroyHard, sendRaw, type HeaderMap } from './http.ts'

export interface CannedAnswer { status: number, headers?: HeaderMap, body?: string | object }

export type Fault =
  | { kind: 'respond', answer: CannedAnswer }
  | { kind: 'reset' }
  | { kind: 'badFraming' }
  | { kind: 'truncate' }

interface Rule { fault: Fault, remaining: number, pathPrefix: string }
interface PartialRule { rows: number, remaining: number, pathPrefix: string }

export type TokenDownMode = number | 'reset' | false

/** The faults currently armed: per-call rules consumed in the order they were added, plus standing conditions. */
export class FaultState {
  private rules: Rule[] = []
  private partials: PartialRule[] = []
  private lnCalls = 0
  latencyMs = 0
  latencyPrefix = ''
  tokenLatencyMs = 0
  tokenDown: TokenDownMode = false
  /** Every n-th LN call with a valid token answers 401, as LN now and then does; 0 = never. */
  lnUnauthorizedEvery: number
  private readonly lnUnauthorizedDefault: number

  constructor (lnUnauthorizedEvery = 0) {
    this.lnUnauthorizedEvery = this.lnUnauthorizedDefault = lnUnauthorizedEvery
  }

  add (count: number, fault: Fault, pathPrefix = ''): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`)
    if (count > 0) this.rules.push({ fault, remaining: count, pathPrefix })
  }

  /** The fault for this call, if a rule matches; consumes one use of it. */
  take (path: string): Fault | undefined {
    if (this.rules.length === 0) return undefined
    const index = this.rules.findIndex(r => path.startsWith(r.pathPrefix))
    if (index === -1) return undefined
    const rule = this.rules[index] as Rule
    if (--rule.remaining === 0) this.rules.splice(index, 1)
    return rule.fault
  }

  /** Arms the next `count` M3 v1 calls under the prefix to answer `rows` rows, then an `ErrorMessage`. */
  addPartial (count: number, rows: number, pathPrefix = ''): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`)
    if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`rows must be a non-negative integer, got ${rows}`)
    if (count > 0) this.partials.push({ rows, remaining: count, pathPrefix })
  }

  takePartial (path: string): number | undefined {
    const index = this.partials.findIndex(r => path.startsWith(r.pathPrefix))
    if (index === -1) return undefined
    const rule = this.partials[index] as PartialRule
    if (--rule.remaining === 0) this.partials.splice(index, 1)
    return rule.rows
  }

  /** Counts one LN call with a valid token; true when this one gets the spurious 401. */
  lnUnauthorized (): boolean {
    if (this.lnUnauthorizedEvery <= 0) return false
    this.lnCalls++
    return this.lnCalls % this.lnUnauthorizedEvery === 0
  }

  setLnUnauthorizedEvery (n: number): void {
    this.lnUnauthorizedEvery = n
    this.lnCalls = 0
  }

  latencyFor (path: string): number {
    return this.latencyMs > 0 && path.startsWith(this.latencyPrefix) ? this.latencyMs : 0
  }

  pending (): number {
    return this.rules.reduce((n, r) => n + r.remaining, 0) + this.partials.reduce((n, r) => n + r.remaining, 0)
  }

  clear (): void {
    this.rules = []
    this.partials = []
    this.setLnUnauthorizedEvery(this.lnUnauthorizedDefault)
    this.latencyMs = 0
    this.latencyPrefix = ''
    this.tokenLatencyMs = 0
    this.tokenDown = false
  }
}

export function failure (status: number): CannedAnswer {
  const reason = STATUS_CODES[status] ?? 'Error'
  return { status, body: { error: { code: `ION_${status}`, message: reason, detail: `The ION emulator answered ${status} ${reason} on purpose` } } }
}

export function rateLimited (retryAfterS: number, detail = 'Spike arrest violation: the allowed rate was exceeded'): CannedAnswer {
  return {
    status: 429,
    headers: { 'retry-after': String(retryAfterS) },
    body: { error: { code: 'ION_429', message: 'Too Many Requests', detail } },
  }
}

export const TRUNCATE_DECLARED_BYTES = 1000
export const TRUNCATE_SENT_BYTES = 500

export function applyFault (fault: Fault, req: IncomingMessage, res: ServerResponse): void {
  switch (fault.kind) {
    case 'respond':
      sendRaw(res, fault.answer.status, fault.answer.body, fault.answer.headers)
      return
    case 'reset':
      destroyHard(req.socket)
      return
    case 'badFraming':
      // Bypasses ServerResponse: Node would refuse to write this head.
      req.socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: foo\r\n\r\n{"ok":true}')
      return
    case 'truncate':
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': TRUNCATE_DECLARED_BYTES })
      res.write(Buffer.alloc(TRUNCATE_SENT_BYTES, 'x'), () => setImmediate(() => req.socket.destroy()))
  }
}
