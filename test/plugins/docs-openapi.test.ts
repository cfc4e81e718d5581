import t from 'tap'
import SwaggerParser from '@apidevtools/swagger-parser'
import { readFileSync } from 'node:fs'
import { request } from 'undici'
import { startGateway } from '../helpers/gateway.ts'

interface Operation {
  operationId?: string
  security?: unknown[]
  parameters?: Array<{ name: string, in: string, style?: string, explode?: boolean, schema?: { type?: string, additionalProperties?: unknown } }>
  responses: Record<string, { $ref?: string, headers?: Record<string, unknown> }>
}
interface Doc {
  info: { version: string }
  servers?: Array<{ url: string }>
  paths: Record<string, Record<string, Operation>>
  components: { responses: Record<string, { description: string, content: { 'application/json': { examples: Record<string, { value: { error: { code: string } } }> } } }> }
}

async function documentOf (url: string, headers: Record<string, string> = {}): Promise<Doc> {
  const res = await request(url + '/docs/json', { headers })
  return await res.body.json() as Doc
}

const PUBLIC = ['/health', '/ready', '/metrics', '/docs', '/docs/json']

t.test('the document: operationIds, security, error envelopes with codes and examples, headers, version', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory' } })
  const doc = await documentOf(gw.url)
  await t.resolves(SwaggerParser.validate(structuredClone(doc) as never), 'valid OpenAPI 3')
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  t.equal(doc.info.version, version, 'info.version comes from package.json')

  const ids: string[] = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      t.ok(op.operationId, `${method} ${path} has an operationId`)
      ids.push(op.operationId ?? '')
      if (PUBLIC.includes(path)) t.same(op.security, [], `${path} shows no security requirement`)
      else t.equal(op.security, undefined, `${method} ${path} needs the API key (document default)`)
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400 && response.$ref === undefined) {
          t.equal(path + status, '/ready503', `${method} ${path} ${status} is an error envelope response (only /ready's 503 is its own body)`)
        }
        if (response.$ref === undefined) t.ok(response.headers?.['x-request-id'], `${method} ${path} ${status} declares x-request-id`)
      }
      if (!PUBLIC.includes(path)) {
        t.ok(op.responses['429'] && op.responses['401'], `${method} ${path} documents 401 and 429`)
        t.ok(op.responses['200']?.headers?.['RateLimit-Remaining'], `${method} ${path} declares RateLimit-* headers`)
      }
    }
  }
  t.equal(new Set(ids).size, ids.length, `operationIds are unique (${ids.length} operations)`)

  for (const [name, response] of Object.entries(doc.components.responses)) {
    const examples = response.content['application/json'].examples
    t.ok(Object.keys(examples).length > 0, `${name} has an example`)
    for (const [code, example] of Object.entries(examples)) {
      t.equal(example.value.error.code, code)
      t.match(response.description, code, `${name} names ${code}`)
    }
  }
  t.match(doc.components.responses.Error502?.description, /AUTH_001.*AUTH_002.*API_001/)

  const typed = doc.paths['/m3/mi/{program}/{transaction}']?.get
  t.ok(typed?.responses['200']?.headers?.['x-cache'] && typed.responses['200'].headers.age, 'the typed route declares x-cache and age')
  t.ok(doc.components.responses.Error429?.description.includes('SYS_002'))
})

t.test('M3 input fields are a free-form form/explode query object the typed route accepts as sent', async t => {
  const gw = await startGateway(t)
  const doc = await documentOf(gw.url)
  const fields = doc.paths['/m3/mi/{program}/{transaction}']?.get?.parameters?.find(p => p.name === 'fields')
  t.match(fields, { in: 'query', style: 'form', explode: true, schema: { type: 'object', additionalProperties: { type: 'string' } } })
  // style form + explode: {"ITNO":"A100"} goes on the wire as ITNO=A100
  const res = await request(`${gw.url}/m3/mi/MMS200MI/GetItmBasic?ITNO=A100`)
  const body = await res.body.json() as { records: Array<{ ITNO: string }> }
  t.equal(res.statusCode, 200)
  t.equal(body.records[0]?.ITNO, 'A100')
})

t.test('the pass-through surfaces are documented as templates that answer, the catch-all stays', async t => {
  const gw = await startGateway(t)
  const doc = await documentOf(gw.url)
  const calls: Record<string, string> = {
    '/m3/m3api-rest/v2/execute/{program}/{transaction}': '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100',
    '/m3/m3api-rest/execute/{program}/{transaction}': '/m3/m3api-rest/execute/MMS200MI/GetItmBasic?ITNO=A100',
    '/ln/lnapi/odata/{service}/{entitySet}': '/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?%24top=1',
    '/idm/api/items/search': '/idm/api/items/search?%24query=%2FMDS_File&%24limit=1',
  }
  for (const [template, call] of Object.entries(calls)) {
    t.ok(doc.paths[template]?.get, `documents ${template}`)
    const res = await request(gw.url + call)
    await res.body.dump()
    t.equal(res.statusCode, 200, `${call} answers 200`)
  }
  for (const system of ['m3', 'ln', 'idm']) t.ok(doc.paths[`/${system}/{*}`]?.get, `/${system}/{*} still documented`)
})

t.test('servers: a trusted ingress\'s X-Forwarded-Prefix; an untrusted peer\'s is ignored', async t => {
  const trusted = await startGateway(t, { env: { TRUST_PROXY: '127.0.0.1' } })
  t.same((await documentOf(trusted.url, { 'x-forwarded-prefix': '/ion-gateway' })).servers, [{ url: '/ion-gateway', description: 'This gateway, behind its ingress path prefix' }])
  t.same((await documentOf(trusted.url)).servers?.map(s => s.url), ['/'])
  const direct = await startGateway(t, { emulator: trusted.emulator })
  t.same((await documentOf(direct.url, { 'x-forwarded-prefix': '/ion-gateway' })).servers?.map(s => s.url), ['/'])
})

t.test('/docs redirects relatively to docs/, whose asset links are relative (they survive a path-prefix ingress)', async t => {
  const gw = await startGateway(t)
  const res = await request(gw.url + '/docs')
  await res.body.dump()
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, 'docs/')
  const page = await (await request(gw.url + '/docs/')).body.text()
  t.notMatch(page, /(href|src)="\/docs\//, 'no absolute asset link')
})
