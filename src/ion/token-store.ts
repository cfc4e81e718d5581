import { createHash } from 'node:crypto'
import type { RedisClient } from '../redis.ts'

export interface StoredToken {
  accessToken: string
  refreshToken?: string
  /** Epoch ms. */
  expiresAtMs: number
  /** Epoch ms when ION issued it (its lifetime is expiresAtMs - obtainedAtMs). */
  obtainedAtMs: number
}

/**
 * Where the token lives. Methods throw when the store is unreachable; the token manager decides what to do.
 * A shared store (Redis) is seen by every replica; the memory store only by this process.
 */
export interface TokenStore {
  /** Where the token is kept: named by the manager's state (`/ready`, logs). */
  readonly kind: 'memory' | 'redis' | 'file'
  /**
   * true when other processes read the same token: other replicas (Redis), or the next run of this one (a token
   * file). The manager then never revokes it on close.
   */
  readonly shared: boolean
  get (): Promise<StoredToken | undefined>
  /** Stores the token until it expires. */
  set (token: StoredToken): Promise<void>
  /** Removes the token; with `ifAccessToken`, only if it is still that one (another replica may have replaced it). */
  clear (ifAccessToken?: string): Promise<void>
  /** true when `owner` now holds the refresh lock (`SET NX PX`); it expires by itself after `ttlMs`. */
  tryLock (owner: string, ttlMs: number): Promise<boolean>
  /** Releases the lock only if `owner` still holds it. */
  unlock (owner: string): Promise<void>
  close (): Promise<void>
}

export function validToken (value: unknown): value is StoredToken {
  const t = value as StoredToken | null
  return t !== null && typeof t === 'object' &&
    typeof t.accessToken === 'string' && t.accessToken.length > 0 &&
    typeof t.expiresAtMs === 'number' && typeof t.obtainedAtMs === 'number' &&
    (t.refreshToken === undefined || typeof t.refreshToken === 'string')
}

function copy ({ accessToken, refreshToken, expiresAtMs, obtainedAtMs }: StoredToken): StoredToken {
  return refreshToken === undefined ? { accessToken, expiresAtMs, obtainedAtMs } : { accessToken, refreshToken, expiresAtMs, obtainedAtMs }
}

/** Process-local: one replica, one token. The lock always succeeds (the manager's single flight is the lock). */
export class MemoryTokenStore implements TokenStore {
  readonly kind = 'memory'
  readonly shared = false
  private token: StoredToken | undefined
  private readonly now: () => number

  constructor (options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now
  }

  async get (): Promise<StoredToken | undefined> {
    if (this.token && this.token.expiresAtMs <= this.now()) this.token = undefined
    return this.token
  }

  async set (token: StoredToken): Promise<void> {
    this.token = token.expiresAtMs > this.now() ? copy(token) : undefined
  }

  async clear (ifAccessToken?: string): Promise<void> {
    if (ifAccessToken === undefined || this.token?.accessToken === ifAccessToken) this.token = undefined
  }

  async tryLock (_owner: string, _ttlMs: number): Promise<boolean> {
    return true
  }

  async unlock (_owner: string): Promise<void> {}

  async close (): Promise<void> {
    this.token = undefined
  }
}

const CLEAR_IF_SAME = `
local v = redis.call('GET', KEYS[1])
if v then
  local ok, t = pcall(cjson.decode, v)
  if ok and type(t) == 'table' and t.accessToken == ARGV[1] then return redis.call('DEL', KEYS[1]) end
end
return 0`

const UNLOCK_IF_OWNER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

export interface RedisTokenStoreOptions {
  /** The tenant namespace's token prefix, e.g. `ion-gateway:ACME_TST:1a2b3c4d:token:` (src/redis-namespace.ts). */
  keyPrefix: string
  clientId: string
  now?: () => number
}

/** The hashed part of the key: the client id is not secret, but the hash keeps keys short and free of odd characters. */
export function clientKeyPart (clientId: string): string {
  return createHash('sha256').update(clientId).digest('hex').slice(0, 16)
}

/**
 * The token shared by every replica, in Redis, over a BORROWED ioredis client: never connected, quit or modified
 * here (no defineCommand). Key `<prefix>{<sha256(clientId)[0..16]>}`, JSON with PX = time to expiry; the refresh
 * lock is `<key>:lock`. The braces are a Cluster hash tag: the token and its lock live in one slot.
 */
export class RedisTokenStore implements TokenStore {
  readonly kind = 'redis'
  readonly shared = true
  readonly key: string
  readonly lockKey: string
  private readonly redis: RedisClient
  private readonly now: () => number

  constructor (redis: RedisClient, { keyPrefix, clientId, now = Date.now }: RedisTokenStoreOptions) {
    this.redis = redis
    this.now = now
    this.key = `${keyPrefix}{${clientKeyPart(clientId)}}`
    this.lockKey = `${this.key}:lock`
  }

  async get (): Promise<StoredToken | undefined> {
    const raw = await this.redis.get(this.key)
    if (!raw) return undefined
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch {
      return undefined
    }
    return validToken(parsed) && parsed.expiresAtMs > this.now() ? copy(parsed) : undefined
  }

  async set (token: StoredToken): Promise<void> {
    const ttlMs = Math.floor(token.expiresAtMs - this.now())
    if (ttlMs <= 0) return
    await this.redis.set(this.key, JSON.stringify(copy(token)), 'PX', ttlMs)
  }

  async clear (ifAccessToken?: string): Promise<void> {
    if (ifAccessToken === undefined) await this.redis.del(this.key)
    else await this.redis.eval(CLEAR_IF_SAME, 1, this.key, ifAccessToken)
  }

  async tryLock (owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.lockKey, owner, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK'
  }

  async unlock (owner: string): Promise<void> {
    await this.redis.eval(UNLOCK_IF_OWNER, 1, this.lockKey, owner)
  }

  /** The client is borrowed: whoever created it quits it. */
  async close (): Promise<void> {}
}
