import t from 'tap'
import { LN_ORDER_IDS } from '../../emulator/index.ts'
import { call, local, ORDERS, passwordToken, startEmulator } from './helpers.ts'

type Order = { SalesOrder: string, Status: string, Amount: number, Currency: string, OrderDate: string, Lines?: Array<Record<string, unknown>> }
const SERVICE = '/ACME_TST/LN/lnapi/odata/tdapi.slsSalesOrder'
const q = (s: string) => encodeURIComponent(s)

/** Every row of a collection, following @odata.nextLink. */
async function all (e: Parameters<typeof call>[0], path: string, token: string, headers: Record<string, string> = {}): Promise<{ rows: Order[], pages: number, first: Record<string, unknown> }> {
  const first = await call(e, path, token, { headers })
  if (first.status !== 200) throw new Error(`${path} answered ${first.status}: ${first.text}`)
  const rows: Order[] = [...first.json.value]
  let pages = 1
  for (let next = first.json['@odata.nextLink']; next; pages++) {
    const page = await call(e, local(next), token, { headers })
    rows.push(...page.json.value)
    next = page.json['@odata.nextLink']
  }
  return { rows, pages, first: first.json }
}

t.test('$select=* is every property', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const star = await call(e, `${ORDERS}?$select=*&$top=1`, token)
  t.equal(star.status, 200, star.text)
  t.same(Object.keys(star.json.value[0]), ['@odata.etag', 'SalesOrder', 'SoldToBP', 'Status', 'OrderDate', 'Amount', 'Currency'])
  const one = await call(e, `${ORDERS}('SO000003')?$select=*`, token)
  t.equal(one.json.Amount, 3 * 125.5)
})

t.test('$filter with and/or and numeric eq/ne/gt/lt, across pages', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const expected = LN_ORDER_IDS.map((id, i) => ({ id, amount: (i + 1) * 125.5, currency: (i + 1) % 4 === 0 ? 'USD' : 'EUR' }))
  const gt = await all(e, `${ORDERS}?$filter=${q('Amount gt 3000')}`, token)
  t.same(gt.rows.map(o => o.SalesOrder), expected.filter(o => o.amount > 3000).map(o => o.id))
  const lt = await all(e, `${ORDERS}?$filter=${q('Amount lt 500')}`, token)
  t.same(lt.rows.map(o => o.SalesOrder), ['SO000001', 'SO000002', 'SO000003'])
  const ne = await all(e, `${ORDERS}?$filter=${q('Amount ne 125.5')}&$count=true`, token)
  t.equal(ne.first['@odata.count'], 34)
  t.equal(ne.rows.length, 34, `${ne.pages} pages`)
  const and = await all(e, `${ORDERS}?$filter=${q("Currency eq 'USD' and Amount gt 2000")}`, token)
  t.same(and.rows.map(o => o.SalesOrder), expected.filter(o => o.currency === 'USD' && o.amount > 2000).map(o => o.id))
  const or = await all(e, `${ORDERS}?$filter=${q("SalesOrder eq 'SO000002' or Amount ge 4300")}`, token)
  t.same(or.rows.map(o => o.SalesOrder), ['SO000002', 'SO000035'])
  const date = await all(e, `${ORDERS}?$filter=${q('OrderDate lt 2026-02-01')}`, token)
  t.ok(date.rows.length > 0 && date.rows.every(o => o.OrderDate < '2026-02-01'), `${date.rows.length} orders before February`)
  const plus = await call(e, `${ORDERS}?$filter=Amount+gt+4300`, token)
  t.same(plus.json.value.map((o: Order) => o.SalesOrder), ['SO000035'], '+ as a space, as form-encoding clients send it')
})

