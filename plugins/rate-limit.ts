import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { routeOptionsOf } from '../src/route-options.ts'
import { addressIdentity } from '../src/edge/client-ip.ts'
import { decideLimit, refusalMessage, type LimitVerdict } from '../src/edge/client-limits.ts'
import { CallerWindows, LocalCounters, RedisCounters, SharedCounters } from '../src/edge/rate-limit-store.ts'
import { GatewayError } from '../src/errors.ts'
import { handedOver } from '../src/proxy/hand-over.ts'
import type { ClientIdentity } from './client-auth.ts'

/**
 * Per client: RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS, SYS_002 429 past it. Requests without a valid API key are
 * limited by address (src/edge/client-limits.ts says why a throttled address is refused whatever key it presents).
 *
 * One onRequest hook limits every request but the public ones, before any answer can depend on the key: routes,
 * unknown routes and unsupported methods alike. It asks the counters directly, not through @fastify/rate-limit
 * (docs/design.md, "Where the project departs from its stack").
 */
async function gatewayRateLimit (app: FastifyInstance): Promise<void> {
  const { rateLimit: settings } = app.config
  const keysRequired = app.config.clientApiKeysFile !== undefined
  const metrics = app.gatewayMetrics
  let lastWarnMs = 0
  // Counters in Redis (one limit across replicas); when Redis fails, RATE_LIMIT_FAIL_OPEN decides: open falls back
  // to this replica's own counters, closed refuses with SYS_004 503.
  const counters = app.redis
    ? new SharedCounters(new RedisCounters(app.redis, app.redisNamespace.rateLimit), {
      failOpen: settings.failOpen,
      onFailure: err => {
        if (Date.now() - lastWarnMs > 1000) {
          lastWarnMs = Date.now()
          app.log.warn({ code: (err as NodeJS.ErrnoException).code, failOpen: settings.failOpen }, 'rate-limit store unavailable')
        }
      },
    })
    : new LocalCounters()
  const limit = { max: settings.max, windowMs: settings.windowMs }
  const maxHeader = String(settings.max)
  const resetSeconds = (verdict: LimitVerdict): number => Math.max(1, Math.ceil(verdict.state.ttlMs / 1000))
  const headersOf = (verdict: LimitVerdict): readonly [string, string, string] =>
    [maxHeader, verdict.refused ? '0' : String(verdict.state.remaining), String(resetSeconds(verdict))]
  const apply = (reply: FastifyReply, verdict: LimitVerdict): GatewayError | undefined => {
    const [limitValue, remaining, reset] = headersOf(verdict)
    reply.header('ratelimit-limit', limitValue)
    reply.header('ratelimit-remaining', remaining)
    reply.header('ratelimit-reset', reset)
    if (!verdict.refused) return undefined
    metrics.rateLimitExceeded.inc()
    return new GatewayError('SYS_002', refusalMessage(verdict.by, settings.max, settings.windowMs), { retryAfterS: resetSeconds(verdict) })
  }
  const verdictFor = (client: ClientIdentity): LimitVerdict | Promise<LimitVerdict> =>
    decideLimit(keysRequired, client.authenticated, new CallerWindows(counters, limit, client.address, client.id))
  app.decorate('rateLimitLane', { verdictFor, headersOf })

  app.addHook('onRequest', function rateLimit (request, reply, done) {
    // Probes, metrics and docs are never limited.
    if (routeOptionsOf(request).config.public === true) return done()
    const { client } = request
    const address = client?.address ?? addressKey(request.ip)
    // A request the read lane handed over was counted there.
    const verdict = handedOver(request.raw)?.verdict ?? decideLimit(keysRequired, client?.authenticated === true, new CallerWindows(counters, limit, address, client?.id ?? address))
    // This replica's counters decide at once: the request goes on in the same tick, without a promise.
    if (verdict instanceof Promise) verdict.then(v => done(apply(reply, v)), done)
    else done(apply(reply, verdict))
  })
}

function addressKey (ip: string): string {
  return `ip:${addressIdentity(ip)}`
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The read lane's rate-limit steps (src/proxy/read-lane.ts). */
    rateLimitLane: {
      verdictFor: (client: ClientIdentity) => LimitVerdict | Promise<LimitVerdict>
      headersOf: (verdict: LimitVerdict) => readonly [string, string, string]
    }
  }
}

export default fp(gatewayRateLimit, { fastify: '5.x', name: 'rate-limit', dependencies: ['redis', 'client-auth'] })
