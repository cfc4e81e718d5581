import t from 'tap'
import { request } from 'undici'
import { IDM_PIDS } from '../../emulator/index.ts'
import { call, passwordToken, startEmulator } from './helpers.ts'

const ITEMS = '/ACME_TST/IDM/api/items'
const q = (s: string) => encodeURIComponent(s)
type Item = { pid: string }

t.test('XQuery attribute predicates filter, with AND and OR', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const search = async (xquery: string) => {
    const res = await call(e, `${ITEMS}/search?$query=${q(xquery)}&$includeCount=true`, token)
    t.equal(res.status, 200, `${xquery}: ${res.text}`)
    return res.json.items
  }
  const one = await search('/MDS_File[@MDS_Name = "Drawing A100"]')
  t.same(one.item.map((i: Item) => i.pid), ['MDS_File-3-20-LATEST'])
  t.equal(one.searchCount, 1)
  const or = await search('/MDS_File[@MDS_Category = "Invoice" OR @MDS_Category = "Manual"]')
  t.same(or.item.map((i: Item) => i.pid), ['MDS_File-1-3-LATEST', 'MDS_File-4-2-LATEST'])
  const and = await search('/MDS_File[@MDS_Pages > 2 AND @MDS_Name LIKE "%guide%"]')
  t.same(and.item.map((i: Item) => i.pid), ['MDS_File-1-3-LATEST'])
  t.equal((await search('/MDS_File[@MDS_Name = "nothing like it"]')).searchCount, 0)
  const bad = await call(e, `${ITEMS}/search?$query=${q('/MDS_File[@Nope = "x"]')}`, token)
  t.equal(bad.status, 400)
  t.match(bad.json, { error: { code: 'IDM_INVALID_QUERY', message: String, detail: /Nope/ } })
})

t.test('search/item, count, a trailing / on search/, and $state', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const first = await call(e, `${ITEMS}/search/item?$query=${q('/MDS_File[@MDS_Category = "Safety"]')}&$state=0`, token)
  t.equal(first.status, 200, first.text)
  t.equal(first.json.item.pid, 'MDS_File-2-1-LATEST')
  const second = await call(e, `${ITEMS}/search/item?$query=/MDS_File&$offset=1`, token)
  t.equal(second.json.item.pid, IDM_PIDS[1], '$offset picks the hit')
  const none = await call(e, `${ITEMS}/search/item?$query=${q('/MDS_File[@MDS_Pages > 100]')}`, token)
  t.equal(none.status, 404)
  t.match(none.json, { error: { code: 'IDM_ITEM_NOT_FOUND' } })
  const count = await call(e, `${ITEMS}/count?$query=${q('/MDS_File[@MDS_Pages < 4]')}`, token)
  t.same(count.json, { count: 3 })
  const slash = await call(e, `${ITEMS}/search/?$query=/MDS_File&$state=0&$language=de-DE`, token)
  t.equal(slash.status, 200)
  t.equal(slash.json.items.item.length, IDM_PIDS.length)
})

t.test('binary streams: items/{pid}/resource/stream and items/search/item/resource(/stream)', async t => {
  const size = 100_003
  const e = await startEmulator(t, { idmBinarySizeBytes: size })
  const { access_token: token } = await passwordToken(e)
  const paths = [
    `${ITEMS}/MDS_File-3-20-LATEST/resource/stream`,
    `${ITEMS}/search/item/resource/stream?$query=${q('/MDS_File[@MDS_Name = "Drawing A100"]')}&$state=0`,
    `${ITEMS}/search/item/resource?$query=/MDS_File`,
  ]
  for (const path of paths) {
    const res = await request(e.url + path, { headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200, path)
    t.equal(res.headers['content-type'], 'application/octet-stream')
    let received = 0
    for await (const chunk of res.body) received += (chunk as Buffer).length
    t.equal(received, size, path)
  }
  const missing = await call(e, `${ITEMS}/search/item/resource/stream?$query=/Nothing`, token)
  t.equal(missing.status, 404)
  t.equal((await call(e, `${ITEMS}/MDS_File-3-20-LATEST/resource/elsewhere`, token)).status, 404)
})

t.test('XML answers when Accept asks for them, errors too', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const xml = { accept: 'application/xml;charset=utf-8' }
  const search = await call(e, `${ITEMS}/search?$query=${q('/MDS_File[@MDS_Category = "Drawing"]')}&$includeCount=true`, token, { headers: xml })
  t.equal(search.status, 200)
  t.match(search.headers['content-type'], /^application\/xml/)
  t.match(search.text, /^<\?xml version="1\.0" encoding="UTF-8"\?><items><searchXQuery>\/MDS_File\[@MDS_Category = &quot;Drawing&quot;\]<\/searchXQuery><searchCount>1<\/searchCount><item><pid>MDS_File-3-20-LATEST<\/pid>/)
  t.match(search.text, /<attrs><attr><name>MDS_Name<\/name><type>1<\/type><qual>MDS_Name<\/qual><value>Drawing A100<\/value><\/attr>/)
  const item = await call(e, `${ITEMS}/MDS_File-1-3-LATEST`, token, { headers: { accept: 'text/xml' } })
  t.match(item.text, /<item><pid>MDS_File-1-3-LATEST<\/pid>/)
  const error = await call(e, `${ITEMS}/MDS_File-9-9-LATEST`, token, { headers: xml })
  t.equal(error.status, 404)
  t.match(error.text, /<error><code>IDM_ITEM_NOT_FOUND<\/code>/)
  const json = await call(e, `${ITEMS}/MDS_File-1-3-LATEST`, token, { headers: { accept: 'application/json, application/xml' } })
  t.equal(json.json.item.pid, 'MDS_File-1-3-LATEST', 'JSON when JSON comes first')
})
