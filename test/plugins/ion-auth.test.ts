import { eventually } from '../helpers/wait.ts'
import t from 'tap'
import { request } from 'undici'
import { createEmulator } from '../../emulator/index.ts'
import { startGateway } from '../helpers/gateway.ts'
import { startRedis } from '../helpers/redis.ts'
import { histogram } from '../ion/helpers.ts'

async function eventuallyPass (t: { pass: (m: string) => void }, what: string, check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  await eventually(what, check, timeoutMs)
  t.pass(what)
}

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'

async function get (url: string) {
  const res = await request(url)
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined }
}

/** '200', or the status with the gateway's error code ('503 AUTH_003'): what came back, for a histogram. */
function outcome (a: { status: number, json?: { error?: { code?: string } } }): string {
  const code = a.json?.error?.code
  return code ? `${a.status} ${code}` : String(a.status)
}

t.test('200 concurrent requests on a cold start cause exactly one token request', async t => {
  const gw = await startGateway(t)
  const answers = await Promise.all(Array.from({ length: 200 }, () => get(gw.url + ITEM)))
  t.same(histogram(answers.map(outcome)), { 200: 200 }, 'all 200')
  t.equal(gw.emulator.stats.tokenRequests(), 1)
})

t.test('two gateway instances sharing one Redis cause exactly one token request between them', async t => {
  const redis = await startRedis(t)
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const env = { REDIS_URL: redis.url }
  const [a, b] = await Promise.all([startGateway(t, { emulator, env }), startGateway(t, { emulator, env })])
  const answers = await Promise.all([
    ...Array.from({ length: 50 }, () => get(a.url + ITEM)),
    ...Array.from({ length: 50 }, () => get(b.url + ITEM)),
  ])
  t.same(histogram(answers.map(outcome)), { 200: 100 }, 'all 200')
  t.equal(emulator.stats.tokenRequests(), 1)
  const readyA = await get(a.url + '/ready')
  t.equal(readyA.status, 200)
  t.equal(readyA.json.status, 'healthy')
})

t.test('a 2-second token is refreshed before it expires while requests keep flowing', async t => {
  // Back-to-back traffic: more requests than the default rate limit allows.
  const gw = await startGateway(t, { emulatorOptions: { tokenLifetimeS: 2 }, env: { RATE_LIMIT_MAX: '1000000' } })
  const outcomes: string[] = []
  // Traffic until the token has been replaced twice (refreshes start at 0.8 to 1 s of each 2 s token).
  const giveUpAt = Date.now() + 20_000 // only so that a broken refresh fails the test instead of hanging it
  while (gw.emulator.stats.tokenRequests() < 3 && Date.now() < giveUpAt) {
    outcomes.push(outcome(await get(gw.url + ITEM)))
  }
  t.ok(gw.emulator.stats.tokenRequests() >= 3, `refreshed several times (${gw.emulator.stats.tokenRequests()} token requests)`)
  t.same(histogram(outcomes), { 200: outcomes.length }, 'all 200')
  t.equal(gw.emulator.stats.calls(), outcomes.length, 'no request met a 401 (no retries happened)')
})

t.test('the token endpoint down at boot: process up, /ready 503, proxied requests AUTH_003, then recovery', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  emulator.faults.tokenDown(503)
  const gw = await startGateway(t, { emulator })
  const health = await get(gw.url + '/health')
  t.equal(health.status, 200)
  const ready = await get(gw.url + '/ready')
  t.equal(ready.status, 503)
  t.equal(ready.json.status, 'unhealthy')
  t.equal(ready.json.checks.tokenRefresh.status, 'down')
  const proxied = await get(gw.url + ITEM)
  t.equal(proxied.status, 503)
  t.equal(proxied.json.error.code, 'AUTH_003')
  t.ok(Number(proxied.headers['retry-after']) >= 1, 'Retry-After')
  t.equal(emulator.stats.calls(), 0, 'ION resources never called without a token')
  emulator.faults.tokenDown(false)
  // The manager retries by itself after its backoff (at most 5 s), without traffic.
  await eventuallyPass(t, '/ready turns 200 by itself', async () => (await get(gw.url + '/ready')).status === 200)
  t.equal((await get(gw.url + ITEM)).status, 200)
})

