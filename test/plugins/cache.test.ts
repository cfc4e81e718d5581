import t, { type Test } from 'tap'
import { request } from 'undici'
import { createEmulator } from '../../emulator/index.ts'
import type { EnvInput } from '../../src/config.ts'
import { writeKeysFile } from '../helpers/api-keys.ts'
import { startGateway, type GatewayUnderTest } from '../helpers/gateway.ts'
import { rawRequest } from '../helpers/http.ts'
import { startRedis } from '../helpers/redis.ts'
import { eventually } from '../helpers/wait.ts'

const M3 = '/ACME_TST/M3/m3api-rest/v2/execute'
const ITEM_PATH = `${M3}/MMS200MI/GetItmBasic`

async function get (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(url, { headers, method })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text }
}

/** Waits until the gateway's pending cache writes have reached the driver (a signal, not a sleep). */
async function stored (gw: GatewayUnderTest): Promise<void> {
  await gw.app.responseCache?.whenIdle()
}

/** Each behaviour runs against both drivers: the memory one, and Redis on a private server. */
async function gatewayWith (t: Test, driver: 'memory' | 'redis', env: EnvInput = {}) {
  const extra: EnvInput = { CACHE_DRIVER: driver, ...env }
  if (driver === 'redis') extra.REDIS_URL = (await startRedis(t)).url
  return startGateway(t, { env: extra })
}

