import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '../src/typebox.ts'

const Liveness = Type.Object({
  status: Type.Literal('ok'),
  uptimeS: Type.Number({ description: 'Seconds since the process started' }),
}, { description: 'The process is up and its event loop answers' })

const ComponentHealth = Type.Object({
  status: Type.Union([Type.Literal('up'), Type.Literal('degraded'), Type.Literal('down'), Type.Literal('disabled')]),
  detail: Type.Optional(Type.String()),
})

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy')]),
  timestamp: Type.String({ format: 'date-time' }),
  checks: Type.Object({
    redis: Type.Intersect([ComponentHealth, Type.Object({
      mode: Type.Optional(Type.Union([Type.Literal('standalone'), Type.Literal('cluster'), Type.Literal('sentinel')], { description: 'The Redis topology configured' })),
    })]),
    cache: ComponentHealth,
    ionApi: ComponentHealth,
    tokenRefresh: Type.Intersect([ComponentHealth, Type.Object({
      expiresInS: Type.Optional(Type.Number({ description: 'Seconds the current ION token has left' })),
      lastError: Type.Optional(Type.String({ description: 'Code of the last failed refresh' })),
    })]),
  }),
  metrics: Type.Object({
    responseTime: Type.Number({ description: 'Milliseconds this check took' }),
    cacheHitRatio: Type.Number({ minimum: 0, maximum: 1 }),
    activeConnections: Type.Integer({ minimum: 0 }),
  }),
}, {
  description: 'HealthCheckResult: 200 when the gateway holds a valid ION token and is not shutting down (Redis down or not answering = degraded, still ready)',
})

/** Liveness (cheap, never touches ION or Redis) and readiness (from the token manager's and Redis' state). */
export default async function health (app: FastifyInstance): Promise<void> {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>()

  typed.get('/health', {
    logLevel: 'warn',
    config: { public: true, rateLimit: false },
    schema: {
      operationId: 'getHealth',
      tags: ['health'],
      summary: 'Liveness probe',
      description: 'Answers 200 while the process and its event loop are alive. Never depends on ION or Redis.',
      response: { 200: Liveness },
    },
  }, async () => ({ status: 'ok' as const, uptimeS: Math.round(process.uptime()) }))

  typed.get('/ready', {
    logLevel: 'warn',
    config: { public: true, rateLimit: false },
    schema: {
      operationId: 'getReady',
      tags: ['health'],
      summary: 'Readiness probe',
      description: 'HealthCheckResult (status, checks, metrics). 503 when no valid ION token can be had or while shutting down; ' +
        '`degraded` (still 200) when only Redis is down.',
      response: { 200: Readiness, 503: Readiness },
    },
  }, async (request, reply) => {
    const started = performance.now()
    const tokens = app.ionTokens.state()
    // Not 'ready' while down, reconnecting, failing over, or after the watchdog dropped a Redis that hangs.
    const redisUp = app.redis ? app.redis.status === 'ready' : undefined
    const draining = app.lifecycle.draining
    const tokenUp = tokens.hasValidToken
    const expiresInS = tokens.expiresAtMs ? Math.max(0, Math.round((tokens.expiresAtMs - Date.now()) / 1000)) : undefined

    const cacheCheck = app.responseCache === null
      ? { status: 'disabled' as const }
      : app.responseCache.driverName === 'redis' && !redisUp
        ? { status: 'down' as const, detail: 'Redis unreachable: answers bypass the cache' }
        : { status: 'up' as const, detail: app.responseCache.driverName }
    const redisCheck = app.redisMode === null
      ? { status: 'disabled' as const }
      : redisUp
        ? { status: 'up' as const, mode: app.redisMode }
        : { status: 'degraded' as const, mode: app.redisMode, detail: 'Redis unreachable or not answering: local state until it returns' }
    const sharedDegraded = redisUp === false
    const tokenCheck = {
      status: tokenUp ? (tokens.store === 'redis-unavailable' && redisUp === false ? 'degraded' as const : 'up' as const) : 'down' as const,
      ...(tokens.store === 'redis-unavailable' ? { detail: 'Redis unreachable: using a process-local token' } : {}),
      ...(expiresInS !== undefined ? { expiresInS } : {}),
      ...(tokens.lastError ? { lastError: tokens.lastError.code } : {}),
    }
    const ionCheck = tokenUp ? { status: 'up' as const } : { status: 'down' as const, detail: 'No valid ION token' }
    const status = draining || !tokenUp ? 'unhealthy' as const : sharedDegraded ? 'degraded' as const : 'healthy' as const
    const activeConnections = await new Promise<number>(resolve => app.server.getConnections((err, n) => resolve(err ? 0 : n)))

    reply.code(status === 'unhealthy' ? 503 : 200)
    return {
      status,
      timestamp: new Date().toISOString(),
      checks: { redis: redisCheck, cache: cacheCheck, ionApi: draining ? { status: 'down' as const, detail: 'Shutting down' } : ionCheck, tokenRefresh: tokenCheck },
      metrics: {
        responseTime: Math.round((performance.now() - started) * 100) / 100,
        cacheHitRatio: app.responseCache?.hitRatio() ?? 0,
        activeConnections,
      },
    }
  })
}
