import t, { type Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { GatewayError } from '../../src/errors.ts'
import { forwardableBody, type BodyLimits } from '../../src/proxy/request-body.ts'
import { openRaw } from '../helpers/raw-socket.ts'

interface Received {
  req: IncomingMessage
  res: ServerResponse
  body: Promise<Buffer | Readable | undefined>
}

/** A real HTTP server handing each request's forwardableBody to the test. */
async function bodyServer (t: Test, limits: BodyLimits): Promise<{ url: string, next: () => Promise<Received> }> {
  const waiting: Array<(r: Received) => void> = []
  const server = createServer((req, res) => {
    const received = { req, res, body: forwardableBody(req, limits) }
    received.body.catch(() => {})
    waiting.shift()?.(received)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    next: () => new Promise<Received>(resolve => { waiting.push(resolve) }),
  }
}

async function failure (promise: Promise<unknown>): Promise<GatewayError | undefined> {
  try {
    await promise
  } catch (err) {
    return err instanceof GatewayError ? err : undefined
  }
  return undefined
}

const POST = 'POST /upload HTTP/1.1\r\nHost: x\r\n'

t.test('no body, a small body (buffered), a large or chunked body (streamed)', async t => {
  const srv = await bodyServer(t, { maxBytes: 100, replayableBytes: 10 })
  const conn = await openRaw(srv.url)

  let next = srv.next()
  await conn.send('GET /upload HTTP/1.1\r\nHost: x\r\n\r\n')
  let got = await next
  t.equal(await got.body, undefined, 'no body')
  got.res.end()

  next = srv.next()
  await conn.send(`${POST}Content-Length: 5\r\n\r\nhello`)
  got = await next
  const small = await got.body
  t.ok(Buffer.isBuffer(small), 'buffered')
  t.equal(small?.toString(), 'hello')
  got.res.end()

  next = srv.next()
  await conn.send(`${POST}Transfer-Encoding: chunked\r\n\r\n32\r\n${'a'.repeat(50)}\r\n32\r\n${'b'.repeat(50)}\r\n0\r\n\r\n`)
  got = await next
  const streamed = await got.body
  t.notOk(Buffer.isBuffer(streamed), 'streamed')
  t.equal(await text(streamed as Readable), 'a'.repeat(50) + 'b'.repeat(50), 'exactly MAX bytes pass whole')
  got.res.end()
  conn.socket.destroy()
})

t.test('a declared Content-Length over the limit is refused before any byte is read', async t => {
  const srv = await bodyServer(t, { maxBytes: 100 })
  const conn = await openRaw(srv.url)
  const next = srv.next()
  await conn.send(`${POST}Content-Length: 101\r\n\r\n`)
  const err = await failure((await next).body)
  t.equal(err?.code, 'API_006')
  t.equal(err?.statusCode, 413)
  conn.socket.destroy()
})

t.test('a chunked body passing the limit fails with API_006, and the client can still be answered', async t => {
  const srv = await bodyServer(t, { maxBytes: 100, replayableBytes: 10 })
  const conn = await openRaw(srv.url)
  const next = srv.next()
  await conn.send(`${POST}Transfer-Encoding: chunked\r\n\r\n3c\r\n${'a'.repeat(60)}\r\n3c\r\n${'b'.repeat(60)}\r\n`)
  const got = await next
  const stream = await got.body as Readable
  const err = await failure(text(stream))
  t.equal(err?.code, 'API_006', `stream failed with ${err?.code}`)
  t.equal(got.req.socket.destroyed, false, 'the client\'s socket is still open')
  got.res.writeHead(413, { connection: 'close', 'content-length': '0' }).end()
  const answer = await conn.closed
  t.equal(answer.status, 413, 'the client got the answer')
})

t.test('a client that stops midway: API_007, buffered or streamed', async t => {
  const srv = await bodyServer(t, { maxBytes: 1000, replayableBytes: 10 })

  const buffered = await openRaw(srv.url)
  let next = srv.next()
  await buffered.send(`${POST}Content-Length: 8\r\n\r\nhal`)
  let got = await next
  buffered.socket.destroy()
  const err = await failure(got.body)
  t.equal(err?.code, 'API_007', `buffered: ${err?.code}`)

  const streamedConn = await openRaw(srv.url)
  next = srv.next()
  await streamedConn.send(`${POST}Transfer-Encoding: chunked\r\n\r\n3\r\nhal\r\n`)
  got = await next
  const stream = await got.body as Readable
  const reading = failure(text(stream))
  streamedConn.socket.destroy()
  const streamErr = await reading
  t.equal(streamErr?.code, 'API_007', `streamed: ${streamErr?.code}`)
})
