import t, { type Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { bufferSmallBody } from '../../src/proxy/response-body.ts'

async function serve (t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('a small sized answer becomes one Buffer with every byte', async t => {
  const payload = Buffer.from(JSON.stringify({ records: Array.from({ length: 50 }, (_, i) => ({ ITNO: `A${i}` })) }))
  const url = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': payload.length })
    res.write(payload.subarray(0, 100))
    setTimeout(() => res.end(payload.subarray(100)), 10)
  })
  const res = await request(url)
  const body = await bufferSmallBody(res.headers, res.body)
  t.ok(Buffer.isBuffer(body))
  t.same(body, payload)
})

t.test('large, chunked and unsized answers stay streams', async t => {
  const url = await serve(t, (req, res) => {
    if (req.url === '/large') {
      res.writeHead(200, { 'content-length': 70000 })
      res.end(Buffer.alloc(70000, 'a'))
    } else {
      res.write('part 1, ')
      res.end('part 2')
    }
  })
  for (const path of ['/large', '/chunked']) {
    const res = await request(url + path)
    const body = await bufferSmallBody(res.headers, res.body)
    t.notOk(Buffer.isBuffer(body), `${path} streams`)
    t.ok(body instanceof Readable)
    await (body as Readable).resume()
  }
  const small = await request(url + '/large')
  t.ok(Buffer.isBuffer(await bufferSmallBody(small.headers, small.body, 100000)), 'the limit decides')
})

t.test('an answer cut short rejects (the caller answers 502), it is never handed on short', async t => {
  const url = await serve(t, (req, res) => {
    res.writeHead(200, { 'content-length': 1000 })
    res.write(Buffer.alloc(500, 'x'), () => setImmediate(() => req.socket.destroy()))
  })
  const res = await request(url)
  await t.rejects(bufferSmallBody(res.headers, res.body))
})
