import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { pipeline, type Readable } from 'node:stream'
import { readUpTo } from '../bounded-read.ts'
import type { CacheStatus, ResponseCache } from '../cache/manager.ts'
import { keyedHeadersInput } from '../cache/keys.ts'
import { requestDirectives } from '../cache/policy.ts'
import { GatewayError } from '../errors.ts'
import { isStorableM3Answer, m3ExecutePath, m3TypedRecords, readM3Answer, type M3Answer, type M3Record } from '../ion/m3.ts'
import type { UpstreamTrace } from '../request-log.ts'
import type { IonCallTracer } from '../telemetry/spans.ts'
import { clientResponseHeaders } from './headers.ts'
import { createReplaceStream, gatewayLinkReplacements, gatewayLocation, isJsonMediaType, locationBases, replaceAll } from './links.ts'
import { forwardableBody, hasRequestBody } from './request-body.ts'
import { bufferSmallBody } from './response-body.ts'
import { createApiLabeler } from './api-labels.ts'
import { createMemo, type Memo } from './memo.ts'
import { SYSTEM_IDS, type SystemId } from './systems.ts'
import { createSystemTarget, type SystemTarget } from './target.ts'
import { mapTransportError } from './transport-errors.ts'
import type { Upstream } from './upstream.ts'

/** The typed route reads ION's whole answer to flatten it; past this it refuses (the pass-through streams). */
const M3_ANSWER_LIMIT_BYTES = 32 * 1024 * 1024

export interface GatewayOptions {
  /** ION's API base, `{iu}/{ti}` of the .ionapi file. */
  apiBaseUrl: string
  upstream: Upstream
  /** The response cache; null when CACHE_DRIVER is none. */
  cache: ResponseCache | null
  /** CACHE_TTL_<SYSTEM> */
  cacheTtlS: Record<SystemId, number>
  /** UPSTREAM_TIMEOUT_MS: the deadline named in timeout errors. */
  timeoutMs: number
  /** M3_READ_TRANSACTIONS */
  m3ReadTransactions: RegExp
  /** MAX_UPLOAD_BYTES */
  maxUploadBytes: number
  /** CACHE_IGNORE_PARAMS: query parameters left out of cache keys (still sent to ION). */
  cacheIgnoreParams?: readonly string[]
}

/** Systems whose JSON answers carry OData links to ION: rewritten to the gateway (M3's answers are left alone). */
const LINKED_SYSTEMS = new Set<SystemId>(['ln', 'idm'])

/** A client's request to a system's pass-through, as it arrived. */
export interface ClientRequest {
  method: string
  /** The request target exactly as sent: `/m3/m3api-rest/…?…` */
  url: string
  headers: IncomingHttpHeaders
  /** The client's request to read a body from (after the path was accepted); absent: no body. */
  bodySource?: IncomingMessage
  requestId: string
  clientIp: string
  /**
   * The gateway's base URL as this client reaches it (PUBLIC_URL, or built from a validated Host): ION's links in LN
   * and IDM JSON answers are rewritten to it. Absent: links are left as ION sent them.
   */
  publicBaseUrl?: string
  /** Filled with what happened upstream, for the request log line. */
  trace?: UpstreamTrace
  /** See ForwardRequest: a client that leaves while its call waits for a place gives the place up. */
  onClientGone?: (listener: () => void) => () => void
  /** The request's span when tracing is on: the parent of its ION calls. */
  tracer?: IonCallTracer | undefined
}

export interface GatewayAnswer {
  statusCode: number
  headers: Record<string, string | string[]>
  body: Buffer | Readable
  /** Absent when the gateway has no cache. */
  cacheStatus: CacheStatus | undefined
  ageS?: number
}

/** A typed M3 MI call: program and transaction already validated, the input fields as a query string. */
export interface M3ExecuteRequest {
  program: string
  transaction: string
  rawQuery: string
  requestId: string
  clientIp: string
  trace?: UpstreamTrace
  onClientGone?: (listener: () => void) => () => void
  tracer?: IonCallTracer | undefined
}

