import t from 'tap'
import { request } from 'undici'
import { call, ITEM, ORDERS, passwordToken, startEmulator, V2 } from './helpers.ts'

const A100 = `${ITEM}?ITNO=A100`
const CUSTOMER = `${V2}/CRS610MI/GetBasicData?CUNO=10001`

t.test('latency delays the matching resource calls only, and 0 turns it off', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.latency(250, ITEM)
  let started = Date.now()
  t.equal((await call(e, A100, token)).status, 200)
  t.ok(Date.now() - started >= 240, 'matching call delayed')
  started = Date.now()
  await call(e, CUSTOMER, token)
  t.ok(Date.now() - started < 200, 'other paths are not delayed')
  e.faults.latency(0)
  started = Date.now()
  await call(e, A100, token)
  t.ok(Date.now() - started < 200, 'latency off')
})

t.test('respondNext answers the next N matching calls with the canned answer, without auth', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.respondNext(2, { status: 200, headers: { 'set-cookie': ['ION=1', 'LB=2'], 'cache-control': 'no-store', vary: '*' }, body: { canned: true } }, ITEM)
  const canned = await call(e, A100)
  t.equal(canned.status, 200, 'no token needed')
  t.same(canned.json, { canned: true })
  t.match(canned.headers['content-type'], /^application\/json/)
  t.same(canned.headers['set-cookie'], ['ION=1', 'LB=2'])
  t.equal(canned.headers['cache-control'], 'no-store')
  t.equal(canned.headers.vary, '*')
  t.same((await call(e, CUSTOMER, token)).json.results[0].records[0].CUNO, '10001', 'other paths answer normally')
  t.same((await call(e, A100, token)).json, { canned: true }, 'second use')
  t.equal((await call(e, A100, token)).json.results[0].transaction, 'GetItmBasic', 'then back to normal')

  e.faults.respondNext(1, { status: 302, headers: { location: 'https://elsewhere.example/login' } })
  const redirect = await request(`${e.url}${A100}`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(redirect.statusCode, 302)
  t.equal(redirect.headers.location, 'https://elsewhere.example/login')
  await redirect.body.dump()
  e.faults.respondNext(1, { status: 500, headers: { 'content-type': 'text/html' }, body: '<html>oops</html>' })
  const html = await call(e, A100, token)
  t.equal(html.status, 500)
  t.equal(html.headers['content-type'], 'text/html')
  t.equal(html.text, '<html>oops</html>')
})

t.test('failNext answers an ION-style error with that status for N calls', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.failNext(2, 503)
  const first = await call(e, A100, token)
  t.equal(first.status, 503)
  t.match(first.json, { error: { code: String, message: 'Service Unavailable', detail: String } })
  t.equal((await call(e, ORDERS, token)).status, 503, 'no prefix: any resource call')
  t.equal((await call(e, A100, token)).status, 200, 'only N calls fail')
  e.faults.failNext(1, 400, ORDERS)
  t.equal((await call(e, A100, token)).status, 200)
  t.equal((await call(e, ORDERS, token)).status, 400)
})

t.test('rateLimitNext answers 429 with Retry-After', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.rateLimitNext(1, 7, ITEM)
  const limited = await call(e, A100, token)
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '7')
  t.type(limited.json.error, 'object')
  t.equal((await call(e, A100, token)).status, 200)
})

t.test('faults queue in order and clear() removes them all', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.failNext(1, 502)
  e.faults.failNext(1, 504)
  t.equal((await call(e, A100, token)).status, 502)
  t.equal((await call(e, A100, token)).status, 504)
  e.faults.failNext(5, 500)
  e.faults.latency(1000)
  e.faults.tokenDown(503)
  e.faults.clear()
  const started = Date.now()
  t.equal((await call(e, A100, token)).status, 200)
  t.ok(Date.now() - started < 500)
  t.equal((await passwordToken(e)).expires_in, 7200)
  t.throws(() => e.faults.failNext(-1, 500), RangeError)
})

t.test('resetNext destroys the socket without a response', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.resetNext(1, ITEM)
  await t.rejects(call(e, A100, token), { code: 'ECONNRESET' })
  t.equal((await call(e, A100, token)).status, 200, 'healthy afterwards')
})

t.test('badFramingNext writes a response with an invalid Content-Length', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.badFramingNext(1, ITEM)
  await t.rejects(call(e, A100, token), { name: 'HTTPParserError', message: /Content-Length/ })
  t.equal((await call(e, A100, token)).status, 200, 'healthy afterwards')
})

t.test('truncateNext sends 500 of the 1000 bytes it announced, then closes', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.truncateNext(1, ITEM)
  const res = await request(`${e.url}${A100}`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-length'], '1000')
  let received = 0
  await t.rejects(async () => {
    for await (const chunk of res.body) received += (chunk as Buffer).length
  }, { code: 'UND_ERR_SOCKET' })
  t.equal(received, 500)
  t.equal((await call(e, A100, token)).status, 200, 'healthy afterwards')
})
