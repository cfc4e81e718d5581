import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { RedisConnection, RedisMode } from './config.ts'

/** A standalone or Sentinel-managed server (one `Redis`), or a Redis Cluster. */
export type RedisClient = Redis | Cluster

// Commands fail fast while Redis is down (no offline queue, short timeouts) so callers can fall back, and ioredis
// reconnects in the background.
const FAIL_FAST = {
  maxRetriesPerRequest: 1,
  commandTimeout: 500,
  connectTimeout: 2000,
} satisfies RedisOptions

const reconnectDelayMs = (attempt: number): number => Math.min(100 * 2 ** attempt, 2000)

/**
 * The shared Redis client for any of the three topologies. Redis is optional and never fatal: the client is lazy
 * (the caller connects, and never waits long), and every command fails fast while Redis is unreachable.
 * A plain URL string is taken as standalone (tests and tools).
 */
export function createRedisClient (url: string, overrides?: RedisOptions): Redis
export function createRedisClient (connection: RedisConnection, overrides?: RedisOptions): RedisClient
export function createRedisClient (connection: RedisConnection | string, overrides: RedisOptions = {}): RedisClient {
  const target = typeof connection === 'string' ? { mode: 'standalone' as const, url: connection } : connection
  const common = { lazyConnect: true, enableOfflineQueue: false, ...FAIL_FAST, retryStrategy: reconnectDelayMs, ...overrides }
  switch (target.mode) {
    case 'standalone':
      // ioredis reads the user, password, db number and rediss:// (TLS) from the URL.
      return new Redis(target.url, common)
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: target.sentinels,
        name: target.masterName,
        ...credentials(target),
        // Sentinels that require their own password (e.g. the Bitnami chart's default).
        ...(target.sentinelPassword !== undefined ? { sentinelPassword: target.sentinelPassword, ...(target.username !== undefined ? { sentinelUsername: target.username } : {}) } : {}),
        ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
        // No failoverDetector: its sentinel subscriptions outlive the client's quit in ioredis 6 and report errors with
        // no listener. A failed master drops the connection anyway, and the reconnection asks the sentinels again.
        sentinelRetryStrategy: reconnectDelayMs,
      })
    case 'cluster': {
      const { lazyConnect, enableOfflineQueue, retryStrategy, ...perNode } = common
      return new Cluster(target.nodes, {
        lazyConnect,
        enableOfflineQueue,
        clusterRetryStrategy: retryStrategy,
        slotsRefreshTimeout: FAIL_FAST.connectTimeout,
        // A node that moved or failed over: follow MOVED/ASK quickly, give up within the command timeout.
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        redisOptions: { ...perNode, ...credentials(target), ...(target.tls ? { tls: {} } : {}) },
      })
    }
  }
}

function credentials (target: { username?: string, password?: string }): { username?: string, password?: string } {
  return {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
  }
}

export function redisModeOf (client: RedisClient): RedisMode {
  if (client instanceof Cluster) return 'cluster'
  return client.options.sentinels ? 'sentinel' : 'standalone'
}

/** The clients a key scan must visit: every master of a Cluster, else the one server. */
export function scanTargets (client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client]
}

/**
 * Destroys the sockets, so ioredis sees them close and reconnects. Not `disconnect(true)`: that half-closes the
 * socket and waits for the server's FIN, which a hung server never sends, so the client would stay "ready".
 */
function dropConnections (client: RedisClient): void {
  const servers = client instanceof Cluster ? client.nodes() : [client]
  for (const server of servers) server.stream?.destroy()
}

export interface RedisWatchdogOptions {
  /** How often Redis is pinged while it is connected. Default 1000. */
  intervalMs?: number
  /** A PING slower than this means Redis hangs. Default 500. */
  timeoutMs?: number
  /** Called when a hang is detected, before the connection is dropped. */
  onHang?: () => void
}

/**
 * Detects a Redis that accepts connections but never answers (a stopped process, a full disk, a network black
 * hole): ioredis would keep the connection "ready" and every command would wait its full timeout. On a PING that
 * does not come back in time, the connection is dropped and reopened; until Redis answers the reconnection's ready
 * check, commands are refused at once, so callers fall back without waiting. (In a Cluster, each node's connection
 * is dropped and reopened; the Cluster itself still counts as ready while its slot table holds.)
 */
export function watchRedis (client: RedisClient, options: RedisWatchdogOptions = {}): { stop (): void } {
  const intervalMs = options.intervalMs ?? 1000
  const timeoutMs = options.timeoutMs ?? 500
  let probing = false
  // Once dropped, the connection is not probed again until ioredis reports it ready anew (its socket closes
  // asynchronously: a probe in between would report the same hang twice).
  let dropped = false
  const onReady = (): void => { dropped = false }
  client.on('ready', onReady)
  const timer = setInterval(() => {
    if (probing || dropped || client.status !== 'ready') return
    probing = true
    let timeout: NodeJS.Timeout | undefined
    const hung = new Promise<'hung'>(resolve => { timeout = setTimeout(resolve, timeoutMs, 'hung') })
    Promise.race([client.ping().then(() => 'ok' as const, () => 'failed' as const), hung])
      .then(outcome => {
        // A PING that timed out or failed while the connection still counts as ready: Redis does not answer.
        if (outcome !== 'ok' && client.status === 'ready') {
          dropped = true
          options.onHang?.()
          dropConnections(client)
        }
      })
      .finally(() => {
        clearTimeout(timeout)
        probing = false
      })
      .catch(() => {})
  }, intervalMs)
  timer.unref()
  return {
    stop: () => {
      clearInterval(timer)
      client.off('ready', onReady)
    },
  }
}