for (const driver of ['memory', 'redis'] as const) {
  t.test(`${driver}: a second identical GET is a HIT and ION is not called again`, async t => {
    const gw = await gatewayWith(t, driver)
    const first = await get(`${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`)
    t.equal(first.headers['x-cache'], 'MISS')
    await stored(gw) // the store is not awaited by the request
    const second = await get(`${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`)
    t.equal(second.status, 200)
    t.equal(second.headers['x-cache'], 'HIT')
    t.equal(second.headers.age, '0')
    t.equal(second.text, first.text)
    t.equal(gw.emulator.stats.calls(ITEM_PATH), 1)
    const head = await get(`${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`, {}, 'HEAD')
    t.equal(head.headers['x-cache'], 'HIT', 'HEAD answered from the GET entry')
    t.equal(head.text, '')
    t.equal(gw.emulator.stats.calls(ITEM_PATH), 1)
  })

  t.test(`${driver}: ?a=1&b=2 and ?b=2&a=1 share an entry`, async t => {
    const gw = await gatewayWith(t, driver)
    await get(`${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/LstByNumber?maxrecs=2&CUNO=10001`)
    await stored(gw)
    const swapped = await get(`${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/LstByNumber?CUNO=10001&maxrecs=2`)
    t.equal(swapped.headers['x-cache'], 'HIT')
    t.equal(gw.emulator.stats.calls(`${M3}/CRS610MI/LstByNumber`), 1)
  })

  t.test(`${driver}: keyed headers (LN company, language, accept) separate entries; repeats still hit`, async t => {
    const gw = await gatewayWith(t, driver)
    const orders = `${gw.url}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders`
    const variants: Array<Record<string, string>> = [{}, { 'x-infor-lncompany': '100' }, { 'x-infor-lncompany': '200' }, { 'x-infor-lncompany': '100', 'accept-language': 'nl-NL' }]
    for (const headers of variants) t.equal((await get(orders, headers)).headers['x-cache'], 'MISS', JSON.stringify(headers))
    await stored(gw)
    for (const headers of variants) t.equal((await get(orders, headers)).headers['x-cache'], 'HIT', `${JSON.stringify(headers)} again`)
    t.equal(gw.emulator.stats.calls('/ACME_TST/LN/lnapi/odata/tdapi.slsSalesOrder/Orders'), variants.length)
  })

  t.test(`${driver}: M3 writes via GET are never cached`, async t => {
    const gw = await gatewayWith(t, driver)
    for (const write of ['MMS200MI/AddItmBasic?ITNO=Z1&ITDS=x', 'CRS610MI/ChgBasicData?CUNO=10001&CUNM=y', 'MMS200MI/DltItmBasic?ITNO=Z1']) {
      const a = await get(`${gw.url}/m3/m3api-rest/v2/execute/${write}`)
      await stored(gw)
      const b = await get(`${gw.url}/m3/m3api-rest/v2/execute/${write}`)
      t.equal(a.headers['x-cache'], 'BYPASS', `${write} bypasses the cache`)
      t.equal(b.headers['x-cache'], 'BYPASS')
    }
    t.equal(gw.emulator.stats.calls(`${M3}/MMS200MI/AddItmBasic`), 2)
    t.equal(gw.emulator.stats.calls(`${M3}/CRS610MI/ChgBasicData`), 2)
  })

  t.test(`${driver}: error answers and uncacheable answers are not stored`, async t => {
    const gw = await gatewayWith(t, driver, { UPSTREAM_RETRIES: '0' })
    const bad = `${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=NOPE`
    t.equal((await get(bad)).status, 400)
    await stored(gw)
    t.equal((await get(bad)).headers['x-cache'], 'MISS', 'an M3 400 is not cached')
    gw.emulator.faults.failNext(1, 500, `${M3}/CRS610MI/GetBasicData`)
    const url = `${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10001`
    t.equal((await get(url)).status, 500)
    await stored(gw)
    const next = await get(url)
    t.equal(next.status, 200, 'a 500 is not cached')
    t.equal(next.headers['x-cache'], 'MISS')
    const uncacheable: Array<Record<string, string>> = [{ 'cache-control': 'no-store' }, { 'cache-control': 'private, max-age=60' }, { 'set-cookie': 'a=1' }, { vary: '*' }]
    for (const headers of uncacheable) {
      const path = '/ln/lnapi/odata/tdapi.slsSalesOrder/Orders'
      gw.emulator.faults.respondNext(1, { status: 200, headers, body: { value: [] } }, '/ACME_TST/LN/')
      await get(`${gw.url}${path}?probe=${encodeURIComponent(JSON.stringify(headers))}`)
      await stored(gw)
      const again = await get(`${gw.url}${path}?probe=${encodeURIComponent(JSON.stringify(headers))}`)
      t.equal(again.headers['x-cache'], 'MISS', `not stored: ${JSON.stringify(headers)}`)
    }
  })

  t.test(`${driver}: 100 concurrent identical misses cause one call to ION`, async t => {
    const gw = await gatewayWith(t, driver)
    await get(`${gw.url}/health`)
    gw.emulator.faults.latency(150, `${M3}/MMS200MI/GetItmBasic`)
    const answers = await Promise.all(Array.from({ length: 100 }, () => get(`${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A105`)))
    t.ok(answers.every(a => a.status === 200 && a.text === answers[0]?.text))
    t.equal(gw.emulator.stats.calls(ITEM_PATH), 1)
  })

  t.test(`${driver}: ION down → STALE within the window, the error after it`, async t => {
    const gw = await gatewayWith(t, driver, { CACHE_TTL_M3: '1', CACHE_STALE_S: '2', UPSTREAM_RETRIES: '0' })
    const url = `${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A101`
    const fresh = await get(url)
    // ION fails from now on; the entry answers HIT until its TTL ends (ION is not asked), then STALE.
    gw.emulator.faults.failNext(1000, 503, ITEM_PATH)
    let stale: Awaited<ReturnType<typeof get>> | undefined
    await eventually('the entry goes stale', async () => {
      stale = await get(url)
      return stale.headers['x-cache'] === 'STALE' || `${stale.status} ${String(stale.headers['x-cache'])}`
    }, 10000, 50)
    t.equal(stale?.status, 200)
    t.equal(stale?.text, fresh.text)
    gw.emulator.faults.clear()
    gw.emulator.faults.resetNext(1000, ITEM_PATH)
    t.equal((await get(url)).headers['x-cache'], 'STALE', 'a reset too')
    let gone: Awaited<ReturnType<typeof get>> | undefined
    await eventually('past the stale window the error comes through', async () => {
      gone = await get(url)
      return gone.status === 502 || `${gone.status} ${String(gone.headers['x-cache'])}`
    }, 10000, 50)
    t.equal(JSON.parse(gone?.text ?? '{}').error.code, 'API_001')
  })

  t.test(`${driver}: Cache-Control: no-cache skips the lookup and refreshes the entry`, async t => {
    const gw = await gatewayWith(t, driver)
    const url = `${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10005`
    await get(url)
    await get(`${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/ChgBasicData?CUNO=10005&CUNM=Changed`)
    await stored(gw)
    t.equal((await get(url)).headers['x-cache'], 'HIT')
    const refreshed = await get(url, { 'cache-control': 'no-cache' })
    t.equal(refreshed.headers['x-cache'], 'BYPASS')
    t.match(refreshed.text, /Changed/)
    await stored(gw)
    const after = await get(url)
    t.equal(after.headers['x-cache'], 'HIT')
    t.match(after.text, /Changed/, 'the entry was refreshed')
  })

  t.test(`${driver}: admin purge by system and prefix`, async t => {
    // Admin routes need an admin API key (in open mode they are disabled).
    const keys = writeKeysFile(t)
    const gw = await gatewayWith(t, driver, { CLIENT_API_KEYS_FILE: keys.file })
    const client = { 'x-api-key': keys.portal }
    const admin = { method: 'DELETE' as const, headers: { 'x-api-key': keys.ops } }
    await get(`${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`, client)
    await get(`${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10001`, client)
    await stored(gw)
    const purge = await request(`${gw.url}/admin/cache?system=m3&prefix=/m3api-rest/v2/execute/MMS200MI`, admin)
    t.same(await purge.body.json(), { purged: 1 })
    t.equal((await get(`${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`, client)).headers['x-cache'], 'MISS')
    t.equal((await get(`${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10001`, client)).headers['x-cache'], 'HIT')
    const all = await request(`${gw.url}/admin/cache`, admin)
    t.ok(((await all.body.json()) as { purged: number }).purged >= 1)
    const bad = await request(`${gw.url}/admin/cache?prefix=/x`, admin)
    t.equal(bad.statusCode, 400)
    await bad.body.dump()
  })
}

