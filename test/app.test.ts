import t, { type Test } from 'tap'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { buildApp } from '../src/app.ts'
import { GatewayError } from '../src/errors.ts'
import { Type } from '../src/typebox.ts'
import { testConfig } from './helpers/config.ts'

async function appWithProbeRoutes (t: Test) {
  const app = (await buildApp(testConfig(), { logger: false })).withTypeProvider<TypeBoxTypeProvider>()
  app.get('/probe/boom', async () => { throw new Error('database password is hunter2') })
  app.get('/probe/gateway', async () => { throw new GatewayError('AUTH_003', 'token endpoint failing', { retryAfterS: 7 }) })
  app.get('/probe/typed', {
    schema: { querystring: Type.Object({ n: Type.Integer({ minimum: 1 }) }) },
  }, async (request) => ({ n: request.query.n }))
  t.teardown(() => app.close())
  return app
}

t.test('GET /health answers 200 without touching ION', async t => {
  const app = await appWithProbeRoutes(t)
  const res = await app.inject({ method: 'GET', url: '/health' })
  t.equal(res.statusCode, 200)
  t.equal(res.json().status, 'ok')
})

t.test('unknown routes get a JSON 404 envelope', async t => {
  const app = await appWithProbeRoutes(t)
  const res = await app.inject({ method: 'GET', url: '/nope?secret=1', headers: { 'x-request-id': 'abc-123' } })
  t.equal(res.statusCode, 404)
  t.match(res.headers['content-type'], /application\/json/)
  t.same(res.json(), { error: { code: 'API_003', message: 'No route for GET /nope', requestId: 'abc-123' } })
  t.equal(res.headers['x-request-id'], 'abc-123')
})

t.test('schema validation failures are API_003 400', async t => {
  const app = await appWithProbeRoutes(t)
  const res = await app.inject({ method: 'GET', url: '/probe/typed?n=zero' })
  t.equal(res.statusCode, 400)
  t.equal(res.json().error.code, 'API_003')
  t.match(res.json().error.message, /querystring/)
})

t.test('unexpected errors are masked as SYS_003 500', async t => {
  const app = await appWithProbeRoutes(t)
  const res = await app.inject({ method: 'GET', url: '/probe/boom' })
  t.equal(res.statusCode, 500)
  t.same(res.json().error.code, 'SYS_003')
  t.equal(res.json().error.message, 'Internal error')
  t.notOk(res.body.includes('hunter2'))
})

t.test('gateway errors keep their code, status and Retry-After', async t => {
  const app = await appWithProbeRoutes(t)
  const res = await app.inject({ method: 'GET', url: '/probe/gateway' })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '7')
  t.equal(res.json().error.code, 'AUTH_003')
  t.equal(res.json().error.message, 'token endpoint failing')
})

t.test('a request id is generated when absent or unsafe', async t => {
  const app = await appWithProbeRoutes(t)
  const plain = await app.inject({ method: 'GET', url: '/health' })
  t.match(plain.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const unsafe = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'a'.repeat(300) } })
  t.match(unsafe.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})

t.test('malformed JSON bodies are API_003 400', async t => {
  const app = await buildApp(testConfig(), { logger: false })
  app.post('/probe/json', async (request) => request.body)
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/probe/json', headers: { 'content-type': 'application/json' }, payload: '{"a":' })
  t.equal(res.statusCode, 400)
  t.equal(res.json().error.code, 'API_003')
})
