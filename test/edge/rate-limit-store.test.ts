import t from 'tap'
import type { Test } from 'tap'
import { createRedisClient } from '../../src/redis.ts'
import { CallerWindows, LocalCounters, RedisCounters, SharedCounters, type Counters, type WindowCount } from '../../src/edge/rate-limit-store.ts'
import { GatewayError } from '../../src/errors.ts'
import { startRedis } from '../helpers/redis.ts'
import { eventually } from '../helpers/wait.ts'

const WINDOW_MS = 60000

async function redisPair (t: Test) {
  const server = await startRedis(t)
  // The counters' semantics are under test here, not the gateway's 500 ms command budget: on a busy CI machine a
  // fresh server's first commands once took longer ("Command timed out"). A stopped server still fails at once.
  const clients = [0, 1].map(() => createRedisClient(server.url, { commandTimeout: 10_000 }))
  for (const client of clients) {
    client.on('error', () => {})
    await client.connect()
    t.teardown(() => client.disconnect())
  }
  return { server, a: clients[0]!, b: clients[1]! }
}

t.test('Redis: one counter per key across replicas, under the given prefix, expiring with its window', async t => {
  const { a, b } = await redisPair(t)
  const replicaA = new RedisCounters(a, 'igw:rl:')
  const replicaB = new RedisCounters(b, 'igw:rl:')
  const seen: number[] = []
  for (let i = 0; i < 3; i++) {
    seen.push((await replicaA.incr('client-1', WINDOW_MS)).current)
    seen.push((await replicaB.incr('client-1', WINDOW_MS)).current)
  }
  t.same(seen, [1, 2, 3, 4, 5, 6], `one count across both replicas: ${seen.join(',')}`)
  t.same(await a.keys('*'), ['igw:rl:client-1'], 'one key, the plugin\'s prefix then the client key')
  const pttl = await a.pttl('igw:rl:client-1')
  t.ok(pttl > 0 && pttl <= WINDOW_MS, `the key expires with the window (PTTL ${pttl})`)
  const counted = await replicaA.incr('client-1', WINDOW_MS)
  t.ok(counted.ttl > 0 && counted.ttl <= WINDOW_MS, `ttl is what is left of the window (${counted.ttl})`)
  t.equal((await replicaB.incr('client-2', WINDOW_MS)).current, 1, 'another key, another counter')
})

t.test('Redis: read looks without counting; a missing key reads as no window', async t => {
  const { a } = await redisPair(t)
  const counters: Counters = new RedisCounters(a, 'p:')
  t.same(await counters.read('k', WINDOW_MS), { current: 0, ttl: 0 })
  t.same(await a.keys('*'), [], 'reading made no key')
  await counters.incr('k', WINDOW_MS)
  await counters.incr('k', WINDOW_MS)
  const read = await counters.read('k', WINDOW_MS)
  t.equal(read.current, 2)
  t.ok(read.ttl > 0 && read.ttl <= WINDOW_MS, `ttl ${read.ttl}`)
  t.equal((await counters.read('k', WINDOW_MS)).current, 2, 'still 2: read does not count')
})

t.test('Redis: a counter left without an expiry gets one instead of counting for ever', async t => {
  const { a } = await redisPair(t)
  await a.set('p:stuck', '7')
  const counted = await new RedisCounters(a, 'p:').incr('stuck', WINDOW_MS)
  t.equal(counted.current, 8)
  t.equal(counted.ttl, WINDOW_MS)
  const pttl = await a.pttl('p:stuck')
  t.ok(pttl > 0 && pttl <= WINDOW_MS, `PTTL ${pttl}`)
})

t.test('a window that ended starts again at 1 (Redis expiry)', async t => {
  const { a } = await redisPair(t)
  const counters: Counters = new RedisCounters(a, 'p:')
  await counters.incr('k', WINDOW_MS)
  await counters.incr('k', WINDOW_MS)
  await a.del('p:k') // what the expiry does at the end of the window
  t.equal((await counters.incr('k', WINDOW_MS)).current, 1)
})