t.test('typed M3 route shares the cache with the pass-through v2 call', async t => {
  const gw = await gatewayWith(t, 'memory')
  const typed = await get(`${gw.url}/m3/mi/MMS200MI/GetItmBasic?ITNO=A102`)
  t.equal(typed.headers['x-cache'], 'MISS')
  await stored(gw)
  t.equal((await get(`${gw.url}/m3/mi/MMS200MI/GetItmBasic?ITNO=A102`)).headers['x-cache'], 'HIT')
  t.equal(gw.emulator.stats.calls(ITEM_PATH), 1)
})

t.test('bodies over CACHE_MAX_ENTRY_BYTES stream through and are not stored', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory', CACHE_MAX_ENTRY_BYTES: '100000' }, emulatorOptions: { idmBinarySizeBytes: 300000 } })
  const url = `${gw.url}/idm/api/items/MDS_File-3-20-LATEST/resource`
  const first = await request(url)
  let size = 0
  for await (const chunk of first.body) size += (chunk as Buffer).length
  t.equal(size, 300000)
  t.equal(first.headers['x-cache'], 'MISS')
  await stored(gw)
  const second = await get(url)
  t.equal(second.headers['x-cache'], 'MISS')
  t.equal(gw.emulator.stats.calls('/ACME_TST/IDM/api/items/MDS_File-3-20-LATEST/resource'), 2)
})

t.test('two gateway instances on one Redis share hits', async t => {
  const redis = await startRedis(t)
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const env = { CACHE_DRIVER: 'redis', REDIS_URL: redis.url }
  const [a, b] = await Promise.all([startGateway(t, { emulator, env }), startGateway(t, { emulator, env })])
  await get(`${a.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A103`)
  await stored(a)
  const fromB = await get(`${b.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A103`)
  t.equal(fromB.headers['x-cache'], 'HIT')
  t.equal(emulator.stats.calls(ITEM_PATH), 1)
})

t.test('Redis killed mid-run: BYPASS with 200s, then HITs again after it restarts', async t => {
  const redis = await startRedis(t)
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'redis', REDIS_URL: redis.url } })
  const url = `${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A104`
  await get(url)
  // The entry's write has landed: while it is on its way, requests share the first one's flight (MISS, rightly).
  await stored(gw)
  await redis.stop()
  for (let i = 0; i < 5; i++) {
    const res = await get(url)
    t.equal(res.status, 200)
    t.equal(res.headers['x-cache'], 'BYPASS')
  }
  await redis.start()
  let status: string | undefined
  await eventually('HIT once Redis is back', async () => {
    status = String((await get(url)).headers['x-cache'])
    return status === 'HIT' || status
  }, 8000)
  t.equal(status, 'HIT', 'HITs again once Redis is back (the entry was stored again after the restart)')
  const metrics = gw.app.gatewayMetrics
  t.ok(((await metrics.cacheErrors.get()).values[0]?.value ?? 0) > 0, 'SYS_001 counted')
})

