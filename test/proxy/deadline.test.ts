import t from 'tap'
import { once } from 'node:events'
import { RequestDeadline } from '../../src/proxy/deadline.ts'

t.test('emits abort once when the time is up, and says so', async t => {
  const deadline = new RequestDeadline(20)
  let calls = 0
  deadline.once('abort', () => { calls++ })
  t.equal(deadline.aborted, false)
  await once(deadline, 'abort')
  t.equal(deadline.aborted, true)
  t.equal(calls, 1)
})

t.test('clear() stops it: no abort later', async t => {
  const deadline = new RequestDeadline(10)
  deadline.on('abort', () => t.fail('aborted after clear'))
  deadline.clear()
  // A later deadline's abort is the signal that the cleared one's time has passed.
  await once(new RequestDeadline(30), 'abort')
  t.equal(deadline.aborted, false)
})

t.test('its AbortSignal follows it, whether asked for before or after the deadline', async t => {
  const early = new RequestDeadline(15)
  const signal = early.signal
  t.equal(signal.aborted, false)
  await once(signal, 'abort')
  t.equal(early.aborted, true)
  t.equal(early.signal, signal, 'one signal per deadline')

  const late = new RequestDeadline(5)
  await once(late, 'abort')
  t.equal(late.signal.aborted, true, 'made after expiry: already aborted')
})

t.test('undici takes it as a request signal', async t => {
  const { createServer } = await import('node:http')
  const { request } = await import('undici')
  const server = createServer(() => {}) // never answers
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const { port } = server.address() as { port: number }
  const deadline = new RequestDeadline(50)
  const err = await request(`http://127.0.0.1:${port}/`, { signal: deadline }).then(() => undefined, (e: unknown) => e)
  t.ok(err, 'the request failed')
  t.equal((err as { code?: string }).code, 'UND_ERR_ABORTED')
  t.equal(deadline.aborted, true)
})
