import t from 'tap'
import { createMemoryDriver } from '../../src/cache/drivers/memory.ts'
import { createResponseCache } from '../../src/cache/manager.ts'
import { CallBudget } from '../../src/proxy/call-budget.ts'
import type { ClientRequest } from '../../src/proxy/gateway.ts'
import { createUpstream } from '../../src/proxy/upstream.ts'
import { emulatorFor, managerFor } from '../ion/helpers.ts'
import { gatewayOver } from './helpers.ts'

// The hold on the request path without Fastify: real pools and token manager against the emulator, a real memory
// cache, and one fake clock for the cache and the hold (nothing waits for real time to pass).

const ITEM = '/m3api-rest/v2/execute/MMS200MI/GetItmBasic'
const M3 = '/ACME_TST/M3'

function get (url: string): ClientRequest {
  return { method: 'GET', url: `/m3${url}`, headers: { accept: 'application/json' }, requestId: 'req-1', clientIp: '127.0.0.1' }
}

t.test('after ION\'s 429 its system is held: API_005 without calling ION, stale entries served, ION called again after Retry-After', async t => {
  const emulator = await emulatorFor(t)
  const { manager } = managerFor(t, emulator)
  let nowMs = Date.now()
  const now = (): number => nowMs
  const held: string[] = []
  const budget = new CallBudget({ now, callsPerMinute: 0, storeTimeoutMs: 250, onHeld: (system, reason) => held.push(`${system}:${reason}`) })
  const upstream = createUpstream({ origin: emulator.url, connections: 4, timeoutMs: 5000, retries: 1, tokens: manager, budget })
  t.teardown(() => upstream.close())
  const stale: string[] = []
  const cache = createResponseCache({ driver: createMemoryDriver({ maxBytes: 1 << 20 }), staleS: 600, maxEntryBytes: 1 << 20, waitTimeoutMs: 6000, now, events: { stale: api => stale.push(api) } })
  const gateway = gatewayOver(emulator, upstream, cache)

  t.equal((await gateway.passThrough('m3', get(`${ITEM}?ITNO=A100`))).cacheStatus, 'MISS')
  await cache.whenIdle()
  nowMs += 61_000 // A100's entry is stale now (TTL 60 s, stale for 600 s more)

  emulator.faults.rateLimitNext(1, 2, M3)
  const first = await gateway.passThrough('m3', get(`${ITEM}?ITNO=A101`))
  t.equal(first.statusCode, 429, 'the 429 that starts the hold is ION\'s own, relayed')
  t.equal(first.headers['retry-after'], '2')
  const callsAtHold = emulator.stats.calls(M3)

  const refusals = []
  for (const item of ['A101', 'A102', 'A103']) {
    refusals.push(await gateway.passThrough('m3', get(`${ITEM}?ITNO=${item}`)).then(() => undefined, (err: unknown) => err))
  }
  t.match(refusals, Array(3).fill({ code: 'API_005', statusCode: 429 }), 'reads without a stored answer: API_005')
  for (const r of refusals as Array<{ retryAfterS: number }>) t.ok(r.retryAfterS >= 1 && r.retryAfterS <= 2, `Retry-After ${r.retryAfterS} within the hold`)
  const write = await gateway.passThrough('m3', get('/m3api-rest/v2/execute/CRS610MI/ChgBasicData?CUNO=10003&CUNM=Held')).then(() => undefined, (err: unknown) => err)
  t.match(write, { code: 'API_005' }, 'writes too')

  const staleAnswer = await gateway.passThrough('m3', get(`${ITEM}?ITNO=A100`))
  t.equal(staleAnswer.cacheStatus, 'STALE', 'a read with a stale entry gets it')
  t.match(String(staleAnswer.body), /A100/)
  t.same(stale, ['m3:MMS200MI/GetItmBasic'], 'counted as stale under its api label')
  t.equal(emulator.stats.calls(M3), callsAtHold, `ION got no call during the hold (saw ${emulator.stats.calls(M3) - callsAtHold})`)
  t.same(held, Array(5).fill('m3:hold'), `every call held back is counted (${held.join(', ')})`)

  const ln = await gateway.passThrough('ln', { ...get(''), url: '/ln/lnapi/odata/tdapi.slsSalesOrder/Orders' })
  t.equal(ln.statusCode, 200, 'another system is not held')

  nowMs += 2000
  const after = await gateway.passThrough('m3', get(`${ITEM}?ITNO=A101`))
  t.equal(after.statusCode, 200, 'after Retry-After ION is called again')
  t.equal(emulator.stats.calls(M3), callsAtHold + 1, `one more ION call (saw ${emulator.stats.calls(M3) - callsAtHold})`)
})