t.test('metrics: hits, misses and stale served under one api label per call, from its first miss on', async t => {
  const gw = await gatewayWith(t, 'memory', { CACHE_TTL_M3: '1', UPSTREAM_RETRIES: '0' })
  const url = `${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A106`
  await get(url)
  await stored(gw)
  await get(url)
  for (let i = 0; i < 20; i++) await get(`${gw.url}/m3/m3api-rest/v2/execute/RND${i}MI/GetX?x=${i}`)
  gw.emulator.faults.failNext(1000, 503, ITEM_PATH)
  // HITs until the one-second TTL ends, then the first STALE.
  let hits = 1
  await eventually('the entry goes stale', async () => {
    const cache = (await get(url)).headers['x-cache']
    if (cache === 'HIT') hits++
    return cache === 'STALE' || String(cache)
  }, 10000, 50)
  const text = await gw.app.gatewayMetrics.registry.metrics()
  t.match(text, new RegExp(`ion_gateway_cache_hits_total\\{api="m3:MMS200MI/GetItmBasic"\\} ${hits}\n`), `every HIT counted under the call's label (${hits})`)
  t.match(text, /ion_gateway_cache_stale_served_total\{api="m3:MMS200MI\/GetItmBasic"\} 1/)
  const firstMisses = /ion_gateway_cache_misses_total\{api="m3:MMS200MI\/GetItmBasic"\} (\d+)/.exec(text)?.[1]
  t.ok(Number(firstMisses) >= 2, `the first miss is counted under the call's label too (saw ${firstMisses ?? 'none'})`)
  t.notMatch(text, /ion_gateway_cache_misses_total\{api="m3"\}/, 'no MI read is counted under the bare system')
  t.ok((gw.app.responseCache?.hitRatio() ?? 0) > 0, 'hit ratio for /ready')
})

t.test('the key is the path as sent to ION: ;maxrecs=3 and %3Bmaxrecs=3 are two entries (ION answers them differently)', async t => {
  const gw = await gatewayWith(t, 'memory')
  const plain = await rawRequest(gw.url, 'GET /m3/m3api-rest/v2/execute/CRS610MI/LstByNumber;maxrecs=3 HTTP/1.1\nHost: x\nConnection: close')
  t.equal(plain.status, 200)
  t.match(plain.raw, /x-cache: MISS/i)
  t.match((await rawRequest(gw.url, 'GET /m3/m3api-rest/v2/execute/CRS610MI/LstByNumber;maxrecs=3 HTTP/1.1\nHost: x\nConnection: close')).raw, /x-cache: HIT/i)
  const encoded = await rawRequest(gw.url, 'GET /m3/m3api-rest/v2/execute/CRS610MI/LstByNumber%3Bmaxrecs=3 HTTP/1.1\nHost: x\nConnection: close')
  const calls = gw.emulator.stats.calls(`${M3}/CRS610MI/LstByNumber%3Bmaxrecs=3`)
  t.equal(calls, 1, `the encoded spelling reached ION (saw ${calls} calls)`)
  t.equal(encoded.status, 400, `ION's own answer to it (got ${encoded.status})`)
  t.notMatch(encoded.raw, /x-cache: HIT/i)

  // The same for a system where such a path is a cacheable read: one entry per spelling.
  const ln = '/lnapi/odata/tdapi.slsSalesOrder/Orders'
  for (const [spelling, body] of [[';x=1', 'semicolon'], ['%3Bx=1', 'encoded'], ['%3bx=1', 'lower-case escape']] as const) {
    gw.emulator.faults.respondNext(1, { status: 200, body: { spelling: body } }, `/ACME_TST/LN${ln}${spelling}`)
    const first = await rawRequest(gw.url, `GET /ln${ln}${spelling} HTTP/1.1\nHost: x\nConnection: close`)
    t.match(first.raw, /x-cache: MISS/i, `${spelling}: its own entry`)
    t.match(first.raw, new RegExp(`"spelling":"${body}"`))
    const again = await rawRequest(gw.url, `GET /ln${ln}${spelling} HTTP/1.1\nHost: x\nConnection: close`)
    t.match(again.raw, /x-cache: HIT/i, `${spelling}: a repeat hits`)
    t.match(again.raw, new RegExp(`"spelling":"${body}"`), `${spelling}: with its own answer`)
  }
})

t.test('purge by prefix compares the prefix with the path as sent to ION, escapes included', async t => {
  const keys = writeKeysFile(t)
  const gw = await gatewayWith(t, 'memory', { CLIENT_API_KEYS_FILE: keys.file })
  const ln = '/lnapi/odata/tdapi.slsSalesOrder/Orders'
  for (const spelling of [';x=1', '%3Bx=1']) {
    gw.emulator.faults.respondNext(1, { status: 200, body: { spelling } }, `/ACME_TST/LN${ln}${spelling}`)
    await rawRequest(gw.url, `GET /ln${ln}${spelling} HTTP/1.1\nHost: x\nx-api-key: ${keys.portal}\nConnection: close`)
  }
  await stored(gw)
  const admin = { method: 'DELETE' as const, headers: { 'x-api-key': keys.ops } }
  // The query string is decoded once: %253B is the prefix /…/Orders%3B.
  const purge = await request(`${gw.url}/admin/cache?system=ln&prefix=${ln}%253B`, admin)
  t.same(await purge.body.json(), { purged: 1 })
  t.match((await rawRequest(gw.url, `GET /ln${ln};x=1 HTTP/1.1\nHost: x\nx-api-key: ${keys.portal}\nConnection: close`)).raw, /x-cache: HIT/i, 'the ; spelling is kept')
  const all = await request(`${gw.url}/admin/cache?system=ln&prefix=${ln}`, admin)
  t.same(await all.body.json(), { purged: 1 }, 'a plain prefix reaches every spelling below it')
})

