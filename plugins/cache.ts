import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { driverFor } from '../src/cache/drivers/index.ts'
import { GatewayError } from '../src/errors.ts'
import { cacheKeyPrefix } from '../src/cache/keys.ts'
import { createResponseCache, type ResponseCache } from '../src/cache/manager.ts'
import { SYSTEM_IDS } from '../src/proxy/systems.ts'
import { Type } from '../src/typebox.ts'

const PurgeQuery = Type.Object({
  system: Type.Optional(Type.Union(SYSTEM_IDS.map(s => Type.Literal(s)), { description: 'Only this system' })),
  prefix: Type.Optional(Type.String({ pattern: '^/', maxLength: 1024, description: 'Only paths below the system that start with this (needs system)', examples: ['/m3api-rest/v2/execute/MMS200MI'] })),
}, { additionalProperties: false })

const PurgeAnswer = Type.Object({
  purged: Type.Integer({ description: 'Entries removed' }),
}, { description: 'The cache was purged' })

/** The response cache (memory or Redis, per CACHE_DRIVER) and its admin purge route. */
async function cache (app: FastifyInstance): Promise<void> {
  const { config, gatewayMetrics: metrics } = app
  const driver = driverFor(config.cache.driver, { maxBytes: config.cache.maxBytes, redis: app.redis, redisKeyPrefix: app.redisNamespace.cache })
  if (!driver) {
    app.decorate('responseCache', null)
    return
  }
  let lastErrorLogMs = 0
  const responseCache = createResponseCache({
    driver,
    staleS: config.cache.staleS,
    maxEntryBytes: config.cache.maxEntryBytes,
    waitTimeoutMs: config.upstream.timeoutMs + 1000,
    events: {
      hit: api => metrics.cacheHits.series([api]).inc(),
      miss: api => metrics.cacheMisses.series([api]).inc(),
      stale: api => metrics.cacheStaleServed.inc({ api }),
      error: (err, operation) => {
        metrics.cacheErrors.inc()
        // SYS_001 is counted every time, logged at most once a second: a dead Redis must not flood the logs.
        if (Date.now() - lastErrorLogMs > 1000) {
          lastErrorLogMs = Date.now()
          app.log.warn({ code: 'SYS_001', operation, driver: driver.name, err: { message: (err as Error).message } }, 'cache unavailable; serving without it')
        }
      },
    },
  })
  app.decorate('responseCache', responseCache)
  app.addHook('onClose', () => driver.close())

  app.withTypeProvider<TypeBoxTypeProvider>().delete('/admin/cache', {
    schema: {
      operationId: 'purgeCache',
      tags: ['admin'],
      summary: 'Purge the response cache',
      description: 'Removes every cached answer of this gateway\'s tenant, or those of one system, or those of one system whose path ' +
        'starts with `prefix`. Other tenants sharing the Redis are never touched.',
      querystring: PurgeQuery,
      response: { 200: PurgeAnswer, 400: Type.Ref('ErrorEnvelope'), 401: Type.Ref('ErrorEnvelope'), 403: Type.Ref('ErrorEnvelope'), 503: Type.Ref('ErrorEnvelope') },
    },
    config: { admin: true },
  }, async (request) => {
    const { system, prefix } = request.query
    if (prefix && !system) {
      throw new GatewayError('API_003', 'prefix needs system')
    }
    const purged = await responseCache.purge(cacheKeyPrefix(system, prefix) || undefined)
    request.log.info({ system, prefix, purged }, 'cache purged')
    return { purged }
  })
}

export default fp(cache, { fastify: '5.x', name: 'cache', dependencies: ['redis'] })

declare module 'fastify' {
  interface FastifyInstance {
    responseCache: ResponseCache | null
  }
  interface FastifyContextConfig {
    /** Admin-only route (client auth answers AUTH_005 to other clients). */
    admin?: boolean
  }
}