t.test('$orderby, with $top/$skip and @odata.nextLink paging in that order', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const desc = await all(e, `${ORDERS}?$orderby=${q('Amount desc')}`, token)
  t.same(desc.rows.map(o => o.SalesOrder), [...LN_ORDER_IDS].reverse())
  t.equal(desc.pages, 4)
  const two = await all(e, `${ORDERS}?$orderby=${q('Currency asc,SalesOrder desc')}&$top=12&$skip=3`, token)
  const byCurrency = LN_ORDER_IDS.map((id, i) => ({ id, c: (i + 1) % 4 === 0 ? 'USD' : 'EUR' }))
    .sort((a, b) => a.c.localeCompare(b.c) || b.id.localeCompare(a.id)).map(o => o.id)
  t.same(two.rows.map(o => o.SalesOrder), byCurrency.slice(3, 15))
  t.equal(two.pages, 2, 'ten, then the two still wanted')
  t.match(two.first['@odata.nextLink'], /\$orderby=Currency(%20|\+)asc%2CSalesOrder(%20|\+)desc/, 'the nextLink keeps the order')
  t.match(two.first['@odata.nextLink'], /\$skip=13/)
  t.match(two.first['@odata.nextLink'], /\$top=2/)
  t.equal((await call(e, `${ORDERS}?$orderby=Nope`, token)).status, 400)
})

t.test('Prefer: odata.maxpagesize sets the page size, and says so', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const prefer = { prefer: 'odata.maxpagesize=20' }
  const res = await all(e, ORDERS, token, prefer)
  t.equal(res.pages, 2)
  t.same(res.rows.map(o => o.SalesOrder), LN_ORDER_IDS)
  const first = await call(e, ORDERS, token, { headers: prefer })
  t.equal(first.headers['preference-applied'], 'odata.maxpagesize=20')
  t.equal(first.headers['odata-version'], '4.0')
})

t.test('$expand of the order lines, with nested options', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await call(e, `${ORDERS}?$top=3&$expand=Lines`, token)
  t.equal(res.status, 200, res.text)
  t.same(res.json.value.map((o: Order) => o.Lines?.length), [2, 3, 1])
  t.match(res.json.value[0].Lines[0], { '@odata.etag': String, SalesOrder: 'SO000001', Position: 10, Item: String, OrderedQuantity: Number, Price: Number })
  const nested = await call(e, `${ORDERS}('SO000002')?$select=SalesOrder&$expand=${q('Lines($select=Position,Price;$orderby=Position desc;$top=2)')}`, token)
  t.equal(nested.status, 200, nested.text)
  t.same(Object.keys(nested.json).filter(k => !k.startsWith('@')), ['SalesOrder', 'Lines'])
  t.same(nested.json.Lines.map((l: { Position: number }) => l.Position), [30, 20])
  t.same(Object.keys(nested.json.Lines[0]), ['@odata.etag', 'Position', 'Price'])
  const star = await call(e, `${ORDERS}?$top=1&$expand=*`, token)
  t.equal(star.json.value[0].Lines.length, 2)
  const lines = await all(e, `${SERVICE}/OrderLines?$filter=${q("SalesOrder eq 'SO000002'")}`, token)
  t.same(lines.rows.map(l => (l as unknown as { Position: number }).Position), [10, 20, 30], 'the lines are an entity set of their own')
  const line = await call(e, `${SERVICE}/OrderLines(SalesOrder='SO000002',Position=20)`, token)
  t.equal(line.status, 200, line.text)
  t.equal(line.json.Position, 20)
  t.equal((await call(e, `${ORDERS}?$expand=Customer`, token)).status, 400)
})

t.test('$count=true counts every match, and /$count answers the number as text', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const usd = await call(e, `${ORDERS}?$count=true&$filter=${q("Currency eq 'USD'")}&$top=2`, token)
  t.equal(usd.json['@odata.count'], 8)
  t.equal(usd.json.value.length, 2)
  const text = await call(e, `${ORDERS}/$count?$filter=${q("Currency eq 'USD'")}`, token)
  t.equal(text.status, 200)
  t.match(text.headers['content-type'], /^text\/plain/)
  t.equal(text.text, '8')
})