export interface M3ExecuteAnswer {
  records: M3Record[]
  cacheStatus: CacheStatus | undefined
  ageS?: number
}

export interface Gateway {
  /**
   * The answer to a pass-through request when a fresh cache entry holds it and the cache can say at once (memory),
   * without a promise; undefined otherwise (ask `passThrough`, which answers the same request the same way).
   */
  freshAnswer (system: SystemId, request: ClientRequest): GatewayAnswer | undefined
  /** `ANY /{system}/…` → the same request to ION below the system, ION's answer relayed. */
  passThrough (system: SystemId, request: ClientRequest): Promise<GatewayAnswer>
  /** `GET /m3/mi/{program}/{transaction}` → an MI v2 call, its answer flattened to records (M3 errors are API_004). */
  m3Execute (request: M3ExecuteRequest): Promise<M3ExecuteAnswer>
}

/**
 * A body the gateway changed is no longer the bytes ION's strong ETag names; it still means the same resource state,
 * so the tag becomes weak (`W/`): If-None-Match still matches it, and a client never takes it for a byte-exact copy.
 */
function weakETag (headers: Record<string, string | string[]>): { etag?: string } {
  const etag = headers.etag
  return typeof etag === 'string' && !etag.startsWith('W/') ? { etag: `W/${etag}` } : {}
}

// Inputs of the read-plan memo are joined with NUL, which none of them can hold (Node's HTTP parser refuses it in a
// request target and in header values).
const SEP = '\u0000'

interface ReadPlan {
  /** The cache key; undefined when the request is not a read the cache may answer. */
  key: string | undefined
  api: string
}

/** A request on its way to ION, its path already guarded. */
interface UpstreamCall {
  method: string
  /** `target.upstreamPrefix` + the path below it, as the client encoded it. */
  upstreamPath: string
  rawQuery: string
  headers: IncomingHttpHeaders
  body: Buffer | Readable | undefined
  requestId: string
  clientIp: string
  trace: UpstreamTrace | undefined
  onClientGone: ((listener: () => void) => () => void) | undefined
  tracer: IonCallTracer | undefined
  /** Replaces the system's own say on storing an answer (the typed route reads the body it is shown). */
  storable?: (body: Buffer) => boolean
}

/**
 * The gateway's request path, free of any HTTP framework: guard the path, take the body, classify the call
 * (retryable read? cacheable?), then ask ION directly or through the response cache, and hand back ION's answer
 * with the headers a client may see. Every transport failure, whether before ION's headers or while its body is
 * read, becomes the same coded error (API_002 504 for time, API_001 502 otherwise).
 */
