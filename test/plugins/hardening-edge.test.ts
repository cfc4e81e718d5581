import t, { type Test } from 'tap'
import type { Socket } from 'node:net'
import { writeKeysFile } from '../helpers/api-keys.ts'
import { startGateway } from '../helpers/gateway.ts'
import { openRaw, rawExchange, type RawAnswer } from '../helpers/raw-socket.ts'
import { eventually } from '../helpers/wait.ts'

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'
const M3_WRITE = '/m3/m3api-rest/v2/execute/MMS200MI/ChgBasicData'
const IDM_UPLOAD = '/idm/api/items/upload'
const UPSTREAM_IDM = '/ACME_TST/IDM/'

function get (path: string, headerLines: string[] = [], connection = 'close'): string {
  return [`GET ${path} HTTP/1.1`, 'Host: gateway', ...headerLines, `Connection: ${connection}`].join('\r\n') + '\r\n\r\n'
}

function fillerHeaders (count: number, valueBytes = 1): string[] {
  return Array.from({ length: count }, (_, i) => `x-filler-${i}: ${'v'.repeat(valueBytes)}`)
}

/** The answer is the gateway's error envelope, with the given status and code, and the request id in the header. */
function assertEnvelope (t: Test, res: RawAnswer, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: status (guard expired: ${res.guardExpired}; got ${JSON.stringify(res.raw.slice(0, 200))})`)
  t.match(res.headers['content-type'] ?? '', /^application\/json/, `${what}: JSON`)
  const requestId = res.headers['x-request-id']
  t.ok(requestId, `${what}: x-request-id header`)
  let body: { error?: { code?: string, message?: string, requestId?: string } } = {}
  try {
    body = JSON.parse(res.body) as typeof body
  } catch {
    t.fail(`${what}: body is not JSON: ${JSON.stringify(res.body.slice(0, 200))}`)
  }
  t.equal(body.error?.code, code, `${what}: code`)
  t.equal(body.error?.requestId, requestId, `${what}: the envelope's requestId is the header's`)
  t.type(body.error?.message, 'string', `${what}: message`)
}

t.test('header flood: more than MAX_REQUEST_HEADERS headers or MAX_HEADER_BYTES → 431 API_008, ION and its token endpoint never hear of it', async t => {
  const gw = await startGateway(t)
  const warm = await rawExchange(gw.url, get(ITEM))
  t.equal(warm.status, 200, 'a plain request passes (and the gateway holds a token)')
  const tokensBefore = gw.emulator.stats.tokenRequests()
  const callsBefore = gw.emulator.stats.calls()

  // Host + Connection + 98 = 100 headers: exactly the default limit.
  const atLimit = await rawExchange(gw.url, get(ITEM, fillerHeaders(98)))
  t.equal(atLimit.status, 200, '100 headers are accepted')

  for (const [what, lines] of [
    ['2,000 small headers', fillerHeaders(2000)],
    ['101 headers', fillerHeaders(99)],
    ['17 headers of 1,000 bytes (over 16,384 bytes)', fillerHeaders(17, 1000)],
  ] as const) {
    const res = await rawExchange(gw.url, get(ITEM, [...lines]))
    assertEnvelope(t, res, 431, 'API_008', what)
  }
  t.equal(gw.emulator.stats.calls() - callsBefore, 1, `only the request at the limit reached ION (saw ${gw.emulator.stats.calls() - callsBefore})`)
  t.equal(gw.emulator.stats.tokenRequests(), tokensBefore, `no token refresh (token requests before ${tokensBefore}, after ${gw.emulator.stats.tokenRequests()})`)
})

t.test('a request target longer than MAX_URL_BYTES → 414 API_003, nothing sent to ION', async t => {
  const gw = await startGateway(t)
  const prefix = `${ITEM}&PAD=`
  const atLimit = await rawExchange(gw.url, get(prefix + 'x'.repeat(8192 - prefix.length)))
  t.not(atLimit.status, 414, `8,192 bytes are accepted (got ${atLimit.status})`)
  t.equal(gw.emulator.stats.calls(), 1, 'the request at the limit reached ION')
  const tooLong = await rawExchange(gw.url, get(prefix + 'x'.repeat(8193 - prefix.length)))
  assertEnvelope(t, tooLong, 414, 'API_003', '8,193 bytes')
  t.equal(tooLong.headers['x-content-type-options'], 'nosniff', 'with the security headers of any answer')
  const wayTooLong = await rawExchange(gw.url, get(prefix + 'x'.repeat(20000)))
  assertEnvelope(t, wayTooLong, 414, 'API_003', '20,000 bytes')
  t.equal(gw.emulator.stats.calls(), 1, `the long ones never reached ION (calls ${gw.emulator.stats.calls()})`)
})

t.test('slow requests: headers past HEADERS_TIMEOUT_MS and bodies past REQUEST_BODY_TIMEOUT_MS → 408 API_007 and the connection closes', async t => {
  const gw = await startGateway(t, { env: { HEADERS_TIMEOUT_MS: '1000', REQUEST_BODY_TIMEOUT_MS: '2000' } })
  t.equal((await rawExchange(gw.url, get(ITEM))).status, 200, 'a request that arrives in time passes')
  const callsBefore = gw.emulator.stats.calls()

  // A kept-alive connection, idle after its answer, must not be answered again when the timeouts pass.
  const idle = await openRaw(gw.url)
  await idle.send(get(ITEM, [], 'keep-alive'))
  const first = await idle.answer
  t.equal(first.status, 200, 'keep-alive request answered')

  const silent = await openRaw(gw.url)
  const halfHeaders = await openRaw(gw.url)
  await halfHeaders.send(`GET ${ITEM} HTTP/1.1\r\nHost: gateway\r\n`)
  const buffered = await openRaw(gw.url)
  await buffered.send(`POST ${M3_WRITE} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ITNO":`)

  assertEnvelope(t, await silent.closed, 408, 'API_007', 'a connection that sends nothing')
  const headersLate = await halfHeaders.closed
  assertEnvelope(t, headersLate, 408, 'API_007', 'headers that never end')
  t.equal(headersLate.headers.connection, 'close', 'connection: close')
  const bodyLate = await buffered.closed
  assertEnvelope(t, bodyLate, 408, 'API_007', 'a buffered body that stalls')
  t.ok(bodyLate.closed, 'closed')
  t.equal(gw.emulator.stats.calls(), callsBefore + 1, `a stalled buffered body is never sent to ION (calls ${gw.emulator.stats.calls() - callsBefore})`)

  t.equal(idle.socket.destroyed, false, 'the idle keep-alive connection is still open after the timeouts passed')
  t.equal((await idle.answer).raw, first.raw, 'and was sent nothing more')
  idle.socket.destroy()
})

