import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { RequestLimits } from '../config.ts'
import type { LimitVerdict } from '../edge/client-limits.ts'
import { checkRequestHead, hasBody } from '../edge/request-limits.ts'
import type { UpstreamTrace } from '../request-log.ts'
import { clientGone } from './client-gone.ts'
import type { ClientRequest, GatewayAnswer } from './gateway.ts'
import type { HandedOver } from './hand-over.ts'

/** Who is calling, as client auth decides it (plugins/client-auth.ts). */
export interface LaneClient {
  id: string
  authenticated: boolean
}

/** What the lane serves a request with: each part is the same function the plugin of that concern runs. */
export interface ReadLaneParts<C extends LaneClient> {
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
  /** The route's handler (plugins/proxy.ts): the gateway's fresh answer for M3, else its pass-through. */
  freshAnswer: (request: ClientRequest) => GatewayAnswer | undefined
  passThrough: (request: ClientRequest) => Promise<GatewayAnswer>
  /** Hands a request to Fastify's pipeline with what the lane already did for it (src/proxy/hand-over.ts). */
  handOver: (req: IncomingMessage, what: HandedOver) => void
  /** The metrics hook and the request log line (plugins/metrics.ts, src/request-log.ts). */
  completed: (line: LaneLine) => void
}

/** What the metrics hook and the request line of a lane answer need. */
export interface LaneLine {
  requestId: string
  url: string
  statusCode: number
  elapsedMs: number
  clientId: string
  trace: UpstreamTrace
  cache: string | undefined
}

/** The route the lane answers for, as the metrics label and log line name it (plugins/proxy.ts registers it). */
export const LANE_ROUTE = '/m3/*'
export const LANE_SYSTEM = 'm3'
const OCTET_STREAM = 'application/octet-stream'
// A media type Fastify's reply keeps as it is (it replaces an empty or unparsable one with application/octet-stream).
const PLAIN_MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*;.*)?$/
type Next = (req: IncomingMessage, res: ServerResponse) => void

/**
 * The read lane: GET reads of M3 (`/m3/…`) answered in front of Fastify's router and hooks, taking every step those
 * hooks and the pass-through route take for them (request id, security headers, request limits, load shedding,
 * client identity, rate limit, key required, the gateway's fresh answer or pass-through, the reply's headers in
 * Fastify's order, metrics, the request line). Through the pipeline a cache HIT spends about as much CPU in the
 * framework's machinery (routing, request and reply objects, a child logger per request, twelve hook calls, the
 * onSend chain) as a bare route does in all (bench/README.md); here it is one function.
 *
 * The lane answers only what it answers exactly as the pipeline does, and hands anything else to Fastify: untouched
 * before it counts the request (a method other than GET, a path outside `/m3/` or with a percent sign (the router
 * decodes it), the typed route `/m3/mi/`, an Accept-Encoding (compression), a request body, a request past a limit,
 * the app closing or under pressure, a missing or invalid key where one is required), and with what it already did
 * after (src/proxy/hand-over.ts): a refused rate limit, ION's error (the error handler writes the envelope) or an
 * answer whose body is a stream. A handed-over request is counted once, calls ION once and keeps its request id.
 * `test/proxy/read-lane.test.ts` holds the two side by side, and fails when a hook is added to the pass-through
 * route that the lane does not mirror.
 */
