import t from 'tap'
import type { Test } from 'tap'
import type { Readable } from 'node:stream'
import type { Emulator } from '../../emulator/index.ts'
import { createMemoryDriver } from '../../src/cache/drivers/memory.ts'
import { createResponseCache, type ResponseCache } from '../../src/cache/manager.ts'
import { isGatewayError } from '../../src/errors.ts'
import type { ClientRequest, Gateway } from '../../src/proxy/gateway.ts'
import { createUpstream } from '../../src/proxy/upstream.ts'
import { emulatorFor, managerFor } from '../ion/helpers.ts'
import { gatewayOver } from './helpers.ts'

// The gateway's request path on its own: real upstream pools and token manager against the ION emulator over HTTP,
// a real memory cache, no Fastify.

const M3 = '/ACME_TST/M3'
const ITEM_PATH = '/m3api-rest/v2/execute/MMS200MI/GetItmBasic'

interface Setup {
  emulator: Emulator
  gateway: Gateway
  misses: string[]
}

async function setUp (t: Test, withCache: boolean, emulator?: Emulator): Promise<Setup> {
  const e = emulator ?? await emulatorFor(t)
  const { manager } = managerFor(t, e)
  const upstream = createUpstream({ origin: e.url, connections: 4, timeoutMs: 5000, retries: 1, tokens: manager })
  t.teardown(() => upstream.close())
  const misses: string[] = []
  const cache: ResponseCache | null = withCache
    ? createResponseCache({ driver: createMemoryDriver({ maxBytes: 1 << 20 }), staleS: 60, maxEntryBytes: 1 << 20, waitTimeoutMs: 6000, events: { miss: api => misses.push(api) } })
    : null
  return { emulator: e, gateway: gatewayOver(e, upstream, cache), misses }
}

function get (url: string): ClientRequest {
  return { method: 'GET', url, headers: { accept: 'application/json' }, requestId: 'req-1', clientIp: '127.0.0.1' }
}

function text (body: Buffer | Readable): string {
  if (!Buffer.isBuffer(body)) throw new Error('expected a buffered body')
  return body.toString('utf8')
}

t.test('an M3 read: ION once, then answered from the cache', async t => {
  const { emulator, gateway } = await setUp(t, true)
  const first = await gateway.passThrough('m3', get(`/m3${ITEM_PATH}?ITNO=A100`))
  t.equal(first.statusCode, 200)
  t.equal(first.cacheStatus, 'MISS')
  t.match(text(first.body), /A100/)
  const second = await gateway.passThrough('m3', get(`/m3${ITEM_PATH}?ITNO=A100`))
  t.equal(second.cacheStatus, 'HIT')
  t.equal(text(second.body), text(first.body))
  t.equal(emulator.stats.calls(M3 + ITEM_PATH), 1, `one ION call for two reads (saw ${emulator.stats.calls(M3 + ITEM_PATH)})`)
})

t.test('without a cache every read reaches ION, answered with no cache status', async t => {
  const { emulator, gateway } = await setUp(t, false)
  for (let i = 0; i < 2; i++) {
    const res = await gateway.passThrough('m3', get(`/m3${ITEM_PATH}?ITNO=A100`))
    t.equal(res.statusCode, 200)
    t.equal(res.cacheStatus, undefined)
  }
  t.equal(emulator.stats.calls(M3 + ITEM_PATH), 2, `saw ${emulator.stats.calls(M3 + ITEM_PATH)}`)
})

t.test('an M3 write over GET is never cached', async t => {
  const { emulator, gateway } = await setUp(t, true)
  const path = '/m3api-rest/v2/execute/CRS610MI/ChgBasicData'
  for (let i = 0; i < 2; i++) {
    const res = await gateway.passThrough('m3', get(`/m3${path}?CUNO=10003&CUNM=Twice`))
    t.equal(res.cacheStatus, 'BYPASS')
  }
  t.equal(emulator.stats.calls(M3 + path), 2, `each write reached ION (saw ${emulator.stats.calls(M3 + path)})`)
})

