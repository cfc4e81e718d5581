import t from 'tap'
import { Redis } from 'ioredis'
import { CALL_WINDOW_MS, CallBudget, HOLD_DEFAULT_S, HOLD_MAX_S, RedisCallBudgetStore, holdSeconds, type CallBudgetOptions } from '../../src/proxy/call-budget.ts'
import { redisNamespace } from '../../src/redis-namespace.ts'
import type { SystemId } from '../../src/proxy/systems.ts'
import { startRedis } from '../helpers/redis.ts'

// A minute boundary plus 10 s: the window of ION_CALLS_PER_MIN does not roll unless the test moves the clock.
const T0 = 29_000_000 * CALL_WINDOW_MS + 10_000

function fakeClock (start = T0): { now: () => number, advance: (ms: number) => void } {
  let at = start
  return { now: () => at, advance: ms => { at += ms } }
}

async function refusal (fn: () => unknown): Promise<{ code?: string, statusCode?: number, retryAfterS?: number } | undefined> {
  try {
    await fn()
    return undefined
  } catch (err) {
    return err as { code?: string, statusCode?: number, retryAfterS?: number }
  }
}

function budgetWith (options: Partial<CallBudgetOptions> & { now: () => number }): { budget: CallBudget, held: Array<[SystemId, string]> } {
  const held: Array<[SystemId, string]> = []
  const budget = new CallBudget({ callsPerMinute: 0, storeTimeoutMs: 250, onHeld: (s, r) => held.push([s, r]), ...options })
  return { budget, held }
}

t.test('Retry-After: delta seconds or an HTTP-date, at least 1 s and at most HOLD_MAX_S; absent or garbage: the default', async t => {
  t.equal(holdSeconds('2', T0), 2)
  t.equal(holdSeconds(['7', '9'], T0), 7, 'the first of repeated headers')
  t.equal(holdSeconds('0', T0), 1, 'ION said 429: never less than a second')
  t.equal(holdSeconds('86400', T0), HOLD_MAX_S, 'capped')
  t.equal(holdSeconds(new Date(T0 + 5000).toUTCString(), T0 + 500), 5, 'an HTTP-date, rounded up to whole seconds')
  t.equal(holdSeconds(new Date(T0 - 60_000).toUTCString(), T0), 1, 'a date in the past')
  for (const garbage of [undefined, '', '  ', '-3', '1.5', 'soon', []]) {
    t.equal(holdSeconds(garbage as string | undefined, T0), HOLD_DEFAULT_S, `default for ${JSON.stringify(garbage)}`)
  }
})

t.test('alone: a 429 holds its system (not the others) until Retry-After has passed on the clock', async t => {
  const clock = fakeClock()
  const { budget, held } = budgetWith({ now: clock.now })
  t.equal(budget.checkHold('m3'), undefined, 'no hold, no store: nothing to await')
  await budget.tooManyRequests('m3', '2')
  const refused = await refusal(() => budget.checkHold('m3'))
  t.match(refused, { code: 'API_005', statusCode: 429, retryAfterS: 2 })
  t.equal(await refusal(() => budget.checkHold('ln')), undefined, 'LN is not held')
  clock.advance(1500)
  t.match(await refusal(() => budget.assertNotHeld('m3')), { code: 'API_005', retryAfterS: 1 }, 'the remaining whole seconds, at least 1')
  clock.advance(500)
  t.equal(await refusal(() => budget.checkHold('m3')), undefined, 'over when Retry-After has passed')
  t.same(held, [['m3', 'hold'], ['m3', 'hold']], 'each refused call is reported')
  await budget.tooManyRequests('m3', '5')
  await budget.tooManyRequests('m3', '1')
  clock.advance(2000)
  t.match(await refusal(() => budget.checkHold('m3')), { code: 'API_005' }, 'a shorter hold does not end a longer one')
})

