import t from 'tap'
import { Agent, request } from 'undici'
import { request as httpRequest } from 'node:http'
import { startGateway } from '../helpers/gateway.ts'
import { rawRequest } from '../helpers/http.ts'
import { gzipSync } from 'node:zlib'

const M3 = '/ACME_TST/M3'
const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'

t.test('path guard: every escape vector is refused before ION is called; a legitimate a...b passes', async t => {
  const gw = await startGateway(t)
  await request(gw.url + ITEM).then(r => r.body.dump()) // warm the token
  gw.emulator.stats.reset()
  const vectors = ['/m3/../ln/x', '/m3/..%2fln/x', '/m3/%2e%2e/%2e%2e/admin', '/m3/ho/%2E%2E/hi', '/m3/a/%2E%2e/',
    '/m3/..\\..\\TENANT/IDM/x', '/m3/%5c..%5cadmin', '/m3/..;/ln/x', '/m3/a/..;/..;/admin', '/m3/%2e%2e;x/',
    '/m3/%252e%252e/x', '/m3/a%00b', '/m3//127.0.0.1:1/x', '/m3/a%2Fb', '/idm/api/..%2f..%2fM3/x']
  for (const path of vectors) {
    const res = await rawRequest(gw.url, `GET ${path} HTTP/1.1\nHost: x\nConnection: close`)
    t.ok(res.status === 400 || res.status === 404, `${path} → ${res.status}`)
    if (res.status === 400) t.match(res.raw, /"code":"API_003"/)
  }
  t.equal(gw.emulator.stats.calls(), 0, 'ION never called')
  const ok = await rawRequest(gw.url, 'GET /m3/api/a...b HTTP/1.1\nHost: x\nConnection: close')
  t.equal(ok.status, 404, 'reached ION, which has no such API')
  t.equal(gw.emulator.stats.calls(`${M3}/api/a...b`), 1)
  const matrix = await request(gw.url + '/m3/m3api-rest/v2/execute/CRS610MI/LstByNumber;maxrecs=3;returncols=CUNO')
  t.equal(matrix.statusCode, 200)
  t.equal(((await matrix.body.json()) as { results: Array<{ records: unknown[] }> }).results[0]?.records.length, 3)
})

t.test('methods outside the proxied set are 405 and never reach ION', async t => {
  const gw = await startGateway(t)
  for (const method of ['TRACE', 'PROPFIND']) {
    const res = await rawRequest(gw.url, `${method} /m3/x HTTP/1.1\nHost: x\nConnection: close`)
    t.ok(res.status === 405 || res.status === 400, `${method} → ${res.status}`)
  }
  t.equal(gw.emulator.stats.calls(), 0)
})

t.test('the caller\'s credentials never reach ION; ION\'s Set-Cookie never reaches the caller', async t => {
  const gw = await startGateway(t)
  gw.emulator.faults.respondNext(1, {
    status: 200,
    headers: { 'set-cookie': 'ION_SESSION=secret', connection: 'x-internal', 'x-internal': 'leak', 'x-ion': 'kept' },
    body: { ok: true },
  })
  // undici's own Agent: without one, request() uses the global dispatcher, which on Node 22 is Node's bundled (older)
  // undici, and it refuses a Connection header listing header names.
  const client = new Agent()
  t.teardown(() => client.close())
  const res = await request(gw.url + ITEM, {
    dispatcher: client,
    headers: {
      authorization: 'Bearer attacker',
      cookie: 'session=1',
      'proxy-authorization': 'Basic eA==',
      'x-api-key': 'client-key',
      'x-forwarded-host': 'evil.test',
      'x-http-method-override': 'DELETE',
      connection: 'keep-alive, authorization',
      'x-request-id': 'trace-me-1',
    },
  })
  t.equal(res.statusCode, 200)
  t.notOk('set-cookie' in res.headers)
  t.notOk('x-internal' in res.headers)
  t.equal(res.headers['x-ion'], 'kept')
  t.equal(res.headers['x-request-id'], 'trace-me-1')
  await res.body.dump()
  const [seen] = gw.emulator.stats.requests(`${M3}/m3api-rest`)
  t.ok(seen)
  t.match(seen?.headers.authorization, /^Bearer ey/, 'the gateway token, not the caller\'s')
  t.equal(seen?.rawHeaders.filter(h => h.toLowerCase() === 'authorization').length, 1, 'exactly one Authorization')
  for (const h of ['cookie', 'proxy-authorization', 'x-api-key', 'x-forwarded-host', 'x-http-method-override']) {
    t.notOk(h in (seen?.headers ?? {}), `${h} stripped`)
  }
  t.equal(seen?.headers['x-request-id'], 'trace-me-1')
})

