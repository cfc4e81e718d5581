import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/gateway.ts'

const M3 = '/ACME_TST/M3'
const LN = '/ACME_TST/LN'

async function get (url: string) {
  const res = await request(url)
  const text = await res.body.text()
  return { status: res.statusCode, cache: res.headers['x-cache'], text }
}

t.test('reads differing only in cache-busters (_rid, _) share one entry and one ION call; ION still receives them', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory' } })
  const ionPath = `${M3}/m3api-rest/v2/execute/CRS610MI/GetBasicData`
  const base = `${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10003`

  const first = await get(`${base}&_rid=4f1c9a`)
  t.equal(first.status, 200)
  t.equal(first.cache, 'MISS')
  await gw.app.responseCache?.whenIdle()
  const second = await get(`${base}&_rid=77e2b0`)
  t.equal(second.cache, 'HIT', `another _rid is the same read (got ${second.cache})`)
  const third = await get(`${base}&_=1733100000000`)
  t.equal(third.cache, 'HIT', `jQuery's _ too (got ${third.cache})`)
  t.equal(second.text, first.text)
  t.equal(gw.emulator.stats.calls(ionPath), 1, `one ION call for three reads (saw ${gw.emulator.stats.calls(ionPath)})`)
  const sent = gw.emulator.stats.requests(ionPath).map(r => r.url)
  t.match(sent[0], /[?&]_rid=4f1c9a(&|$)/, `the cache-buster is forwarded on a miss (ION saw ${sent[0]})`)

  const other = await get(`${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10004&_rid=4f1c9a`)
  t.equal(other.cache, 'MISS', 'the other parameters still make the key')
  t.equal(gw.emulator.stats.calls(ionPath), 2, `saw ${gw.emulator.stats.calls(ionPath)}`)
})

t.test('concurrent misses differing only in a cache-buster are coalesced into one ION call (LN)', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory' } })
  const ionPath = `${LN}/lnapi/odata/tdapi.slsSalesOrder/Orders`
  const answers = await Promise.all([1, 2, 3, 4].map(n => get(`${gw.url}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$top=2&_=${n}`)))
  t.same(answers.map(a => a.status), [200, 200, 200, 200])
  t.equal(gw.emulator.stats.calls(ionPath), 1, `one ION call for 4 concurrent reads (saw ${gw.emulator.stats.calls(ionPath)})`)
})

t.test('CACHE_IGNORE_PARAMS replaces the list; empty keys every parameter', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory', CACHE_IGNORE_PARAMS: '' } })
  const ionPath = `${M3}/m3api-rest/v2/execute/CRS610MI/GetBasicData`
  const base = `${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10003`
  t.equal((await get(`${base}&_rid=1`)).cache, 'MISS')
  await gw.app.responseCache?.whenIdle()
  t.equal((await get(`${base}&_rid=2`)).cache, 'MISS')
  t.equal(gw.emulator.stats.calls(ionPath), 2, `saw ${gw.emulator.stats.calls(ionPath)}`)
})
