import t, { type Test } from 'tap'
import { request } from 'undici'
import { Redis } from 'ioredis'
import { createEmulator } from '../../emulator/index.ts'
import type { EnvInput } from '../../src/config.ts'
import { writeKeysFile } from '../helpers/api-keys.ts'
import { startGateway } from '../helpers/gateway.ts'
import { rawRequest } from '../helpers/http.ts'
import { startRedis } from '../helpers/redis.ts'

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'
// Load shedding is off: on a busy test machine it would answer 503 where these tests look for the limits' answers.
const BASE: EnvInput = { MAX_EVENT_LOOP_DELAY_MS: '0' }

interface Answer {
  status: number
  headers: Record<string, string>
  code: string | undefined
  message: string | undefined
}

/** Sends the request line and headers as given (no client normalises method or path) and parses the answer. */
async function raw (baseUrl: string, method: string, path: string, apiKey?: string): Promise<Answer> {
  const { host } = new URL(baseUrl)
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${host}`, 'connection: close']
  if (apiKey !== undefined) lines.push(`x-api-key: ${apiKey}`)
  const { status, raw: text } = await rawRequest(baseUrl, lines.join('\n'))
  const end = text.indexOf('\r\n\r\n')
  const headers: Record<string, string> = {}
  for (const line of text.slice(0, end).split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  let body: { error?: { code?: string, message?: string } } = {}
  try { body = JSON.parse(text.slice(end + 4)) } catch {}
  return { status, headers, code: body.error?.code, message: body.error?.message }
}

async function statuses (baseUrl: string, calls: Array<[string, string]>, apiKey: string): Promise<number[]> {
  const seen: number[] = []
  for (const [method, path] of calls) seen.push((await raw(baseUrl, method, path, apiKey)).status)
  return seen
}

t.test('an address throttled for bad keys gets the same 429 for every non-public request, whatever key it presents', async t => {
  const keys = writeKeysFile(t)
  const gw = await startGateway(t, { env: { ...BASE, CACHE_DRIVER: 'memory', CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '600000' } })
  t.same(await statuses(gw.url, [['GET', ITEM], ['GET', ITEM], ['GET', ITEM]], 'igw_guess'), [401, 401, 401], 'three wrong keys use up the address\'s budget')
  const ionCalls = gw.emulator.stats.calls()

  const probes: Array<[string, string]> = [
    ['GET', ITEM], ['GET', '/m3/mi/MMS200MI/GetItmBasic?ITNO=A100'], ['GET', '/no-such-route'], ['GET', '/m3'],
    ['PROPFIND', '/m3/x'], ['TRACE', '/ln/x'], ['DELETE', '/admin/cache'], ['POST', '/health'],
  ]
  const presented: Array<[string, string | undefined]> = [['no key', undefined], ['a wrong key', 'igw_wrong'], ['a client key', keys.portal], ['an admin key', keys.ops]]
  for (const [method, path] of probes) {
    const answers = []
    for (const [, key] of presented) answers.push(await raw(gw.url, method, path, key))
    const seen = answers.map((a, i) => `${presented[i]?.[0]}: ${a.status} ${a.code}`).join(', ')
    t.ok(answers.every(a => a.status === 429 && a.code === 'SYS_002'), `${method} ${path} → 429 SYS_002 for every key (saw ${seen})`)
    t.equal(new Set(answers.map(a => a.message)).size, 1, `${method} ${path}: one message whatever the key (saw ${answers.map(a => a.message).join(' | ')})`)
    t.equal(new Set(answers.map(a => `${a.headers['ratelimit-limit']} ${a.headers['ratelimit-remaining']}`)).size, 1, `${method} ${path}: the same RateLimit headers whatever the key`)
    t.ok(answers.every(a => Number(a.headers['retry-after']) > 0), `${method} ${path}: Retry-After on every answer`)
  }
  t.equal(gw.emulator.stats.calls(), ionCalls, 'ION is not called while the address is throttled')

  for (const path of ['/health', '/ready', '/metrics', '/docs/json']) {
    t.equal((await raw(gw.url, 'GET', path, 'igw_wrong')).status, 200, `${path} stays public`)
  }
})

t.test('wrong keys are counted on routes that do not exist and on unsupported methods too', async t => {
  const keys = writeKeysFile(t)
  const gw = await startGateway(t, { env: { ...BASE, CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '600000' } })
  const calls: Array<[string, string]> = [['GET', '/no-such-route'], ['PROPFIND', '/m3/x'], ['GET', '/m3'], ['GET', '/no-such-route'], ['PROPFIND', '/m3/x']]
  t.same(await statuses(gw.url, calls, 'igw_guess'), [401, 401, 401, 429, 429])
  t.equal((await raw(gw.url, 'GET', ITEM, keys.portal)).status, 429, 'a valid key from the throttled address is refused too')
})

t.test('while the address has budget left, a valid key is served and does not spend it', async t => {
  const keys = writeKeysFile(t)
  const gw = await startGateway(t, { env: { ...BASE, CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '600000' } })
  t.same(await statuses(gw.url, [['GET', ITEM], ['GET', ITEM]], 'igw_guess'), [401, 401])
  t.same(await statuses(gw.url, [['GET', ITEM], ['GET', '/no-such-route'], ['PROPFIND', '/m3/x']], keys.portal), [200, 404, 405], 'a valid key gets the real answers')
  t.same(await statuses(gw.url, [['GET', ITEM], ['GET', ITEM]], 'igw_guess'), [401, 429], 'the address had one wrong key left')
})

async function twoReplicas (t: Test, env: EnvInput) {
  const redis = await startRedis(t)
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const all = { ...BASE, REDIS_URL: redis.url, ...env }
  const [a, b] = await Promise.all([startGateway(t, { emulator, env: all }), startGateway(t, { emulator, env: all })])
  return { redis, a, b }
}

t.test('with Redis, an address throttled on one replica is throttled on the others, whatever the key', async t => {
  const keys = writeKeysFile(t)
  const { a, b } = await twoReplicas(t, { CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '600000' })
  t.same(await statuses(a.url, [['GET', ITEM], ['GET', '/no-such-route']], 'igw_guess'), [401, 401])
  t.equal((await raw(b.url, 'GET', ITEM, keys.portal)).status, 429, 'a valid key on the other replica')
  t.equal((await raw(b.url, 'GET', '/no-such-route', 'igw_guess')).status, 429, 'a wrong key on the other replica')
})

t.test('with Redis down, a valid key is served when failing open and refused with SYS_004 when failing closed', async t => {
  for (const failOpen of ['true', 'false']) {
    const keys = writeKeysFile(t)
    const { redis, a } = await twoReplicas(t, { CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_FAIL_OPEN: failOpen })
    t.equal((await raw(a.url, 'GET', ITEM, keys.portal)).status, 200)
    await redis.stop()
    const valid = await raw(a.url, 'GET', ITEM, keys.portal)
    const wrong = await raw(a.url, 'GET', ITEM, 'igw_guess')
    if (failOpen === 'true') {
      t.same([valid.status, wrong.status], [200, 401], 'fail open: per-replica counters')
    } else {
      t.same([valid.status, valid.code, wrong.status, wrong.code], [503, 'SYS_004', 503, 'SYS_004'], 'fail closed')
    }
  }
})

t.test('open mode: admin routes answer 403 AUTH_005 and the boot warning says they are disabled', async t => {
  const gw = await startGateway(t, { env: { ...BASE, CACHE_DRIVER: 'memory' } })
  const warning = gw.logs.find(l => l.level === 40 && String(l.msg).includes('OPEN MODE'))
  t.match(String(warning?.msg), /admin routes .*disabled/i, 'the boot warning says admin routes are disabled')
  t.equal((await request(gw.url + ITEM)).statusCode, 200)
  for (const headers of [{}, { 'x-api-key': 'igw_anything' }, { 'x-client-id': 'ops' }]) {
    const res = await request(gw.url + '/admin/cache', { method: 'DELETE', headers })
    const body = await res.body.json() as { error?: { code?: string, message?: string } }
    t.equal(res.statusCode, 403, JSON.stringify(headers))
    t.equal(body.error?.code, 'AUTH_005')
    t.match(body.error?.message, /CLIENT_API_KEYS_FILE/, 'the message says how to enable admin routes')
  }
  const after = await request(gw.url + ITEM)
  await after.body.dump()
  t.equal(after.headers['x-cache'], 'HIT', 'the cache was not purged')
})

t.test('the 429 message states the configured window; Retry-After is the time left', async t => {
  const redis = await startRedis(t)
  const gw = await startGateway(t, { env: { ...BASE, REDIS_URL: redis.url, RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_MS: '900000' } })
  t.equal((await raw(gw.url, 'GET', ITEM)).status, 200)
  // The window has 54 s left (as if the first request came 846 s ago).
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const counters = (await client.keys('*')).filter(k => k.includes('127.0.0.1'))
  t.equal(counters.length, 1, `one counter for the address (saw ${counters.join(', ')})`)
  await client.pexpire(counters[0] as string, 54000)
  const refused = await raw(gw.url, 'GET', ITEM)
  t.equal(refused.status, 429)
  t.equal(refused.message, 'Rate limit exceeded: 1 request per 15 minutes')
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 54, `Retry-After is the time left (saw ${retryAfter})`)
})
