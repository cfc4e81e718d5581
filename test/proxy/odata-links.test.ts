import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/gateway.ts'
import { rawRequest } from '../helpers/http.ts'

const ORDERS = '/ln/lnapi/odata/tdapi.slsSalesOrder/Orders'
const ION_ORDERS = '/ACME_TST/LN/lnapi/odata/tdapi.slsSalesOrder/Orders'

interface Page { '@odata.context'?: string, '@odata.nextLink'?: string, value: Array<Record<string, unknown>> }

async function getJson (url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, json: JSON.parse(text) as Page }
}

t.test('LN links lead back through the gateway: an OData client follows nextLink through it to the last page', async t => {
  const gw = await startGateway(t)
  let url: string | undefined = `${gw.url}${ORDERS}`
  const ids: unknown[] = []
  let pages = 0
  while (url && pages < 10) {
    const page = await getJson(url)
    t.equal(page.status, 200, `page ${pages + 1}: ${url} answers 200 (got ${page.status})`)
    t.notOk(page.text.includes(gw.emulator.url), `page ${pages + 1}: no link to ION left`)
    t.ok(page.json['@odata.context']?.startsWith(`${gw.url}/ln/lnapi/odata/tdapi.slsSalesOrder/$metadata`), `context: ${page.json['@odata.context']}`)
    t.equal(Number(page.headers['content-length']), Buffer.byteLength(page.text), 'Content-Length is the rewritten length')
    for (const row of page.json.value) ids.push(row.SalesOrder)
    url = page.json['@odata.nextLink']
    if (url) t.ok(url.startsWith(`${gw.url}${ORDERS}?`), `nextLink through the gateway: ${url}`)
    pages++
  }
  t.equal(pages, 4, `35 orders, 10 a page: 4 pages (followed ${pages})`)
  t.equal(new Set(ids).size, 35, `every order once (saw ${new Set(ids).size} distinct of ${ids.length})`)
  t.equal(gw.emulator.stats.calls(ION_ORDERS), 4, `4 ION calls (saw ${gw.emulator.stats.calls(ION_ORDERS)})`)
})

t.test('a cached page served to another Host gets that host\'s links; X-Forwarded-* count only from a trusted proxy', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory' } })
  const first = await getJson(`${gw.url}${ORDERS}`, { host: 'a.example:8080' })
  t.equal(first.headers['x-cache'], 'MISS')
  t.ok(first.json['@odata.nextLink']?.startsWith(`http://a.example:8080${ORDERS}?`), `first host: ${first.json['@odata.nextLink']}`)
  await gw.app.responseCache?.whenIdle()
  const second = await getJson(`${gw.url}${ORDERS}`, { host: 'b.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' })
  t.equal(second.headers['x-cache'], 'HIT', `the same entry (got ${second.headers['x-cache']})`)
  t.ok(second.json['@odata.nextLink']?.startsWith(`http://b.example${ORDERS}?`), `second host, forwarded headers of an untrusted peer ignored: ${second.json['@odata.nextLink']}`)
  const head = await request(`${gw.url}${ORDERS}`, { method: 'HEAD', headers: { host: 'b.example' } })
  await head.body.dump()
  t.equal(head.headers['x-cache'], 'HIT')
  t.equal(Number(head.headers['content-length']), Buffer.byteLength(second.text), `HEAD announces the rewritten length (got ${String(head.headers['content-length'])})`)
  t.equal(gw.emulator.stats.calls(ION_ORDERS), 1, `one ION call (saw ${gw.emulator.stats.calls(ION_ORDERS)})`)

  const trusted = await startGateway(t, { env: { CACHE_DRIVER: 'memory', TRUST_PROXY: '127.0.0.1' } })
  const behind = await getJson(`${trusted.url}${ORDERS}`, { host: 'internal:3000', 'x-forwarded-host': 'api.example.com', 'x-forwarded-proto': 'https' })
  t.ok(behind.json['@odata.nextLink']?.startsWith(`https://api.example.com${ORDERS}?`), `behind a trusted proxy: ${behind.json['@odata.nextLink']}`)
})

