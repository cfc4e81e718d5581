import t, { type Test } from 'tap'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { clientKeyPart, MemoryTokenStore, RedisTokenStore, type StoredToken, type TokenStore } from '../../src/ion/token-store.ts'
import { createRedisClient } from '../../src/redis.ts'
import { startRedis } from '../helpers/redis.ts'
import { eventually } from '../helpers/wait.ts'

function token (accessToken: string, lifetimeMs = 60_000, refreshToken?: string): StoredToken {
  const obtainedAtMs = Date.now()
  return refreshToken ? { accessToken, refreshToken, obtainedAtMs, expiresAtMs: obtainedAtMs + lifetimeMs } : { accessToken, obtainedAtMs, expiresAtMs: obtainedAtMs + lifetimeMs }
}

async function connected (t: Test, url: string): Promise<Redis> {
  const client = createRedisClient(url)
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.disconnect())
  return client
}

/** What every store must do, whatever it is. */
async function contract (t: Test, store: TokenStore): Promise<void> {
  t.equal(await store.get(), undefined, 'empty at first')
  const a = token('access-a', 60_000, 'refresh-a')
  await store.set(a)
  t.same(await store.get(), a, 'returns what was set')
  await store.clear('another-token')
  t.same(await store.get(), a, 'clear(other) leaves a newer token alone')
  await store.clear('access-a')
  t.equal(await store.get(), undefined, 'clear(same) removes it')
  await store.set(token('access-b'))
  await store.clear()
  t.equal(await store.get(), undefined, 'clear() removes whatever is there')
  await store.set(token('expired', -1))
  t.equal(await store.get(), undefined, 'an expired token is never stored')
  await store.set(token('short', 150))
  t.ok(await store.get(), 'a short-lived token is there')
  await eventually('a token disappears when it expires', async () => (await store.get()) === undefined)
}

t.test('memory store: the contract; its lock always succeeds; not shared', async t => {
  const store = new MemoryTokenStore()
  t.equal(store.shared, false)
  await contract(t, store)
  t.equal(await store.tryLock('a', 1000), true)
  t.equal(await store.tryLock('b', 1000), true, 'the manager single flight is the lock')
  await store.unlock('a')
  await store.set(token('x'))
  await store.close()
  t.equal(await store.get(), undefined, 'close forgets the token')
})

t.test('Redis store: the contract, key layout and PX = time to expiry', async t => {
  const server = await startRedis(t)
  const redis = await connected(t, server.url)
  const store = new RedisTokenStore(redis, { keyPrefix: 'gw:ACME_TST:1a2b3c4d:token:', clientId: 'ACME_TST~client' })
  t.equal(store.shared, true)
  await contract(t, store)
  t.equal(store.key, `gw:ACME_TST:1a2b3c4d:token:{${clientKeyPart('ACME_TST~client')}}`, 'the client part is a Cluster hash tag')
  t.equal(store.lockKey, `${store.key}:lock`, 'the lock shares the token\'s hash tag (one slot)')
  t.match(clientKeyPart('ACME_TST~client'), /^[0-9a-f]{16}$/)
  await store.set(token('access-c', 30_000))
  const pttl = await redis.pttl(store.key)
  t.ok(pttl > 28_000 && pttl <= 30_000, `PX follows the expiry (${pttl} ms)`)
  const prefixed = new RedisTokenStore(redis, { clientId: 'ACME_TST~client', keyPrefix: 'other:' })
  t.equal(await prefixed.get(), undefined, 'keyPrefix separates deployments')
  const otherClient = new RedisTokenStore(redis, { keyPrefix: 'gw:ACME_TST:1a2b3c4d:token:', clientId: 'ACME_TST~other' })
  t.equal(await otherClient.get(), undefined, 'one token per tenant and client')
})

t.test('Redis store: garbage under the key reads as no token', async t => {
  const server = await startRedis(t)
  const redis = await connected(t, server.url)
  const store = new RedisTokenStore(redis, { keyPrefix: 'gw:T:00000000:token:', clientId: 'c' })
  await redis.set(store.key, 'not json')
  t.equal(await store.get(), undefined)
  await redis.set(store.key, JSON.stringify({ accessToken: 42 }))
  t.equal(await store.get(), undefined)
  await t.resolves(store.clear('x'), 'clear-if-same tolerates garbage')
})

t.test('Redis store: the lock is exclusive, released only by its owner, and expires', async t => {
  const server = await startRedis(t)
  const ra = await connected(t, server.url)
  const a = new RedisTokenStore(ra, { keyPrefix: 'gw:T:00000000:token:', clientId: 'c' })
  const b = new RedisTokenStore(await connected(t, server.url), { keyPrefix: 'gw:T:00000000:token:', clientId: 'c' })
  t.equal(await a.tryLock('owner-a', 300), true)
  t.equal(await b.tryLock('owner-b', 300), false, 'held by a')
  await b.unlock('owner-b')
  t.equal(await b.tryLock('owner-b', 300), false, 'b cannot release a lock it does not hold')
  await a.unlock('owner-a')
  t.equal(await b.tryLock('owner-b', 200), true, 'released by its owner')
  const pttl = await ra.pttl(a.lockKey)
  t.ok(pttl > 0 && pttl <= 200, `the lock carries its expiry: ${pttl} ms`)
  await eventually('an abandoned lock expires and a takes it', () => a.tryLock('owner-a', 200))
})

t.test('Redis store: borrows its client (close never quits it) and throws when Redis is gone', async t => {
  const server = await startRedis(t)
  const redis = await connected(t, server.url)
  const store = new RedisTokenStore(redis, { keyPrefix: 'gw:T:00000000:token:', clientId: 'c' })
  await store.close()
  t.equal(await redis.ping(), 'PONG', 'the client still works after close')
  await server.stop()
  await t.rejects(store.get(), 'errors reach the manager, which decides')
  await t.rejects(store.tryLock('x', 100))
  await server.start()
  if (redis.status !== 'ready') await once(redis, 'ready')
  t.equal(await store.get(), undefined, 'works again after a restart (empty)')
})
