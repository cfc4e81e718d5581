import t from 'tap'
import { LN_ORDER_IDS } from '../../emulator/index.ts'
import { call, local, ORDERS, passwordToken, startEmulator } from './helpers.ts'

type Order = { SalesOrder: string, Status: string, '@odata.etag': string }
const ids = (res: { json: { value: Order[] } }) => res.json.value.map(o => o.SalesOrder)
const one = (id: string) => `${ORDERS}('${id}')`
const json = { 'content-type': 'application/json' }

t.test('collection: default page of 10, @odata.context, and nextLink paging through all 35 orders', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const first = await call(e, ORDERS, token)
  t.equal(first.status, 200)
  t.equal(first.json['@odata.context'], `${e.url}/ACME_TST/LN/lnapi/odata/tdapi.slsSalesOrder/$metadata#Orders`)
  t.equal(first.json.value.length, 10)
  t.notOk('@odata.count' in first.json)
  t.match(first.json.value[0], { SalesOrder: 'SO000001', SoldToBP: String, Status: String, OrderDate: String, Amount: Number, '@odata.etag': /^W\/"/ })
  const seen = ids(first)
  let next: string | undefined = first.json['@odata.nextLink']
  t.match(next, /^http:\/\/127\.0\.0\.1:\d+\/ACME_TST\/LN\/lnapi\/odata\/tdapi\.slsSalesOrder\/Orders\?\$skip=10$/)
  let pages = 1
  while (next) {
    const page = await call(e, local(next), token)
    seen.push(...ids(page))
    next = page.json['@odata.nextLink']
    pages++
  }
  t.equal(pages, 4)
  t.same(seen, LN_ORDER_IDS)
  t.equal(LN_ORDER_IDS.length, 35)
})

t.test('$top, $skip and $count; $top larger than a page keeps paging up to $top', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const page = await call(e, `${ORDERS}?$top=3&$skip=2&$count=true`, token)
  t.same(ids(page), ['SO000003', 'SO000004', 'SO000005'])
  t.equal(page.json['@odata.count'], 35)
  t.notOk(page.json['@odata.nextLink'], 'no next page once $top rows were sent')
  const big = await call(e, `${ORDERS}?$top=15`, token)
  t.equal(big.json.value.length, 10)
  const rest = await call(e, local(big.json['@odata.nextLink']), token)
  t.same(ids(rest), ['SO000011', 'SO000012', 'SO000013', 'SO000014', 'SO000015'])
  t.notOk(rest.json['@odata.nextLink'])
  const bad = await call(e, `${ORDERS}?$top=-1`, token)
  t.equal(bad.status, 400)
})

t.test("$filter on one field: Status eq 'Free', with the count of matches; errors in the OData v4 form", async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const free = await call(e, `${ORDERS}?$filter=${encodeURIComponent("Status eq 'Free'")}&$count=true`, token)
  t.equal(free.status, 200)
  const rows: Order[] = [...free.json.value]
  for (let next = free.json['@odata.nextLink']; next;) {
    const page = await call(e, local(next), token)
    rows.push(...page.json.value)
    next = page.json['@odata.nextLink']
  }
  t.ok(rows.length > 0)
  t.ok(rows.every(o => o.Status === 'Free'))
  t.equal(free.json['@odata.count'], rows.length, 'the count is of all matches, not of the page')
  t.ok(rows.length < 35)
  t.match(free.json['@odata.nextLink'], /\$filter=Status(%20|\+)eq(%20|\+)%27Free%27/, 'the nextLink keeps the filter')
  const amount = await call(e, `${ORDERS}?$filter=${encodeURIComponent('Amount eq 251')}`, token)
  t.same(ids(amount), ['SO000002'])
  const none = await call(e, `${ORDERS}?$filter=${encodeURIComponent("Status eq 'Nope'")}`, token)
  t.same(none.json.value, [])
  const unsupported = await call(e, `${ORDERS}?$filter=${encodeURIComponent("substringof('x', Status)")}`, token)
  t.equal(unsupported.status, 400)
  t.match(unsupported.json, { error: { code: String, message: /substringof/, details: [{ code: String, message: String }] } })
  const unknownField = await call(e, `${ORDERS}?$filter=${encodeURIComponent("Nope eq 'x'")}`, token)
  t.equal(unknownField.status, 400)
})

