import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { RedisMode } from '../src/config.ts'
import { createRedisClient, watchRedis, type RedisClient } from '../src/redis.ts'
import { redisNamespace, type RedisNamespace } from '../src/redis-namespace.ts'

const BOOT_WAIT_MS = 2000

/**
 * Owns the one ioredis client (standalone, Sentinel or Cluster) shared by the token store, the rate limiter and the
 * cache, and this release's namespace in it. Unlike @fastify/redis, boot never waits long for Redis: a gateway
 * whose Redis is down still starts and serves, and a Redis that hangs is noticed and not waited on.
 */
async function redis (app: FastifyInstance): Promise<void> {
  const { redis: connection, redisKeyPrefix, ion } = app.config
  app.decorate('redisNamespace', redisNamespace(redisKeyPrefix, ion))
  if (!connection) {
    app.decorate('redis', null)
    app.decorate('redisMode', null)
    return
  }
  const client = createRedisClient(connection)
  const log = app.log.child({ component: 'redis', mode: connection.mode })
  let up: boolean | undefined
  client.on('ready', () => {
    if (up !== true) log.info('redis connected')
    up = true
  })
  client.on('error', (err: NodeJS.ErrnoException) => {
    if (up !== false) log.warn({ code: err.code }, 'redis unavailable; falling back to local state until it returns')
    up = false
  })
  const watchdog = watchRedis(client, {
    onHang: () => {
      log.warn('redis does not answer; not waiting on it until it does')
      up = false
    },
  })
  const connecting = client.connect().catch(() => { /* reported by the error listener; ioredis keeps retrying */ })
  // Give Redis a moment at boot so replicas share the first token; never wait long, never fail the boot.
  let timer: NodeJS.Timeout | undefined
  await Promise.race([connecting, new Promise<void>(resolve => { timer = setTimeout(resolve, BOOT_WAIT_MS) })])
  clearTimeout(timer)
  app.decorate<RedisClient | null>('redis', client)
  app.decorate('redisMode', connection.mode)
  app.addHook('onClose', async () => {
    watchdog.stop()
    try {
      await client.quit()
    } catch {
      client.disconnect()
    }
  })
}

export default fp(redis, { fastify: '5.x', name: 'redis' })

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient | null
    /** Which Redis topology `redis` talks to; null without Redis. */
    redisMode: RedisMode | null
    /** Where this release keeps its state in Redis (tenant namespace). */
    redisNamespace: RedisNamespace
  }
}
