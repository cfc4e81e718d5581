import { test, type Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { request } from 'undici'
import type { LimitVerdict } from '../../src/edge/client-limits.ts'
import type { HandedOver } from '../../src/proxy/hand-over.ts'
import { createReadLane, type ReadLaneParts, type LaneClient, type LaneLine } from '../../src/proxy/read-lane.ts'
import { testConfig } from '../helpers/config.ts'
import { rawExchange } from '../helpers/raw-socket.ts'

const ALLOWED: LimitVerdict = { refused: false, by: 'client', state: { remaining: 9, exceeded: false, ttlMs: 60_000 } }

interface Seen {
  counted: number
  kept: HandedOver[]
  lines: LaneLine[]
  handedOver: number
}

/** The lane alone on a real HTTP server: each part a plain function, the pipeline a handler answering 299. */
async function laneServer (t: Test, change: Partial<ReadLaneParts<LaneClient>> = {}): Promise<{ url: string, seen: Seen }> {
  const seen: Seen = { counted: 0, kept: [], lines: [], handedOver: 0 }
  const lane = createReadLane<LaneClient>({
    requestId: () => 'rid-1',
    isClosing: () => false,
    isUnderPressure: () => false,
    securityHeaders: { 'x-content-type-options': 'nosniff' },
    requestLimits: testConfig().requestLimits,
    clientIp: req => req.socket.remoteAddress as string,
    identify: () => ({ id: 'client:a', authenticated: false }),
    keysRequired: false,
    limitVerdict: () => { seen.counted++; return ALLOWED },
    limitHeaders: v => ['10', String(v.state.remaining), '60'],
    handOver: (_req, what) => { seen.kept.push(what) },
    freshAnswer: () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"hit":true}'), cacheStatus: 'HIT', ageS: 3 }),
    passThrough: () => Promise.reject(new Error('not called in this test')),
    completed: line => { seen.lines.push(line) },
    ...change,
  })
  const pipeline = (_req: IncomingMessage, res: ServerResponse): void => {
    seen.handedOver++
    res.writeHead(299).end('pipeline')
  }
  const server = createServer((req, res) => { lane.serve(req, res, pipeline) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

async function get (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string, headers: Record<string, unknown> }> {
  const res = await request(url, { headers })
  return { status: res.statusCode, body: await res.body.text(), headers: res.headers }
}

const PATH = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'

test('a fresh hit: answered with the steps\' headers in order, counted once, its line reported once', async t => {
  const { url, seen } = await laneServer(t)
  const answer = await get(url + PATH)
  t.equal(answer.status, 200)
  t.equal(answer.body, '{"hit":true}')
  t.same(Object.keys(answer.headers).filter(h => !['date', 'connection', 'keep-alive'].includes(h)),
    ['x-request-id', 'x-content-type-options', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'content-type', 'x-cache', 'age', 'content-length'])
  t.equal(answer.headers['content-length'], '12')
  t.equal(seen.counted, 1)
  t.equal(seen.handedOver, 0)
  t.equal(seen.lines.length, 1)
  t.match(seen.lines[0], { requestId: 'rid-1', url: PATH, statusCode: 200, clientId: 'client:a', cache: 'HIT' })
})

test('what the lane leaves to the pipeline, before counting anything', async t => {
  const cases: Array<[string, Partial<ReadLaneParts<LaneClient>>, string, Record<string, string>?]> = [
    ['the app closing', { isClosing: () => true }, PATH],
    ['load shedding', { isUnderPressure: () => true }, PATH],
    ['a key required and missing', { keysRequired: true }, PATH],
    ['another system', {}, '/ln/x'],
    ['the typed route', {}, '/m3/mi/MMS200MI/GetItmBasic'],
    ['a percent sign in the path', {}, '/m3/a%41'],
    ['compression asked for', {}, PATH, { 'accept-encoding': 'gzip' }],
    ['a header past MAX_HEADER_BYTES', { requestLimits: testConfig({ MAX_HEADER_BYTES: '1024' }).requestLimits }, PATH, { 'x-big': 'x'.repeat(2000) }],
  ]
  for (const [what, change, path, headers] of cases) {
    const { url, seen } = await laneServer(t, change)
    const answer = await get(url + path, headers)
    t.same({ status: answer.status, counted: seen.counted, handedOver: seen.handedOver, lines: seen.lines.length }, { status: 299, counted: 0, handedOver: 1, lines: 0 }, what)
  }
  // A GET with a body (undici sends none for GET): raw bytes.
  const { url, seen } = await laneServer(t)
  const answer = await rawExchange(url, `GET ${PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`)
  t.same({ status: answer.status, counted: seen.counted, handedOver: seen.handedOver }, { status: 299, counted: 0, handedOver: 1 }, 'a declared body')
})

test('after counting, a request handed over carries its verdict (never counted twice)', async t => {
  const refused: LimitVerdict = { refused: true, by: 'client', state: { remaining: 0, exceeded: true, ttlMs: 5000 } }
  const cases: Array<[string, Partial<ReadLaneParts<LaneClient>>]> = [
    ['refused by the rate limit', { limitVerdict: () => refused }],
    ['ION\'s error', { freshAnswer: () => undefined, passThrough: () => Promise.reject(new Error('ION down')) }],
    ['a verdict that takes a promise, then ION\'s error', { limitVerdict: () => Promise.resolve(ALLOWED), freshAnswer: () => undefined, passThrough: () => Promise.reject(new Error('ION down')) }],
    ['a streamed answer', { freshAnswer: () => undefined, passThrough: async () => ({ statusCode: 200, headers: {}, body: Readable.from(['a']), cacheStatus: undefined }) }],
  ]
  for (const [what, change] of cases) {
    const { url, seen } = await laneServer(t, change)
    const answer = await get(url + PATH)
    t.equal(answer.status, 299, `${what}: the pipeline answers`)
    t.equal(seen.kept.length, 1, `${what}: handed over once`)
    t.equal(seen.kept[0]?.verdict !== undefined, true, `${what}: with its verdict`)
    if (what !== 'refused by the rate limit') t.equal(seen.kept[0]?.requestId, 'rid-1', `${what}: with the request id ION saw`)
    if (what.includes('error')) t.match(seen.kept[0]?.outcome, { error: { message: 'ION down' } }, `${what}: with ION's error`)
    if (what.includes('stream')) t.ok(seen.kept[0]?.outcome && 'answer' in seen.kept[0].outcome, `${what}: with the answer`)
  }
  const failing = Promise.reject(new Error('redis down'))
  failing.catch(() => {})
  const { url, seen } = await laneServer(t, { limitVerdict: () => failing })
  t.equal((await get(url + PATH)).status, 299, 'a failed count: the pipeline answers (and reports the failure)')
  t.equal(seen.kept[0]?.verdict, failing, 'with the failed verdict itself, not a second count')
})

// Both wait on the stream's own 'close'; without the clean-up it never comes and the test's timeout fails it.
test('a streamed answer the pipeline does not send is dropped with the response (it holds a place at ION)', { timeout: 10_000 }, async t => {
  const stream = new Readable({ read () {} })
  stream.push('first chunk')
  const closed = once(stream, 'close')
  const { url, seen } = await laneServer(t, { freshAnswer: () => undefined, passThrough: async () => ({ statusCode: 200, headers: {}, body: stream, cacheStatus: undefined }) })
  t.equal((await get(url + PATH)).status, 299, 'the pipeline answered without reading it')
  await closed
  t.equal(stream.destroyed, true, 'the stream is destroyed')
  t.equal(seen.kept.length, 1)
})

test('a client that left while ION answered: a streamed answer is dropped at once', { timeout: 10_000 }, async t => {
  const stream = new Readable({ read () {} })
  const closed = once(stream, 'close')
  let answerNow: () => void = () => {}
  let asked: () => void = () => {}
  const ionAsked = new Promise<void>(resolve => { asked = resolve })
  let left: () => void = () => {}
  const clientLeft = new Promise<void>(resolve => { left = resolve })
  const { url, seen } = await laneServer(t, {
    freshAnswer: () => undefined,
    passThrough: request => new Promise(resolve => {
      request.onClientGone?.(left)
      answerNow = () => resolve({ statusCode: 200, headers: {}, body: stream, cacheStatus: undefined })
      asked()
    }),
  })
  const abort = new AbortController()
  const answered = request(url + PATH, { signal: abort.signal }).catch(() => undefined)
  await ionAsked
  abort.abort()
  await answered
  await clientLeft
  answerNow()
  await closed
  t.equal(stream.destroyed, true, 'the stream is destroyed')
  t.equal(seen.kept.length, 1, 'handed over (the pipeline logs the request)')
})

test('what Fastify\'s reply would refuse or rewrite goes to the pipeline with the answer', async t => {
  const answers: Array<[string, number, Record<string, string | string[]>]> = [
    ['a status above 599', 600, { 'content-type': 'application/json' }],
    ['a media type Fastify does not parse', 200, { 'content-type': 'json' }],
    ['an empty media type', 200, { 'content-type': '' }],
    ['two media types', 200, { 'content-type': ['application/json', 'text/plain'] }],
  ]
  for (const [what, statusCode, headers] of answers) {
    const { url, seen } = await laneServer(t, { freshAnswer: () => ({ statusCode, headers, body: Buffer.from('{}'), cacheStatus: 'HIT' }) })
    t.equal((await get(url + PATH)).status, 299, `${what}: the pipeline answers`)
    t.ok(seen.kept[0]?.outcome && 'answer' in seen.kept[0].outcome && typeof seen.kept[0].startMs === 'number', `${what}: with the answer and when the request arrived`)
    t.equal(seen.lines.length, 0, `${what}: no line of the lane's`)
  }
})

test('the request line\'s cache field is the x-cache the client got', async t => {
  const { url, seen } = await laneServer(t, {
    freshAnswer: () => undefined,
    passThrough: async () => ({ statusCode: 200, headers: { 'content-type': 'application/json', 'x-cache': 'Miss from cloudfront' }, body: Buffer.from('{}'), cacheStatus: undefined }),
  })
  t.equal((await get(url + PATH)).headers['x-cache'], 'Miss from cloudfront')
  t.match(seen.lines, [{ cache: 'Miss from cloudfront' }])
})

test('a read past the cache: ION\'s answer sent by the lane, with what happened upstream in its line', async t => {
  const { url, seen } = await laneServer(t, {
    freshAnswer: () => undefined,
    passThrough: async request => {
      if (request.trace) Object.assign(request.trace, { system: 'm3', statusCode: 200, attempts: 2 })
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"miss":true}'), cacheStatus: 'MISS' }
    },
  })
  const answer = await get(url + PATH)
  t.same({ status: answer.status, body: answer.body, cache: answer.headers['x-cache'] }, { status: 200, body: '{"miss":true}', cache: 'MISS' })
  t.match(seen.lines, [{ statusCode: 200, cache: 'MISS', trace: { system: 'm3', statusCode: 200, attempts: 2 } }])
  t.equal(seen.handedOver, 0)
})

test('a step that throws: the pipeline answers, the server survives', async t => {
  const { url, seen } = await laneServer(t, { identify: () => { throw new Error('bug') } })
  t.equal((await get(url + PATH)).status, 299)
  t.equal((await get(url + PATH)).status, 299, 'and the next request too')
  t.equal(seen.handedOver, 2)
})

test('statuses without a body: no content-type or length, as Fastify sends them', async t => {
  const { url } = await laneServer(t, { freshAnswer: () => ({ statusCode: 204, headers: { 'content-type': 'text/plain' }, body: Buffer.from('x'), cacheStatus: 'HIT' }) })
  const answer = await get(url + PATH)
  t.equal(answer.status, 204)
  t.equal(answer.headers['content-type'], undefined)
  t.equal(answer.headers['content-length'], undefined)
  t.equal(answer.body, '')
})
