import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGateway, type GatewayUnderTest } from '../helpers/gateway.ts'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts'
import { eventually, freePort } from '../helpers/wait.ts'

const M3 = '/ACME_TST/M3'
const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'
const SERVER = 2
const CLIENT = 3
const ERROR = 2

/** The caller's trace: its ids must survive the gateway. */
const CALLER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const CALLER_SPAN_ID = '00f067aa0ba902b7'

async function tracedGateway (t: Test, env: Record<string, string> = {}): Promise<{ gw: GatewayUnderTest, otlp: OtlpReceiver }> {
  const otlp = await startOtlpReceiver()
  t.teardown(() => otlp.close())
  const gw = await startGateway(t, {
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '20', LOG_LEVEL: 'silent', ...env },
  })
  return { gw, otlp }
}

async function get (url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers })
  await res.body.dump()
  return { status: res.statusCode, headers: res.headers, requestId: String(res.headers['x-request-id']) }
}

function serverSpanOf (otlp: OtlpReceiver, requestId: string): ReceivedSpan | undefined {
  return otlp.spans.find(s => s.kind === SERVER && s.attributes['gateway.request_id'] === requestId)
}

function childrenOf (otlp: OtlpReceiver, span: ReceivedSpan): ReceivedSpan[] {
  return otlp.spans.filter(s => s.parentSpanId === span.spanId && s.traceId === span.traceId)
}

async function exported (otlp: OtlpReceiver, requestId: string, ionSpans: number): Promise<{ server: ReceivedSpan, ion: ReceivedSpan[] }> {
  let found: { server: ReceivedSpan, ion: ReceivedSpan[] } | undefined
  await eventually(`spans of ${requestId} exported`, () => {
    const server = serverSpanOf(otlp, requestId)
    if (!server) return `${otlp.spans.length} spans, none for the request`
    const ion = childrenOf(otlp, server)
    if (ion.length < ionSpans) return `${ion.length} ION spans`
    found = { server, ion }
    return true
  })
  return found as { server: ReceivedSpan, ion: ReceivedSpan[] }
}

t.test('a miss: SERVER span continues the caller\'s trace, its ION CLIENT child is the parent ION sees', async t => {
  const { gw, otlp } = await tracedGateway(t, { CACHE_DRIVER: 'memory', OTEL_SERVICE_NAME: 'gw-under-test' })
  const res = await get(gw.url + ITEM, {
    traceparent: `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`,
    tracestate: 'acme=caller',
  })
  t.equal(res.status, 200)
  const { server, ion } = await exported(otlp, res.requestId, 1)

  t.equal(server.traceId, CALLER_TRACE_ID, 'the caller\'s trace id is kept')
  t.equal(server.parentSpanId, CALLER_SPAN_ID, 'the caller\'s span is the parent')
  t.equal(server.name, 'GET /m3/*')
  t.match(server.attributes, {
    'http.request.method': 'GET',
    'http.route': '/m3/*',
    'http.response.status_code': 200,
    'ion.system': 'M3',
    'ion.cache': 'MISS',
    'url.path': '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic',
  })
  t.not(server.statusCode, ERROR)
  t.equal(server.resource['service.name'], 'gw-under-test')

  t.equal(ion.length, 1, `ION spans: ${ion.map(s => s.name).join(', ')}`)
  const call = ion[0] as ReceivedSpan
  t.equal(call.kind, CLIENT)
  t.equal(call.name, 'ION M3 GET')
  t.match(call.attributes, { 'http.response.status_code': 200, 'ion.system': 'M3', 'server.address': '127.0.0.1' })
  t.match(String(call.attributes['url.full']), /\/ACME_TST\/M3\/m3api-rest\/v2\/execute\/MMS200MI\/GetItmBasic\?ITNO=A100$/)

  const [seen, ...more] = gw.emulator.stats.requests(`${M3}/m3api-rest`)
  t.equal(more.length, 0)
  t.equal(seen?.headers.traceparent, `00-${CALLER_TRACE_ID}-${call.spanId}-01`, 'ION received the CLIENT span as its parent')
  t.equal(seen?.headers.tracestate, 'acme=caller', 'the caller\'s tracestate travels on')
})