t.test('alone: ION_CALLS_PER_MIN counts this replica\'s calls in fixed minutes, then API_005 until the minute ends', async t => {
  const clock = fakeClock()
  const { budget, held } = budgetWith({ now: clock.now, callsPerMinute: 3 })
  t.ok(budget.counting)
  for (let i = 0; i < 3; i++) await budget.takeCall('m3')
  t.equal(budget.usedRatio(), 1)
  t.match(await refusal(() => budget.takeCall('ln')), { code: 'API_005', statusCode: 429, retryAfterS: 50 }, 'the tenant\'s count: any system; 50 s left in the minute')
  t.same(held, [['ln', 'budget']])
  clock.advance(50_000)
  t.equal(await refusal(() => budget.takeCall('m3')), undefined, 'a new minute, a new count')
  t.equal(budget.usedRatio(), 1 / 3)
  t.notOk(budgetWith({ now: clock.now }).budget.counting, '0 = not counted')
})

t.test('through Redis: a second replica learns a hold at its next check, and both count one tenant-wide minute', async t => {
  const redis = await startRedis(t)
  const clients = [new Redis(redis.url, { lazyConnect: false }), new Redis(redis.url, { lazyConnect: false })]
  t.teardown(() => { for (const c of clients) c.disconnect() })
  const ns = redisNamespace('test:', { tenant: 'ACME_TST', apiBaseUrl: 'https://ion.example/ACME_TST' })
  const clock = fakeClock()
  const [a, b] = clients.map(c => budgetWith({ now: clock.now, callsPerMinute: 5, store: new RedisCallBudgetStore(c, ns) }).budget) as [CallBudget, CallBudget]

  await b.checkHold('m3')
  await a.tooManyRequests('m3', '3')
  const store = new RedisCallBudgetStore(clients[0] as Redis, ns)
  t.equal(store.holdKey('m3'), `${ns.root}hold:M3`, 'the key sits in the tenant namespace')
  t.equal(Number(await clients[0]?.get(`${ns.root}hold:M3`)), T0 + 3000, 'the end of the hold, on the callers\' clock')
  const pttl = await clients[0]?.pttl(`${ns.root}hold:M3`) ?? -1
  t.ok(pttl > 0 && pttl <= 3000, `expires with the hold (PTTL ${pttl})`)
  t.equal(b.checkHold('m3'), undefined, 'within the check interval B does not ask Redis')
  clock.advance(600)
  const check = b.checkHold('m3')
  t.ok(check, 'past it, B asks once')
  t.match(await refusal(() => check), { code: 'API_005', retryAfterS: 3 }, 'and holds without having seen the 429')
  clock.advance(2400)
  t.equal(await refusal(() => b.checkHold('m3')), undefined, 'the hold ends for B too')

  for (let i = 0; i < 3; i++) await a.takeCall('m3')
  for (let i = 0; i < 2; i++) await b.takeCall('ln')
  t.match(await refusal(() => b.takeCall('m3')), { code: 'API_005' }, 'the 6th call in the minute, whichever replica')
  t.match(await refusal(() => a.takeCall('idm')), { code: 'API_005' })
  t.equal(Number(await clients[0]?.get(store.callsKey(T0 - 10_000))), 5, 'refused calls are not counted')
  t.equal(a.usedRatio(), 1, 'a replica that was refused knows the minute is spent')
})

t.test('Redis down: holds this replica knows still apply, new ones are local, and the count is per replica', async t => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const ns = redisNamespace('test:', { tenant: 'ACME_TST', apiBaseUrl: 'https://ion.example/ACME_TST' })
  const clock = fakeClock()
  const warnings: string[] = []
  const log = { warn: (_o: object, msg: string) => warnings.push(msg), info: () => {} }
  const { budget } = budgetWith({ now: clock.now, callsPerMinute: 2, store: new RedisCallBudgetStore(client, ns), log })
  await budget.tooManyRequests('ln', '10')
  await redis.stop()
  clock.advance(1000)
  t.match(await refusal(() => budget.checkHold('ln')), { code: 'API_005', retryAfterS: 9 }, 'the known hold holds')
  await budget.tooManyRequests('idm', '4')
  t.match(await refusal(() => budget.checkHold('idm')), { code: 'API_005', retryAfterS: 4 }, 'a new 429 holds locally')
  await budget.takeCall('m3')
  await budget.takeCall('m3')
  t.match(await refusal(() => budget.takeCall('m3')), { code: 'API_005' }, 'ION_CALLS_PER_MIN per replica meanwhile')
  t.ok(warnings.some(w => /unreachable/.test(w)), `warned once (${warnings.length}): ${warnings.join(' | ')}`)
  t.equal(warnings.length, 1, 'and only once')
})
