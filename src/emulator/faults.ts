import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import { destroyHard, sendRaw, type HeaderMap } from './http.ts'

export interface CannedAnswer { status: number, headers?: HeaderMap, body?: string | object }

export type Fault =
  | { kind: 'respond', answer: CannedAnswer }
  | { kind: 'reset' }
  | { kind: 'badFraming' }
  | { kind: 'truncate' }

interface Rule { fault: Fault, remaining: number, pathPrefix: string }

export type TokenDownMode = number | 'reset' | false

/** The faults currently armed: per-call rules consumed in the order they were added, plus standing conditions. */
export class FaultState {
  private rules: Rule[] = []
  latencyMs = 0
  latencyPrefix = ''
  tokenLatencyMs = 0
  tokenDown: TokenDownMode = false

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

  latencyFor (path: string): number {
    return this.latencyMs > 0 && path.startsWith(this.latencyPrefix) ? this.latencyMs : 0
  }

  pending (): number {
    return this.rules.reduce((n, r) => n + r.remaining, 0)
  }

  clear (): void {
    this.rules = []
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

export function rateLimited (retryAfterS: number): CannedAnswer {
  return {
    status: 429,
    headers: { 'retry-after': String(retryAfterS) },
    body: { error: { code: 'ION_429', message: 'Too Many Requests', detail: 'Spike arrest violation: the allowed rate was exceeded' } },
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
