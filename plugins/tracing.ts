import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { routeOptionsOf } from '../src/route-options.ts'
import { isGatewayError } from '../src/errors.ts'
import { packageVersion } from '../src/openapi/version.ts'
import { createTracing, type ServerSpan, type Tracing } from '../src/telemetry/tracing.ts'

/**
 * OpenTelemetry traces (on when an OTLP endpoint is configured): a SERVER span per request, kept on the request for
 * the proxy to parent its ION calls to, exported in batches and flushed when the app closes. Off, it only declares
 * the request field: no hook runs.
 */
async function tracing (app: FastifyInstance): Promise<void> {
  app.decorateRequest('serverSpan', null)
  const config = app.config.tracing
  if (!config) return

  const log = app.log.child({ component: 'tracing' })
  const tracer = createTracing(config, {
    ionOrigin: new URL(app.config.ion.apiBaseUrl).origin,
    serviceVersion: packageVersion(),
    onExportFailing: reason => log.warn({ reason }, 'trace export to the OTLP endpoint failing: spans are dropped'),
    onExportRecovered: () => log.info('trace export to the OTLP endpoint recovered'),
  })
  app.decorate('tracing', tracer)
  app.log.info({ serviceName: config.serviceName, sampler: config.sampler }, 'OpenTelemetry tracing on (OTLP/HTTP)')

  app.addHook('onRequest', (request, _reply, done) => {
    request.serverSpan = tracer.startServerSpan({
      method: request.method,
      route: routeOptionsOf(request).url,
      url: request.url,
      headers: request.headers,
      requestId: request.id,
    })
    done()
  })
  app.addHook('onError', (request, _reply, error, done) => {
    request.serverSpan?.error(isGatewayError(error) ? error.code : error.name)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    endSpan(request, reply, false)
    done()
  })
  app.addHook('onRequestAbort', (request, done) => {
    // Nothing finishes the reply of a client that went away mid-answer: its span ends here.
    endSpan(request, undefined, true)
    done()
  })
  app.addHook('onClose', async () => { await tracer.shutdown() })
}

function endSpan (request: FastifyRequest, reply: FastifyReply | undefined, aborted: boolean): void {
  const span = request.serverSpan
  if (!span) return
  const cache = reply?.getHeader('x-cache')
  const client = request.client
  span.end({
    statusCode: reply?.statusCode,
    system: request.upstreamTrace?.system,
    cache: typeof cache === 'string' ? cache : undefined,
    clientId: client?.authenticated ? client.id : undefined,
    aborted,
  })
}

export default fp(tracing, { fastify: '5.x', name: 'tracing' })

declare module 'fastify' {
  interface FastifyInstance {
    /** Present when tracing is on. */
    tracing?: Tracing
  }
  interface FastifyRequest {
    /** The request's SERVER span when tracing is on, else null. */
    serverSpan: ServerSpan | null
  }
}
