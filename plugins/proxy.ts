import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../src/errors.ts'
import { CallBudget, RedisCallBudgetStore } from '../src/proxy/call-budget.ts'
import { clientGone } from '../src/proxy/client-gone.ts'
import { createGateway, type ClientRequest, type Gateway, type GatewayAnswer } from '../src/proxy/gateway.ts'
import { handedOver } from '../src/proxy/hand-over.ts'
import { mergeVary } from '../src/proxy/headers.ts'
import { requestBaseUrl } from '../src/proxy/links.ts'
import { SYSTEMS, SYSTEM_IDS, type SystemId } from '../src/proxy/systems.ts'
import { createUpstream } from '../src/proxy/upstream.ts'
import m3Typed from './m3-typed.ts'

const PROXIED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

/** One encapsulated pass-through registration per system: `ANY /{system}/*` → `{iu}/{ti}/{SYSTEM}/*`. */
async function systemRoutes (app: FastifyInstance, opts: { system: SystemId, gateway: Gateway, publicUrl: string | undefined }): Promise<void> {
  const { system, gateway, publicUrl } = opts
  // M3 answers carry no links to ION; LN's and IDM's are rewritten to the URL this client reached the gateway by.
  const publicBaseUrl = system === 'm3'
    ? () => undefined
    : (request: FastifyRequest) => publicUrl ?? requestBaseUrl(request.protocol, request.host)

  // Pass-through bodies are forwarded as received, never parsed.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null, undefined) })

  app.route({
    method: [...PROXIED_METHODS],
    url: '/*',
    exposeHeadRoute: false,
    schema: {
      tags: [system],
      summary: `Pass-through to ION ${SYSTEMS[system]}`,
      description: `Forwards any path below /${system}/ to {iu}/{ti}/${SYSTEMS[system]}/ with the gateway's ION token. ` +
        'ION\'s status, headers (minus hop-by-hop, Set-Cookie, CORS and security headers, which the gateway sets itself) and body are relayed unchanged. ' +
        'Swagger UI percent-encodes the slashes of `{*}`, which the gateway refuses (API_003): from Swagger UI, use the path templates above.',
      hide: false,
    },
    handler: (request, reply) => {
      // The read lane already called ION for a request it handed over (src/proxy/hand-over.ts).
      const outcome = handedOver(request.raw)?.outcome
      if (outcome) {
        request.upstreamTrace = outcome.trace
        if ('error' in outcome) throw outcome.error
        return sendAnswer(reply, outcome.answer)
      }
      const clientRequest: ClientRequest = {
        method: request.method,
        url: request.raw.url ?? '',
        headers: request.headers,
        bodySource: request.raw,
        requestId: request.id,
        clientIp: request.ip,
        publicBaseUrl: publicBaseUrl(request),
        trace: (request.upstreamTrace = {}),
        onClientGone: clientGone(reply.raw),
        tracer: request.serverSpan ?? undefined,
      }
      // Most requests are fresh hits: answered in this tick, without a promise.
      const fresh = gateway.freshAnswer(system, clientRequest)
      if (fresh) return sendAnswer(reply, fresh)
      return gateway.passThrough(system, clientRequest).then(answer => sendAnswer(reply, answer))
    },
  })

  app.setNotFoundHandler((request, reply) => {
    if ((PROXIED_METHODS as readonly string[]).includes(request.method)) {
      throw new GatewayError('API_003', `No route for ${request.method} /${system} (use /${system}/…)`, { statusCode: 404 })
    }
    // TRACE would echo the injected bearer back; WebDAV and other methods have no business at ION.
    reply.header('allow', PROXIED_METHODS.join(', '))
    throw new GatewayError('API_003', `Method ${request.method} is not allowed`, { statusCode: 405 })
  })
}

function sendAnswer (reply: FastifyReply, answer: GatewayAnswer): FastifyReply {
  const ownVary = reply.getHeader('vary')
  reply.code(answer.statusCode).headers(answer.headers)
  if (ownVary !== undefined && answer.headers.vary !== undefined) reply.header('vary', mergeVary(ownVary, answer.headers.vary))
  if (answer.cacheStatus) reply.header('x-cache', answer.cacheStatus)
  if (answer.ageS !== undefined) reply.header('age', String(answer.ageS))
  return reply.send(answer.body)
}

/** The proxy: owns the undici pools (closed with the app), builds the gateway and registers its routes. */
async function proxy (app: FastifyInstance): Promise<void> {
  const { config, gatewayMetrics: metrics } = app
  const budget = new CallBudget({
    ...(app.redis ? { store: new RedisCallBudgetStore(app.redis, app.redisNamespace) } : {}),
    now: app.callBudgetClock ?? Date.now,
    callsPerMinute: config.upstream.ionCallsPerMinute,
    // Redis' own command timeout is 500 ms; a request waits less than that for it here.
    storeTimeoutMs: 250,
    log: app.log.child({ component: 'ion-call-budget' }),
    onHeld: system => metrics.ionHolds.inc({ system }),
  })
  const upstream = createUpstream({
    origin: new URL(config.ion.apiBaseUrl).origin,
    connections: config.upstream.connections,
    timeoutMs: config.upstream.timeoutMs,
    retries: config.upstream.retries,
    tokens: app.ionTokens,
    egress: config.ion.egress,
    maxInflight: config.upstream.maxInflight,
    budget,
    observer: {
      response: (system, status, seconds) => metrics.upstreamDuration.series([system, status]).observe(seconds),
      retry: system => metrics.upstreamRetries.inc({ system }),
      queueWait: (system, seconds) => metrics.upstreamQueueWait.observe({ system }, seconds),
    },
  })
  metrics.sources.upstreamLoad = system => upstream.load(system)
  metrics.sources.callBudgetUsedRatio = () => budget.usedRatio()
  app.addHook('onClose', () => upstream.close())
  const gateway = createGateway({
    apiBaseUrl: config.ion.apiBaseUrl,
    upstream,
    cache: app.responseCache,
    cacheTtlS: config.cache.ttlS,
    timeoutMs: config.upstream.timeoutMs,
    m3ReadTransactions: config.m3ReadTransactions,
    maxUploadBytes: config.requestLimits.maxUploadBytes,
    cacheIgnoreParams: config.cache.ignoreParams,
  })

  // The read lane answers M3 reads with it (plugins/read-lane.ts).
  app.decorate('gateway', gateway)
  await app.register(m3Typed, { prefix: '/m3', gateway })
  for (const system of SYSTEM_IDS) {
    await app.register(systemRoutes, { prefix: `/${system}`, system, gateway, publicUrl: config.publicUrl })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    gateway: Gateway
  }
}

export default fp(proxy, { fastify: '5.x', name: 'proxy', dependencies: ['ion-auth', 'cache'] })
