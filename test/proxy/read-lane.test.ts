import { test, type Test } from 'tap'
import { request } from 'undici'
import { createEmulator, type Emulator } from '../../emulator/index.ts'
import type { EnvInput } from '../../src/config.ts'
import type { ReadLane } from '../../src/proxy/read-lane.ts'
import { writeKeysFile } from '../helpers/api-keys.ts'
import { startGateway, type GatewayUnderTest } from '../helpers/gateway.ts'
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts'
import { eventually } from '../helpers/wait.ts'
import { startRedis } from '../helpers/redis.ts'

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'
const LIST = '/m3/m3api-rest/v2/execute/MMS200MI/LstItmByItm?ITNO=A100&maxrecs=5'

interface Answer {
  status: number
  headers: Array<[string, string]>
  body: string
}

interface Sent {
  path: string
  headers?: Record<string, string>
  method?: string
}

/** Two gateways on one emulator, the same settings: one with the read lane, one sending every request through Fastify. */
async function pair (t: Test, env: EnvInput, emulator?: Emulator): Promise<{ lane: GatewayUnderTest, pipeline: GatewayUnderTest, served: () => number }> {
  const ion = emulator ?? await createEmulator({ port: 0 })
  if (!emulator) t.teardown(() => ion.close())
  let readLane: ReadLane | undefined
  const settings = { LOG_LEVEL: 'info', CACHE_DRIVER: 'memory', ...env }
  const lane = await startGateway(t, { emulator: ion, env: settings, readLane: { onLane: l => { readLane = l } } })
  const pipeline = await startGateway(t, { emulator: ion, env: settings, readLane: false })
  t.ok(readLane, 'the lane is on for these settings')
  return { lane, pipeline, served: () => readLane?.served() ?? 0 }
}

