import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { addressIdentity } from '../src/edge/client-ip.ts'
import { clientVerdict, decideLimit, refusalMessage, type LimitState, type LimitVerdict } from '../src/edge/client-limits.ts'
import { LocalCounters, RedisCounters, SharedCounters, rateLimitStore } from '../src/edge/rate-limit-store.ts'
import { GatewayError } from '../src/errors.ts'

/**
 * Per client: RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS, SYS_002 429 past it. Requests without a valid API key are
 * limited by address (src/edge/client-limits.ts says why a throttled address is refused whatever key it presents).
 *
 * One onRequest hook limits every request but the public ones, before any answer can depend on the key: routes,
 * unknown routes and unsupported methods alike (the library's own `global` hooks cover registered routes only).
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
  await app.register(rateLimit, { global: false, max: settings.max, timeWindow: settings.windowMs, store: rateLimitStore(counters) })
  const byAddress = app.createRateLimit({ keyGenerator: request => request.client?.address ?? addressKey(request.ip) })
  const byClient = app.createRateLimit({ keyGenerator: request => request.client?.id ?? addressKey(request.ip) })
  const state = (result: Awaited<ReturnType<typeof byClient>>): LimitState => result.isAllowed
    ? { remaining: settings.max, exceeded: false, ttlMs: settings.windowMs }
    : { remaining: result.remaining, exceeded: result.isExceeded, ttlMs: result.ttl }

  const limit = String(settings.max)
  const verdictFor = (request: FastifyRequest): Promise<LimitVerdict> => keysRequired
    ? decideLimit(true, request.client?.authenticated === true, {
      countAddress: async () => state(await byAddress(request)),
      peekAddress: async () => state(await byAddress(request, { increment: false })),
      countClient: async () => state(await byClient(request)),
    })
    // Open mode, decideLimit's first rule (each client its own budget) without its closures: this runs on every request.
    : byClient(request).then(result => clientVerdict(state(result)))
  const apply = (reply: FastifyReply, verdict: LimitVerdict): GatewayError | undefined => {
    const resetS = Math.max(1, Math.ceil(verdict.state.ttlMs / 1000))
    reply.header('ratelimit-limit', limit)
    reply.header('ratelimit-remaining', verdict.refused ? '0' : String(verdict.state.remaining))
    reply.header('ratelimit-reset', String(resetS))
    if (!verdict.refused) return undefined
    metrics.rateLimitExceeded.inc()
    return new GatewayError('SYS_002', refusalMessage(verdict.by, settings.max, settings.windowMs), { retryAfterS: resetS })
  }

  app.addHook('onRequest', (request, reply, done) => {
    // Probes, metrics and docs are never limited.
    if (request.routeOptions.config.public === true) return done()
    verdictFor(request).then(verdict => done(apply(reply, verdict)), done)
  })
}

function addressKey (ip: string): string {
  return `ip:${addressIdentity(ip)}`
}

export default fp(gatewayRateLimit, { fastify: '5.x', name: 'rate-limit', dependencies: ['redis', 'client-auth'] })