t.test('the token endpoint failing during refresh keeps traffic flowing on the old token', async t => {
  const gw = await startGateway(t, { emulatorOptions: { tokenLifetimeS: 4 }, env: { RATE_LIMIT_MAX: '1000000' } })
  t.equal((await get(gw.url + ITEM)).status, 200)
  gw.emulator.faults.tokenDown(503)
  const outcomes: string[] = []
  // Traffic until a refresh has failed (they start at 1.6 to 2 s of the 4 s token), then a little more.
  const giveUpAt = Date.now() + 20_000 // only so that a refresh that never runs fails the test instead of hanging it
  while (!gw.app.ionTokens.state().lastError && Date.now() < giveUpAt) {
    outcomes.push(outcome(await get(gw.url + ITEM)))
  }
  for (let i = 0; i < 5; i++) outcomes.push(outcome(await get(gw.url + ITEM)))
  t.same(histogram(outcomes), { 200: outcomes.length }, 'traffic flowed on the still-valid token')
  t.equal(gw.app.ionTokens.state().lastError?.code, 'AUTH_003', 'the failed refresh is reported')
  gw.emulator.faults.tokenDown(false)
  await eventuallyPass(t, 'recovered with a new token', async () => !gw.app.ionTokens.state().lastError && gw.app.ionTokens.state().hasValidToken)
  t.equal((await get(gw.url + ITEM)).status, 200)
})

t.test('killing Redis mid-run keeps traffic flowing; /ready says degraded', async t => {
  const redis = await startRedis(t)
  const gw = await startGateway(t, { env: { REDIS_URL: redis.url } })
  t.equal((await get(gw.url + ITEM)).status, 200)
  await redis.stop()
  gw.emulator.faults.revokeAll() // forces a refresh while Redis is gone
  const outcomes: string[] = []
  for (let i = 0; i < 10; i++) outcomes.push(outcome(await get(gw.url + ITEM)))
  t.same(histogram(outcomes), { 200: 10 }, 'every request served while Redis was gone')
  const ready = await get(gw.url + '/ready')
  t.equal(ready.status, 200)
  t.equal(ready.json.status, 'degraded')
  await redis.start()
  await eventuallyPass(t, '/ready healthy again once Redis is back', async () => (await get(gw.url + '/ready')).json.status === 'healthy')
})

t.test('no token or secret appears in any captured log line', async t => {
  const gw = await startGateway(t, { env: { LOG_LEVEL: 'trace' }, emulatorOptions: { tokenLifetimeS: 2 } })
  await get(gw.url + ITEM)
  gw.emulator.faults.revokeAll()
  await get(gw.url + ITEM)
  gw.emulator.faults.tokenDown(503)
  await eventually('a refresh failed (and was logged)', () => gw.app.ionTokens.state().lastError !== undefined || 'no failure yet', 8000)
  await get(gw.url + ITEM)
  await get(gw.url + '/m3/mi/CRS610MI/GetBasicData?CUNO=NOPE')
  await request(gw.url + ITEM, { headers: { authorization: 'Bearer client-secret-token-XYZ', 'x-api-key': 'client-api-key-XYZ', cookie: 'sid=cookie-XYZ' } }).then(r => r.body.dump())
  const text = gw.logText()
  t.ok(gw.logs.length > 10, `${gw.logs.length} log lines captured`)
  const tokens = gw.emulator.stats.requests().map(r => String(r.headers.authorization ?? '').replace('Bearer ', '')).filter(Boolean)
  t.ok(tokens.length > 0)
  for (const secret of [...new Set(tokens), gw.emulator.ionapi.cs, gw.emulator.ionapi.sask, 'client-secret-token-XYZ', 'client-api-key-XYZ', 'cookie-XYZ']) {
    t.notOk(text.includes(secret), 'secret absent from logs')
  }
})