t.test('PUBLIC_URL wins over the Host; a Host that is not hostname[:port] is refused when links are rewritten', async t => {
  const gw = await startGateway(t, { env: { PUBLIC_URL: 'https://api.example.com/ion/' } })
  const page = await getJson(`${gw.url}${ORDERS}`, { host: 'evil.example' })
  t.ok(page.json['@odata.nextLink']?.startsWith(`https://api.example.com/ion${ORDERS}?`), `PUBLIC_URL: ${page.json['@odata.nextLink']}`)
  t.notOk(page.text.includes('evil.example'))

  const plain = await startGateway(t)
  const port = new URL(plain.url).port
  const bad = await rawRequest(plain.url, `GET ${ORDERS} HTTP/1.1\nHost: evil.example/x?\nConnection: close`)
  t.equal(bad.status, 400, `got ${bad.status}`)
  t.match(bad.raw, /"code":"API_003"/)
  t.match(bad.raw, /Host header must be a hostname\[:port\]/)
  t.equal(plain.emulator.stats.calls(ION_ORDERS), 0, 'nothing reached ION')
  const m3 = await rawRequest(plain.url, 'GET /m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10003 HTTP/1.1\nHost: evil.example/x?\nConnection: close')
  t.equal(m3.status, 200, `M3 has no links to rewrite: its Host is not needed (got ${m3.status})`)
  const ok = await rawRequest(plain.url, `GET ${ORDERS} HTTP/1.1\nHost: 127.0.0.1:${port}\nConnection: close`)
  t.equal(ok.status, 200)
})

t.test('pages over the cache\'s entry size stream with their links rewritten and no stale Content-Length', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory', CACHE_MAX_ENTRY_BYTES: '64' } })
  for (let n = 1; n <= 2; n++) {
    const res = await request(`${gw.url}${ORDERS}`, { headers: { prefer: 'odata.maxpagesize=35' } })
    const text = await res.body.text()
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-cache'], 'MISS', 'too large to store: streamed')
    t.notOk('content-length' in res.headers, `the rewritten length is unknown until the end (got ${String(res.headers['content-length'])})`)
    const page = JSON.parse(text) as Page
    t.equal(page.value.length, 35)
    t.ok(page['@odata.context']?.startsWith(`${gw.url}/ln/`), `context: ${page['@odata.context']}`)
    t.notOk(text.includes(gw.emulator.url), 'no link to ION left')
  }
})

t.test('IDM JSON answers are rewritten (links to any system, escaped form too); M3 and non-JSON answers are not', async t => {
  const gw = await startGateway(t)
  const ion = `${gw.emulator.url}/ACME_TST`
  const body = `{"item":"${ion}/IDM/api/items/7","lines":"${ion}/LN/lnapi/odata/x","esc":"${`${ion}/IDM/api/a`.replace(/\//g, '\\/')}"}`
  gw.emulator.faults.respondNext(1, { status: 200, headers: { 'content-type': 'application/json;charset=utf-8' }, body }, '/ACME_TST/IDM/api/items/7')
  const idm = await request(`${gw.url}/idm/api/items/7`)
  const idmText = await idm.body.text()
  t.same(JSON.parse(idmText), { item: `${gw.url}/idm/api/items/7`, lines: `${gw.url}/ln/lnapi/odata/x`, esc: `${gw.url}/idm/api/a` })
  t.equal(Number(idm.headers['content-length']), Buffer.byteLength(idmText))

  gw.emulator.faults.respondNext(1, { status: 200, headers: { 'content-type': 'text/plain' }, body }, '/ACME_TST/IDM/api/items/8')
  t.equal(await (await request(`${gw.url}/idm/api/items/8`)).body.text(), body, 'text/plain is relayed as sent')

  const m3Path = '/ACME_TST/M3/m3api-rest/v2/execute/CRS610MI/GetBasicData'
  gw.emulator.faults.respondNext(1, { status: 200, headers: { 'content-type': 'application/json' }, body }, m3Path)
  t.equal(await (await request(`${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=1`)).body.text(), body, 'M3 is left alone')
})

t.test('a Location into another ION system is mapped to that system\'s route', async t => {
  const gw = await startGateway(t)
  gw.emulator.faults.respondNext(1, { status: 302, headers: { location: `${gw.emulator.url}/ACME_TST/IDM/api/items/7/resource` } }, '/ACME_TST/LN/')
  const res = await request(`${gw.url}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders('SO000001')/Attachment`)
  await res.body.dump()
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/idm/api/items/7/resource')
  gw.emulator.faults.respondNext(1, { status: 201, headers: { location: '/ACME_TST/M3/m3api-rest/v2/execute/X/Y' } }, '/ACME_TST/IDM/')
  const created = await request(`${gw.url}/idm/api/items`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  await created.body.dump()
  t.equal(created.headers.location, '/m3/m3api-rest/v2/execute/X/Y')
})