t.test('a streamed body that stalls → 408 API_007 and the upstream request is aborted (ION never gets a complete request)', async t => {
  const gw = await startGateway(t, { env: { HEADERS_TIMEOUT_MS: '1000', REQUEST_BODY_TIMEOUT_MS: '2000' } })
  const conn = await openRaw(gw.url)
  await conn.send(`POST ${IDM_UPLOAD} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`)
  await eventually('the upload to reach ION', () => gw.emulator.stats.calls(UPSTREAM_IDM) === 1)
  assertEnvelope(t, await conn.closed, 408, 'API_007', 'a chunked upload that stalls')
  await eventually('ION to see the upload end', () => gw.emulator.stats.inFlight() === 0)
  t.same(gw.emulator.stats.requests(UPSTREAM_IDM), [], 'ION never received a complete request')
})

t.test('MAX_CONNECTIONS caps open sockets', async t => {
  const gw = await startGateway(t, { env: { MAX_CONNECTIONS: '2' } })
  const serverSockets: Socket[] = []
  gw.app.server.on('connection', (socket: Socket) => { serverSockets.push(socket) })
  const a = await openRaw(gw.url)
  await a.send(get('/health', [], 'keep-alive'))
  t.equal((await a.answer).status, 200)
  const b = await openRaw(gw.url)
  await b.send(get('/health', [], 'keep-alive'))
  t.equal((await b.answer).status, 200)

  const third = await openRaw(gw.url)
  await third.send(get('/health')).catch(() => {})
  const refused = await third.closed
  t.equal(refused.raw, '', `the third connection is closed unanswered (got ${JSON.stringify(refused.raw.slice(0, 60))})`)

  const serverSideOfA = serverSockets[0]
  t.ok(serverSideOfA, 'the server saw the first connection')
  const aGone = new Promise(resolve => serverSideOfA?.once('close', resolve))
  a.socket.destroy()
  await aGone
  const fourth = await rawExchange(gw.url, get('/health'))
  t.equal(fourth.status, 200, 'once one closes, a new connection is served')
  b.socket.destroy()
})

