import t from 'tap'
import { Redis } from 'ioredis'
import type { TokenLogger } from '../../src/ion/token-manager.ts'
import { RedisTokenStore } from '../../src/ion/token-store.ts'
import { parseIonApi } from '../../src/ion/ionapi.ts'
import { redisNamespace } from '../../src/redis-namespace.ts'
import type { Emulator } from '../../emulator/index.ts'
import { startRedis } from '../helpers/redis.ts'
import { emulatorFor, eventually, fakeClock, histogram, type FakeClock, managerFor, ready, redisClient, redisStore, resourceStatus } from './helpers.ts'

/** Moves the test clock one background check (100 ms) at a time until `done` holds: Redis reconnects in real time. */
async function checksUntil (clock: FakeClock, what: string, done: () => boolean | string): Promise<void> {
  await eventually(what, async () => {
    if (done() === true) return true
    await clock.advance(100)
    return done()
  })
}

/** The Redis store on a test clock: a token's expiry is judged, and its PX computed, on that clock. */
function clockedStore (redis: Redis, e: Emulator, now: () => number): RedisTokenStore {
  return new RedisTokenStore(redis, { keyPrefix: redisNamespace('ion-gateway:', parseIonApi(e.ionapi, 'password')).token, clientId: e.ionapi.ci, now })
}

t.test('two replicas on one Redis: 100 concurrent calls each, one token request, one token', async t => {
  const redis = await startRedis(t)
  const e = await emulatorFor(t)
  const ra = redisClient(t, redis.url)
  const rb = redisClient(t, redis.url)
  await Promise.all([ready(ra), ready(rb)])
  const a = managerFor(t, e, { store: redisStore(ra, e) })
  const b = managerFor(t, e, { store: redisStore(rb, e) })
  const tokens = await Promise.all([
    ...Array.from({ length: 100 }, () => a.manager.getAccessToken()),
    ...Array.from({ length: 100 }, () => b.manager.getAccessToken()),
  ])
  t.equal(new Set(tokens).size, 1, 'both replicas hold the same token')
  t.equal(e.stats.tokenRequests(), 1, 'one token request for the cluster')
  t.equal(a.client.issued.length + b.client.issued.length, 1)
  t.equal(a.manager.state().store, 'redis')
  t.equal(b.manager.state().store, 'redis')
  await a.manager.close()
  t.equal(e.stats.revocations(), 0, 'closing one replica does not revoke the token the others use')
  const still = await b.manager.getAccessToken()
  t.equal(still, tokens[0])
  t.equal(await resourceStatus(e, still), 200)
})

t.test('replicas refresh once per cycle for the cluster, the other one picks the new token up', async t => {
  const redis = await startRedis(t)
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: 2 })
  const ra = redisClient(t, redis.url)
  const rb = redisClient(t, redis.url)
  await Promise.all([ready(ra), ready(rb)])
  const a = managerFor(t, e, { clock, store: clockedStore(ra, e, clock.now), checkIntervalMs: 100 })
  const b = managerFor(t, e, { clock, store: clockedStore(rb, e, clock.now), checkIntervalMs: 100 })
  // One after the other: a replica waiting for the other's lock polls on the test clock, which only the test moves.
  a.manager.start()
  await a.manager.getAccessToken()
  b.manager.start()
  const statuses: number[] = []
  const seenByA = new Set<string>()
  const seenByB = new Set<string>()
  for (let step = 0; step < 80; step++) { // 4 s in 50 ms steps
    const [ta, tb] = await Promise.all([a.manager.getAccessToken(), b.manager.getAccessToken()])
    seenByA.add(ta)
    seenByB.add(tb)
    statuses.push(await resourceStatus(e, ta), await resourceStatus(e, tb))
    await clock.advance(50)
  }
  t.same(histogram(statuses), { 200: 160 }, 'none with an expired token')
  const issuedAt = [...a.client.issued, ...b.client.issued].map(x => x.obtainedAtMs).sort((x, y) => x - y)
  t.ok(issuedAt.length >= 3, `${issuedAt.length} token requests in 4 s of 2 s tokens`)
  const gaps = issuedAt.slice(1).map((at, i) => at - (issuedAt[i] as number))
  t.ok(Math.min(...gaps) > 500, `one refresh per cycle for both replicas (gaps ${gaps.join(', ')} ms)`)
  t.ok([...seenByB].filter(x => seenByA.has(x)).length >= 3, 'the replicas used the same tokens')
})