t.test('Expect: 100-continue POST is forwarded with its body', async t => {
  const gw = await startGateway(t)
  const body = JSON.stringify({ program: 'CRS610MI', transactions: [{ transaction: 'GetBasicData', record: { CUNO: '10001' } }] })
  const { port } = new URL(gw.url)
  const answer = await new Promise<{ status: number, text: string }>((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', method: 'POST', path: '/m3/m3api-rest/v2/execute', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' } })
    req.on('continue', () => req.end(body))
    req.on('response', res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
  })
  t.equal(answer.status, 200)
  t.equal(JSON.parse(answer.text).nrOfSuccessfullTransactions, 1)
  t.notOk('expect' in (gw.emulator.stats.requests(`${M3}/m3api-rest/v2/execute`)[0]?.headers ?? {}))
})

t.test('an M3 write over GET reaches ION exactly once, even when ION answers 503', async t => {
  const gw = await startGateway(t)
  const write = '/m3/m3api-rest/v2/execute/CRS610MI/ChgBasicData?CUNO=10003&CUNM=Once'
  gw.emulator.faults.failNext(1, 503, `${M3}/m3api-rest/v2/execute/CRS610MI/ChgBasicData`)
  const res = await request(gw.url + write)
  t.equal(res.statusCode, 503, 'ION\'s answer relayed')
  await res.body.dump()
  t.equal(gw.emulator.stats.calls(`${M3}/m3api-rest/v2/execute/CRS610MI/ChgBasicData`), 1)
})

t.test('a read is retried after one 503 and succeeds', async t => {
  const gw = await startGateway(t)
  gw.emulator.faults.failNext(1, 503, `${M3}/m3api-rest/v2/execute/MMS200MI/GetItmBasic`)
  const res = await request(gw.url + ITEM)
  t.equal(res.statusCode, 200)
  await res.body.dump()
  t.equal(gw.emulator.stats.calls(`${M3}/m3api-rest/v2/execute/MMS200MI/GetItmBasic`), 2)
})

t.test('ION 429 is relayed with Retry-After and not retried', async t => {
  const gw = await startGateway(t)
  gw.emulator.faults.rateLimitNext(1, 9, `${M3}/m3api-rest`)
  const res = await request(gw.url + ITEM)
  t.equal(res.statusCode, 429)
  t.equal(res.headers['retry-after'], '9')
  await res.body.dump()
  t.equal(gw.emulator.stats.calls(`${M3}/m3api-rest`), 1)
})

t.test('an ION reset gives API_001 502; bad framing too', async t => {
  const gw = await startGateway(t, { env: { UPSTREAM_RETRIES: '0' } })
  gw.emulator.faults.resetNext(1, `${M3}/m3api-rest`)
  const reset = await request(gw.url + ITEM)
  t.equal(reset.statusCode, 502)
  t.equal(((await reset.body.json()) as { error: { code: string } }).error.code, 'API_001')
  gw.emulator.faults.badFramingNext(1, `${M3}/m3api-rest`)
  const framing = await request(gw.url + ITEM)
  t.equal(framing.statusCode, 502)
  t.equal(((await framing.body.json()) as { error: { code: string } }).error.code, 'API_001')
})

