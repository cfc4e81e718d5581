import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'
import { addressIdentity } from '../src/edge/client-ip.ts'
import { decideLimit, refusalMessage, type LimitState } from '../src/edge/client-limits.ts'
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
      this.shared.incr(key, this.orFallback('incr', key, cb, timeWindow, max), timeWindow, max)
    }

    /** The counter without counting (the library's `{ increment: false }`). */
    read (key: string, cb: Callback, timeWindow: number, max: number): void {
      this.shared.read(key, this.orFallback('read', key, cb, timeWindow, max), timeWindow, max)
    }

    private orFallback (operation: 'incr' | 'read', key: string, cb: Callback, timeWindow: number, max: number): Callback {
      return (err, res) => {
        if (!err && res) return cb(null, res)
        onFailure(err ?? new Error('empty answer'))
        if (failOpen) return this.local[operation](key, cb, timeWindow, max)
        cb(new GatewayError('SYS_004', 'Rate limiting is unavailable; try again shortly', { retryAfterS: 1, cause: { code: (err as NodeJS.ErrnoException | null)?.code } }))
      }
    }

    child (): SharedRateLimitStore {
      return this
    }
  }
}

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
  await app.register(rateLimit, {
    global: false,
    max: settings.max,
    timeWindow: settings.windowMs,
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
  })
  const byAddress = app.createRateLimit({ keyGenerator: request => request.client?.address ?? addressKey(request.ip) })
  const byClient = app.createRateLimit({ keyGenerator: request => request.client?.id ?? addressKey(request.ip) })
  const state = (result: Awaited<ReturnType<typeof byClient>>): LimitState => result.isAllowed
    ? { remaining: settings.max, exceeded: false, ttlMs: settings.windowMs }
    : { remaining: result.remaining, exceeded: result.isExceeded, ttlMs: result.ttl }

  app.addHook('onRequest', async (request, reply) => {
    // Probes, metrics and docs are never limited.
    if (request.routeOptions.config.public === true) return
    const verdict = await decideLimit(keysRequired, request.client?.authenticated === true, {
      countAddress: async () => state(await byAddress(request)),
      peekAddress: async () => state(await byAddress(request, { increment: false })),
      countClient: async () => state(await byClient(request)),
    })
    const resetS = Math.max(1, Math.ceil(verdict.state.ttlMs / 1000))
    reply.header('ratelimit-limit', settings.max)
    reply.header('ratelimit-remaining', verdict.refused ? 0 : verdict.state.remaining)
    reply.header('ratelimit-reset', resetS)
    if (!verdict.refused) return
    metrics.rateLimitExceeded.inc()
    throw new GatewayError('SYS_002', refusalMessage(verdict.by, settings.max, settings.windowMs), { retryAfterS: resetS })
  })
}

function addressKey (ip: string): string {
  return `ip:${addressIdentity(ip)}`
}

export default fp(gatewayRateLimit, { fastify: '5.x', name: 'rate-limit', dependencies: ['redis', 'client-auth'] })
