import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../src/errors.ts'
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { cacheKey, KEYED_HEADERS, keyedHeaderValue } from '../src/cache/keys.ts'
import type { CacheStatus } from '../src/cache/manager.ts'
import type { UpstreamTrace } from '../src/request-log.ts'
import { requestDirectives } from '../src/cache/policy.ts'
import { isM3Read, parseM3Call } from '../src/ion/m3.ts'
import { clientResponseHeaders, mergeVary, type LocationRewrite } from '../src/proxy/headers.ts'
import { guardPath, type GuardedTarget } from '../src/proxy/path-guard.ts'
import { createMemo } from '../src/proxy/memo.ts'
import { forwardableBody } from '../src/proxy/request-body.ts'
import { bufferSmallBody } from '../src/proxy/response-body.ts'
import { mapTransportError } from '../src/proxy/transport-errors.ts'
import { SYSTEMS, SYSTEM_IDS, type SystemId } from '../src/proxy/systems.ts'
import { createUpstream, type Upstream } from '../src/proxy/upstream.ts'
import m3Typed from './m3-typed.ts'

const PROXIED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export interface SystemTarget {
  system: SystemId
  /** `/m3` */
  routePrefix: string
  /** Origin-relative ION path of the system: `/ACME_TST/M3` */
  upstreamPrefix: string
  rewrite: LocationRewrite
  /** guardPath below this system's prefix, remembered per raw URL (refusals are thrown, never remembered). */
  guard (rawUrl: string): Readonly<GuardedTarget>
  /**
   * Whether a call may be retried and cached, and its metric endpoint candidate; remembered per method and path.
   * `path` is the path below the system prefix exactly as sent to ION.
   */
  facts (method: string, path: string): Readonly<CallFacts>
  /** The response cache key of a read, remembered per path (as sent to ION), query and keyed headers. */
  cacheKey (path: string, rawQuery: string, headers: IncomingHttpHeaders): string
}

export interface CallFacts {
  retryable: boolean
  endpointCandidate: string
}

// Inputs are joined with NUL, which none of them can hold: guarded paths refuse control characters, and Node's
// HTTP parser refuses a raw NUL in a request target or a header value.
const SEP = '\u0000'

export function systemTarget (app: FastifyInstance, system: SystemId): SystemTarget {
  const base = new URL(app.config.ion.apiBaseUrl)
  const upstreamPrefix = `${base.pathname.replace(/\/+$/, '')}/${SYSTEMS[system]}`
  const routePrefix = `/${system}`
  const guards = createMemo<GuardedTarget>()
  const facts = createMemo<CallFacts>()
  const keys = createMemo<{ key: string }>()
  return {
    system,
    routePrefix,
    upstreamPrefix,
    rewrite: { upstreamBases: [base.origin + upstreamPrefix, upstreamPrefix], routePrefix },
    guard: rawUrl => guards(rawUrl, () => guardPath(rawUrl, routePrefix, upstreamPrefix)),
    facts: (method, path) => facts(method + SEP + path, () => ({
      retryable: isIdempotentRead(app, system, method, path),
      endpointCandidate: endpointCandidate(system, path),
    })),
    cacheKey (path, rawQuery, headers) {
      let input = path + SEP + rawQuery
      for (const name of KEYED_HEADERS) input += SEP + keyedHeaderValue(headers[name])
      return keys(input, () => ({ key: cacheKey({ system, path, rawQuery, headers }) })).key
    },
  }
}

/** Whether a request may be retried (and cached): safe methods, and for M3 only positively known reads. */
export function isIdempotentRead (app: FastifyInstance, system: SystemId, method: string, path: string): boolean {
  if (system === 'm3') return isM3Read(method, path, app.config.m3ReadTransactions)
  return SAFE_METHODS.has(method)
}

/** One encapsulated pass-through registration per system: `ANY /{system}/*` → `{iu}/{ti}/{SYSTEM}/*`. */
async function systemRoutes (app: FastifyInstance, opts: { system: SystemId }): Promise<void> {
  const target = systemTarget(app, opts.system)

  // Pass-through bodies are forwarded as received, never parsed.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null, undefined) })

  app.route({
    method: [...PROXIED_METHODS],
    url: '/*',
    exposeHeadRoute: false,
    schema: {
      tags: [opts.system],
      summary: `Pass-through to ION ${SYSTEMS[opts.system]}`,
      description: `Forwards any path below /${opts.system}/ to {iu}/{ti}/${SYSTEMS[opts.system]}/ with the gateway's ION token. ` +
        'ION\'s status, headers (minus hop-by-hop, Set-Cookie, CORS and security headers, which the gateway sets itself) and body are relayed unchanged.',
      hide: false,
    },
    handler: (request, reply) => passThrough(app, target, request, reply),
  })

  app.setNotFoundHandler((request, reply) => {
    if ((PROXIED_METHODS as readonly string[]).includes(request.method)) {
      throw new GatewayError('API_003', `No route for ${request.method} ${target.routePrefix} (use ${target.routePrefix}/…)`, { statusCode: 404 })
    }
    // TRACE would echo the injected bearer back; WebDAV and other methods have no business at ION.
    reply.header('allow', PROXIED_METHODS.join(', '))
    throw new GatewayError('API_003', `Method ${request.method} is not allowed`, { statusCode: 405 })
  })
}

export interface UpstreamCall {
  target: SystemTarget
  method: string
  /** The guarded ION path (`target.upstreamPrefix` + the path below it, as the client encoded it) and the raw query. */
  upstreamPath: string
  rawQuery: string
  headers: IncomingHttpHeaders
  body: Buffer | Readable | undefined
  requestId: string
  clientIp: string
  /** Filled with what happened upstream, for the request log line. */
  trace?: UpstreamTrace
}

