import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { clientIpOf } from '../src/edge/client-ip.ts'
import { securityHeaders } from '../src/edge/security-headers.ts'
import { handOver } from '../src/proxy/hand-over.ts'
import { createReadLane, LANE_ROUTE, LANE_SYSTEM, type ReadLane } from '../src/proxy/read-lane.ts'
import { requestIdFor } from '../src/request-id.ts'
import { loggedUrl, writeRequestLine } from '../src/request-log.ts'

export interface ReadLaneOptions {
  /** Puts the lane in front of the app's request handler (src/app.ts owns the server). */
  install: (serve: (req: IncomingMessage, res: ServerResponse, next: (req: IncomingMessage, res: ServerResponse) => void) => void) => void
  /** Tests read how many requests the lane answered. */
  onLane?: (lane: ReadLane) => void
}

/**
 * M3 reads answered in front of the router (src/proxy/read-lane.ts), built from the steps the plugins registered
 * before it expose. Off when a concern the lane does not take is on: CORS (its headers depend on the Origin) and
 * tracing (a span per request).
 */
async function readLane (app: FastifyInstance, opts: ReadLaneOptions): Promise<void> {
  const { config } = app
  if (config.corsOrigins.length > 0 || config.tracing) return
  const { httpDuration } = app.gatewayMetrics
  const { identify, keysRequired } = app.clientIdentity
  const { verdictFor, headersOf } = app.rateLimitLane
  const gateway = app.gateway
  const log = app.log
  const lane = createReadLane({
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
    freshAnswer: request => gateway.freshAnswer(LANE_SYSTEM, request),
    passThrough: request => gateway.passThrough(LANE_SYSTEM, request),
    handOver,
    completed: line => {
      const { trace } = line
      const upstreamStatus = trace.statusCode
      httpDuration.series(['GET', LANE_ROUTE, line.statusCode]).observe(line.elapsedMs / 1000)
      writeRequestLine(log, {
        requestId: line.requestId,
        method: 'GET',
        url: loggedUrl(line.url),
        route: LANE_ROUTE,
        statusCode: line.statusCode,
        durationMs: Math.round(line.elapsedMs * 100) / 100,
        clientId: line.clientId,
        system: trace.system || undefined,
        upstreamStatus,
        upstreamAttempts: upstreamStatus === undefined ? undefined : trace.attempts,
        cache: line.cache,
      })
    },
  })
  opts.onLane?.(lane)
  // Only once the app is ready: until then every request goes through the pipeline, which knows it is not ready.
  app.addHook('onReady', async () => { opts.install(lane.serve) })
}

export default fp(readLane, { fastify: '5.x', name: 'read-lane', dependencies: ['client-auth', 'rate-limit', 'load-shedding', 'metrics', 'proxy'] })