t.test('the typed M3 route: its route template, and its ION call as the child', async t => {
  const { gw, otlp } = await tracedGateway(t)
  const res = await get(gw.url + '/m3/mi/MMS200MI/GetItmBasic?ITNO=A100')
  t.equal(res.status, 200)
  const { server, ion } = await exported(otlp, res.requestId, 1)
  t.equal(server.attributes['http.route'], '/m3/mi/:program/:transaction')
  t.equal(server.attributes['ion.system'], 'M3')
  t.match(String(ion[0]?.attributes['url.full']), /\/ACME_TST\/M3\/m3api-rest\/v2\/execute\/MMS200MI\/GetItmBasic\?ITNO=A100$/)
})

t.test('a cache hit has no ION span; a request without traceparent starts its own trace', async t => {
  const { gw, otlp } = await tracedGateway(t, { CACHE_DRIVER: 'memory' })
  const miss = await get(gw.url + ITEM)
  await gw.app.responseCache?.whenIdle()
  const hit = await get(gw.url + ITEM)
  t.equal(hit.headers['x-cache'], 'HIT')
  const { server: missSpan } = await exported(otlp, miss.requestId, 1)
  const { server: hitSpan } = await exported(otlp, hit.requestId, 0)
  t.equal(missSpan.parentSpanId, '', 'no traceparent: a root span')
  t.match(missSpan.traceId, /^[0-9a-f]{32}$/)
  t.not(hitSpan.traceId, missSpan.traceId, 'each request is a trace of its own')
  t.equal(hitSpan.attributes['ion.cache'], 'HIT')
  t.equal(hitSpan.attributes['ion.system'], 'M3')
  t.same(childrenOf(otlp, hitSpan), [], 'no ION call, no ION span')
  t.equal(gw.emulator.stats.calls(`${M3}/m3api-rest`), 1, 'ION was called once')
})

t.test('retries get one CLIENT span each; a transport failure marks both spans as errors', async t => {
  const { gw, otlp } = await tracedGateway(t, { UPSTREAM_RETRIES: '1' })
  gw.emulator.faults.failNext(1, 503)
  const retried = await get(gw.url + ITEM)
  t.equal(retried.status, 200)
  const { ion } = await exported(otlp, retried.requestId, 2)
  const byResend = ion.sort((a, b) => Number(a.attributes['http.request.resend_count'] ?? 0) - Number(b.attributes['http.request.resend_count'] ?? 0))
  t.same(byResend.map(s => [s.attributes['http.response.status_code'], s.attributes['http.request.resend_count'], s.statusCode]),
    [[503, undefined, ERROR], [200, 1, 0]], 'the 503 attempt failed, the resend succeeded')

  gw.emulator.faults.resetNext(2)
  const failed = await get(gw.url + ITEM)
  t.equal(failed.status, 502)
  const { server, ion: attempts } = await exported(otlp, failed.requestId, 2)
  t.equal(server.statusCode, ERROR)
  t.match(server.attributes, { 'http.response.status_code': 502, 'error.type': 'API_001' })
  t.same(attempts.map(s => [s.statusCode, s.attributes['error.type']]), [[ERROR, 'API_001'], [ERROR, 'API_001']])
})