t.test('local counters: fixed windows on a fake clock, read without counting, bounded', async t => {
  let now = 1000
  const local = new LocalCounters(3, () => now)
  t.same(await local.incr('a', 100), { current: 1, ttl: 100 })
  now += 40
  t.same(await local.incr('a', 100), { current: 2, ttl: 60 })
  t.same(await local.read('a', 100), { current: 2, ttl: 60 })
  t.same(await local.read('a', 100), { current: 2, ttl: 60 }, 'read does not count')
  t.same(await local.read('b', 100), { current: 0, ttl: 0 })
  now += 60
  t.same(await local.read('a', 100), { current: 0, ttl: 0 }, 'the window ended')
  t.same(await local.incr('a', 100), { current: 1, ttl: 100 }, 'a new window')
  for (const key of ['b', 'c', 'd']) await local.incr(key, 100)
  t.equal(local.size, 3, `at most 3 keys (holds ${local.size})`)
  t.same(await local.read('a', 100), { current: 0, ttl: 0 }, 'the least recently counted key went first')
  t.equal((await local.read('d', 100)).current, 1)
})

/** Counters whose every call fails with `failure`, as a Redis client does when the server is gone. */
class FailingCounters implements Counters {
  private readonly failure: Error
  constructor (failure: Error) {
    this.failure = failure
  }

  async incr (): Promise<WindowCount> { throw this.failure }
  async read (): Promise<WindowCount> { throw this.failure }
}

t.test('Redis failing: counts on this replica when failing open, SYS_004 503 when failing closed', async t => {
  const down = Object.assign(new Error('Connection is closed.'), { code: 'ECONNREFUSED' })
  const failures: Error[] = []
  const open = new SharedCounters(new FailingCounters(down), { failOpen: true, onFailure: err => failures.push(err) })
  t.same([(await open.incr('k', WINDOW_MS)).current, (await open.incr('k', WINDOW_MS)).current, (await open.read('k', WINDOW_MS)).current], [1, 2, 2],
    'the replica\'s own counters')
  t.equal(failures.length, 3, `each failure reported (${failures.length})`)

  const closed = new SharedCounters(new FailingCounters(down), { failOpen: false, onFailure: () => {} })
  const refused = await closed.incr('k', WINDOW_MS).catch((err: unknown) => err)
  t.ok(refused instanceof GatewayError, `a GatewayError (${String(refused)})`)
  t.match(refused, { code: 'SYS_004', statusCode: 503, retryAfterS: 1 })
  t.match(await closed.read('k', WINDOW_MS).catch((err: unknown) => err), { code: 'SYS_004' }, 'read too')
})

t.test('a killed Redis server: the shared counters fall back, then count in Redis again once it is back', async t => {
  const { server, a } = await redisPair(t)
  const failures: string[] = []
  const counters = new SharedCounters(new RedisCounters(a, 'p:'), { failOpen: true, onFailure: err => failures.push(err.message) })
  t.equal((await counters.incr('k', WINDOW_MS)).current, 1)
  await server.stop()
  t.equal((await counters.incr('k', WINDOW_MS)).current, 1, 'a fresh local count while Redis is down')
  t.ok(failures.length >= 1, `the failure was reported: ${failures.join('; ')}`)
  await server.start()
  await eventually('the client reconnected', () => a.status === 'ready' || a.status)
  t.equal((await counters.incr('k', WINDOW_MS)).current, 1, 'counted in the restarted (empty) Redis')
  t.equal(await a.get('p:k'), '1', 'the counter is in Redis again')
})

t.test('a caller\'s windows: at once on this replica\'s counters, by promise on shared ones, against the limit', async t => {
  let now = 0
  const local = new LocalCounters(10, () => now)
  const caller = new CallerWindows(local, { max: 2, windowMs: 1000 }, 'ip:a', 'client-1')
  const first = caller.countClient()
  t.notOk(first instanceof Promise, 'in-process counters answer without a promise')
  t.same(first, { remaining: 1, exceeded: false, ttlMs: 1000 })
  now = 250
  t.same(caller.countClient(), { remaining: 0, exceeded: false, ttlMs: 750 }, 'the second request is the last allowed')
  t.same(caller.countClient(), { remaining: 0, exceeded: true, ttlMs: 750 }, 'the third is over the limit')
  t.same(caller.peekAddress(), { remaining: 2, exceeded: false, ttlMs: 0 }, 'the address has its own counter, untouched')
  t.same(caller.countAddress(), { remaining: 1, exceeded: false, ttlMs: 1000 })
  t.same(caller.peekAddress(), { remaining: 1, exceeded: false, ttlMs: 1000 }, 'peeking does not count')

  const err = new Error('down')
  const failing = new CallerWindows(new FailingCounters(err), { max: 2, windowMs: 1000 }, 'ip:a', 'client-1')
  const pending = failing.countClient()
  t.ok(pending instanceof Promise, 'shared counters answer with a promise')
  await t.rejects(pending as Promise<unknown>, err, 'and their failure reaches the caller')
})
