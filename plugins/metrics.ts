import fp from 'fastify-plugin'
import fastifyMetricsModule from 'fastify-metrics'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '../src/typebox.ts'

// fastify-metrics is CommonJS compiled from ESM: from native ESM its plugin is the `default` export's `default`.
const fastifyMetrics = fastifyMetricsModule.default

/**
 * Prometheus metrics on the app's private registry: http_request_duration_seconds{method,route,status_code} by route
 * template (fastify-metrics), default process metrics, and the gateway's own metrics (src/metrics.ts).
 */
async function metrics (app: FastifyInstance): Promise<void> {
  const { registry, activeConnections } = app.gatewayMetrics
  await app.register(fastifyMetrics, {
    // Served below from the private registry only (fastify-metrics' endpoint would merge the global one).
    endpoint: null,
    defaultMetrics: { enabled: true, register: registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      // fastify-metrics' registered-route check misses routes declared with several methods (the pass-through
      // routes), so every request is measured and labelled by its route template; unmatched ones share one label.
      registeredRoutesOnly: false,
      overrides: {
        labels: { status: 'status_code', getRouteLabel: request => request.routeOptions.url ?? 'unmatched' },
        histogram: {
          name: 'http_request_duration_seconds',
          help: 'Duration of HTTP requests in seconds, by route template',
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers: [registry],
        },
        // Disabled, but fastify-metrics still creates it: keep it off the process-wide registry.
        summary: { registers: [registry] },
      },
    },
  })

  app.server.on('connection', socket => {
    activeConnections.inc()
    socket.once('close', () => activeConnections.dec())
  })

  app.withTypeProvider<TypeBoxTypeProvider>().get('/metrics', {
    logLevel: 'warn',
    config: { public: true, disableMetrics: true },
    schema: {
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
