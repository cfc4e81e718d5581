import t from 'tap'
import { Agent, request } from 'undici'
import { createEmulator } from '../../emulator/index.ts'
import { eventually } from '../helpers/wait.ts'
import { call, ITEM, ORDERS, passwordForm, passwordToken, postForm, startEmulator, tokenUrl, V2 } from './helpers.ts'

const A100 = `${ITEM}?ITNO=A100`

async function control (url: string, method: 'GET' | 'POST', body?: unknown) {
  const res = await request(url, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  return { status: res.statusCode, json: await res.body.json() as any }
}

t.test('ionapi: the file points at this emulator', async t => {
  const e = await startEmulator(t, { tenant: 'OTHER_PRD' })
  t.match(e.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal(e.tenant, 'OTHER_PRD')
  t.match(e.ionapi, { ti: 'OTHER_PRD', iu: e.url, pu: `${e.url}/OTHER_PRD/as/`, ot: 'token.oauth2', or: 'revoke_token.oauth2', oa: 'authorization.oauth2', v: '1.0' })
  t.match(e.ionapi.ci, /^OTHER_PRD~/)
  t.match(e.ionapi.saak, /^OTHER_PRD#/)
  const { access_token: token } = await passwordToken(e)
  t.equal((await call(e, '/OTHER_PRD/M3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100', token)).status, 200)
  t.equal((await call(e, A100, token)).status, 404, 'another tenant is not served')
  t.equal((await call(e, '/OTHER_PRD/XYZ/anything', token)).status, 404, 'unknown system')
  t.equal(e.stats.calls(), 1, 'only /{ti}/M3|LN|IDM counts as a resource call')
})

t.test('counters: token requests by grant, calls by path prefix (401s included), reset', async t => {
  const e = await startEmulator(t)
  const { access_token: token, refresh_token: refresh } = await passwordToken(e)
  await postForm(tokenUrl(e), { ...passwordForm(e), password: 'wrong' })
  await postForm(tokenUrl(e), { grant_type: 'refresh_token', refresh_token: refresh, client_id: e.ionapi.ci, client_secret: e.ionapi.cs })
  t.equal(e.stats.tokenRequests(), 3)
  t.equal(e.stats.tokenRequests('password'), 2)
  t.equal(e.stats.tokenRequests('refresh_token'), 1)
  t.equal(e.stats.tokenRequests('client_credentials'), 0)
  await call(e, A100, token)
  await call(e, `${ITEM}?ITNO=A101`, token)
  await call(e, A100)
  await call(e, `${V2}/CRS610MI/LstByNumber;maxrecs=2`, token)
  await call(e, ORDERS, token)
  t.equal(e.stats.calls(), 5)
  t.equal(e.stats.calls(ITEM), 3, 'the query is not part of the path')
  t.equal(e.stats.calls('/ACME_TST/M3/'), 4)
  t.equal(e.stats.calls(`${V2}/CRS610MI/LstByNumber`), 1, 'matrix parameters are part of the raw path')
  t.equal(e.stats.calls('/ACME_TST/LN'), 1)
  t.equal(e.stats.calls('/ACME_TST/IDM'), 0)
  e.stats.reset()
  t.equal(e.stats.calls(), 0)
  t.equal(e.stats.tokenRequests(), 0)
  t.same(e.stats.requests(), [])
  t.equal((await call(e, A100, token)).status, 200, 'reset keeps tokens valid')
})

t.test('recorded requests: raw target, headers, raw headers and body, last 200 only', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  await call(e, `${V2}/CRS610MI/LstByNumber;maxrecs=3;returncols=CUNO?_rid=1`, token, { headers: { 'x-probe': 'yes' } })
  const patch = JSON.stringify({ Status: 'Closed' })
  await call(e, `${ORDERS}('SO000002')`, token, { method: 'PATCH', body: patch, headers: { 'content-type': 'application/json' } })
  const [m3, ln] = e.stats.requests()
  t.equal(m3?.method, 'GET')
  t.equal(m3?.url, `${V2}/CRS610MI/LstByNumber;maxrecs=3;returncols=CUNO?_rid=1`)
  t.equal(m3?.headers['x-probe'], 'yes')
  t.equal(m3?.headers.authorization, `Bearer ${token}`)
  t.ok(m3?.rawHeaders.includes('x-probe'))
  t.equal(m3?.body, '')
  t.equal(ln?.method, 'PATCH')
  t.equal(ln?.body, patch)
  t.same(e.stats.requests(ORDERS).map(r => r.method), ['PATCH'])
  for (let i = 0; i < 205; i++) await call(e, `${ITEM}?ITNO=A1${String(i).padStart(2, '0')}`)
  const all = e.stats.requests()
  t.equal(all.length, 200)
  t.equal(all[0]?.url, `${ITEM}?ITNO=A105`, 'oldest first')
  t.equal(all[199]?.url, `${ITEM}?ITNO=A1204`)
})

t.test('inFlight counts the resource calls being handled', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.latency(200, ITEM)
  const pending = Promise.all([call(e, A100, token), call(e, `${ITEM}?ITNO=A101`, token)])
  await eventually('both calls are in flight', () => e.stats.inFlight() === 2 || `${e.stats.inFlight()}`)
  await pending
  t.equal(e.stats.inFlight(), 0)
  t.equal(e.stats.peakInFlight(), 2, 'the peak is kept')
  e.stats.reset()
  t.equal(e.stats.peakInFlight(), 0, 'and reset to what is in flight now')
})

t.test('HTTP controls: stats, faults, requests, ionapi and reset drive the same state', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const u = (path: string) => `${e.url}/__emulator/${path}`
  t.same((await control(u('faults'), 'POST', { failNext: { count: 1, status: 502 } })).json, { ok: true })
  t.equal((await call(e, A100, token)).status, 502)
  t.equal((await call(e, ORDERS, token)).status, 200)
  const stats = await control(u('stats'), 'GET')
  t.same(stats.json, {
    tokenRequests: { total: 1, password: 1, refresh_token: 0, client_credentials: 0 },
    revocations: 0,
    calls: 2,
    inFlight: 0,
    peakInFlight: 1,
    throttled: { calls: 0, logins: 0 },
    liveTokens: 1,
  })
  t.equal((await control(u(`stats?prefix=${encodeURIComponent(ITEM)}`), 'GET')).json.calls, 1)
  t.same((await control(u('requests?prefix=/ACME_TST/LN'), 'GET')).json.map((r: { url: string }) => r.url), [ORDERS])
  t.same((await control(u('ionapi'), 'GET')).json, e.ionapi)

  await control(u('faults'), 'POST', { latencyMs: 150, latencyPath: ITEM, rateLimitNext: { count: 1, retryAfterS: 3, path: ITEM } })
  const started = Date.now()
  const limited = await call(e, A100, token)
  t.ok(Date.now() - started >= 140)
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '3')
  await control(u('faults'), 'POST', { clear: true, respondNext: { count: 1, status: 203, headers: { 'x-canned': '1' }, body: { hi: 1 } } })
  const canned = await call(e, A100, token)
  t.equal(canned.status, 203)
  t.equal(canned.headers['x-canned'], '1')
  await control(u('faults'), 'POST', { resetNext: { count: 1 } })
  await t.rejects(call(e, A100, token), { code: 'ECONNRESET' })
  await control(u('faults'), 'POST', { badFramingNext: { count: 1 } })
  await t.rejects(call(e, A100, token), { name: 'HTTPParserError' })
  await control(u('faults'), 'POST', { truncateNext: { count: 1 } })
  await t.rejects(call(e, A100, token))
  await control(u('faults'), 'POST', { tokenDown: 503 })
  t.equal((await postForm(tokenUrl(e), passwordForm(e))).status, 503)
  await control(u('faults'), 'POST', { tokenDown: false, tokenLatencyMs: 100, tokenLifetimeS: 60 })
  const before = Date.now()
  const short = await postForm(tokenUrl(e), passwordForm(e))
  t.ok(Date.now() - before >= 90)
  t.equal(short.json.expires_in, 60)
  await control(u('faults'), 'POST', { expireAll: true })
  t.equal((await call(e, A100, short.json.access_token)).status, 401)
  const fresh = await passwordToken(e)
  await control(u('faults'), 'POST', { revokeAll: true })
  t.equal((await call(e, A100, fresh.access_token)).status, 401)

  t.same((await control(u('reset'), 'POST')).json, { ok: true })
  t.equal((await control(u('stats'), 'GET')).json.calls, 0)
  await control(u('faults'), 'POST', { tokenDown: 'reset' })
  await control(u('reset'), 'POST', { faults: true })
  t.equal((await postForm(tokenUrl(e), passwordForm(e))).status, 200, 'reset with faults:true clears them')
})