t.test('a small answer cut short by ION is a clean 502 (API_001), not a truncated 200', async t => {
  const gw = await startGateway(t, { env: { UPSTREAM_RETRIES: '0' } })
  gw.emulator.faults.truncateNext(1, `${M3}/m3api-rest`)
  const res = await request(gw.url + ITEM)
  t.equal(res.statusCode, 502)
  const body = await res.body.json() as { error: { code: string, message: string } }
  t.equal(body.error.code, 'API_001')
  t.match(body.error.message, /ION/)
  const after = await request(gw.url + ITEM)
  t.equal(after.statusCode, 200, 'the next request is served')
  t.equal(after.headers['content-length'], String((await after.body.text()).length))
})

t.test('a reset on a read is retried transparently', async t => {
  const gw = await startGateway(t)
  gw.emulator.faults.resetNext(1, `${M3}/m3api-rest`)
  const res = await request(gw.url + ITEM)
  t.equal(res.statusCode, 200)
  await res.body.dump()
})

t.test('a slow ION gives API_002 504 within the deadline', async t => {
  const gw = await startGateway(t, { env: { UPSTREAM_TIMEOUT_MS: '300' } })
  await request(gw.url + ITEM).then(r => r.body.dump())
  gw.emulator.faults.latency(3000, `${M3}/m3api-rest`)
  const started = Date.now()
  const res = await request(gw.url + ITEM)
  const elapsed = Date.now() - started
  t.equal(res.statusCode, 504)
  t.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'API_002')
  t.ok(elapsed < 1500, `answered in ${elapsed} ms`)
})

t.test('a revoked token costs the client nothing: one transparent retry', async t => {
  const gw = await startGateway(t)
  await request(gw.url + ITEM).then(r => r.body.dump())
  const refreshBefore = gw.emulator.stats.tokenRequests('refresh_token')
  const passwordBefore = gw.emulator.stats.tokenRequests('password')
  gw.emulator.faults.revokeAll()
  const res = await request(gw.url + '/m3/m3api-rest/v2/execute/CRS610MI/ChgBasicData?CUNO=10004&CUNM=Retried')
  t.equal(res.statusCode, 200)
  await res.body.dump()
  // One refresh: the refresh token is tried (revokeAll refused it too), then one password grant.
  t.equal(gw.emulator.stats.tokenRequests('refresh_token') - refreshBefore, 1)
  t.equal(gw.emulator.stats.tokenRequests('password') - passwordBefore, 1)
  t.equal(gw.emulator.stats.calls(`${M3}/m3api-rest/v2/execute/CRS610MI/ChgBasicData`), 2, 'the 401 and the retry')
})

