import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { RequestLimits } from '../config.ts'
import type { LimitVerdict } from '../edge/client-limits.ts'
import { checkRequestHead, hasBody } from '../edge/request-limits.ts'
import type { ClientRequest, GatewayAnswer } from './gateway.ts'

/** Who is calling, as client auth decides it (plugins/client-auth.ts). */
export interface LaneClient {
  id: string
  authenticated: boolean
}

/** What the lane serves a request with: each part is the same function the plugin of that concern runs. */
export interface HitLaneParts<C extends LaneClient> {
  /** The error handler's first step: the request id (`genReqId`). */
  requestId: (req: IncomingMessage) => string
  /** Set by app.ts while the app closes: every answer then ends its connection. */
  isClosing: () => boolean
  /** Load shedding (@fastify/under-pressure). */
  isUnderPressure: () => boolean
  /** Security headers, lower-case names (plugins/security.ts; the lane runs only without CORS). */
  securityHeaders: Readonly<Record<string, string>>
  /** plugins/request-limits.ts */
  requestLimits: RequestLimits
  /** The caller's address as Fastify's `request.ip` gives it (TRUST_PROXY). */
  clientIp: (req: IncomingMessage) => string
  /** plugins/client-auth.ts: identification (onRequest), and whether a valid key is required (preParsing). */
  identify: (ip: string, headers: IncomingHttpHeaders) => C
  keysRequired: boolean
  /** plugins/rate-limit.ts: counts the request; its verdict's headers. */
  limitVerdict: (client: C) => LimitVerdict | Promise<LimitVerdict>
  limitHeaders: (verdict: LimitVerdict) => readonly [limit: string, remaining: string, reset: string]
  /** Leaves a counted verdict for the rate-limit hook of the request the lane hands over (never counted twice). */
  keepVerdict: (req: IncomingMessage, verdict: LimitVerdict | Promise<LimitVerdict>) => void
  /** The gateway's fresh answer from the cache (src/proxy/gateway.ts `freshAnswer` for M3), undefined if none. */
  freshAnswer: (request: ClientRequest) => GatewayAnswer | undefined
  /** The metrics hook and the request log line (plugins/metrics.ts, src/request-log.ts). */
  completed: (line: LaneLine) => void
}

/** What the metrics hook and the access line of a lane answer need. */
export interface LaneLine {
  requestId: string
  url: string
  statusCode: number
  elapsedMs: number
  clientId: string
  cache: string | undefined
}

/** The route the lane answers for, as the metrics label and log line name it (plugins/proxy.ts registers it). */
export const LANE_ROUTE = '/m3/*'
export const LANE_SYSTEM = 'm3'
type Next = (req: IncomingMessage, res: ServerResponse) => void
const OCTET_STREAM = 'application/octet-stream'

/**
 * The HIT lane: a fresh M3 cache hit answered in front of Fastify's router and hooks, with every step those hooks
 * take for it (request id, security headers, request limits, load shedding, client identity, rate limit, key
 * required, the cache, the reply's headers in Fastify's order, metrics, the access line). A HIT through the full
 * pipeline spends about as much CPU in the framework's machinery (routing, request and reply objects, a child logger
 * per request, twelve hook calls, the onSend chain) as the bare route does in all (bench/README.md); here it is one
 * function.
 *
 * The lane answers only what it answers exactly as the pipeline does, and hands anything else to Fastify untouched:
 * a method other than GET, a path outside `/m3/` or with a percent sign (the router decodes it), the typed route
 * `/m3/mi/`, an Accept-Encoding (compression), a request body, a request past a limit, the app closing or under
 * pressure, a missing or invalid key where one is required, a refused rate limit, and any request the cache cannot
 * answer at once. From the rate limit on, the verdict goes with the request (`keepVerdict`), so a handed-over request
 * is counted once. `test/proxy/hit-lane.test.ts` holds the two side by side, and fails when a hook is added to the
 * pass-through route that the lane does not mirror.
 */