t.test('$metadata: CSDL XML by default, JSON CSDL when asked', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const xml = await call(e, `${SERVICE}/$metadata`, token)
  t.equal(xml.status, 200)
  t.match(xml.headers['content-type'], /^application\/xml/)
  t.match(xml.text, /<edmx:Edmx Version="4\.0"/)
  t.match(xml.text, /<EntityType Name="Order">\s*<Key><PropertyRef Name="SalesOrder"\/><\/Key>/)
  t.match(xml.text, /<Property Name="Amount" Type="Edm\.Decimal"\/>/)
  t.match(xml.text, /<NavigationProperty Name="Lines" Type="Collection\(tdapi\.slsSalesOrder\.OrderLine\)"\/>/)
  t.match(xml.text, /<EntitySet Name="Orders" EntityType="tdapi\.slsSalesOrder\.Order">/)
  for (const ask of [{ headers: { accept: 'application/json' } }, { query: '?$format=json' }]) {
    const json = await call(e, `${SERVICE}/$metadata${ask.query ?? ''}`, token, { headers: ask.headers })
    t.equal(json.status, 200)
    t.match(json.headers['content-type'], /^application\/json/)
    t.match(json.json, {
      $Version: '4.0',
      $EntityContainer: 'tdapi.slsSalesOrder.Container',
      'tdapi.slsSalesOrder': {
        Order: { $Kind: 'EntityType', $Key: ['SalesOrder'], Amount: { $Type: 'Edm.Decimal' }, Lines: { $Kind: 'NavigationProperty', $Collection: true } },
        Container: { $Kind: 'EntityContainer', Orders: { $Collection: true, $Type: 'tdapi.slsSalesOrder.Order' } },
      },
    })
  }
  const service = await call(e, `${SERVICE}/`, token)
  t.same(service.json.value.map((s: { name: string }) => s.name), ['Orders', 'OrderLines'])
})

t.test('unknown system query options are errors, as in OData; custom ones are ignored', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const bad = await call(e, `${ORDERS}?$inlinecount=allpages`, token)
  t.equal(bad.status, 400)
  t.match(bad.json.error.message, /\$inlinecount/)
  t.equal((await call(e, `${ORDERS}?sap-client=1&$top=1`, token)).status, 200)
  t.equal((await call(e, `${ORDERS}?$format=xml`, token)).status, 406)
})

t.test('LN errors: OData v4 by default, Infor\'s documented form on request (option or control)', async t => {
  const odata = await startEmulator(t)
  const a = await passwordToken(odata)
  const missing = await call(odata, `${ORDERS}('SO999999')`, a.access_token)
  t.equal(missing.status, 404)
  t.same(Object.keys(missing.json), ['error'])
  t.match(missing.json.error, { code: 'ERROR:tdsls4100.0001', message: /SO999999/, details: [{ code: 'ERROR:', message: /SO999999/ }] })

  const infor = await startEmulator(t, { lnErrorFormat: 'infor' })
  const b = await passwordToken(infor)
  const other = await call(infor, `${ORDERS}('SO999999')`, b.access_token, { headers: { 'x-infor-lncompany': '2000' } })
  t.equal(other.status, 404)
  t.match(other.json, { Code: 'ERROR:tdsls4100.0001', Message: /SO999999/, Details: [{ Code: 'ERROR:', Message: String }], InnerError: { StatusCode: 404, RequestId: /^[0-9a-f]{32}$/, TenantId: 'ACME_TST', Company: 2000 } })
  t.notOk('error' in other.json)

  odata.setLnErrorFormat('infor')
  t.match((await call(odata, `${ORDERS}('SO999999')`, a.access_token)).json, { Code: String, InnerError: { StatusCode: 404, Company: 1971 } })
  t.throws(() => odata.setLnErrorFormat('xml' as 'odata'), RangeError)
})