export function createGateway (options: GatewayOptions): Gateway {
  const { upstream, cache, timeoutMs } = options
  const targets = {} as Record<SystemId, SystemTarget>
  const ignoreParams = options.cacheIgnoreParams?.length ? new Set(options.cacheIgnoreParams) : undefined
  for (const system of SYSTEM_IDS) targets[system] = createSystemTarget(system, options.apiBaseUrl, options.m3ReadTransactions, ignoreParams)
  const locations = locationBases(options.apiBaseUrl)
  const apiLabel = createApiLabeler()
  const transportError = (err: unknown): GatewayError => mapTransportError(err, timeoutMs, false)
  const readPlans = {} as Record<SystemId, Memo<ReadPlan>>
  for (const system of SYSTEM_IDS) readPlans[system] = createMemo<ReadPlan>()

  /**
   * What a GET or HEAD of this URL, with these keyed headers, looks up: one remembered answer per request signature
   * instead of the guard's, the facts' and the key's (three lookups, each with its own input to build). Undefined
   * when the path is refused (passThrough then says why).
   */
  function readPlan (target: SystemTarget, method: string, url: string, headers: IncomingHttpHeaders): Readonly<ReadPlan> | undefined {
    try {
      return readPlans[target.system](method + SEP + url + keyedHeadersInput(headers), () => {
        const guarded = target.guard(url)
        const path = guarded.upstreamPath.slice(target.upstreamPrefix.length)
        const { retryable, endpointCandidate } = target.facts(method, path)
        return retryable
          ? { key: target.cacheKey(path, guarded.rawQuery, headers), api: apiLabel(target.system, endpointCandidate) }
          : { key: undefined, api: target.system }
      })
    } catch {
      return undefined
    }
  }

  function freshAnswer (system: SystemId, request: ClientRequest): GatewayAnswer | undefined {
    if (!cache || (request.method !== 'GET' && request.method !== 'HEAD')) return undefined
    if (request.bodySource && hasRequestBody(request.bodySource)) return undefined
    if (!requestDirectives(request.headers).lookup) return undefined
    // The same key and metric label call() uses (a known read, looked up the same way).
    const plan = readPlan(targets[system], request.method, request.url, request.headers)
    if (plan?.key === undefined) return undefined
    const cached = cache.freshAnswer(plan.key, plan.api, request.method === 'HEAD')
    if (!cached) return undefined
    if (request.trace) request.trace.system = system
    return withGatewayLinks(system, cached, request.publicBaseUrl)
  }

  async function passThrough (system: SystemId, request: ClientRequest): Promise<GatewayAnswer> {
    const target = targets[system]
    // Refused here (API_003) when the path could leave the system's prefix: before the body is read.
    const guarded = target.guard(request.url)
    // Most calls are reads without a body: no await for them.
    const body = request.bodySource && hasRequestBody(request.bodySource)
      ? await forwardableBody(request.bodySource, { maxBytes: options.maxUploadBytes })
      : undefined
    const answer = await call(target, {
      method: request.method,
      upstreamPath: guarded.upstreamPath,
      rawQuery: guarded.rawQuery,
      headers: request.headers,
      body,
      requestId: request.requestId,
      clientIp: request.clientIp,
      trace: request.trace,
      onClientGone: request.onClientGone,
      tracer: request.tracer,
    })
    return withGatewayLinks(system, answer, request.publicBaseUrl)
  }

  /**
   * ION's answer with its links leading back through the gateway, made per request after the cache (which holds ION's
   * answer as sent, so a hit served to another host gets that host's links): a `Location` into any ION system, and
   * in LN and IDM JSON bodies every `{iu}/{ti}/{SYSTEM}/…` link, buffered or streamed.
   */
  function withGatewayLinks (system: SystemId, answer: GatewayAnswer, publicBaseUrl: string | undefined): GatewayAnswer {
    let headers = answer.headers
    const location = headers.location
    if (typeof location === 'string') {
      const mapped = gatewayLocation(location, locations)
      if (mapped !== location) headers = { ...headers, location: mapped }
    }
    const encoding = headers['content-encoding']
    if (!publicBaseUrl || !LINKED_SYSTEMS.has(system) || !isJsonMediaType(headers['content-type']) ||
      (encoding !== undefined && encoding !== 'identity')) {
      return headers === answer.headers ? answer : { ...answer, headers }
    }
    const replacements = gatewayLinkReplacements(options.apiBaseUrl, publicBaseUrl)
    if (Buffer.isBuffer(answer.body)) {
      const body = replaceAll(answer.body, replacements)
      if (body !== answer.body) {
        headers = { ...headers, ...weakETag(headers) }
        if (headers['content-length'] !== undefined) headers['content-length'] = String(body.length)
      }
      return { ...answer, headers, body }
    }
    // Streamed: the rewritten length is known only at the end, and whether anything changes too (ETag made weak).
    const { 'content-length': _length, ...unsized } = headers
    const rewriter = createReplaceStream(replacements)
    pipeline(answer.body, rewriter, () => {})
    return { ...answer, headers: { ...unsized, ...weakETag(unsized) }, body: rewriter }
  }

  async function m3Execute (request: M3ExecuteRequest): Promise<M3ExecuteAnswer> {
    const target = targets.m3
    // On a miss the cache asks whether the answer may be stored: the body is parsed then, and not again below.
    let seen: { body: Buffer, answer: M3Answer } | undefined
    const res = await call(target, {
      method: 'GET',
      upstreamPath: target.upstreamPrefix + m3ExecutePath(request.program, request.transaction),
      rawQuery: request.rawQuery,
      headers: { accept: 'application/json' },
      body: undefined,
      requestId: request.requestId,
      clientIp: request.clientIp,
      trace: request.trace,
      onClientGone: request.onClientGone,
      tracer: request.tracer,
      storable: body => {
        seen = { body, answer: readM3Answer(body) }
        return isStorableM3Answer(seen.answer)
      },
    })
    const body = Buffer.isBuffer(res.body) ? res.body : await readWhole(res.body)
    const answer = seen?.body === body ? seen.answer : readM3Answer(body)
    const records = m3TypedRecords(res.statusCode, res.headers['retry-after'], answer)
    return { records, cacheStatus: res.cacheStatus, ageS: res.ageS }
  }

  /** Sends a guarded request to ION, through the response cache when it is a cacheable read. */
  async function call (target: SystemTarget, c: UpstreamCall): Promise<GatewayAnswer> {
    // Classified and keyed on the path exactly as ION receives it: a decoded form could merge two paths ION tells apart.
    const path = c.upstreamPath.slice(target.upstreamPrefix.length)
    const { retryable, endpointCandidate } = target.facts(c.method, path)
    if (c.trace) c.trace.system = target.system
    const forward = async () => {
      const res = await upstream.forward({
        system: target.system,
        method: c.method,
        path: c.rawQuery ? `${c.upstreamPath}?${c.rawQuery}` : c.upstreamPath,
        headers: c.headers,
        body: c.body,
        requestId: c.requestId,
        clientIp: c.clientIp,
        retryable,
        ...(c.onClientGone ? { onClientGone: c.onClientGone } : {}),
        tracer: c.tracer,
      })
      if (c.trace) {
        c.trace.statusCode = res.statusCode
        c.trace.attempts = res.attempts
      }
      return res
    }

    // Cacheable: a retryable (known read) GET or HEAD without a body. `Content-Length: 0` is no body: such a GET is
    // the same read as one without the header.
    const hasBody = c.body !== undefined && !(Buffer.isBuffer(c.body) && c.body.length === 0)
    if (!cache || !retryable || (c.method !== 'GET' && c.method !== 'HEAD') || hasBody) {
      const res = await forward()
      const body = c.method === 'HEAD' ? res.body : await bufferSmallBody(res.headers, res.body).catch((err: unknown) => { throw transportError(err) })
      return { statusCode: res.statusCode, headers: clientResponseHeaders(res.headers, target.rewrite), body, cacheStatus: cache ? 'BYPASS' : undefined }
    }

    const directives = requestDirectives(c.headers)
    return cache.fetch({
      key: target.cacheKey(path, c.rawQuery, c.headers),
      api: apiLabel(target.system, endpointCandidate),
      ttlS: options.cacheTtlS[target.system],
      lookup: directives.lookup,
      store: directives.store,
      headOnly: c.method === 'HEAD',
      storable: c.storable ?? target.storable,
      fetchOrigin: async () => {
        const res = await forward()
        return {
          statusCode: res.statusCode,
          upstreamHeaders: res.headers,
          clientHeaders: clientResponseHeaders(res.headers, target.rewrite),
          body: res.body,
          bodyError: transportError,
          discard: () => { res.body.dump().catch(() => {}) },
        }
      },
    })
  }

  /** An answer the typed route must read whole: bounded, its transport failures coded like every other. */
  async function readWhole (body: Readable): Promise<Buffer> {
    const read = await readUpTo(body, M3_ANSWER_LIMIT_BYTES).catch((err: unknown) => { throw transportError(err) })
    if ('partial' in read) {
      read.partial.destroy()
      throw new GatewayError('API_001', 'ION answer too large for the typed route; use the pass-through route')
    }
    return read.complete
  }

  return { freshAnswer, passThrough, m3Execute }
}
