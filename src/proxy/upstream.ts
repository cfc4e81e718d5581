import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import { GatewayError } from '../errors.ts'
import type { IonCallTracer } from '../telemetry/spans.ts'
import { RequestDeadline } from './deadline.ts'
import { createIonDispatcher, DIRECT, type Egress } from './egress.ts'
import { upstreamRequestHeaders } from './headers.ts'
import { SYSTEM_IDS, type SystemId } from './systems.ts'
import { isRetryableTransportError, mapTransportError } from './transport-errors.ts'

/** What the proxy needs of the token manager. */
export interface TokenSource {
  getAccessToken (): Promise<string>
  /** The token when one is held and usable: the common case, without a promise or a deadline race. */
  peekAccessToken? (): string | undefined
  /** ION answered 401 to `token`: `retry` with a new or newer token, or `relay` the refusal (no login allowed now). */
  invalidate (token: string): Promise<'retry' | 'relay'>
}

export interface UpstreamObserver {
  response (system: SystemId, statusCode: number, seconds: number): void
  retry (system: SystemId): void
}

export interface UpstreamOptions {
  /** ION origin, e.g. `https://mingle-ionapi.example.com`. */
  origin: string
  connections: number
  /** One deadline per request until ION's response headers, retries and token waits included. */
  timeoutMs: number
  retries: number
  tokens: TokenSource
  observer?: UpstreamObserver
  /** The way to ION: forward proxy, NO_PROXY, private CA (certificates are always verified). Default: direct. */
  egress?: Egress
  random?: () => number
}

export interface ForwardRequest {
  system: SystemId
  method: string
  /** Origin-relative path and query, already guarded: `/{ti}/M3/…?…`. */
  path: string
  headers: IncomingHttpHeaders
  /** A Buffer can be replayed (401 retry); a stream cannot. */
  body?: Buffer | Readable
  requestId: string
  clientIp: string
  /** Idempotent read: may be retried on transport errors and 502/503/504. */
  retryable: boolean
  /** Present when tracing is on: one CLIENT span per request sent to ION. */
  tracer?: IonCallTracer | undefined
}

export interface ForwardResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Dispatcher.ResponseData['body']
  attempts: number
}

export interface Upstream {
  forward (request: ForwardRequest): Promise<ForwardResponse>
  close (): Promise<void>
}

const RETRY_STATUSES = new Set([502, 503, 504])
const BACKOFF_BASE_MS = 50
const BACKOFF_CAP_MS = 1000

/**
 * Forwards requests to ION over one keep-alive undici Pool per system (a slow IDM download cannot starve M3), or one
 * ProxyAgent per system when an egress proxy applies,
 * with the service token, one deadline, retries for reads only, and one transparent retry after an ION 401.
 */