t.test('an M3 answer reporting an error is not stored; ION\'s headers reach the client filtered', async t => {
  const { emulator, gateway } = await setUp(t, true)
  const path = '/m3api-rest/execute/MMS200MI/GetItmBasic'
  emulator.faults.respondNext(1, { status: 200, headers: { 'set-cookie': 'a=b', 'x-ion': '1' }, body: { '@type': 'ServerReturnedNOK', Message: 'nope   ' } }, M3 + path)
  const first = await gateway.passThrough('m3', get(`/m3${path}?ITNO=A100`))
  t.equal(first.headers['set-cookie'], undefined)
  t.equal(first.headers['x-ion'], '1')
  const second = await gateway.passThrough('m3', get(`/m3${path}?ITNO=A100`))
  t.equal(second.cacheStatus, 'MISS', `not stored (got ${String(second.cacheStatus)})`)
  t.equal(emulator.stats.calls(M3 + path), 2, `saw ${emulator.stats.calls(M3 + path)}`)
})

t.test('a path that would leave the system is refused before ION is called', async t => {
  const { emulator, gateway } = await setUp(t, true)
  const refused = await gateway.passThrough('m3', get('/m3/..%2fLN/x')).catch((err: unknown) => err)
  t.ok(isGatewayError(refused) && refused.code === 'API_003', `API_003 (got ${String(refused)})`)
  t.equal(emulator.stats.calls(), 0, `ION not called (saw ${emulator.stats.calls()})`)
})

t.test('the typed call: records flattened, a miss then a hit; M3 errors are API_004', async t => {
  const { emulator, gateway } = await setUp(t, true)
  const call = { program: 'MMS200MI', transaction: 'GetItmBasic', rawQuery: 'ITNO=A100', requestId: 'r', clientIp: '127.0.0.1' }
  const first = await gateway.m3Execute(call)
  t.equal(first.cacheStatus, 'MISS')
  t.equal(first.records[0]?.ITNO, 'A100')
  const second = await gateway.m3Execute(call)
  t.equal(second.cacheStatus, 'HIT')
  t.same(second.records, first.records)
  t.equal(emulator.stats.calls(M3 + ITEM_PATH), 1, `saw ${emulator.stats.calls(M3 + ITEM_PATH)}`)

  const failed = await gateway.m3Execute({ ...call, rawQuery: 'ITNO=NOSUCHITEM' }).catch((err: unknown) => err)
  t.ok(isGatewayError(failed) && failed.code === 'API_004' && failed.statusCode === 422, `API_004 (got ${String(failed)})`)
})

t.test('the api label of a read is decided at its first sighting: first miss, later misses and unstored answers share it', async t => {
  const { gateway, misses } = await setUp(t, true)
  await gateway.passThrough('m3', get(`/m3${ITEM_PATH}?ITNO=NOSUCHITEM`))
  await gateway.passThrough('m3', get(`/m3${ITEM_PATH}?ITNO=A100`))
  await gateway.passThrough('m3', get(`/m3${ITEM_PATH}?ITNO=A200`))
  await gateway.passThrough('ln', get('/ln/lnapi/odata/tdapi.slsSalesOrder/Orders'))
  t.same(misses, ['m3:MMS200MI/GetItmBasic', 'm3:MMS200MI/GetItmBasic', 'm3:MMS200MI/GetItmBasic', 'ln'],
    `one label per call, whether or not an answer was stored (saw ${misses.join(', ')})`)
})

t.test('the typed call reads ION\'s answer once on a miss (the cache\'s storing check and the records share it)', async t => {
  const { gateway } = await setUp(t, true)
  const parse = JSON.parse
  let parses = 0
  t.teardown(() => { JSON.parse = parse })
  JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    if (text.includes('"results"')) parses++
    return parse(text, reviver) as unknown
  }) as typeof JSON.parse
  const answer = await gateway.m3Execute({ program: 'MMS200MI', transaction: 'GetItmBasic', rawQuery: 'ITNO=A100', requestId: 'r', clientIp: '127.0.0.1' })
  JSON.parse = parse
  t.equal(answer.cacheStatus, 'MISS')
  t.equal(parses, 1, `ION's answer parsed ${parses} times`)
})