export function createHitLane<C extends LaneClient> (parts: HitLaneParts<C>) {
  const { securityHeaders, requestLimits } = parts
  let served = 0

  function serve (req: IncomingMessage, res: ServerResponse, next: Next): void {
    try {
      take(req, res, next)
    } catch (err) {
      failed(req, res, next, err)
    }
  }

  // A step that throws (a bug: none is meant to) must not take the process down from a server listener: the
  // request goes the pipeline's way, which answers it or reports the error.
  function failed (req: IncomingMessage, res: ServerResponse, next: Next, err: unknown): void {
    if (res.headersSent) res.destroy(err as Error)
    else next(req, res)
  }

  function take (req: IncomingMessage, res: ServerResponse, next: Next): void {
    if (!eligible(req)) return next(req, res)
    const startMs = performance.now()
    const ip = parts.clientIp(req)
    const client = parts.identify(ip, req.headers)
    // Refused by client auth after the rate limit counts it: the pipeline does both.
    if (parts.keysRequired && !client.authenticated) return next(req, res)
    const verdict = parts.limitVerdict(client)
    if (verdict instanceof Promise) {
      verdict.then(v => answer(req, res, next, ip, client, v, startMs), () => handOver(req, res, next, verdict))
        .catch((err: unknown) => failed(req, res, next, err))
    } else {
      answer(req, res, next, ip, client, verdict, startMs)
    }
  }

  function eligible (req: IncomingMessage): boolean {
    if (req.method !== 'GET') return false
    const url = req.url
    if (url === undefined || !url.startsWith('/m3/') || url.startsWith('/m3/mi/')) return false
    const query = url.indexOf('?')
    if (url.lastIndexOf('%', query === -1 ? url.length : query) !== -1) return false
    const headers = req.headers
    if (headers['accept-encoding'] !== undefined || hasBody(headers)) return false
    if (parts.isClosing() || parts.isUnderPressure()) return false
    return checkRequestHead(req, requestLimits) === undefined
  }

  function handOver (req: IncomingMessage, res: ServerResponse, next: Next, verdict: LimitVerdict | Promise<LimitVerdict>): void {
    parts.keepVerdict(req, verdict)
    next(req, res)
  }

  function answer (req: IncomingMessage, res: ServerResponse, next: Next, ip: string, client: C, verdict: LimitVerdict, startMs: number): void {
    if (verdict.refused) return handOver(req, res, next, verdict)
    const requestId = parts.requestId(req)
    const url = req.url as string
    const fresh = parts.freshAnswer({ method: 'GET', url, headers: req.headers, requestId, clientIp: ip })
    // Cached M3 answers are buffers (only LN and IDM bodies are rewritten, and streamed): anything else goes the
    // pipeline's way, which sends streams.
    if (fresh === undefined || !Buffer.isBuffer(fresh.body)) return handOver(req, res, next, verdict)
    const body = fresh.body
    const [limit, remaining, reset] = parts.limitHeaders(verdict)
    // Fastify's reply headers in the order its hooks and the handler set them.
    const headers: Record<string, string | string[]> = { 'x-request-id': requestId }
    for (const name in securityHeaders) headers[name] = securityHeaders[name] as string
    headers['ratelimit-limit'] = limit
    headers['ratelimit-remaining'] = remaining
    headers['ratelimit-reset'] = reset
    const answerHeaders = fresh.headers
    for (const name in answerHeaders) headers[name] = answerHeaders[name] as string | string[]
    if (fresh.cacheStatus) headers['x-cache'] = fresh.cacheStatus
    if (fresh.ageS !== undefined) headers.age = String(fresh.ageS)
    if (headers['content-type'] === undefined) headers['content-type'] = OCTET_STREAM
    if (parts.isClosing()) headers.connection = 'close'
    const status = fresh.statusCode
    if (status < 200 || status === 204) {
      delete headers['content-type']
      delete headers['content-length']
    } else if (headers['content-length'] === undefined || Number(headers['content-length']) !== body.length) {
      headers['content-length'] = String(body.length)
    }
    const done = (): void => {
      res.removeListener('finish', done)
      res.removeListener('error', done)
      parts.completed({ requestId, url, statusCode: status, elapsedMs: performance.now() - startMs, clientId: client.id, cache: fresh.cacheStatus })
    }
    res.on('finish', done)
    res.on('error', done)
    served++
    res.writeHead(status, headers)
    if (status < 200 || status === 204) res.end()
    else res.end(body)
  }

  return {
    serve,
    /** Requests the lane answered itself (tests). */
    served: () => served,
  }
}

export type HitLane = ReturnType<typeof createHitLane>