t.test('a 401 on both replicas is fixed with one token request for the cluster', async t => {
  const redis = await startRedis(t)
  const e = await emulatorFor(t)
  const ra = redisClient(t, redis.url)
  const rb = redisClient(t, redis.url)
  await Promise.all([ready(ra), ready(rb)])
  const a = managerFor(t, e, { store: redisStore(ra, e) })
  const b = managerFor(t, e, { store: redisStore(rb, e) })
  const old = await a.manager.getAccessToken()
  t.equal(await b.manager.getAccessToken(), old)
  e.faults.expireAll()
  const fresh = await Promise.all([a, b, a, b, a, b].map(async r => {
    await r.manager.invalidate(old)
    return r.manager.getAccessToken()
  }))
  t.equal(new Set(fresh).size, 1)
  t.not(fresh[0], old)
  t.equal(e.stats.tokenRequests(), 2, 'the first token, then one refresh for both replicas')
  t.equal(e.stats.tokenRequests('refresh_token'), 1)
  t.equal(await resourceStatus(e, fresh[0] as string), 200)
})

t.test('a lock whose owner died expires, then another replica refreshes', async t => {
  const redis = await startRedis(t)
  const e = await emulatorFor(t)
  const client = redisClient(t, redis.url)
  await ready(client)
  const store = redisStore(client, e)
  t.ok(await store.tryLock('dead-replica', 400), 'a replica takes the lock and dies')
  const { manager } = managerFor(t, e, { store, lockTtlMs: 400 })
  const started = Date.now()
  const token = await manager.getAccessToken()
  const waited = Date.now() - started
  t.ok(waited >= 300 && waited < 1500, `waited ${waited} ms for the dead lock to expire`)
  t.equal(await resourceStatus(e, token), 200)
  t.equal(e.stats.tokenRequests(), 1)
  t.equal((await store.get())?.accessToken === token, true, 'and shared it')
})

t.test('Redis killed mid-run: traffic keeps flowing on a local token; when Redis returns the replicas share again', async t => {
  const redis = await startRedis(t)
  const e = await emulatorFor(t)
  const ra = redisClient(t, redis.url)
  const rb = redisClient(t, redis.url)
  await Promise.all([ready(ra), ready(rb)])
  const clock = fakeClock()
  const a = managerFor(t, e, { clock, store: clockedStore(ra, e, clock.now), checkIntervalMs: 100 })
  const b = managerFor(t, e, { clock, store: clockedStore(rb, e, clock.now), checkIntervalMs: 100 })
  a.manager.start()
  const shared = await a.manager.getAccessToken()
  t.equal(await b.manager.getAccessToken(), shared)

  await redis.stop()
  e.faults.revokeAll() // forces a new token while Redis is down
  await a.manager.invalidate(shared)
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) {
    statuses.push(await resourceStatus(e, await a.manager.getAccessToken()))
    await clock.advance(20)
  }
  t.same(histogram(statuses), { 200: 20 }, 'every call had a working token while Redis was down')
  t.equal(a.manager.state().store, 'redis-unavailable')
  t.equal(a.manager.state().hasValidToken, true)
  const local = await a.manager.getAccessToken()
  t.not(local, shared)

  await redis.start()
  // A background check finds Redis back and empty, and shares the local token.
  await checksUntil(clock, 'a shares again', () => a.manager.state().store === 'redis' || a.manager.state().store)
  await ready(rb)
  t.equal((await redisStore(rb, e).get())?.accessToken, local, 'a published its token')
  // b met the 401 too: it finds a's token in Redis instead of asking ION.
  const before = e.stats.tokenRequests()
  await b.manager.invalidate(shared)
  t.equal(await b.manager.getAccessToken(), local, 'b uses the token a obtained while Redis was down')
  t.equal(e.stats.tokenRequests(), before, 'without a token request')
  await a.manager.close()
  t.equal(e.stats.revocations(), 0, 'a does not revoke a token it has shared since')
})

