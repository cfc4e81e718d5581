import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import { GatewayError } from '../errors.ts'
import type { CallBudget } from './call-budget.ts'
import type { IonCallTracer } from '../telemetry/spans.ts'
import { RequestDeadline } from './deadline.ts'
import { createIonDispatcher, DIRECT, type Egress } from './egress.ts'
import { upstreamRequestHeaders } from './headers.ts'
import { InflightLimit } from './inflight-limit.ts'
import { SYSTEM_IDS, SYSTEMS, type SystemId } from './systems.ts'
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
  /** A request waited `seconds` for a place among UPSTREAM_MAX_INFLIGHT (given one or not). */
  queueWait? (system: SystemId, seconds: number): void
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
  /** UPSTREAM_MAX_INFLIGHT: requests to ION in progress per system; more wait in arrival order. Default: no bound. */
  maxInflight?: number
  /** Holds after ION 429s and ION_CALLS_PER_MIN; absent: ION is always called. */
  budget?: CallBudget
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
  /**
   * Calls `listener` when the client goes away before its answer; returns the unsubscribe. Asked only while the
   * request waits for a place (UPSTREAM_MAX_INFLIGHT): a client that left gives its place up.
   */
  onClientGone? (listener: () => void): () => void
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
  /** Requests to ION of `system` in progress and waiting for a place, on this replica. */
  load (system: SystemId): { inflight: number, queued: number }
  close (): Promise<void>
}

const RETRY_STATUSES = new Set([502, 503, 504])
const BACKOFF_BASE_MS = 50
const BACKOFF_CAP_MS = 1000

/**
 * Forwards requests to ION over one keep-alive undici Pool per system (a slow IDM download cannot starve M3), or one
 * ProxyAgent per system when an egress proxy applies,
 * with the service token, one deadline, retries for reads only, and one transparent retry after an ION 401.
 * At most `maxInflight` requests per system are in progress (from the first attempt until ION's body is read or
 * dropped); others wait within their deadline. While ION holds a system (after its 429) or the minute's calls are
 * spent, ION is not called (CallsHeldError, API_005).
 */
export function createUpstream (options: UpstreamOptions): Upstream {
  const { timeoutMs, retries, tokens, observer, budget } = options
  const maxInflight = options.maxInflight ?? Number.MAX_SAFE_INTEGER
  const random = options.random ?? Math.random
  const { origin } = options
  const pools = new Map<SystemId, Dispatcher>()
  const limits = new Map<SystemId, InflightLimit>()
  for (const system of SYSTEM_IDS) {
    limits.set(system, new InflightLimit(maxInflight))
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
    const limit = limits.get(req.system) as InflightLimit
    let attempt = 0
    let sent = 0
    let tokenRetried = false
    let placed = false

    try {
      const holdCheck = budget?.checkHold(req.system)
      if (holdCheck) await holdCheck
      if (!limit.tryAcquire()) await waitForPlace(limit, req, deadline)
      placed = true
      for (;;) {
        attempt++
        const token = tokens.peekAccessToken?.() ?? await withDeadline(tokens.getAccessToken(), deadline.signal, timeoutMs)
        if (budget) {
          // A hold may have begun while this request waited; every attempt is one ION call of the minute's count.
          budget.assertNotHeld(req.system)
          if (budget.counting) await budget.takeCall(req.system)
        }
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
        // Relayed as ION sent it (its body and Retry-After are ION's word); the calls after it are held.
        if (res.statusCode === 429 && budget) await budget.tooManyRequests(req.system, res.headers['retry-after'])

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
        // The place is ION's until its answer is read or dropped (a download is a call in progress). undici's body
        // destroys itself after its end, so 'close' comes after an end, an error and a destroy alike.
        placed = false
        if (res.body.destroyed) limit.release()
        else res.body.once('close', () => limit.release())
        return { statusCode: res.statusCode, headers: res.headers as IncomingHttpHeaders, body: res.body, attempts: attempt }
      }
    } catch (err) {
      if (placed) limit.release()
      throw mapTransportError(err, timeoutMs, deadline.aborted)
    } finally {
      deadline.clear()
    }
  }

  /** Waits in line for a place; SYS_004 when the deadline passes first, and the line is left when the client goes. */
  async function waitForPlace (limit: InflightLimit, req: ForwardRequest, deadline: RequestDeadline): Promise<void> {
    const queuedAt = performance.now()
    try {
      await limit.acquire(abort => {
        const onDeadline = (): void => abort(new GatewayError('SYS_004',
          `${limit.max} calls to ION ${SYSTEMS[req.system]} are in progress (UPSTREAM_MAX_INFLIGHT) and none ended within the request's ${timeoutMs} ms`,
          { retryAfterS: 1 }))
        if (deadline.aborted) {
          onDeadline()
          return () => {}
        }
        deadline.once('abort', onDeadline)
        const stopWatchingClient = req.onClientGone?.(() => abort(new GatewayError('SYS_004', 'The client went away while its call to ION waited')))
        return () => {
          deadline.off('abort', onDeadline)
          stopWatchingClient?.()
        }
      })
    } finally {
      observer?.queueWait?.(req.system, (performance.now() - queuedAt) / 1000)
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
    load (system) {
      const limit = limits.get(system) as InflightLimit
      return { inflight: limit.active, queued: limit.queued }
    },
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