async function send (base: string, sent: Sent, requestId: string): Promise<Answer> {
  const res = await request(base + sent.path, { method: (sent.method ?? 'GET') as 'GET', headers: { 'x-request-id': requestId, ...sent.headers } })
  const body = await res.body.text()
  const headers: Array<[string, string]> = []
  for (const [name, value] of Object.entries(res.headers)) {
    // The clock's, and a window's or an entry's seconds left, which two apps started apart may round apart.
    if (name === 'date' || name === 'keep-alive') continue
    const shown = name === 'age' || name === 'ratelimit-reset'
      ? (Number(value) >= 0 ? 'n' : String(value))
      : name === 'x-request-id' ? generated(String(value)) : String(value)
    headers.push([name, shown])
  }
  return { status: res.statusCode, headers, body }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A request id the gateway made (random, so never the same in two apps) stands as `uuid`. */
function generated (id: string): string {
  return UUID.test(id) ? 'uuid' : id
}

/** Each request to both apps in turn; the answers must be the same, headers in the same order. */
async function sameAnswers (t: Test, apps: { lane: GatewayUnderTest, pipeline: GatewayUnderTest }, requests: Array<[string, Sent]>, before?: (what: string) => void): Promise<Answer[]> {
  const answers: Answer[] = []
  let n = 0
  for (const [what, sent] of requests) {
    const id = `lane-test-${++n}`
    before?.(what)
    const viaLane = await send(apps.lane.url, sent, id)
    before?.(what)
    const viaPipeline = await send(apps.pipeline.url, sent, id)
    t.same(viaLane, viaPipeline, `${what}: the same answer (${viaLane.status}, ${viaLane.headers.find(([h]) => h === 'x-cache')?.[1] ?? 'no x-cache'})`)
    answers.push(viaLane)
  }
  return answers
}

/** The request lines both apps logged, the clock's fields taken out. */
function requestLines (app: GatewayUnderTest): Array<Record<string, unknown>> {
  return app.logs.filter(line => line.msg === 'request completed').map(({ time: _time, durationMs, requestId, ...line }) => {
    if (typeof durationMs !== 'number') throw new Error('a request line without durationMs')
    return { ...line, requestId: generated(String(requestId)) }
  })
}

/** The series that count requests, hits, misses and refusals (durations differ, counts must not). */
async function counts (app: GatewayUnderTest): Promise<string[]> {
  const text = await request(`${app.url}/metrics`).then(res => res.body.text())
  return text.split('\n').filter(line =>
    /^ion_gateway_(http_request_duration_seconds_count|cache_hits_total|cache_misses_total|rate_limit_exceeded_total)/.test(line) &&
    !line.includes('route="/metrics"'))
}

async function sameRecords (t: Test, apps: { lane: GatewayUnderTest, pipeline: GatewayUnderTest }): Promise<void> {
  t.same(requestLines(apps.lane), requestLines(apps.pipeline), 'the same request lines')
  t.same(await counts(apps.lane), await counts(apps.pipeline), 'the same request, cache and rate-limit counts')
}

test('open mode: every request answered, logged and counted as the pipeline does, reads by the lane', async t => {
  const apps = await pair(t, { TRUST_PROXY: '127.0.0.1' })
  await sameAnswers(t, apps, [
    ['first read (MISS)', { path: ITEM }],
    ['second read (HIT)', { path: ITEM }],
    ['a HIT for a named client', { path: ITEM, headers: { 'x-client-id': 'planning' } }],
    ['a HIT behind the trusted proxy', { path: ITEM, headers: { 'x-forwarded-for': '203.0.113.7' } }],
    ['a list (MISS)', { path: LIST }],
    ['the list (HIT)', { path: LIST }],
    ['a HIT asking for compression', { path: LIST, headers: { 'accept-encoding': 'gzip' } }],
    ['HEAD', { path: ITEM, method: 'HEAD' }],
    ['no-cache (past the cache)', { path: ITEM, headers: { 'cache-control': 'no-cache' } }],
    ['the typed route', { path: '/m3/mi/MMS200MI/GetItmBasic?ITNO=A100' }],
    ['a percent-encoded path', { path: '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic%2F?ITNO=A100' }],
    ['a bad percent-encoding', { path: '/m3/m3api-rest/%zz' }],
    ['a secret in the query (MISS)', { path: `${ITEM}&password=hunter2-secret` }],
    ['a secret in the query (HIT)', { path: `${ITEM}&password=hunter2-secret` }],
    ['a request id the gateway does not keep', { path: ITEM, headers: { 'x-request-id': 'not a plain id!' } }],
    ['the HIT once more', { path: ITEM }],
  ])
  t.equal(apps.served(), 11, 'the lane answered the eleven reads it may answer')
  await sameRecords(t, apps)
  t.notOk(apps.lane.logText().includes('hunter2-secret'), 'the secret parameter is redacted from the lane\'s lines')
})

test('API keys and a rate limit: refusals are the pipeline\'s, a handed-over request counted once', async t => {
  const keys = writeKeysFile(t)
  const apps = await pair(t, { CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '9', RATE_LIMIT_WINDOW_MS: '600000' })
  const key = { 'x-api-key': keys.portal }
  const answers = await sameAnswers(t, apps, [
    ['no key', { path: ITEM }],
    ['a wrong key', { path: ITEM, headers: { 'x-api-key': 'ig_wrong' } }],
    ['first read (MISS)', { path: ITEM, headers: key }],
    ['a HIT', { path: ITEM, headers: key }],
    ['no-cache', { path: ITEM, headers: { ...key, 'cache-control': 'no-cache' } }],
    ['a HIT', { path: ITEM, headers: key }],
    ['a HIT', { path: ITEM, headers: key }],
    ['a HIT', { path: ITEM, headers: key }],
    ['a HIT', { path: ITEM, headers: key }],
    ['a HIT', { path: ITEM, headers: key }],
    ['a HIT', { path: ITEM, headers: key }],
    ['past the limit', { path: ITEM, headers: key }],
    ['past the limit again', { path: ITEM, headers: key }],
  ])
  const remaining = answers.map(a => a.headers.find(([h]) => h === 'ratelimit-remaining')?.[1])
  t.same(remaining.slice(2), ['8', '7', '6', '5', '4', '3', '2', '1', '0', '0', '0'], `each request counted once: ${remaining.join(' ')}`)
  t.same(answers.slice(-2).map(a => a.status), [429, 429], 'refused past the limit')
  t.equal(apps.served(), 9, 'the lane answered the nine reads within the limit')
  await sameRecords(t, apps)
  t.notOk(apps.lane.logText().includes(keys.portal), 'the API key is never logged')
})

test('rate-limit counters in Redis: the lane waits for their verdict', async t => {
  const redis = await startRedis(t)
  const apps = await pair(t, { REDIS_URL: redis.url, RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW_MS: '600000' })
  // Both apps count in the same Redis: each needs its own client id.
  const asLane = { 'x-client-id': 'lane' }
  const requests: Array<[string, Sent]> = [
    ['first read (MISS)', { path: ITEM }],
    ['a HIT', { path: ITEM }],
    ['no-cache', { path: ITEM, headers: { 'cache-control': 'no-cache' } }],
    ['a HIT', { path: ITEM }],
    ['past the limit', { path: ITEM }],
  ]
  const viaLane: Answer[] = []
  const viaPipeline: Answer[] = []
  let n = 0
  for (const [, sent] of requests) {
    const id = `redis-${++n}`
    viaLane.push(await send(apps.lane.url, { ...sent, headers: { ...sent.headers, ...asLane } }, id))
    viaPipeline.push(await send(apps.pipeline.url, { ...sent, headers: { ...sent.headers, 'x-client-id': 'pipeline' } }, id))
  }
  t.same(viaLane.map(a => a.status), [200, 200, 200, 200, 429], 'the limit holds through the lane')
  t.same(viaLane.map(a => a.status), viaPipeline.map(a => a.status), 'the same statuses')
  t.same(viaLane.map(a => a.headers.find(([h]) => h === 'ratelimit-remaining')?.[1]), ['3', '2', '1', '0', '0'], 'each request counted once in Redis')
  t.same(viaLane.map(a => a.body), viaPipeline.map(a => a.body), 'the same bodies')
  t.equal(apps.served(), 4, 'the lane answered the four reads within the limit')
})

test('cache off: ION\'s answers, its failures (the error handler\'s envelope) and streamed answers as the pipeline gives them', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const apps = await pair(t, { CACHE_DRIVER: 'none', UPSTREAM_RETRIES: '1' }, emulator)
  const large = JSON.stringify({ results: [{ records: [{ ITNO: 'x'.repeat(80_000) }] }] })
  const faults: Record<string, () => void> = {
    'ION answers 500': () => emulator.faults.failNext(1, 500, `/${emulator.ionapi.ti}/M3/`),
    'ION resets the connection (retried, then API_001)': () => emulator.faults.resetNext(2, `/${emulator.ionapi.ti}/M3/`),
    'ION answers 429': () => emulator.faults.rateLimitNext(1, 1, `/${emulator.ionapi.ti}/M3/`),
    'a large answer (streamed)': () => emulator.faults.respondNext(1, { status: 200, headers: { 'content-type': 'application/json' }, body: large }, `/${emulator.ionapi.ti}/M3/`),
  }
  await sameAnswers(t, apps, [
    ['a read', { path: ITEM }],
    ['a list', { path: LIST }],
    ['an unknown transaction (ION 404)', { path: '/m3/m3api-rest/v2/execute/MMS200MI/NoSuchThing' }],
    ['ION answers 500', { path: ITEM }],
    ['ION resets the connection (retried, then API_001)', { path: ITEM }],
    ['a large answer (streamed)', { path: ITEM }],
    ['a read again', { path: ITEM }],
    // Last: it holds M3 calls for a second.
    ['ION answers 429', { path: LIST }],
  ], what => faults[what]?.())
  await sameRecords(t, apps)
  // ION's own answers are relayed (200, 400, 500, 429): the lane sends them; the reset became API_001 and the large
  // answer a stream, both the pipeline's to send.
  t.equal(apps.served(), 6, `the lane sent the six answers it had whole (served ${apps.served()})`)
  // Each app calls ION with its own token: the lane's requests, handed over or not, call ION as often.
  const callsByToken = new Map<string, number>()
  for (const call of emulator.stats.requests(`/${emulator.ionapi.ti}/M3/`)) {
    const token = String(call.headers.authorization)
    callsByToken.set(token, (callsByToken.get(token) ?? 0) + 1)
  }
  t.same([...callsByToken.values()].length, 2, 'two callers')
  t.equal(new Set(callsByToken.values()).size, 1, `as many ION calls from the lane's app as from the pipeline's: ${[...callsByToken.values()].join(', ')}`)
})

