import t, { type Test } from 'tap'
import { LoginBudget, LoginsHeldError, MemoryLoginBudgetStore, RedisLoginBudgetStore, tokenFingerprint, type LoginBudgetStore } from '../../src/ion/login-budget.ts'
import { noopLogger } from '../../src/ion/token-logger.ts'
import { RedisTokenStore } from '../../src/ion/token-store.ts'
import { startRedis } from '../helpers/redis.ts'
import { fakeClock, ready, redisClient } from './helpers.ts'

const T0 = 1_700_000_000_000

/** The same rules whichever store keeps them. */
async function storeRules (t: Test, make: (clientId?: string) => LoginBudgetStore): Promise<void> {
  const store = make()
  t.equal(await store.claimRelogin('aaaa', T0, 60000), 'claimed', 'the first 401 spends the interval\'s login')
  t.equal(await store.claimRelogin('aaaa', T0 + 10, 60000), 'same', 'the same token again: follow that login')
  t.equal(await store.claimRelogin('bbbb', T0 + 20, 60000), 'spent', 'another token within the interval: no login')
  t.equal(await store.claimRelogin('bbbb', T0 + 59999, 60000), 'spent', 'until the interval ends')
  t.equal(await store.claimRelogin('bbbb', T0 + 60000, 60000), 'claimed', 'then one more')
  t.equal(await store.claimRelogin('aaaa', T0 + 60001, 60000), 'spent')

  const taken: number[] = []
  const perMinute = [{ windowMs: 60000, limit: 3 }]
  for (let i = 0; i < 5; i++) taken.push(await store.takeLogin(`p:${i}`, T0 + i * 1000, perMinute))
  t.same(taken, [0, 0, 0, 57000, 56000], `three logins, then the ms until the oldest leaves the window: ${taken.join(', ')}`)
  t.equal(await store.takeLogin('p:5', T0 + 60000, perMinute), 0, 'the first has left the window')
  t.equal(await store.takeLogin('p:6', T0 + 60000, perMinute), 1000, 'the second has not')

  // A day window over the minute one: 2 a minute, 5 a day. Logins every 40 s fit the minute; the sixth is held until
  // the first leaves the day.
  const dayStore = make('day-client')
  const windows = [{ windowMs: 60000, limit: 2 }, { windowMs: 86_400_000, limit: 5 }]
  const D0 = T0 + 10_000_000
  const daily: number[] = []
  for (let i = 0; i < 7; i++) daily.push(await dayStore.takeLogin(`d:${i}`, D0 + i * 40000, windows))
  t.same(daily.slice(0, 5), [0, 0, 0, 0, 0], `five logins 40 s apart fit both windows: ${daily.join(', ')}`)
  t.equal(daily[5], 86_400_000 - 5 * 40000, `the sixth waits until the first leaves the day: ${daily[5]} ms`)
  t.equal(daily[6], 86_400_000 - 6 * 40000, 'a refused login is not counted: the next still waits on the first')
  t.same(await Promise.all([dayStore.takeLogin('d:7', D0 + 86_400_000, windows), dayStore.takeLogin('d:8', D0 + 86_400_000 + 1, windows)]), [0, 39999],
    'a day after the first, one fits again; the next waits until the second is a day old')
}

t.test('memory store: one 401 login per interval, logins in a sliding minute', async t => {
  await storeRules(t, () => new MemoryLoginBudgetStore())
})

t.test('Redis store: the same rules, in single-key scripts beside the token (one Cluster slot)', async t => {
  const redis = await startRedis(t)
  const client = redisClient(t, redis.url)
  await ready(client)
  const keys = { keyPrefix: 'ion-gateway:ACME_TST:1a2b3c4d:token:', clientId: 'ACME_TST~abc' }
  await storeRules(t, (clientId = keys.clientId) => new RedisLoginBudgetStore(client, { ...keys, clientId }))
  const store = new RedisLoginBudgetStore(client, keys)
  const tokenKey = new RedisTokenStore(client, keys).key
  t.equal(store.reloginKey, `${tokenKey}:relogin`)
  t.equal(store.loginsKey, `${tokenKey}:logins`)
  const [slotA, slotB, slotC] = await Promise.all([tokenKey, store.reloginKey, store.loginsKey].map(k => client.call('CLUSTER', 'KEYSLOT', k).catch(() => undefined)))
  if (slotA !== undefined) t.ok(slotA === slotB && slotB === slotC, 'one hash slot')
  t.ok(Number(await client.pttl(store.loginsKey)) <= 60000, 'the login window expires by itself')
  t.ok(Number(await client.pttl(store.reloginKey)) <= 60000, 'so does the interval')
})

