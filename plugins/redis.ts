import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { createRedisClient } from '../src/redis.ts'

const BOOT_WAIT_MS = 2000

/**
 * Owns the one ioredis client shared by the token store, the rate limiter and the cache (when REDIS_URL is set).
 * Unlike @fastify/redis, boot never waits for Redis: a gateway whose Redis is down still starts and serves.
 */
async function redis (app: FastifyInstance): Promise<void> {
  const url = app.config.redisUrl
  if (!url) {
    app.decorate('redis', null)
    return
  }
  const client = createRedisClient(url)
  let up: boolean | undefined
  client.on('ready', () => {
    if (up !== true) app.log.info('redis connected')
    up = true
  })
  client.on('error', (err: NodeJS.ErrnoException) => {
    if (up !== false) app.log.warn({ code: err.code }, 'redis unavailable; falling back to local state until it returns')
    up = false
  })
  const connecting = client.connect().catch(() => { /* reported by the error listener; ioredis keeps retrying */ })
  // Give Redis a moment at boot so replicas share the first token; never wait long, never fail the boot.
  let timer: NodeJS.Timeout | undefined
  await Promise.race([connecting, new Promise<void>(resolve => { timer = setTimeout(resolve, BOOT_WAIT_MS) })])
  clearTimeout(timer)
  app.decorate('redis', client)
  app.addHook('onClose', async () => {
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
    redis: Redis | null
  }
}
