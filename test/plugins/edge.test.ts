import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { request } from 'undici'
import { createEmulator } from '../../emulator/index.ts'
import type { EnvInput } from '../../src/config.ts'
import { newApiKey } from '../../src/edge/api-keys.ts'
import { startGateway } from '../helpers/gateway.ts'
import { startRedis } from '../helpers/redis.ts'

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'

async function get (url: string, headers: Record<string, string> = {}, method: 'GET' | 'OPTIONS' | 'DELETE' = 'GET') {
  const res = await request(url, { headers, method })
  const body = Buffer.from(await res.body.arrayBuffer())
  return { status: res.statusCode, headers: res.headers, body, json: () => JSON.parse(body.toString()) }
}

function keysFile (t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-edge-'))
  t.teardown(() => {})
  const portal = newApiKey('portal')
  const ops = newApiKey('ops', true)
  const revoked = newApiKey('old-app')
  const file = join(dir, 'clients.json')
  writeFileSync(file, JSON.stringify([portal.record, ops.record, { ...revoked.record, revoked: true }]))
  return { file, portal: portal.key, ops: ops.key, revoked: revoked.key }
}

t.test('with API keys: no key, a wrong key or a revoked key → 401 and ION is never called', async t => {
  const keys = keysFile(t)
  const gw = await startGateway(t, { env: { CLIENT_API_KEYS_FILE: keys.file, CACHE_DRIVER: 'memory' } })
  const attempts: Array<Record<string, string>> = [{}, { 'x-api-key': 'igw_wrong' }, { 'x-api-key': keys.revoked }, { authorization: `Bearer ${keys.portal}` }]
  for (const headers of attempts) {
    const res = await get(gw.url + ITEM, headers)
    t.equal(res.status, 401, JSON.stringify(Object.keys(headers)))
    t.equal(res.json().error.code, 'AUTH_004')
  }
  t.equal(gw.emulator.stats.calls(), 0, 'ION never called')
  const ok = await get(gw.url + ITEM, { 'x-api-key': keys.portal })
  t.equal(ok.status, 200)
  t.equal((await get(gw.url + '/health')).status, 200, '/health needs no key')
  t.equal((await get(gw.url + '/ready')).status, 200, '/ready needs no key')
  const notAdmin = await get(gw.url + '/admin/cache', { 'x-api-key': keys.portal }, 'DELETE')
  t.equal(notAdmin.status, 403)
  t.equal(notAdmin.json().error.code, 'AUTH_005')
  t.equal((await get(gw.url + '/admin/cache', { 'x-api-key': keys.ops }, 'DELETE')).status, 200)
  t.equal((await get(gw.url + '/admin/cache', {}, 'DELETE')).status, 401)
  t.notOk(gw.logText().includes(keys.portal), 'keys never logged')
})

t.test('limit 5: 200×5 then 429 with RateLimit headers and the SYS_002 envelope; rotating x-client-id does not escape', async t => {
  const keys = keysFile(t)
  const gw = await startGateway(t, { env: { CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '5', RATE_LIMIT_WINDOW_MS: '60000' } })
  const statuses: number[] = []
  let last
  for (let i = 0; i < 6; i++) {
    last = await get(gw.url + ITEM, { 'x-api-key': keys.portal, 'x-client-id': `spoof-${i}` })
    statuses.push(last.status)
  }
  t.same(statuses, [200, 200, 200, 200, 200, 429])
  t.equal(last?.headers['ratelimit-limit'], '5')
  t.equal(last?.headers['ratelimit-remaining'], '0')
  t.ok(Number(last?.headers['ratelimit-reset']) > 0)
  t.ok(Number(last?.headers['retry-after']) > 0)
  t.equal(last?.json().error.code, 'SYS_002')
  t.equal((await get(gw.url + ITEM, { 'x-api-key': keys.ops })).status, 200, 'another client has its own budget')
  for (let i = 0; i < 10; i++) t.equal((await get(gw.url + '/health')).status, 200, '/health is never limited')
  const metrics = await gw.app.gatewayMetrics.registry.metrics()
  t.match(metrics, /rate_limit_exceeded_total 1/)
})