t.test('$select narrows the properties and keeps the etag', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await call(e, `${ORDERS}?$select=SalesOrder,Status&$top=1`, token)
  t.same(Object.keys(res.json.value[0]), ['@odata.etag', 'SalesOrder', 'Status'])
  t.equal((await call(e, `${ORDERS}?$select=Nope`, token)).status, 400)
})

t.test('single entity: ETag header, both key syntaxes, OData v4 404', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await call(e, one('SO000007'), token)
  t.equal(res.status, 200)
  t.equal(res.json.SalesOrder, 'SO000007')
  t.equal(res.headers.etag, res.json['@odata.etag'])
  const named = await call(e, `${ORDERS}(SalesOrder='SO000007')`, token)
  t.equal(named.json.SalesOrder, 'SO000007')
  const missing = await call(e, one('SO999999'), token, { headers: { 'x-infor-lncompany': '2000' } })
  t.equal(missing.status, 404)
  t.match(missing.json, { error: { code: 'ERROR:tdsls4100.0001', message: /SO999999/, details: Array } })
  t.equal((await call(e, '/ACME_TST/LN/lnapi/odata/tdapi.slsSalesOrder/Nothing', token)).status, 404)
  t.equal((await call(e, '/ACME_TST/LN/elsewhere', token)).status, 404)
})

t.test('PATCH needs If-Match: 428 without, 412 when it differs, 200 and a new ETag when it matches', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const url = one('SO000001')
  const before = await call(e, url, token)
  const etag = before.headers.etag as string
  t.not(before.json.Status, 'Closed')
  const body = JSON.stringify({ Status: 'Closed' })
  const without = await call(e, url, token, { method: 'PATCH', body, headers: json })
  t.equal(without.status, 428)
  t.match(without.json, { error: { code: 'ERROR:428', message: String, details: [{ message: 'The If-Match header is required' }] } })
  const stale = await call(e, url, token, { method: 'PATCH', body, headers: { ...json, 'if-match': 'W/"SO000001-0"' } })
  t.equal(stale.status, 412)
  t.match(stale.json, { error: { code: 'ERROR:ttstps0110', message: 'Record modified by other user', details: [{ message: 'Server etag differs from client etag' }] } })
  t.equal((await call(e, url, token)).json.Status, before.json.Status, 'refused changes change nothing')
  const ok = await call(e, url, token, { method: 'PATCH', body, headers: { ...json, 'if-match': etag } })
  t.equal(ok.status, 200)
  t.equal(ok.json.Status, 'Closed')
  t.not(ok.headers.etag, etag)
  t.equal(ok.headers.etag, ok.json['@odata.etag'])
  const reread = await call(e, url, token)
  t.equal(reread.json.Status, 'Closed')
  t.equal(reread.headers.etag, ok.headers.etag)
  const again = await call(e, url, token, { method: 'PATCH', body, headers: { ...json, 'if-match': etag } })
  t.equal(again.status, 412, 'the old etag no longer matches')
  const minimal = await call(e, url, token, { method: 'PATCH', body: JSON.stringify({ Amount: 1 }), headers: { ...json, 'if-match': '*', prefer: 'return=minimal' } })
  t.equal(minimal.status, 204)
  t.type(minimal.headers.etag, 'string')
  const readOnly = await call(e, url, token, { method: 'PATCH', body: JSON.stringify({ SalesOrder: 'X' }), headers: { ...json, 'if-match': '*' } })
  t.equal(readOnly.status, 400)
})

t.test('DELETE needs If-Match too and removes the order', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const url = one('SO000035')
  t.equal((await call(e, url, token, { method: 'DELETE' })).status, 428)
  const etag = (await call(e, url, token)).headers.etag as string
  t.equal((await call(e, url, token, { method: 'DELETE', headers: { 'if-match': etag } })).status, 204)
  t.equal((await call(e, url, token)).status, 404)
  t.equal((await call(e, `${ORDERS}?$count=true&$top=0`, token)).json['@odata.count'], 34)
})