t.test('uploads over MAX_UPLOAD_BYTES → 413 API_006 before anything reaches ION', async t => {
  t.test('default limit (32 MiB): a declared Content-Length over it is refused without reading the body', async t => {
    const gw = await startGateway(t)
    const conn = await openRaw(gw.url)
    await conn.send(`POST ${IDM_UPLOAD} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/octet-stream\r\nContent-Length: 33554433\r\n\r\n`)
    const res = await conn.closed
    assertEnvelope(t, res, 413, 'API_006', 'Content-Length 33,554,433')
    t.equal(res.headers.connection, 'close', 'the unread body ends the connection')
    t.equal(gw.emulator.stats.calls(), 0, 'ION never called')
  })

  t.test('a body the gateway parses itself, over its 1 MiB bound, is API_006 too', async t => {
    // An admin key: in open mode the admin route refuses (403) before it reads a body.
    const keys = writeKeysFile(t)
    const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory', CLIENT_API_KEYS_FILE: keys.file } })
    const conn = await openRaw(gw.url)
    await conn.send(`DELETE /admin/cache HTTP/1.1\r\nHost: gateway\r\nx-api-key: ${keys.ops}\r\nContent-Type: application/json\r\nContent-Length: 1048577\r\n\r\n`)
    const res = await conn.closed
    assertEnvelope(t, res, 413, 'API_006', 'a 1 MiB + 1 JSON body')
    t.equal(res.headers.connection, 'close', 'the unread body ends the connection')
  })

  t.test('MAX_UPLOAD_BYTES=4096', async t => {
    const gw = await startGateway(t, { env: { MAX_UPLOAD_BYTES: '4096' } })
    const sized = await rawExchange(gw.url, `POST ${M3_WRITE} HTTP/1.1\r\nHost: gateway\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n${'x'.repeat(5000)}`)
    assertEnvelope(t, sized, 413, 'API_006', 'a buffered body with Content-Length 5,000')
    t.equal(gw.emulator.stats.calls(), 0, 'ION never called')

    const within = await rawExchange(gw.url, `POST ${IDM_UPLOAD} HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `3e8\r\n${'a'.repeat(1000)}\r\n3e8\r\n${'b'.repeat(1000)}\r\n0\r\n\r\n`)
    t.not(within.status, 413, `a chunked body under the limit passes (got ${within.status})`)
    const delivered = gw.emulator.stats.requests(UPSTREAM_IDM)
    t.equal(delivered.length, 1, 'and reached ION')
    t.equal(delivered[0]?.body.length, 2000, 'whole')
    gw.emulator.stats.reset()

    const chunked = await openRaw(gw.url)
    await chunked.send(`POST ${IDM_UPLOAD} HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n${'a'.repeat(3000)}\r\n`)
    await eventually('the upload to reach ION', () => gw.emulator.stats.calls(UPSTREAM_IDM) === 1)
    await chunked.send(`bb8\r\n${'b'.repeat(3000)}\r\n`)
    const res = await chunked.closed
    assertEnvelope(t, res, 413, 'API_006', 'a chunked body passing 4,096 bytes mid-stream')
    t.equal(res.headers.connection, 'close', 'the unread rest ends the connection')
    await eventually('ION to see the upload end', () => gw.emulator.stats.inFlight() === 0)
    t.same(gw.emulator.stats.requests(UPSTREAM_IDM), [], 'the upstream request was aborted: ION never received a complete request')
  })
})

t.test('answers made below the routes are error envelopes with a request id', async t => {
  const gw = await startGateway(t)
  const secret = 'igw_do-not-log-this-key'
  const cases: Array<[string, string, number, string]> = [
    ['a malformed request line', `GARBAGE\r\nx-api-key: ${secret}\r\n\r\n`, 400, 'API_003'],
    ['a header line without a colon', `GET ${ITEM} HTTP/1.1\r\nHost: gateway\r\nx-api-key: ${secret}\r\nno colon here\r\n\r\n`, 400, 'API_003'],
    ['bad percent-encoding below a system', get('/m3/%zz'), 400, 'API_003'],
    ['a lone percent sign', get('/%'), 400, 'API_003'],
    ['headers past the HTTP parser\'s bound', get(ITEM, [`x-api-key: ${secret}`, ...fillerHeaders(30, 1000)]), 431, 'API_008'],
    ['no Host header', `GET ${ITEM} HTTP/1.1\r\nConnection: close\r\n\r\n`, 400, 'API_003'],
    ['an Expect the gateway cannot meet', get(ITEM, ['Expect: x-teleport']), 417, 'API_003'],
  ]
  for (const [what, request, status, code] of cases) {
    const res = await rawExchange(gw.url, request)
    assertEnvelope(t, res, status, code, what)
  }
  t.equal(gw.emulator.stats.calls(), 0, 'ION never called')
  t.notOk(gw.logText().includes(secret), 'what the client sent is never logged')
})