export function createUpstream (options: UpstreamOptions): Upstream {
  const { timeoutMs, retries, tokens, observer } = options
  const random = options.random ?? Math.random
  const { origin } = options
  const pools = new Map<SystemId, Dispatcher>()
  for (const system of SYSTEM_IDS) {
    pools.set(system, createIonDispatcher(origin, options.egress ?? DIRECT, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeoutMs: Math.min(timeoutMs, 10_000),
      // Response bodies may be large downloads: only the time between chunks is bounded.
      bodyTimeout: timeoutMs,
      headersTimeout: timeoutMs,
    }))
  }
  let closed = false

  async function forward (req: ForwardRequest): Promise<ForwardResponse> {
    const pool = pools.get(req.system) as Dispatcher
    const deadlineAt = performance.now() + timeoutMs
    const deadline = new RequestDeadline(timeoutMs)
    const canReplayBody = req.body === undefined || Buffer.isBuffer(req.body)
    let attempt = 0
    let sent = 0
    let tokenRetried = false

    try {
      for (;;) {
        attempt++
        const token = tokens.peekAccessToken?.() ?? await withDeadline(tokens.getAccessToken(), deadline.signal, timeoutMs)
        const attemptStarted = performance.now()
        const headers = withBodyLength(upstreamRequestHeaders(req.headers, { token, requestId: req.requestId, clientIp: req.clientIp }), req)
        const span = req.tracer?.ionAttempt({ system: req.system, method: req.method, path: req.path, resendCount: sent })
        span?.inject(headers)
        sent++
        let res: Dispatcher.ResponseData
        try {
          res = await pool.request({
            origin,
            method: req.method as Dispatcher.HttpMethod,
            path: req.path,
            headers,
            body: req.body,
            signal: deadline,
          })
        } catch (err) {
          const mapped = mapTransportError(err, timeoutMs, deadline.aborted)
          span?.fail(mapped.code)
          if (!deadline.aborted && req.retryable && attempt <= retries && isRetryableTransportError(err) &&
            await backoff(attempt, deadlineAt, deadline)) {
            observer?.retry(req.system)
            continue
          }
          throw mapped
        }
        observer?.response(req.system, res.statusCode, (performance.now() - attemptStarted) / 1000)
        span?.end(res.statusCode)

        if (res.statusCode === 401) {
          await discard(res.body)
          // ION did not run the request: send it once more with a fresh token (writes included), unless ION's login
          // budget says this 401 may not cost a login (then it is relayed as AUTH_002, the token kept).
          const verdict = await tokens.invalidate(token)
          if (verdict === 'retry' && !tokenRetried && canReplayBody) {
            tokenRetried = true
            attempt--
            continue
          }
          throw new GatewayError('AUTH_002', unauthorizedMessage(verdict, tokenRetried, canReplayBody))
        }
        if (req.retryable && RETRY_STATUSES.has(res.statusCode) && attempt <= retries &&
          await backoff(attempt, deadlineAt, deadline)) {
          await discard(res.body)
          observer?.retry(req.system)
          continue
        }
        return { statusCode: res.statusCode, headers: res.headers as IncomingHttpHeaders, body: res.body, attempts: attempt }
      }
    } catch (err) {
      throw mapTransportError(err, timeoutMs, deadline.aborted)
    } finally {
      deadline.clear()
    }
  }

  /** Full-jitter exponential backoff; false when no time is left for another attempt. */
  async function backoff (attempt: number, deadlineAt: number, deadline: RequestDeadline): Promise<boolean> {
    const delay = random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1))
    if (performance.now() + delay >= deadlineAt) return false
    try {
      await sleep(delay, undefined, { signal: deadline.signal })
      return true
    } catch {
      return false
    }
  }

  return {
    forward,
    async close () {
      if (closed) return
      closed = true
      await Promise.all([...pools.values()].map(p => p.close()))
    },
  }
}

function unauthorizedMessage (verdict: 'retry' | 'relay', retried: boolean, canReplayBody: boolean): string {
  if (retried) return 'ION refused the gateway token after a refresh and one retry'
  if (verdict === 'relay') return 'ION refused the gateway token; an ION 401 already caused a new login within RELOGIN_INTERVAL_S, so none is made now'
  if (!canReplayBody) return 'ION refused the gateway token; the streamed request body cannot be replayed, send it again'
  return 'ION refused the gateway token'
}

function withBodyLength (headers: Record<string, string | string[]>, req: ForwardRequest): Record<string, string | string[]> {
  if (Buffer.isBuffer(req.body)) headers['content-length'] = String(req.body.length)
  else if (req.body && typeof req.headers['content-length'] === 'string') headers['content-length'] = req.headers['content-length']
  return headers
}

async function discard (body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    await body.dump({ limit: 65536 })
  } catch {
    // the connection is dropped by undici; nothing to relay
  }
}

/** Waits for the token within the request deadline: a token endpoint that hangs must not hold the client past it. */
async function withDeadline<T> (promise: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  if (signal.aborted) throw new GatewayError('API_002', `ION did not answer within ${timeoutMs} ms`)
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new GatewayError('API_002', `ION did not answer within ${timeoutMs} ms`))
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}