t.test('Prefer is part of the key: two LN page sizes are two entries', async t => {
  const gw = await gatewayWith(t, 'memory')
  const orders = `${gw.url}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders`
  const prefers = ['odata.maxpagesize=2', 'odata.maxpagesize=5', 'return=minimal']
  for (const prefer of prefers) t.equal((await get(orders, { prefer })).headers['x-cache'], 'MISS', `${prefer}: its own entry`)
  for (const prefer of prefers) t.equal((await get(orders, { prefer })).headers['x-cache'], 'HIT', `${prefer} again`)
  const calls = gw.emulator.stats.calls('/ACME_TST/LN/lnapi/odata/tdapi.slsSalesOrder/Orders')
  t.equal(calls, prefers.length, `one ION call per Prefer value (saw ${calls})`)
})

t.test('ION\'s Cache-Control is honoured: max-age=0, no-cache and s-maxage=0 (before max-age) are not stored', async t => {
  const gw = await gatewayWith(t, 'memory')
  const path = '/lnapi/odata/tdapi.slsSalesOrder/Orders'
  const cases: Array<[string, boolean]> = [
    ['max-age=0', false],
    ['no-cache', false],
    ['public, s-maxage=0, max-age=600', false],
    ['max-age=600, s-maxage=0', false],
    ['max-age=abc', false],
    ['max-age=600', true],
    ['public, s-maxage=600, max-age=0', true],
  ]
  for (const [cacheControl, stored] of cases) {
    const url = `${gw.url}/ln${path}?probe=${encodeURIComponent(cacheControl)}`
    gw.emulator.faults.respondNext(1, { status: 200, headers: { 'cache-control': cacheControl }, body: { value: [] } }, `/ACME_TST/LN${path}`)
    t.equal((await get(url)).headers['x-cache'], 'MISS')
    t.equal((await get(url)).headers['x-cache'], stored ? 'HIT' : 'MISS', `Cache-Control: ${cacheControl} → ${stored ? 'stored' : 'not stored'}`)
  }
})

t.test('100 concurrent HEAD misses cause one call to ION', async t => {
  const gw = await gatewayWith(t, 'memory')
  const resource = '/ACME_TST/IDM/api/items/MDS_File-3-20-LATEST/resource'
  await get(`${gw.url}/health`)
  // ION holds its answer long enough for every HEAD to arrive while the first is in flight.
  gw.emulator.faults.latency(1000, resource)
  const answers = await Promise.all(Array.from({ length: 100 }, () => get(`${gw.url}/idm/api/items/MDS_File-3-20-LATEST/resource`, {}, 'HEAD')))
  const statuses = new Set(answers.map(a => a.status))
  t.same([...statuses], [200], 'all answered')
  t.ok(answers.every(a => a.headers['content-length'] === answers[0]?.headers['content-length'] && a.text === ''), 'same headers, no body')
  const calls = gw.emulator.stats.calls(resource)
  t.equal(calls, 1, `100 HEADs, ${calls} call(s) to ION`)
  gw.emulator.faults.clear()
  t.equal((await get(`${gw.url}/idm/api/items/MDS_File-3-20-LATEST/resource`, {}, 'HEAD')).headers['x-cache'], 'MISS', 'a HEAD answer is never stored')
})

t.test('a GET with Content-Length: 0 is cached like a GET without a body', async t => {
  const gw = await gatewayWith(t, 'memory')
  const head = 'GET /m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A107 HTTP/1.1\nHost: x\nContent-Length: 0\nConnection: close'
  const first = await rawRequest(gw.url, head)
  t.equal(first.status, 200)
  t.match(first.raw, /x-cache: MISS/i)
  const second = await rawRequest(gw.url, head)
  t.match(second.raw, /x-cache: HIT/i)
  t.equal(gw.emulator.stats.calls(ITEM_PATH), 1)
  const plain = await get(`${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A107`)
  t.equal(plain.headers['x-cache'], 'HIT', 'the same entry as without the header')
})