export function createReadLane<C extends LaneClient> (parts: ReadLaneParts<C>) {
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
    try {
      if (res.headersSent) res.destroy(err as Error)
      else next(req, res)
    } catch (error) {
      res.destroy(error as Error)
    }
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
      verdict.then(v => read(req, res, next, ip, client, v, startMs), () => handOver(req, res, next, { verdict, startMs }))
        .catch((err: unknown) => failed(req, res, next, err))
    } else {
      read(req, res, next, ip, client, verdict, startMs)
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

  function handOver (req: IncomingMessage, res: ServerResponse, next: Next, what: HandedOver): void {
    parts.handOver(req, what)
    next(req, res)
  }

  function read (req: IncomingMessage, res: ServerResponse, next: Next, ip: string, client: C, verdict: LimitVerdict, startMs: number): void {
    if (verdict.refused) return handOver(req, res, next, { verdict, startMs })
    const requestId = parts.requestId(req)
    const trace: UpstreamTrace = {}
    const request: ClientRequest = { method: 'GET', url: req.url as string, headers: req.headers, requestId, clientIp: ip, trace, onClientGone: clientGone(res) }
    const fresh = parts.freshAnswer(request)
    if (fresh !== undefined) return send(req, res, next, client, verdict, startMs, request, fresh)
    parts.passThrough(request).then(
      answer => send(req, res, next, client, verdict, startMs, request, answer),
      (error: unknown) => handOver(req, res, next, { verdict, startMs, requestId, outcome: { error, trace } })
    ).catch((err: unknown) => failed(req, res, next, err))
  }

  function send (req: IncomingMessage, res: ServerResponse, next: Next, client: C, verdict: LimitVerdict, startMs: number, request: ClientRequest, answer: GatewayAnswer): void {
    const trace = request.trace as UpstreamTrace
    const body = answer.body
    const pipeline = (): void => handOver(req, res, next, { verdict, startMs, requestId: request.requestId, outcome: { answer, trace } })
    // Streamed answers (large ones) go the pipeline's way, which sends streams. An unread stream holds a place at
    // ION: it is dropped with the response if the pipeline does not send it, at once if the client already left.
    if (!Buffer.isBuffer(body)) {
      if (res.destroyed) body.destroy()
      else res.once('close', () => { if (!body.readableEnded) body.destroy() })
      return pipeline()
    }
    // What Fastify's reply refuses or rewrites is left to it: a status outside 100-599 (SYS_003), a media type it
    // does not parse (application/octet-stream instead).
    const status = answer.statusCode
    const contentType = answer.headers['content-type']
    if (status < 100 || status > 599 || (contentType !== undefined && (typeof contentType !== 'string' || !PLAIN_MEDIA_TYPE.test(contentType)))) return pipeline()
    const [limit, remaining, reset] = parts.limitHeaders(verdict)
    // Fastify's reply headers in the order its hooks and the handler set them.
    const headers: Record<string, string | string[]> = { 'x-request-id': request.requestId }
    for (const name in securityHeaders) headers[name] = securityHeaders[name] as string
    headers['ratelimit-limit'] = limit
    headers['ratelimit-remaining'] = remaining
    headers['ratelimit-reset'] = reset
    const answerHeaders = answer.headers
    for (const name in answerHeaders) headers[name] = answerHeaders[name] as string | string[]
    if (answer.cacheStatus) headers['x-cache'] = answer.cacheStatus
    if (answer.ageS !== undefined) headers.age = String(answer.ageS)
    if (headers['content-type'] === undefined) headers['content-type'] = OCTET_STREAM
    if (parts.isClosing()) headers.connection = 'close'
    const bodyless = status < 200 || status === 204
    if (bodyless) {
      delete headers['content-type']
      delete headers['content-length']
    } else if (headers['content-length'] === undefined || Number(headers['content-length']) !== body.length) {
      headers['content-length'] = String(body.length)
    }
    try {
      res.writeHead(status, headers)
    } catch {
      // A header value Node refuses: the pipeline's reply reports it (nothing was sent yet).
      return pipeline()
    }
    // The request line's cache field is the x-cache the client got (ION may send its own when the cache is off).
    const cache = headers['x-cache']
    const done = (): void => {
      res.removeListener('finish', done)
      res.removeListener('error', done)
      parts.completed({ requestId: request.requestId, url: request.url, statusCode: status, elapsedMs: performance.now() - startMs, clientId: client.id, trace, cache: typeof cache === 'string' ? cache : undefined })
    }
    res.on('finish', done)
    res.on('error', done)
    served++
    if (bodyless) res.end()
    else res.end(body)
  }

  return {
    serve,
    /** Requests the lane answered itself (tests). */
    served: () => served,
  }
}

export type ReadLane = ReturnType<typeof createReadLane>
