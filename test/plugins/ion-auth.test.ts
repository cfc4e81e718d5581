import { eventually } from '../helpers/wait.ts'
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { createEmulator } from '../../emulator/index.ts'
import { startGateway } from '../helpers/gateway.ts'
import { startRedis } from '../helpers/redis.ts'

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

t.test('200 concurrent requests on a cold start cause exactly one token request', async t => {
  const gw = await startGateway(t)
  const answers = await Promise.all(Array.from({ length: 200 }, () => get(gw.url + ITEM)))
  t.ok(answers.every(a => a.status === 200), 'all 200')
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
  t.ok(answers.every(x => x.status === 200))
  t.equal(emulator.stats.tokenRequests(), 1)
  const readyA = await get(a.url + '/ready')
  t.equal(readyA.status, 200)
  t.equal(readyA.json.status, 'healthy')
})

t.test('a 2-second token is refreshed before it expires while requests keep flowing', async t => {
  const gw = await startGateway(t, { emulatorOptions: { tokenLifetimeS: 2 } })
  const statuses: number[] = []
  const until = Date.now() + 5000
  while (Date.now() < until) {
    statuses.push((await get(gw.url + ITEM)).status)
    await sleep(40)
  }
  t.ok(statuses.every(s => s === 200), `${statuses.length} requests, all 200`)
  t.ok(gw.emulator.stats.tokenRequests() >= 3, 'refreshed several times')
  t.equal(gw.emulator.stats.calls(), statuses.length, 'no request met a 401 (no retries happened)')
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
  const gw = await startGateway(t, { emulatorOptions: { tokenLifetimeS: 4 } })
  t.equal((await get(gw.url + ITEM)).status, 200)
  gw.emulator.faults.tokenDown(503)
  const statuses: number[] = []
  const until = Date.now() + 2800
  while (Date.now() < until) {
    statuses.push((await get(gw.url + ITEM)).status)
    await sleep(50)
  }
  t.ok(statuses.every(s => s === 200), 'traffic flowed on the still-valid token')
  t.ok(gw.app.ionTokens.state().lastError, 'the failed refresh is reported')
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
  for (let i = 0; i < 10; i++) t.equal((await get(gw.url + ITEM)).status, 200)
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
  await sleep(1200)
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
