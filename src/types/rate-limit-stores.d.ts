// The stores @fastify/rate-limit ships (CommonJS, untyped deep imports).
declare module '@fastify/rate-limit/store/RedisStore.js' {
  import type { Cluster, Redis } from 'ioredis'
  type Callback = (err: Error | null, res?: { current: number, ttl: number }) => void
  class RedisStore {
    constructor (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis | Cluster, key?: string)
    incr (key: string, cb: Callback, timeWindow: number, max: number): void
    read (key: string, cb: Callback, timeWindow: number, max: number): void
    child (routeOptions: Record<string, unknown>): RedisStore
  }
  export default RedisStore
}
declare module '@fastify/rate-limit/store/LocalStore.js' {
  type Callback = (err: Error | null, res?: { current: number, ttl: number }) => void
  class LocalStore {
    constructor (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number)
    incr (key: string, cb: Callback, timeWindow: number, max: number): void
    read (key: string, cb: Callback, timeWindow: number, max: number): void
    child (routeOptions: Record<string, unknown>): LocalStore
  }
  export default LocalStore
}
