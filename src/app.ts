import Fastify, { type FastifyHttpOptions, type FastifyInstance } from 'fastify'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type {} from '@fastify/swagger' // route schema `tags`, `summary`… types
import type { Config } from './config.ts'
import { bufferedLogDestination } from './log-destination.ts'
import { loggerOptions } from './logger.ts'
import { GatewayError } from './errors.ts'
import { httpServerOptions } from './edge/request-limits.ts'
import { createGatewayMetrics, type GatewayMetrics } from './metrics.ts'
import { calledIon, handedOver } from './proxy/hand-over.ts'
import type { ReadLane } from './proxy/read-lane.ts'
import { requestIdFor } from './request-id.ts'
import { RequestLogController } from './request-log.ts'
import cache from '../plugins/cache.ts'
import clientAuth from '../plugins/client-auth.ts'
import docs from '../plugins/docs.ts'
import errorHandler, { clientErrorHandler, frameworkErrorHandler } from '../plugins/error-handler.ts'
import health from '../plugins/health.ts'
import readLane from '../plugins/read-lane.ts'
import ionAuth from '../plugins/ion-auth.ts'
import loadShedding from '../plugins/load-shedding.ts'
import metrics from '../plugins/metrics.ts'
import proxy from '../plugins/proxy.ts'
import rateLimit from '../plugins/rate-limit.ts'
import redis from '../plugins/redis.ts'
import requestLimits from '../plugins/request-limits.ts'
import security from '../plugins/security.ts'
import tracing from '../plugins/tracing.ts'

export interface BuildOptions {
  /** Where log lines go, each written at once (tests capture them). Absent: `logDestination`, buffered. */
  logStream?: { write (line: string): unknown }
  /** The file descriptor or path log lines are buffered to (src/log-destination.ts) when no `logStream` is given; stdout by default. */
  logDestination?: number | string
  /** Turn logging off entirely (benchmarks). */
  logger?: false
  /** The clock of ION holds and ION_CALLS_PER_MIN (tests move it); Date.now when absent. */
  callBudgetClock?: () => number
  /** false: every request goes through the pipeline, M3 reads too (tests compare the two). */
  readLane?: false | { onLane: (lane: ReadLane) => void }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void
type Lane = (req: IncomingMessage, res: ServerResponse, next: Handler) => void

/**
 * Assembles the gateway. Never listens: server.ts does, and tests inject or listen on port 0.
 * The registration order below is the request pipeline order.
 */
export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const buffered = options.logger === false || options.logStream ? undefined : bufferedLogDestination({ dest: options.logDestination ?? 1 })
  // Set once the app is ready (plugins/read-lane.ts): M3 reads are answered before Fastify's handler.
  let lane: Lane | undefined
  const fastifyOptions: FastifyHttpOptions<Server> = {
    // Node's parser bound, header and request timeouts (REQUEST_BODY_TIMEOUT_MS is Fastify's requestTimeout too:
    // Fastify sets it on the server after creating it).
    http: httpServerOptions(config.requestLimits),
    requestTimeout: config.requestLimits.requestBodyTimeoutMs,
    // What Node's HTTP server and Fastify's router refuse before any hook runs is answered with the envelope too.
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    logger: options.logger === false ? false : loggerOptions({ level: config.logLevel, stream: options.logStream ?? buffered?.stream }),
    // A request the read lane handed over keeps the id it already sent to ION.
    genReqId: req => handedOver(req)?.requestId ?? requestIdFor(req),
    logController: new RequestLogController(),
    trustProxy: config.trustProxy,
    // Pass-through bodies are streamed, not parsed; this bounds only the bodies the gateway itself parses.
    bodyLimit: 1048576,
    // Requests arriving while the app closes get the SYS_004 envelope (hook below) instead of Fastify's own 503.
    return503OnClosing: false,
  }
  const app = Fastify(fastifyOptions).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('config', config)
  app.decorate('callBudgetClock', options.callBudgetClock)
  app.decorate('gatewayMetrics', createGatewayMetrics())
  // Set by server.ts on SIGTERM: readiness turns 503 while in-flight requests finish.
  app.decorate('lifecycle', { draining: false, closing: false })
  app.addHook('preClose', async () => { app.lifecycle.closing = true })
  // The lines still waiting in the log buffer are written when the app closes (later ones: at exit, by pino).
  if (buffered) app.addHook('onClose', (_app, done) => { buffered.close(); done() })
  // While closing, every answer ends its keep-alive connection, so the server can finish closing once in-flight
  // requests are done (Fastify only closes the connections that are idle when close starts).
  app.addHook('onSend', function closingConnection (_request, reply, payload, done) {
    if (app.lifecycle.closing) reply.header('connection', 'close')
    done(null, payload)
  })
  app.addHook('onRequest', function closingRefusal (request, reply, done) {
    // A request the read lane handed over with ION's answer arrived before closing began.
    if (!app.lifecycle.closing || calledIon(request.raw)) return done()
    reply.header('connection', 'close')
    done(new GatewayError('SYS_004', 'The gateway is shutting down', { retryAfterS: 1 }))
  })
  app.decorateRequest('upstreamTrace', null)
  app.decorateRequest('routeOptionsRead', null)

  // 1. error envelope and request id
  await app.register(errorHandler)
  //    OpenTelemetry: a SERVER span per request from here on, refusals included (when an OTLP endpoint is set)
  await app.register(tracing)
  // 2. shared infrastructure: the Redis client (when REDIS_URL is set), used by limits, tokens and cache
  await app.register(redis)
  // 3. security headers, CORS (preflights answered here), compression; load shedding past the event-loop limit
  await app.register(security)
  //    what a client may send (header count and size, URL, declared body size), refused with the headers above
  //    (a browser can read the refusal)
  await app.register(requestLimits)
  await app.register(loadShedding)
  // 4. client identity (x-api-key), then the rate limit keyed on it
  await app.register(clientAuth)
  await app.register(rateLimit)
  // 5. metrics and the OpenAPI collector first (they watch every route registered after them), then
  //    health, metrics, docs routes: public, exempt from client auth and rate limits
  await app.register(docs)
  await app.register(metrics)
  await app.register(health)
  // 6. ION token manager
  await app.register(ionAuth)
  // 7. response cache (and its admin purge route)
  await app.register(cache)
  // 8. proxy routes: /m3/mi typed route, then one encapsulated pass-through per system
  await app.register(proxy)
  // 9. the read lane: GET reads of M3 answered in front of all of the above, taking every step they take for them
  //    (src/proxy/read-lane.ts); anything else goes through them
  if (options.readLane !== false) {
    await app.register(readLane, { install: serve => { lane = serve }, ...(options.readLane ? { onLane: options.readLane.onLane } : {}) })
    // In front of the handler Fastify gave its server (not through serverFactory, with which Fastify would bind only
    // one address for a host like localhost). Servers Fastify adds for more addresses get the pipeline alone.
    const [handler] = app.server.listeners('request') as Handler[]
    if (handler === undefined || app.server.listenerCount('request') !== 1) throw new Error('the read lane expects one request listener on the server')
    app.server.removeListener('request', handler)
    app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (lane === undefined) handler(req, res)
      else lane(req, res, handler)
    })
  }

  return app
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    callBudgetClock: (() => number) | undefined
    gatewayMetrics: GatewayMetrics
    lifecycle: { draining: boolean, closing: boolean }
  }
}