t.test('Redis unreachable from the start: a process-local token, revoked on close', async t => {
  const redis = await startRedis(t)
  await redis.stop()
  const e = await emulatorFor(t)
  const { manager } = managerFor(t, e, { store: redisStore(redisClient(t, redis.url), e) })
  const token = await manager.getAccessToken()
  t.equal(await resourceStatus(e, token), 200)
  t.equal(manager.state().store, 'redis-unavailable')
  await manager.close()
  t.equal(e.stats.revocations(), 2, 'access and refresh token: nobody else knows them')
  t.equal(await resourceStatus(e, token), 401)
})

t.test('a Redis that hangs is bounded by storeTimeoutMs: a local token instead of a stuck caller', async t => {
  const redis = await startRedis(t)
  const e = await emulatorFor(t)
  // A client with no command timeout of its own: the manager's bound is what saves the caller.
  const raw = new Redis(redis.url, { lazyConnect: true })
  raw.on('error', () => {})
  await raw.connect()
  t.teardown(() => raw.disconnect())
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  // The real clock: the pause is Redis's own, in real time.
  const { manager } = managerFor(t, e, { store: redisStore(raw, e), storeTimeoutMs: 200, checkIntervalMs: 100 })
  await admin.call('CLIENT', 'PAUSE', '1000', 'ALL')
  const token = await manager.getAccessToken()
  t.equal(await resourceStatus(e, token), 200, 'a token while Redis hung (the pause outlasts the 200 ms bound)')
  t.equal(manager.state().store, 'redis-unavailable')
  manager.start()
  // The background check reads the store: the first answer after the pause marks it reachable.
  await eventually('back once Redis answers', () => manager.state().store === 'redis' || manager.state().store, 5000)
})

t.test('no log record and no state() carries a token, a refresh token, the client secret or the sask', async t => {
  const redis = await startRedis(t)
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: 2 })
  const records: string[] = []
  const capture = (level: string) => (obj: object, msg: string) => { records.push(`${level} ${JSON.stringify(obj)} ${msg}`) }
  const logger: TokenLogger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') }
  const rc = redisClient(t, redis.url)
  await ready(rc)
  const { manager, client } = managerFor(t, e, { clock, store: clockedStore(rc, e, clock.now), logger, checkIntervalMs: 100 })
  const states: string[] = []
  manager.start()
  const first = await manager.getAccessToken()
  states.push(JSON.stringify(manager.state()))
  e.faults.tokenDown(503) // refresh failures are logged
  await clock.advance(1300)
  states.push(JSON.stringify(manager.state()))
  t.equal(manager.state().lastError?.code, 'AUTH_003', 'a refresh failed')
  e.faults.tokenDown(false)
  await clock.advance(1000) // the backoff is at most 1 s
  t.equal(manager.state().lastError, undefined, 'recovered')
  const current = await manager.getAccessToken()
  t.not(current, first)
  await redis.stop() // store transitions are logged
  e.faults.revokeAll()
  await manager.invalidate(current)
  t.equal(await resourceStatus(e, await manager.getAccessToken()), 200)
  states.push(JSON.stringify(manager.state()))
  await redis.start()
  await checksUntil(clock, 'store back', () => manager.state().store === 'redis' || manager.state().store)
  await manager.close()
  const levels = new Set(records.map(r => r.split(' ')[0]))
  t.ok(levels.has('info') && levels.has('warn'), `${records.length} records (${[...levels].join(', ')})`)
  t.ok(records.some(r => r.includes('ION token refresh failed')), 'the failure was logged')
  t.ok(records.some(r => r.includes('token store unreachable')), 'the store outage was logged')
  const secrets = [e.ionapi.cs, e.ionapi.sask]
  for (const issued of client.issued) secrets.push(issued.accessToken, issued.refreshToken as string)
  t.ok(client.issued.length >= 2, `${client.issued.length} tokens issued during the run`)
  const text = records.concat(states).join('\n')
  const leaked = secrets.filter(s => text.includes(s))
  t.same(leaked.length, 0, 'nothing secret in any record or state')
  t.notMatch(text, /bearer|basic /i)
})