t.test('floods of bad keys are throttled by address', async t => {
  const keys = keysFile(t)
  const gw = await startGateway(t, { env: { CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '3' } })
  const statuses = []
  for (let i = 0; i < 5; i++) statuses.push((await get(gw.url + ITEM, { 'x-api-key': `igw_guess_${i}` })).status)
  t.same(statuses, [401, 401, 401, 429, 429])
})

t.test('open mode: x-client-id (else the address) identifies clients, and a boot warning says so', async t => {
  const gw = await startGateway(t, { env: { RATE_LIMIT_MAX: '2' } })
  t.ok(gw.logs.some(l => l.level === 40 && String(l.msg).includes('OPEN MODE')), 'warned at boot')
  t.same([(await get(gw.url + ITEM, { 'x-client-id': 'a' })).status, (await get(gw.url + ITEM, { 'x-client-id': 'a' })).status, (await get(gw.url + ITEM, { 'x-client-id': 'a' })).status], [200, 200, 429])
  t.equal((await get(gw.url + ITEM, { 'x-client-id': 'b' })).status, 200)
})

async function sharedLimitGateways (t: Test, env: EnvInput) {
  const redis = await startRedis(t)
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const all = { REDIS_URL: redis.url, ...env }
  const [a, b] = await Promise.all([startGateway(t, { emulator, env: all }), startGateway(t, { emulator, env: all })])
  return { redis, a, b }
}

t.test('two instances on one Redis enforce one shared limit', async t => {
  const { a, b } = await sharedLimitGateways(t, { RATE_LIMIT_MAX: '4' })
  const statuses = []
  for (let i = 0; i < 3; i++) {
    statuses.push((await get(a.url + ITEM, { 'x-client-id': 'shared' })).status)
    statuses.push((await get(b.url + ITEM, { 'x-client-id': 'shared' })).status)
  }
  t.same(statuses, [200, 200, 200, 200, 429, 429])
})

t.test('Redis killed: requests pass when failing open', async t => {
  const { redis, a } = await sharedLimitGateways(t, { RATE_LIMIT_MAX: '100', RATE_LIMIT_FAIL_OPEN: 'true' })
  t.equal((await get(a.url + ITEM)).status, 200)
  await redis.stop()
  for (let i = 0; i < 3; i++) t.equal((await get(a.url + ITEM)).status, 200)
})

t.test('Redis killed: 503 SYS_004 when failing closed', async t => {
  const { redis, a } = await sharedLimitGateways(t, { RATE_LIMIT_MAX: '100', RATE_LIMIT_FAIL_OPEN: 'false' })
  t.equal((await get(a.url + ITEM)).status, 200)
  await redis.stop()
  const res = await get(a.url + ITEM)
  t.equal(res.status, 503)
  t.equal(res.json().error.code, 'SYS_004')
  t.equal((await get(a.url + '/health')).status, 200, 'health unaffected')
})

