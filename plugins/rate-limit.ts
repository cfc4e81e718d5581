import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'
import { addressIdentity } from '../src/edge/client-ip.ts'
import { GatewayError } from '../src/errors.ts'
import type { RedisClient } from '../src/redis.ts'

type Callback = (err: Error | null, res?: { current: number, ttl: number }) => void

/**
 * Counters in Redis (one limit across replicas); when Redis fails, RATE_LIMIT_FAIL_OPEN decides: open falls back
 * to this replica's own counters, closed refuses with SYS_004 503.
 */
function sharedStore (redis: RedisClient, keyPrefix: string, failOpen: boolean, onFailure: (err: Error) => void) {
  return class SharedRateLimitStore {
    private readonly shared: RedisStore
    private readonly local: LocalStore
    constructor (params: { continueExceeding?: boolean, exponentialBackoff?: boolean }) {
      const continueExceeding = params.continueExceeding === true
      const exponentialBackoff = params.exponentialBackoff === true
      this.shared = new RedisStore(continueExceeding, exponentialBackoff, redis, keyPrefix)
      this.local = new LocalStore(continueExceeding, exponentialBackoff, 10000)
    }

    incr (key: string, cb: Callback, timeWindow: number, max: number): void {
      this.shared.incr(key, (err, res) => {
        if (!err && res) return cb(null, res)
        onFailure(err ?? new Error('empty answer'))
        if (failOpen) return this.local.incr(key, cb, timeWindow, max)
        cb(new GatewayError('SYS_004', 'Rate limiting is unavailable; try again shortly', { retryAfterS: 1, cause: { code: (err as NodeJS.ErrnoException | null)?.code } }))
      }, timeWindow, max)
    }

    child (): SharedRateLimitStore {
      return this
    }
  }
}

/** Per client (API key, else address by /64): RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS, SYS_002 429 past it. */
async function gatewayRateLimit (app: FastifyInstance): Promise<void> {
  const { rateLimit: settings } = app.config
  const metrics = app.gatewayMetrics
  let lastWarnMs = 0
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: settings.max,
    timeWindow: settings.windowMs,
    enableDraftSpec: true,
    ...(app.redis
      ? {
          store: sharedStore(app.redis, app.redisNamespace.rateLimit, settings.failOpen, err => {
            if (Date.now() - lastWarnMs > 1000) {
              lastWarnMs = Date.now()
              app.log.warn({ code: (err as NodeJS.ErrnoException).code, failOpen: settings.failOpen }, 'rate-limit store unavailable')
            }
          }),
        }
      : {}),
    // Probes, metrics and docs are never limited.
    allowList: request => request.routeOptions.config.public === true,
    keyGenerator: request => request.client?.id ?? `ip:${addressIdentity(request.ip)}`,
    onExceeded: () => metrics.rateLimitExceeded.inc(),
    errorResponseBuilder: (_request, context) => new GatewayError('SYS_002', `Rate limit exceeded: ${context.max} requests per ${context.after}`, {
      retryAfterS: Math.max(1, Math.ceil(context.ttl / 1000)),
    }),
  })
}

export default fp(gatewayRateLimit, { fastify: '5.x', name: 'rate-limit', dependencies: ['redis', 'client-auth'] })
