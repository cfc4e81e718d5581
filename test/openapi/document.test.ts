import t from 'tap'
import { readFileSync } from 'node:fs'
import { codesForStatus, errorResponse } from '../../src/openapi/error-responses.ts'
import { derivedOperationId, finishDocument } from '../../src/openapi/document.ts'
import { peerTrust, serversFor } from '../../src/openapi/servers.ts'
import type { OpenApiDocument } from '../../src/openapi/types.ts'
import { packageVersion } from '../../src/openapi/version.ts'

const envelopeRef = { content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } } }

function generated (): OpenApiDocument {
  const shared = { tags: ['m3'], summary: 'Pass-through', responses: { 200: { description: 'Default Response' } } }
  return {
    openapi: '3.0.3',
    info: { title: 'ion-gateway', version: '0.0.0' },
    paths: {
      '/health': { get: { operationId: 'getHealth', tags: ['health'], security: [], responses: { 200: { description: 'ok' } } } },
      '/ready': { get: { operationId: 'getReady', tags: ['health'], security: [], responses: { 200: { description: 'ok' }, 503: { description: 'Readiness', content: { 'application/json': { schema: { type: 'object' } } } } } } },
      '/m3/mi/{program}/{transaction}': {
        get: { operationId: 'm3MiCall', tags: ['m3'], responses: { 200: { description: 'records' }, 422: { description: 'x', ...envelopeRef } }, 'x-query-fields': { name: 'fields', in: 'query', style: 'form', explode: true, schema: { type: 'object' } } },
      },
      // @fastify/swagger shares one operation object among a route's methods
      '/m3/{*}': { get: shared, head: shared },
    },
    components: { schemas: { ErrorEnvelope: { type: 'object' } } },
  }
}

t.test('every error status lists exactly the registry codes answered with it', async t => {
  t.same(codesForStatus(502), ['AUTH_001', 'AUTH_002', 'API_001'])
  t.same(codesForStatus(503), ['AUTH_003', 'SYS_004'])
  t.same(codesForStatus(414), ['API_003'])
  t.same(codesForStatus(429), ['API_005', 'SYS_002'])
  const r429 = errorResponse(429)
  t.ok(r429.headers?.['Retry-After'] && r429.headers['RateLimit-Remaining'] && r429.headers['x-request-id'])
  const media = r429.content?.['application/json'] as { examples: Record<string, { value: { error: { code: string } } }> }
  t.same(Object.keys(media.examples), ['API_005', 'SYS_002'])
  t.equal(media.examples.SYS_002?.value.error.code, 'SYS_002')
  t.equal(media.examples.API_005?.value.error.code, 'API_005')
})

t.test('finishDocument: operationIds, error responses, headers, templates, free-form fields, version', async t => {
  const doc = finishDocument(generated(), { version: '9.8.7' })
  t.equal(doc.info.version, '9.8.7')
  t.equal(doc.paths['/m3/{*}']?.get?.operationId, 'getM3Any')
  t.equal(doc.paths['/m3/{*}']?.head?.operationId, 'headM3Any', 'the shared operation object is not renamed twice')
  t.ok(Object.keys(doc.paths).indexOf('/m3/m3api-rest/v2/execute/{program}/{transaction}') < Object.keys(doc.paths).indexOf('/m3/{*}'),
    'the templates come before their catch-all')
  const typed = doc.paths['/m3/mi/{program}/{transaction}']?.get
  t.equal(typed?.['x-query-fields'], undefined)
  t.same(typed?.parameters?.map(p => p.name), ['fields'])
  t.same(typed?.responses?.['422'], { $ref: '#/components/responses/Error422' })
  t.same(typed?.responses?.['401'], { $ref: '#/components/responses/Error401' })
  t.ok(typed?.responses?.['200']?.headers?.['x-cache'] && typed.responses['200'].headers['RateLimit-Limit'])
  const ready = doc.paths['/ready']?.get
  t.equal(ready?.responses?.['503']?.description, 'Readiness', 'a route\'s own non-envelope answer stays')
  t.equal(ready?.responses?.['401'], undefined, 'public operations are not refused for a key')
  t.equal(ready?.responses?.['200']?.headers?.['RateLimit-Limit'], undefined)
  t.ok(doc.components?.responses?.Error504)
  const dup = generated()
  dup.paths['/health'] = { get: { ...dup.paths['/health']?.get, operationId: 'getReady' } }
  t.throws(() => finishDocument(dup, { version: '1' }), /operationId getReady/)
})

t.test('derivedOperationId', async t => {
  t.equal(derivedOperationId('get', '/m3/{*}'), 'getM3Any')
  t.equal(derivedOperationId('delete', '/admin/cache'), 'deleteAdminCache')
})

t.test('servers: a trusted ingress\'s X-Forwarded-Prefix, else the root', async t => {
  t.same(serversFor('/ion-gateway', true).map(s => s.url), ['/ion-gateway'])
  t.same(serversFor('/ion-gateway/', true).map(s => s.url), ['/ion-gateway'])
  t.same(serversFor('/ion-gateway', false).map(s => s.url), ['/'], 'untrusted peers cannot move the server')
  for (const bad of ['ion', '//evil.example', '/a/../b', 'https://evil.example/x', '/a b', '/a,/b']) {
    t.same(serversFor(bad, true).map(s => s.url), ['/'], `refuses ${bad}`)
  }
  t.same(serversFor(undefined, true).map(s => s.url), ['/'])
})

t.test('peerTrust follows TRUST_PROXY', async t => {
  const list = peerTrust(['10.0.0.0/8', '192.168.1.7', 'fd00::/8'])
  t.ok(list('10.1.2.3'))
  t.ok(list('::ffff:10.1.2.3'))
  t.ok(list('192.168.1.7'))
  t.ok(list('fd00::1'))
  t.notOk(list('192.168.1.8'))
  t.notOk(list(undefined))
  t.ok(peerTrust(true)('8.8.8.8'))
  t.notOk(peerTrust(false)('127.0.0.1'))
})

t.test('packageVersion reads the project\'s package.json', async t => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  t.equal(packageVersion(), version)
})
