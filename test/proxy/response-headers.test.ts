import t, { type Test } from 'tap'
import { request } from 'undici'
import { securityHeaders } from '../../src/edge/security-headers.ts'
import { startGateway } from '../helpers/gateway.ts'

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'
const ION_ITEM = '/ACME_TST/M3/m3api-rest/v2/execute/MMS200MI/GetItmBasic'
const OK_BODY = { results: [{ transaction: 'GetItmBasic', records: [{ ITNO: 'A100' }] }], wasTerminated: false, nrOfSuccessfullTransactions: 1, nrOfFailedTransactions: 0 }

/** CORS and security headers an ION answer might carry (a misconfigured API, or an attacker upstream). */
const ION_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-credentials': 'true',
  'access-control-allow-methods': 'DELETE',
  'access-control-expose-headers': 'x-secret',
  'access-control-max-age': '86400',
  'content-security-policy': 'default-src *',
  'strict-transport-security': 'max-age=0',
  'x-frame-options': 'ALLOWALL',
  'x-content-type-options': 'none',
  'referrer-policy': 'unsafe-url',
  'cross-origin-resource-policy': 'cross-origin',
  'cross-origin-opener-policy': 'unsafe-none',
  'x-dns-prefetch-control': 'on',
  'x-xss-protection': '1',
  'x-powered-by': 'ION',
  vary: 'Accept',
  'x-ion': 'kept',
}

async function get (url: string, origin: string) {
  const res = await request(url, { headers: { origin } })
  await res.body.dump()
  return res.headers
}

function checkHeaders (t: Test, headers: Record<string, string | string[] | undefined>, origin: string | undefined, what: string): void {
  const allow = Object.keys(headers).filter(h => h.startsWith('access-control-allow-'))
  t.notMatch(String(headers['access-control-expose-headers']), /x-secret/, `${what}: only the gateway's exposed headers`)
  t.notOk('access-control-max-age' in headers, `${what}: no max-age`)
  if (origin === undefined) {
    t.same(allow, [], `${what}: nothing allowed to an origin outside CORS_ORIGINS (saw ${allow.join(', ') || 'none'})`)
  } else {
    t.equal(headers['access-control-allow-origin'], origin, `${what}: the gateway's CORS answer`)
    t.notOk('access-control-allow-credentials' in headers, `${what}: no credentials`)
    t.notOk('access-control-allow-methods' in headers)
  }
  for (const [name, value] of Object.entries(securityHeaders())) t.equal(headers[name], value, `${what}: the gateway's ${name}`)
  t.notOk('x-powered-by' in headers, `${what}: no x-powered-by`)
  t.equal(headers['x-ion'], 'kept', `${what}: ION's other headers are relayed`)
  const vary = String(headers.vary).toLowerCase().split(',').map(s => s.trim())
  t.ok(vary.includes('origin') && vary.includes('accept'), `${what}: Vary keeps the gateway's Origin and ION's Accept (got ${headers.vary})`)
}

t.test('ION\'s CORS and security headers never reach the client, fresh or cached', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory', CORS_ORIGINS: 'https://portal.example' } })
  gw.emulator.faults.respondNext(1, { status: 200, headers: ION_HEADERS, body: OK_BODY }, ION_ITEM)
  const miss = await get(gw.url + ITEM, 'https://evil.example')
  t.equal(miss['x-cache'], 'MISS')
  checkHeaders(t, miss, undefined, 'MISS, other origin')
  const hit = await get(gw.url + ITEM, 'https://evil.example')
  t.equal(hit['x-cache'], 'HIT')
  checkHeaders(t, hit, undefined, 'HIT, other origin')
  const allowed = await get(gw.url + ITEM, 'https://portal.example')
  t.equal(allowed['x-cache'], 'HIT')
  checkHeaders(t, allowed, 'https://portal.example', 'HIT, allowed origin')
  t.equal(gw.emulator.stats.calls(ION_ITEM), 1)
})

t.test('the same without a cache, and for a write', async t => {
  const gw = await startGateway(t, { env: { CORS_ORIGINS: 'https://portal.example' } })
  gw.emulator.faults.respondNext(2, { status: 200, headers: ION_HEADERS, body: OK_BODY }, '/ACME_TST/M3/')
  checkHeaders(t, await get(gw.url + ITEM, 'https://evil.example'), undefined, 'read, other origin')
  checkHeaders(t, await get(gw.url + '/m3/m3api-rest/v2/execute/CRS610MI/ChgBasicData?CUNO=10001&CUNM=x', 'https://portal.example'), 'https://portal.example', 'write, allowed origin')
})
