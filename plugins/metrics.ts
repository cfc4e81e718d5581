import fp from 'fastify-plugin'
import fastifyMetricsModule from 'fastify-metrics'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { elapsedMs } from '../src/proxy/hand-over.ts'
import { routeOptionsOf } from '../src/route-options.ts'
import { Type } from '../src/typebox.ts'

// fastify-metrics is CommonJS compiled from ESM: from native ESM its plugin is the `default` export's `default`.
const fastifyMetrics = fastifyMetricsModule.default

/**
 * Prometheus metrics on the app's private registry: default process metrics (fastify-metrics, standard names), the
 * request histogram ion_gateway_http_request_duration_seconds{method,route,status_code} by route template, and the
 * gateway's own metrics (src/metrics.ts).
 */
async function metrics (app: FastifyInstance): Promise<void> {
  const { registry, activeConnections, httpDuration, sources } = app.gatewayMetrics
  const { redis, redisMode } = app
  if (redis && redisMode) sources.redis = () => ({ mode: redisMode, ready: redis.status === 'ready' })
  await app.register(fastifyMetrics, {
    // Served below from the private registry only (fastify-metrics' endpoint would merge the global one).
    endpoint: null,
    defaultMetrics: { enabled: true, register: registry },
    // Its route metrics keep a WeakMap entry and an hrtime timer per request and build labels twice; Fastify already
    // times every request (reply.elapsedTime), so one onResponse hook observes it (docs/design.md).
    routeMetrics: { enabled: false },
  })

  app.addHook('onResponse', function observeDuration (request, reply, done) {
    const route = routeOptionsOf(request)
    if (route.config.disableMetrics !== true) {
      // Unmatched requests share one label, so random URLs cannot grow the series.
      httpDuration.series([request.method, route.url ?? 'unmatched', reply.statusCode]).observe(elapsedMs(request.raw, reply.elapsedTime) / 1000)
    }
    done()
  })

  app.server.on('connection', socket => {
    activeConnections.inc()
    socket.once('close', () => activeConnections.dec())
  })

  app.withTypeProvider<TypeBoxTypeProvider>().get('/metrics', {
    logLevel: 'warn',
    config: { public: true, disableMetrics: true },
    schema: {
      operationId: 'getMetrics',
      tags: ['health'],
      summary: 'Prometheus metrics',
      description: 'Prometheus text exposition of this instance\'s metrics. Labels are bounded (route templates, systems).',
      produces: ['text/plain'],
      response: { 200: Type.String({ description: 'Prometheus text format 0.0.4' }) },
    },
  }, async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}

export default fp(metrics, { fastify: '5.x', name: 'metrics' })