t.test('ION answering 401 twice is AUTH_002', async t => {
  const gw = await startGateway(t)
  gw.emulator.faults.respondNext(2, { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' }, body: { error: 'invalid_token' } })
  const res = await request(gw.url + ITEM)
  t.equal(res.statusCode, 502)
  const body = await res.body.json() as { error: { code: string } }
  t.equal(body.error.code, 'AUTH_002')
  t.notOk('www-authenticate' in res.headers)
})

t.test('redirects are relayed, never followed; ION-internal ones are mapped to the gateway', async t => {
  const gw = await startGateway(t)
  gw.emulator.faults.respondNext(1, { status: 302, headers: { location: 'http://127.0.0.1:9/steal' } })
  const offsite = await request(gw.url + ITEM)
  t.equal(offsite.statusCode, 302)
  t.equal(offsite.headers.location, 'http://127.0.0.1:9/steal')
  await offsite.body.dump()
  gw.emulator.faults.respondNext(1, { status: 301, headers: { location: `${gw.emulator.url}${M3}/m3api-rest/v2/other` } })
  const internal = await request(gw.url + ITEM)
  t.equal(internal.headers.location, '/m3/m3api-rest/v2/other')
  await internal.body.dump()
})

t.test('LN and IDM pass through with ION\'s own statuses and bodies', async t => {
  const gw = await startGateway(t)
  const ln = await request(gw.url + "/ln/lnapi/odata/tdapi.slsSalesOrder/Orders('NOPE')")
  t.equal(ln.statusCode, 404)
  t.match(await ln.body.json(), { error: { code: String, message: /NOPE/, details: Array } })
  const idm = await request(gw.url + '/idm/api/items/search?$query=/MDS_File&$limit=2')
  t.equal(idm.statusCode, 200)
  t.equal(((await idm.body.json()) as { items: { item: unknown[] } }).items.item.length, 2)
})

t.test('typed M3 route: flattened records, and API_004 for an unknown customer', async t => {
  const gw = await startGateway(t)
  const ok = await request(gw.url + '/m3/mi/CRS610MI/LstByNumber?maxrecs=2&returncols=CUNO,CUNM')
  t.equal(ok.statusCode, 200)
  t.same(await ok.body.json(), {
    program: 'CRS610MI',
    transaction: 'LstByNumber',
    records: [{ CUNO: '10001', CUNM: 'Acme Manufacturing' }, { CUNO: '10002', CUNM: 'Nordic Timber AB' }],
  })
  const bad = await request(gw.url + '/m3/mi/CRS610MI/GetBasicData?CUNO=ACME')
  t.equal(bad.statusCode, 422)
  const body = await bad.body.json() as { error: { code: string, m3: Record<string, string> } }
  t.equal(body.error.code, 'API_004')
  t.same(body.error.m3, { code: 'WCU0203', field: 'CUNO', message: 'Customer number ACME does not exist' })
  const invalid = await request(gw.url + '/m3/mi/crs610mi/GetBasicData')
  t.equal(invalid.statusCode, 400)
  t.equal(((await invalid.body.json()) as { error: { code: string } }).error.code, 'API_003')
})

t.test('a 50 MB IDM download streams through with flat memory', async t => {
  const size = 50 * 1024 * 1024
  const gw = await startGateway(t, { emulatorOptions: { idmBinarySizeBytes: size } })
  global.gc?.()
  const before = process.memoryUsage()
  let peak = 0
  const res = await request(gw.url + '/idm/api/items/MDS_File-3-20-LATEST/resource')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-length'], String(size))
  let received = 0
  let nextSample = 0
  for await (const chunk of res.body) {
    received += (chunk as Buffer).length
    if (received >= nextSample) {
      nextSample += 5 * 1024 * 1024
      global.gc?.()
      const m = process.memoryUsage()
      peak = Math.max(peak, (m.heapUsed - before.heapUsed) + (m.arrayBuffers - before.arrayBuffers))
    }
  }
  t.equal(received, size)
  t.ok(typeof global.gc === 'function', 'tap runs with --expose-gc')
  t.ok(peak < 16 * 1024 * 1024, `memory grew by at most ${Math.round(peak / 1048576)} MB while 50 MB streamed`)
})

t.test('a request body is forwarded as the client encoded it: the gateway never decodes nor refuses a Content-Encoding', async t => {
  const gw = await startGateway(t)
  const json = JSON.stringify({ ITNO: 'A100' })
  const gzipped = gzipSync(json)
  for (const [encoding, body] of [['gzip', gzipped], ['x-custom', Buffer.from(json)]] as const) {
    const res = await request(`${gw.url}/ln/lnapi/odata/txgwi.Items/Items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': encoding },
      body,
    })
    await res.body.dump()
    t.not(res.statusCode, 415, `${encoding}: not refused by the gateway (ION decides)`)
    const seen = gw.emulator.stats.requests('/ACME_TST/LN/lnapi/odata/txgwi.Items/Items').at(-1)
    t.equal(seen?.headers['content-encoding'], encoding, `${encoding}: ION sees the client's Content-Encoding`)
    t.equal(Number(seen?.headers['content-length']), body.length, `${encoding}: and its ${body.length} bytes, not a decoded body`)
  }
})