test('the lane is off where it would not answer as the pipeline does', async t => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  for (const env of [{ CORS_ORIGINS: 'https://portal.example.com' }, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }] as EnvInput[]) {
    let lane: ReadLane | undefined
    await startGateway(t, { env: { CACHE_DRIVER: 'memory', ...env }, readLane: { onLane: l => { lane = l } }, listen: false })
    t.equal(lane, undefined, `off with ${JSON.stringify(env)}`)
  }
})

/** The hooks of `GET /m3/*`, by name, as Fastify lists them. */
async function passThroughHooks (t: Test, env: EnvInput): Promise<string[]> {
  const { app } = await startGateway(t, { env: { CACHE_DRIVER: 'memory', ...env }, listen: false })
  const tree = app.printRoutes({ includeHooks: true, commonPrefix: false })
  // The wildcard below /m3 (GET among its methods), and the hook lines under it.
  const lines = tree.split('\n')
  const at = lines.findIndex((line, i) => /\* \(.*GET/.test(line) && lines.slice(0, i).reverse().find(l => /── \/\w+/.test(l))?.includes('/m3'))
  t.not(at, -1, 'found the /m3/* route')
  const hooks: string[] = []
  for (const line of lines.slice(at + 1)) {
    const m = /• \((\w+)\) (\[.*\])/.exec(line)
    if (!m) break
    hooks.push(`${m[1]}: ${(JSON.parse(m[2] as string) as string[]).join(', ')}`)
  }
  return hooks
}

test('the pass-through route runs exactly the hooks the lane mirrors', async t => {
  // A hook added here changes what an M3 read's answer is: src/proxy/read-lane.ts must take the same step.
  t.same(await passThroughHooks(t, {}), [
    'onRequest: closingRefusal(), requestIdHeader(), setSecurityHeaders(), requestHeadLimits(), identifyClient(), rateLimit(), onRequest()',
    'preParsing: requireKey()',
    'onSend: closingConnection(), unreadBodyConnection(), onSend()',
    'onResponse: observeDuration()',
  ], 'the hooks of GET /m3/*')
  // With load shedding on (production's default), @fastify/under-pressure's hook: the lane asks isUnderPressure().
  t.same((await passThroughHooks(t, { MAX_EVENT_LOOP_DELAY_MS: '1000' }))[0],
    'onRequest: closingRefusal(), requestIdHeader(), setSecurityHeaders(), requestHeadLimits(), onRequest(), identifyClient(), rateLimit(), onRequest()',
    'with load shedding on')
})

test('ION called, then the app begins closing: the handed-over answer is still sent, its duration counted from arrival', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  let lane: ReadLane | undefined
  const gateway = await startGateway(t, { emulator, env: { CACHE_DRIVER: 'none', LOG_LEVEL: 'info' }, readLane: { onLane: l => { lane = l } } })
  const large = JSON.stringify({ results: [{ records: [{ ITNO: 'x'.repeat(80_000) }] }] })
  const prefix = `/${emulator.ionapi.ti}/M3/`
  emulator.faults.respondNext(1, { status: 200, headers: { 'content-type': 'application/json' }, body: large }, prefix)
  emulator.faults.latency(400, prefix)
  const answer = request(gateway.url + ITEM).then(async res => ({ status: res.statusCode, bytes: (await res.body.arrayBuffer()).byteLength }))
  await eventually('ION has the request', () => emulator.stats.requests(prefix).length === 1)
  const closing = gateway.app.close()
  t.same(await answer, { status: 200, bytes: Buffer.byteLength(large) }, 'the answer ION gave, not SYS_004')
  await closing
  t.equal(lane?.served(), 0, 'a streamed answer: sent by the pipeline')
  const line = gateway.logs.find(l => l.msg === 'request completed')
  t.match(line, { statusCode: 200, upstreamStatus: 200 }, 'its request line')
  // ION took 400 ms to answer: a duration counted from the hand-over would be a few ms.
  t.ok(Number(line?.durationMs) >= 400, `durationMs from arrival: ${String(line?.durationMs)}`)
})