t.test('the login has its span; no secret reaches a span: not the ION token, the client secret, an API key or a secret query value', async t => {
  const { gw, otlp } = await tracedGateway(t, { OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=collector%20secret' })
  const res = await get(`${gw.url}${ITEM}&api_key=QUERYSECRET`, { 'x-api-key': 'KEYSECRET', authorization: 'Bearer CLIENTBEARER' })
  t.equal(res.status, 200)
  const { server, ion } = await exported(otlp, res.requestId, 1)
  t.match(String(server.attributes['url.query']), /api_key=\[redacted\]/)
  t.match(String(ion[0]?.attributes['url.full']), /api_key=\[redacted\]/)
  t.equal(otlp.headers[0]?.['x-collector-key'], 'collector secret', 'the exporter sends OTEL_EXPORTER_OTLP_HEADERS')
  await eventually('the login\'s span exported', () => otlp.spans.some(s => s.name === 'ION token'))
  const login = otlp.spans.find(s => s.name === 'ION token') as ReceivedSpan
  t.equal(login.kind, CLIENT)
  t.equal(login.parentSpanId, '', 'a login is a trace of its own (shared by every request waiting for it)')
  t.match(login.attributes, { 'ion.token.grant': 'password', 'http.response.status_code': 200, 'http.request.method': 'POST' })
  const token = gw.app.ionTokens.peekAccessToken()
  t.ok(token)
  const everything = otlp.bodies.join('\n')
  for (const secret of [token as string, gw.emulator.ionapi.cs, gw.emulator.ionapi.sask, 'QUERYSECRET', 'KEYSECRET', 'CLIENTBEARER', 'collector secret']) {
    t.notOk(everything.includes(secret), `not exported: ${secret.slice(0, 4)}…`)
  }
  t.notMatch(everything, /authorization|x-api-key/i)
})

t.test('spans still held are exported when the app closes', async t => {
  const { gw, otlp } = await tracedGateway(t, { OTEL_BSP_SCHEDULE_DELAY: '600000' })
  const res = await get(gw.url + ITEM)
  t.equal(res.status, 200)
  t.equal(otlp.spans.length, 0, 'nothing exported before the batch is due')
  await gw.app.close()
  t.ok(serverSpanOf(otlp, res.requestId), `exported on close (${otlp.spans.length} spans, to ${otlp.paths.join(', ')})`)
  t.same([...new Set(otlp.paths)], ['/v1/traces'])
})

t.test('tracing off: no traceparent goes to ION, a caller\'s own passes through untouched', async t => {
  const gw = await startGateway(t, { env: { LOG_LEVEL: 'silent' } })
  t.equal(gw.app.tracing, undefined)
  t.equal((await get(gw.url + ITEM)).status, 200)
  const passed = `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`
  t.equal((await get(gw.url + ITEM, { traceparent: passed })).status, 200)
  const [first, second] = gw.emulator.stats.requests(`${M3}/m3api-rest`)
  t.notOk(first && 'traceparent' in first.headers, 'the gateway adds no traceparent')
  t.equal(second?.headers.traceparent, passed)
})

t.test('a collector that is down costs spans, not requests: one warning without its URL, and the shutdown is not held', async t => {
  const port = await freePort()
  const gw = await startGateway(t, {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://user:URLSECRET@127.0.0.1:${port}`,
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_EXPORTER_OTLP_TIMEOUT: '300',
      LOG_LEVEL: 'warn',
    },
  })
  for (let i = 0; i < 3; i++) t.equal((await get(gw.url + ITEM)).status, 200)
  const failing = () => gw.logs.filter(l => String(l.msg).startsWith('trace export to the OTLP endpoint failing'))
  await eventually('the failing export is reported', () => failing().length > 0 || `${gw.logs.length} log lines`)
  for (let i = 0; i < 3; i++) t.equal((await get(gw.url + ITEM)).status, 200)
  await gw.app.close()
  t.equal(failing().length, 1, `reported once until it recovers: ${JSON.stringify(failing())}`)
  t.equal(failing()[0]?.reason, 'ECONNREFUSED')
  t.notMatch(gw.logText(), /URLSECRET|127\.0\.0\.1:\d+\/v1/, 'no collector URL in the logs')
})

t.test('a client that goes away mid-request: its span still ends, marked client_aborted, without a status', async t => {
  const { gw, otlp } = await tracedGateway(t)
  gw.emulator.faults.latency(1500, `${M3}/m3api-rest`)
  const controller = new AbortController()
  const pending = request(gw.url + ITEM, { signal: controller.signal, headers: { 'x-request-id': 'gone-away-1' } }).catch((err: Error) => err)
  await eventually('ION is handling the call', () => gw.emulator.stats.inFlight() === 1 || `in flight: ${gw.emulator.stats.inFlight()}`)
  controller.abort()
  t.type(await pending, Error)
  await eventually('the aborted request\'s span exported', () => serverSpanOf(otlp, 'gone-away-1') !== undefined)
  const server = serverSpanOf(otlp, 'gone-away-1') as ReceivedSpan
  t.equal(server.attributes['error.type'], 'client_aborted')
  t.equal(server.attributes['http.response.status_code'], undefined)
  t.not(server.statusCode, ERROR, 'the caller left: not the gateway\'s error')
})