t.test('HTTP controls refuse bad bodies and apply nothing from them', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const u = `${e.url}/__emulator/faults`
  const cases = [
    { failNext: { count: 1, status: 503 }, bogus: true },
    { failNext: { count: 1, status: 503 }, latencyMs: -5 },
    { failNext: { count: 'two', status: 503 } },
    { failNext: { count: 1, status: 503 }, tokenDown: 'sometimes' },
    [1, 2],
  ]
  for (const body of cases) {
    const res = await control(u, 'POST', body)
    t.equal(res.status, 400, JSON.stringify(body))
    t.type(res.json.error.message, 'string')
  }
  const notJson = await request(u, { method: 'POST', body: '{nope' })
  t.equal(notJson.statusCode, 400)
  await notJson.body.dump()
  t.equal((await call(e, A100, token)).status, 200, 'no fault was armed')
  t.equal((await control(`${e.url}/__emulator/nothing`, 'GET')).status, 404)
})

t.test('close() is idempotent and ends keep-alive connections and pending calls', async t => {
  const e = await createEmulator()
  const { access_token: token } = await passwordToken(e)
  const agent = new Agent({ keepAliveTimeout: 60_000 })
  t.teardown(() => agent.close())
  const first = await request(`${e.url}${A100}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } })
  await first.body.dump()
  e.faults.latency(10_000)
  const pending = request(`${e.url}${A100}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } })
  await eventually('the slow call reached the emulator', () => e.stats.inFlight() === 1 || `${e.stats.inFlight()} in flight`)
  const started = Date.now()
  await Promise.all([e.close(), e.close()])
  await e.close()
  t.ok(Date.now() - started < 1000, 'close does not wait for the latency or the idle socket')
  await t.rejects(pending)
  await t.rejects(request(`${e.url}${A100}`, { headers: { authorization: `Bearer ${token}` } }), { code: 'ECONNREFUSED' })
})

t.test('options are validated', async t => {
  await t.rejects(createEmulator({ tenant: 'A/B' }), TypeError)
  await t.rejects(createEmulator({ tokenLifetimeS: -1 }), RangeError)
  const e = await startEmulator(t)
  t.throws(() => e.setTokenLifetime(1.5), RangeError)
})
