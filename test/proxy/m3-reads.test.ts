import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/gateway.ts'

const M3 = '/ACME_TST/M3'
const OK_V2 = { results: [{ transaction: 'ChgBasicData', records: [] }], wasTerminated: false, nrOfSuccessfullTransactions: 1, nrOfFailedTransactions: 0 }

async function get (url: string) {
  const res = await request(url)
  const text = await res.body.text()
  return { status: res.statusCode, cache: res.headers['x-cache'], text }
}

t.test('an M3 write hidden behind a matrix parameter on execute reaches ION once per request: no retry, no cache', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory', UPSTREAM_RETRIES: '2' } })
  // M3 ignores matrix parameters when it matches paths: this runs CRS610MI/ChgBasicData.
  const ionPath = `${M3}/m3api-rest/v2/execute;v=1/CRS610MI/ChgBasicData`
  const url = `${gw.url}/m3/m3api-rest/v2/execute;v=1/CRS610MI/ChgBasicData?CUNO=10003&CUNM=Once`
  gw.emulator.faults.failNext(2, 503, ionPath)
  gw.emulator.faults.respondNext(2, { status: 200, body: OK_V2 }, ionPath)

  const first = await get(url)
  t.equal(first.status, 503, `ION's 503 is relayed, not retried (got ${first.status})`)
  t.equal(gw.emulator.stats.calls(ionPath), 1, `one ION call for one request (saw ${gw.emulator.stats.calls(ionPath)})`)
  t.equal(first.cache, 'BYPASS')

  const second = await get(url)
  t.equal(second.status, 503)
  t.equal(gw.emulator.stats.calls(ionPath), 2, `saw ${gw.emulator.stats.calls(ionPath)} calls`)

  const third = await get(url)
  t.equal(third.status, 200)
  t.equal(third.cache, 'BYPASS', 'a write is never stored')
  const fourth = await get(url)
  t.equal(fourth.status, 200)
  t.equal(fourth.cache, 'BYPASS', 'and never answered from the cache')
  t.equal(gw.emulator.stats.calls(ionPath), 4, `every request reached ION exactly once (saw ${gw.emulator.stats.calls(ionPath)} calls for 4 requests)`)
})

t.test('a read with matrix parameters on its transaction is still retried and cached', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory', UPSTREAM_RETRIES: '2' } })
  const ionPath = `${M3}/m3api-rest/v2/execute/CRS610MI/LstByNumber;maxrecs=3`
  const url = `${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/LstByNumber;maxrecs=3`
  gw.emulator.faults.failNext(1, 503, ionPath)
  const first = await get(url)
  t.equal(first.status, 200, 'retried after the 503')
  t.equal(gw.emulator.stats.calls(ionPath), 2, `the 503 and the retry (saw ${gw.emulator.stats.calls(ionPath)})`)
  t.equal(first.cache, 'MISS')
  t.equal((await get(url)).cache, 'HIT')
  t.equal(gw.emulator.stats.calls(ionPath), 2)
})

t.test('M3 paths that are not exactly an MI read are sent once and not cached', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory', UPSTREAM_RETRIES: '2' } })
  for (const path of ['/m3api-rest/V2/execute/MMS200MI/GetItmBasic', '/m3api-rest/v2/execute/MMS200MI/GetItmBasic/x', '/m3api-rest/metadata']) {
    const ionPath = `${M3}${path}`
    gw.emulator.faults.failNext(1, 503, ionPath)
    gw.emulator.faults.respondNext(2, { status: 200, body: { ok: true } }, ionPath)
    const first = await get(`${gw.url}/m3${path}`)
    t.equal(first.status, 503, `${path}: not retried`)
    const second = await get(`${gw.url}/m3${path}`)
    const third = await get(`${gw.url}/m3${path}`)
    t.same([second.cache, third.cache], ['BYPASS', 'BYPASS'], `${path}: not cached`)
    t.equal(gw.emulator.stats.calls(ionPath), 3, `${path}: one ION call per request (saw ${gw.emulator.stats.calls(ionPath)} for 3)`)
  }
})