t.test('tokens are named by a fingerprint, never stored', async t => {
  t.equal(tokenFingerprint('eyJ.secret.token').length, 16)
  t.not(tokenFingerprint('eyJ.secret.token'), tokenFingerprint('eyJ.secret.other'))
})

t.test('LoginBudget: Redis down means this replica decides alone, and what it saw while Redis answered still holds', async t => {
  const redis = await startRedis(t)
  const client = redisClient(t, redis.url)
  await ready(client)
  const clock = fakeClock(T0)
  const store = new RedisLoginBudgetStore(client, { keyPrefix: 'p:', clientId: 'c' })
  const warnings: string[] = []
  const log = { ...noopLogger, warn: (_o: object, msg: string) => { warnings.push(msg) } }
  const replica = (owner: string): LoginBudget => new LoginBudget({ store, clock, log, owner, reloginIntervalMs: 60000, loginsPerMinute: 2, loginsPerDay: 100, storeTimeoutMs: 1000 })
  const a = replica('a')
  const b = replica('b')
  t.equal(await a.claimRelogin('token-1'), 'claimed')
  t.equal(await b.claimRelogin('token-1'), 'same', 'the other replica follows the login made for that token')
  t.equal(await b.claimRelogin('token-2'), 'spent')
  await a.takeLogin()
  await b.takeLogin()
  await t.rejects(a.takeLogin(), { code: 'AUTH_003' }, 'two logins a minute for the cluster')

  await redis.stop()
  t.equal(await a.claimRelogin('token-2'), 'spent', 'still spent: a remembers the interval')
  await a.takeLogin()
  await t.rejects(a.takeLogin(), { code: 'AUTH_003' }, 'a counts alone now, and remembers its login Redis counted: two, then held')
  t.equal(await b.claimRelogin('token-3'), 'spent', 'b knows the interval is spent')
  t.match(warnings, [/unreachable/], `the fallback is logged once: ${warnings.length} warning(s)`)
  await clock.advance(60000)
  t.equal(await a.claimRelogin('token-3'), 'claimed', 'a new interval: a decides for itself')
  t.equal(await b.claimRelogin('token-3'), 'claimed', 'so does b (at most one per interval per replica)')
  t.equal(await a.claimRelogin('token-4'), 'spent')
  await a.takeLogin()
  await a.takeLogin()
  const held = await a.takeLogin().then(() => undefined, (err: unknown) => err)
  t.ok(held instanceof LoginsHeldError, 'per replica, the limit still holds')
  t.equal((held as LoginsHeldError).code, 'AUTH_003')
  t.equal((held as LoginsHeldError).retryAfterS, 60, 'Retry-After: until the window has room')
})

t.test('LoginBudget without a shared store: the process is the cluster', async t => {
  const clock = fakeClock(T0)
  const budget = new LoginBudget({ clock, log: noopLogger, owner: 'x', reloginIntervalMs: 1000, loginsPerMinute: 1, loginsPerDay: 100, storeTimeoutMs: 1000 })
  t.equal(await budget.claimRelogin('t1'), 'claimed')
  t.equal(await budget.claimRelogin('t2'), 'spent')
  await clock.advance(1000)
  t.equal(await budget.claimRelogin('t2'), 'claimed')
  await budget.takeLogin()
  await t.rejects(budget.takeLogin(), { code: 'AUTH_003', retryAfterS: 60 })
})

t.test('ION_LOGINS_PER_DAY: once the day\'s logins are spent, no login until the oldest is a day old', async t => {
  const clock = fakeClock(T0)
  const budget = new LoginBudget({ clock, log: noopLogger, owner: 'x', reloginIntervalMs: 1000, loginsPerMinute: 10, loginsPerDay: 3, storeTimeoutMs: 1000 })
  for (let i = 0; i < 3; i++) {
    await budget.takeLogin()
    await clock.advance(3_600_000)
  }
  const held = await budget.takeLogin().then(() => undefined, (err: unknown) => err)
  t.ok(held instanceof LoginsHeldError, 'the fourth login in a day is held')
  t.equal((held as LoginsHeldError).retryAfterS, 21 * 3600, `Retry-After until the first login is a day old: ${(held as LoginsHeldError).retryAfterS} s`)
  t.match((held as LoginsHeldError).message, /3 a day/)
  await clock.advance(21 * 3600 * 1000)
  await budget.takeLogin()
  t.pass('a day after the first login, one more')
})
