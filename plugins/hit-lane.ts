import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { clientIpOf } from '../src/edge/client-ip.ts'
import { securityHeaders } from '../src/edge/security-headers.ts'
import { createHitLane, LANE_ROUTE, LANE_SYSTEM, type HitLane } from '../src/proxy/hit-lane.ts'
import { requestIdFor } from '../src/request-id.ts'
import { loggedUrl, writeRequestLine } from '../src/request-log.ts'

export interface HitLaneOptions {
  /** Puts the lane in front of the app's request handler (src/app.ts owns the server). */
  install: (serve: (req: IncomingMessage, res: ServerResponse, next: (req: IncomingMessage, res: ServerResponse) => void) => void) => void
  /** Tests read how many requests the lane answered. */
  onLane?: (lane: HitLane) => void
}

/**
 * Fresh M3 cache hits answered in front of the router (src/proxy/hit-lane.ts), built from the steps the plugins
 * registered before it expose. Off when a concern the lane does not take is on: no cache that answers at once
 * (CACHE_DRIVER none or redis), CORS (its headers depend on the Origin) and tracing (a span per request).
 */
async function hitLane (app: FastifyInstance, opts: HitLaneOptions): Promise<void> {
  const { config } = app
  if (app.responseCache === null || app.responseCache.driverName !== 'memory' || config.corsOrigins.length > 0 || config.tracing) return
  const { httpDuration } = app.gatewayMetrics
  const { identify, keysRequired } = app.clientIdentity
  const { verdictFor, headersOf, keep } = app.rateLimitLane
  const gateway = app.gateway
  const log = app.log
  const lane = createHitLane({
    requestId: requestIdFor,
    isClosing: () => app.lifecycle.closing,
    isUnderPressure: () => app.isUnderPressure(),
    securityHeaders: securityHeaders(),
    requestLimits: config.requestLimits,
    clientIp: clientIpOf(config.trustProxy),
    identify,
    keysRequired,
    limitVerdict: verdictFor,
    limitHeaders: headersOf,
    keepVerdict: keep,
    freshAnswer: request => gateway.freshAnswer(LANE_SYSTEM, request),
    completed: line => {
      httpDuration.series(['GET', LANE_ROUTE, line.statusCode]).observe(line.elapsedMs / 1000)
      writeRequestLine(log, {
        requestId: line.requestId,
        method: 'GET',
        url: loggedUrl(line.url),
        route: LANE_ROUTE,
        statusCode: line.statusCode,
        durationMs: Math.round(line.elapsedMs * 100) / 100,
        clientId: line.clientId,
        system: LANE_SYSTEM,
        upstreamStatus: undefined,
        upstreamAttempts: undefined,
        cache: line.cache,
      })
    },
  })
  opts.onLane?.(lane)
  // Only once the app is ready: until then every request goes through the pipeline, which knows it is not ready.
  app.addHook('onReady', async () => { opts.install(lane.serve) })
}

export default fp(hitLane, { fastify: '5.x', name: 'hit-lane', dependencies: ['client-auth', 'rate-limit', 'load-shedding', 'metrics', 'proxy'] })
