import t from 'tap'
import { request } from 'undici'
import { LN_ORDER_IDS } from '../../emulator/index.ts'
import { startGateway } from '../helpers/gateway.ts'

// A body whose links the gateway rewrote is not the bytes ION's strong ETag names: the tag turns weak. Bodies the
// gateway passes on unchanged keep ION's tag as it was.

const ORDER = `/ln/lnapi/odata/tdapi.slsSalesOrder/Orders('${LN_ORDER_IDS[0]}')`

async function etagOf (url: string): Promise<{ status: number, etag: unknown, text: string }> {
  const res = await request(url, { headers: { accept: 'application/json' } })
  const text = await res.body.text()
  return { status: res.statusCode, etag: res.headers.etag, text }
}

t.test('an LN entity whose links were rewritten: ION\'s strong ETag becomes weak, on a miss and on a hit', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory' } })
  const miss = await etagOf(`${gw.url}${ORDER}`)
  t.equal(miss.status, 200)
  t.ok(miss.text.includes(`${gw.url}/ln/`), 'the body was rewritten')
  // The emulator tags an order `"<id>-<version>"` (strong).
  t.equal(miss.etag, `W/"${LN_ORDER_IDS[0]}-1"`, `weak through the gateway: ${String(miss.etag)}`)
  await gw.app.responseCache?.whenIdle()
  const hit = await etagOf(`${gw.url}${ORDER}`)
  t.equal(hit.etag, miss.etag, 'a hit too (the cache keeps ION\'s tag as sent; each answer is marked)')
})

t.test('bodies left as ION sent them keep the strong ETag; a streamed rewrite weakens it; a weak tag stays as it is', async t => {
  const gw = await startGateway(t)
  const link = `${gw.emulator.url}/ACME_TST/LN/lnapi/odata/x`
  gw.emulator.faults.respondNext(1, { status: 200, headers: { etag: '"plain"', 'content-type': 'application/json' }, body: { value: 'no link here' } }, '/ACME_TST/LN/')
  t.equal((await etagOf(`${gw.url}/ln/lnapi/odata/plain`)).etag, '"plain"', 'LN JSON without links: unchanged')
  gw.emulator.faults.respondNext(1, { status: 200, headers: { etag: '"m3"', 'content-type': 'application/json' }, body: { link } }, '/ACME_TST/M3/')
  t.equal((await etagOf(`${gw.url}/m3/m3api-rest/v2/execute/CRS610MI/LstByNumber`)).etag, '"m3"', 'M3 answers are never rewritten')
  const big = { link, filler: 'x'.repeat(100_000) }
  gw.emulator.faults.respondNext(1, { status: 200, headers: { etag: '"big"', 'content-type': 'application/json' }, body: big }, '/ACME_TST/LN/')
  const streamed = await etagOf(`${gw.url}/ln/lnapi/odata/big`)
  t.ok(streamed.text.includes(`${gw.url}/ln/`), 'a streamed body (over 64 KiB) is rewritten too')
  t.equal(streamed.etag, 'W/"big"', 'and its tag is weak')
  gw.emulator.faults.respondNext(1, { status: 200, headers: { etag: 'W/"weak"', 'content-type': 'application/json' }, body: { link } }, '/ACME_TST/LN/')
  t.equal((await etagOf(`${gw.url}/ln/lnapi/odata/weak`)).etag, 'W/"weak"', 'already weak: not W/W/')
})
