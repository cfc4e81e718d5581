import t, { type Test } from 'tap'
import { request } from 'undici'
import { createEmulator, type Emulator } from '../../emulator/index.ts'
import { startGateway, type GatewayUnderTest } from '../helpers/gateway.ts'
import { startRedis } from '../helpers/redis.ts'
import { histogram } from '../ion/helpers.ts'

const ORDERS = '/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$top=1'
const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'

interface Answer { status: number, code?: string, wwwAuthenticate: boolean }

async function get (url: string): Promise<Answer> {
  const res = await request(url)
  const text = await res.body.text()
  const code = res.statusCode >= 400 ? (JSON.parse(text) as { error?: { code?: string } }).error?.code : undefined
  return { status: res.statusCode, ...(code ? { code } : {}), wwwAuthenticate: 'www-authenticate' in res.headers }
}

/** '200', or the status with the gateway's error code ('502 AUTH_002'). */
function outcome (a: Answer): string {
  return a.code ? `${a.status} ${a.code}` : String(a.status)
}

/** Calls to ION's token endpoint, every grant. */
function logins (e: Emulator): number {
  return e.stats.tokenRequests()
}

/** ion_gateway_ion_logins_total of one replica, all reasons. */
async function loginsCounted (gw: GatewayUnderTest): Promise<number> {
  const scrape = await (await request(gw.url + '/metrics')).body.text()
  return [...scrape.matchAll(/^ion_gateway_ion_logins_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
}

/** The storms below are far beyond a client's rate limit: that is not what they test. */
const UNLIMITED = { RATE_LIMIT_MAX: '100000' }

async function twoReplicas (t: Test, emulator: Emulator): Promise<[GatewayUnderTest, GatewayUnderTest]> {
  const redis = await startRedis(t)
  const env = { REDIS_URL: redis.url, ...UNLIMITED }
  return Promise.all([startGateway(t, { emulator, env }), startGateway(t, { emulator, env })])
}

t.test('1,000 ION 401s on a valid token (concurrent, then sequential) over 2 replicas sharing Redis: at most 2 logins, every request answered', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const [a, b] = await twoReplicas(t, emulator)
  t.equal(outcome(await get(a.url + ORDERS)), '200')
  t.equal(outcome(await get(b.url + ORDERS)), '200')
  t.equal(logins(emulator), 1, 'one login for the cluster at start')

  emulator.faults.lnUnauthorizedEvery(1) // LN now answers 401 to every call, the token staying good
  const concurrent = await Promise.all(Array.from({ length: 500 }, (_, i) => get((i % 2 ? b : a).url + ORDERS)))
  const afterConcurrent = logins(emulator) - 1
  const sequential: Answer[] = []
  for (let i = 0; i < 500; i++) sequential.push(await get((i % 2 ? b : a).url + ORDERS))
  const caused = logins(emulator) - 1

  const seen = histogram([...concurrent, ...sequential].map(outcome))
  t.equal(concurrent.length + sequential.length, 1000, `every request answered: ${JSON.stringify(seen)}`)
  t.ok(emulator.stats.calls(`/${emulator.tenant}/LN`) >= 1002, `at least 1,000 ION 401s (${emulator.stats.calls(`/${emulator.tenant}/LN`)} LN calls)`)
  t.ok(caused <= 2, `the 401s caused ${caused} logins (${afterConcurrent} during the concurrent burst), at most 2; answers ${JSON.stringify(seen)}`)
  t.same(Object.keys(seen), ['502 AUTH_002'], `ION's refusals are relayed as AUTH_002: ${JSON.stringify(seen)}`)
  t.notOk([...concurrent, ...sequential].some(x => x.wwwAuthenticate), 'ION\'s challenge never reaches the caller')
  t.equal(emulator.stats.throttled().logins, 0, 'ION never refused a login')

  emulator.faults.lnUnauthorizedEvery(0)
  t.same(histogram(await Promise.all([a, b, a, b].map(g => get(g.url + ORDERS).then(outcome)))), { 200: 4 }, 'the kept token serves once LN accepts it again')
  t.equal(logins(emulator) - 1, caused, 'without another login')
})

t.test('LN\'s occasional 401: the first one is recovered transparently, later ones in the interval are relayed without a login', async t => {
  const gw = await startGateway(t, { env: UNLIMITED })
  t.equal(outcome(await get(gw.url + ORDERS)), '200')
  gw.emulator.faults.lnUnauthorizedEvery(3)
  const answers: string[] = []
  for (let i = 0; i < 30; i++) answers.push(outcome(await get(gw.url + ORDERS)))
  const seen = histogram(answers)
  t.equal(answers[0], '200', 'the first 401 (third LN call) was recovered: refresh, retry, 200')
  t.equal(logins(gw.emulator), 2, `the start, then one login for the first 401 (answers ${JSON.stringify(seen)})`)
  t.ok((seen['502 AUTH_002'] ?? 0) >= 5, `later 401s relayed as AUTH_002 502: ${JSON.stringify(seen)}`)
  t.equal((seen['200'] ?? 0) + (seen['502 AUTH_002'] ?? 0), 30, `nothing else: ${JSON.stringify(seen)}`)

  gw.emulator.faults.lnUnauthorizedEvery(1)
  const res = await request(gw.url + ORDERS)
  const body = await res.body.json() as { error: { code: string, message: string, requestId: string } }
  t.equal(res.statusCode, 502, 'a relayed 401 is the gateway\'s envelope, not ION\'s 401')
  t.equal(body.error.code, 'AUTH_002')
  t.match(body.error.message, /RELOGIN_INTERVAL_S/)
  t.equal(body.error.requestId, res.headers['x-request-id'])
  t.notOk('www-authenticate' in res.headers)
  t.equal(logins(gw.emulator), 2, 'still no further login')
})

t.test('every login is counted in ion_gateway_ion_logins_total{reason}', async t => {
  const gw = await startGateway(t)
  t.equal(outcome(await get(gw.url + ITEM)), '200')
  gw.emulator.faults.revokeAll() // the token is dead: the first 401 is recovered with one login
  t.equal(outcome(await get(gw.url + ITEM)), '200')
  const scrape = await (await request(gw.url + '/metrics')).body.text()
  t.match(scrape, /ion_gateway_ion_logins_total\{reason="initial"\} 1\n/)
  t.match(scrape, /ion_gateway_ion_logins_total\{reason="unauthorized"\} 1\n/)
  // Two logins within the minute, ION_LOGINS_PER_MIN = 10 by default.
  t.match(scrape, /^ion_gateway_ion_login_budget_used_ratio 0\.2$/m, 'the budget gauge counts this minute\'s logins')
  t.equal(logins(gw.emulator), 3, 'the start, the refused refresh token and its fallback password grant')
})

t.test('Redis down: each replica decides alone, at most one 401 login per interval per replica', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const redis = await startRedis(t)
  const env = { REDIS_URL: redis.url, ...UNLIMITED }
  const [a, b] = await Promise.all([startGateway(t, { emulator, env }), startGateway(t, { emulator, env })])
  t.equal(outcome(await get(a.url + ORDERS)), '200')
  t.equal(outcome(await get(b.url + ORDERS)), '200')
  const before = [await loginsCounted(a), await loginsCounted(b)]
  await redis.stop()
  emulator.faults.lnUnauthorizedEvery(1)
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => get((i % 2 ? b : a).url + ORDERS)))
  for (let i = 0; i < 100; i++) answers.push(await get((i % 2 ? b : a).url + ORDERS))
  const seen = histogram(answers.map(outcome))
  const caused = [await loginsCounted(a) - (before[0] as number), await loginsCounted(b) - (before[1] as number)]
  // Both replicas hold the same refresh token: the second to use it is refused and falls back to the password grant.
  t.ok(caused.every(n => n <= 1), `logins per replica without Redis: ${caused.join(', ')}; token endpoint calls ${logins(emulator) - 1} (answers ${JSON.stringify(seen)})`)
  t.ok(logins(emulator) - 1 <= 2 * caused.length, `token endpoint calls: ${logins(emulator) - 1}, at most a refresh and its fallback per replica`)
  t.same(Object.keys(seen), ['502 AUTH_002'], `every request answered: ${JSON.stringify(seen)}`)
})
