import t from 'tap'
import { createServer } from 'node:net'
import { request } from 'undici'
import { rawErrorResponse, socketErrorAnswer } from '../../src/edge/client-error.ts'
import { clientErrorCode, ErrorCodes } from '../../src/errors.ts'

t.test('Node\'s socket errors map to coded answers', async t => {
  t.same(socketErrorAnswer('ERR_HTTP_REQUEST_TIMEOUT'), { status: 408, code: 'API_007', message: 'The request did not arrive in time' })
  t.match(socketErrorAnswer('HPE_HEADER_OVERFLOW'), { status: 431, code: 'API_008' })
  t.match(socketErrorAnswer('HPE_CHUNK_EXTENSIONS_OVERFLOW'), { status: 413, code: 'API_006' })
  for (const code of ['HPE_INVALID_METHOD', 'HPE_INVALID_HEADER_TOKEN', 'HPE_INVALID_VERSION', undefined]) {
    t.match(socketErrorAnswer(code), { status: 400, code: 'API_003' }, String(code))
  }
})

t.test('each answer\'s status is its code\'s registry status', async t => {
  for (const code of ['ERR_HTTP_REQUEST_TIMEOUT', 'HPE_HEADER_OVERFLOW', 'HPE_CHUNK_EXTENSIONS_OVERFLOW', 'HPE_INVALID_METHOD']) {
    const answer = socketErrorAnswer(code)
    t.equal(ErrorCodes[answer.code].status, answer.status, code)
  }
})

t.test('client error statuses map to their codes', async t => {
  t.same([408, 413, 414, 429, 431, 400, 404, 415].map(clientErrorCode),
    ['API_007', 'API_006', 'API_003', 'SYS_002', 'API_008', 'API_003', 'API_003', 'API_003'])
})

t.test('the raw answer is a complete HTTP/1.1 response an HTTP client reads as the envelope', async t => {
  const answer = socketErrorAnswer('HPE_HEADER_OVERFLOW')
  const server = createServer(socket => {
    socket.once('data', () => {
      socket.end(rawErrorResponse(answer, 'req-1'))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  const { port } = server.address() as { port: number }
  const res = await request(`http://127.0.0.1:${port}/`)
  t.equal(res.statusCode, 431)
  t.equal(res.headers['x-request-id'], 'req-1')
  t.equal(res.headers.connection, 'close')
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(await res.body.json(), { error: { code: 'API_008', message: 'The request line and headers are too large', requestId: 'req-1' } })
})