t.test('security headers follow the gateway\'s helmet configuration', async t => {
  const gw = await startGateway(t)
  const res = await get(gw.url + '/health')
  t.equal(res.headers['content-security-policy'], "default-src 'self';style-src 'self' 'unsafe-inline';script-src 'self';img-src 'self' data: https:")
  t.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains; preload')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['referrer-policy'], 'same-origin')
  for (const legacy of ['x-xss-protection', 'x-download-options', 'x-dns-prefetch-control', 'x-permitted-cross-domain-policies', 'origin-agent-cluster']) {
    t.notOk(legacy in res.headers, `no ${legacy} on an API answer`)
  }
  t.notOk('x-powered-by' in res.headers)
  const proxied = await get(gw.url + ITEM)
  t.equal(proxied.headers['x-content-type-options'], 'nosniff', 'on proxied answers too')
  const missing = await get(gw.url + '/no-such-route')
  t.equal(missing.status, 404)
  t.equal(missing.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains; preload', 'on error envelopes too')
  t.equal(missing.headers['x-frame-options'], 'SAMEORIGIN')
})

t.test('the HTML page (/docs) gets helmet\'s whole set, API answers a subset', async t => {
  const gw = await startGateway(t)
  const page = await get(gw.url + '/docs/')
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.equal(page.headers['x-xss-protection'], '0')
  t.equal(page.headers['x-download-options'], 'noopen')
  t.equal(page.headers['x-dns-prefetch-control'], 'off')
  t.equal(page.headers['x-permitted-cross-domain-policies'], 'none')
  t.equal(page.headers['origin-agent-cluster'], '?1')
  t.equal(page.headers['content-security-policy'], "default-src 'self';style-src 'self' 'unsafe-inline';script-src 'self';img-src 'self' data: https:", 'the same CSP')
  const api = await get(gw.url + '/health')
  for (const [name, value] of Object.entries(api.headers)) {
    if (name in page.headers && /^(content-security|cross-origin|referrer|strict-transport|x-content-type|x-frame)/.test(name)) t.equal(page.headers[name], value, `${name} alike`)
  }
})

t.test('CORS: an allowed origin\'s preflight is answered at the edge; another origin gets no CORS headers', async t => {
  const gw = await startGateway(t, { env: { CORS_ORIGINS: 'https://portal.example, https://other.example' } })
  const preflight = await get(gw.url + ITEM, {
    origin: 'https://portal.example',
    'access-control-request-method': 'GET',
    'access-control-request-headers': 'content-type, accept, x-api-key, x-client-id, x-request-id',
  }, 'OPTIONS')
  t.equal(preflight.status, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://portal.example')
  for (const h of ['x-api-key', 'x-client-id', 'x-request-id', 'content-type', 'accept']) {
    t.match(String(preflight.headers['access-control-allow-headers']), new RegExp(h), `allows ${h}`)
  }
  const evil = await get(gw.url + ITEM, { origin: 'https://evil.example', 'access-control-request-method': 'GET' }, 'OPTIONS')
  t.notOk('access-control-allow-origin' in evil.headers)
  const actual = await get(gw.url + ITEM, { origin: 'https://portal.example' })
  t.equal(actual.headers['access-control-allow-origin'], 'https://portal.example')
  t.match(String(actual.headers['access-control-expose-headers']), /x-cache/)
  t.equal(gw.emulator.stats.calls(), 1, 'preflights never reached ION')
})

t.test('without CORS_ORIGINS there are no CORS headers', async t => {
  const gw = await startGateway(t)
  const res = await get(gw.url + ITEM, { origin: 'https://portal.example' })
  t.notOk('access-control-allow-origin' in res.headers)
})

t.test('a large JSON answer is gzip-compressed on request', async t => {
  const gw = await startGateway(t)
  const url = gw.url + '/m3/m3api-rest/v2/execute/MMS200MI/LstItmByItm?maxrecs=0'
  const gz = await get(url, { 'accept-encoding': 'gzip' })
  t.equal(gz.headers['content-encoding'], 'gzip')
  const json = JSON.parse(gunzipSync(gz.body).toString())
  t.ok(json.results[0].records.length >= 20)
  const plain = await get(url)
  t.notOk('content-encoding' in plain.headers)
  t.ok(gz.body.length < plain.body.length)
})

t.test('TRUST_PROXY decides whether X-Forwarded-For is believed', async t => {
  const trusting = await startGateway(t, { env: { RATE_LIMIT_MAX: '1', TRUST_PROXY: '127.0.0.1' } })
  t.equal((await get(trusting.url + ITEM, { 'x-forwarded-for': '203.0.113.1' })).status, 200)
  t.equal((await get(trusting.url + ITEM, { 'x-forwarded-for': '203.0.113.2' })).status, 200, 'another client behind the trusted ingress')
  t.equal((await get(trusting.url + ITEM, { 'x-forwarded-for': '203.0.113.1' })).status, 429)
  const direct = await startGateway(t, { env: { RATE_LIMIT_MAX: '1' } })
  t.equal((await get(direct.url + ITEM, { 'x-forwarded-for': '203.0.113.1' })).status, 200)
  t.equal((await get(direct.url + ITEM, { 'x-forwarded-for': '203.0.113.2' })).status, 429, 'a forged X-Forwarded-For does not escape the limit')
})