export interface UpstreamAnswer {
  statusCode: number
  headers: Record<string, string | string[]>
  body: Buffer | Readable
  cacheStatus: CacheStatus | undefined
  ageS?: number
}

/**
 * Sends a guarded request to ION, through the response cache when the request is a cacheable read
 * (GET/HEAD without a body, and for M3 a read transaction). Used by the pass-through and the typed routes.
 */
export async function callUpstream (app: FastifyInstance, call: UpstreamCall): Promise<UpstreamAnswer> {
  const { target } = call
  // Classified and keyed on the path exactly as ION receives it: a decoded form could merge two paths ION tells apart.
  const path = call.upstreamPath.slice(target.upstreamPrefix.length)
  const { retryable, endpointCandidate: candidate } = target.facts(call.method, path)
  if (call.trace) call.trace.system = target.system
  const forward = async () => {
    const res = await app.upstream.forward({
      system: target.system,
      method: call.method,
      path: call.rawQuery ? `${call.upstreamPath}?${call.rawQuery}` : call.upstreamPath,
      headers: call.headers,
      body: call.body,
      requestId: call.requestId,
      clientIp: call.clientIp,
      retryable,
    })
    if (call.trace) {
      call.trace.statusCode = res.statusCode
      call.trace.attempts = res.attempts
    }
    return res
  }
  const cache = app.responseCache
  // `Content-Length: 0` is no body: such a GET is the same read as one without the header.
  const hasBody = call.body !== undefined && !(Buffer.isBuffer(call.body) && call.body.length === 0)
  if (!cache || !retryable || (call.method !== 'GET' && call.method !== 'HEAD') || hasBody) {
    const res = await forward()
    const body = call.method === 'HEAD'
      ? res.body
      : await bufferSmallBody(res.headers, res.body).catch((err: unknown) => { throw mapTransportError(err, app.config.upstream.timeoutMs, false) })
    return { statusCode: res.statusCode, headers: clientResponseHeaders(res.headers, target.rewrite), body, cacheStatus: cache ? 'BYPASS' : undefined }
  }
  const directives = requestDirectives(call.headers)
  const answer = await cache.fetch({
    key: target.cacheKey(path, call.rawQuery, call.headers),
    system: target.system,
    endpoint: knownEndpoints.has(candidate) ? candidate : target.system,
    ttlS: app.config.cache.ttlS[target.system],
    lookup: directives.lookup,
    store: directives.store,
    headOnly: call.method === 'HEAD',
    onStored: () => rememberEndpoint(candidate),
    fetchOrigin: async () => {
      const res = await forward()
      return {
        statusCode: res.statusCode,
        upstreamHeaders: res.headers,
        clientHeaders: clientResponseHeaders(res.headers, target.rewrite),
        body: res.body,
        discard: () => { res.body.dump().catch(() => {}) },
      }
    },
  })
  return answer
}

// Metric labels stay bounded: an M3 transaction gets its own label only once one of its answers was stored.
const KNOWN_ENDPOINTS_MAX = 500
const knownEndpoints = new Set<string>()
function rememberEndpoint (label: string): void {
  if (knownEndpoints.size < KNOWN_ENDPOINTS_MAX) knownEndpoints.add(label)
}
function endpointCandidate (system: SystemId, path: string): string {
  if (system !== 'm3') return system
  const call = parseM3Call(path)
  return call ? `m3:${call.program}/${call.transaction}` : system
}

async function passThrough (app: FastifyInstance, target: SystemTarget, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const guarded = target.guard(request.raw.url ?? '')
  const answer = await callUpstream(app, {
    target,
    method: request.method,
    upstreamPath: guarded.upstreamPath,
    rawQuery: guarded.rawQuery,
    headers: request.headers,
    body: await forwardableBody(request.raw, { maxBytes: app.config.requestLimits.maxUploadBytes }),
    requestId: request.id,
    clientIp: request.ip,
    trace: (request.upstreamTrace = {}),
  })
  const ownVary = reply.getHeader('vary')
  reply.code(answer.statusCode).headers(answer.headers)
  if (ownVary !== undefined && answer.headers.vary !== undefined) reply.header('vary', mergeVary(ownVary, answer.headers.vary))
  if (answer.cacheStatus) reply.header('x-cache', answer.cacheStatus)
  if (answer.ageS !== undefined) reply.header('age', String(answer.ageS))
  return reply.send(answer.body)
}

/** The proxy: owns the undici pools (closed with the app) and registers one route set per system. */
async function proxy (app: FastifyInstance): Promise<void> {
  const metrics = app.gatewayMetrics
  const upstream = createUpstream({
    origin: new URL(app.config.ion.apiBaseUrl).origin,
    connections: app.config.upstream.connections,
    timeoutMs: app.config.upstream.timeoutMs,
    retries: app.config.upstream.retries,
    tokens: app.ionTokens,
    observer: {
      response: (system, status, seconds) => metrics.upstreamDuration.observe({ system, status_code: status }, seconds),
      retry: system => metrics.upstreamRetries.inc({ system }),
    },
  })
  app.decorate('upstream', upstream)
  app.addHook('onClose', () => upstream.close())

  await app.register(m3Typed, { prefix: '/m3' })
  for (const system of SYSTEM_IDS) {
    await app.register(systemRoutes, { prefix: `/${system}`, system })
  }
}

export default fp(proxy, { fastify: '5.x', name: 'proxy', dependencies: ['ion-auth', 'cache'] })

declare module 'fastify' {
  interface FastifyInstance {
    upstream: Upstream
  }
}
