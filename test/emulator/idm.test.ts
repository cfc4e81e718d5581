import t from 'tap'
import { request } from 'undici'
import { binaryStream } from '../../emulator/idm.ts'
import { IDM_PIDS } from '../../emulator/index.ts'
import { eventually } from '../helpers/wait.ts'
import { call, passwordToken, startEmulator } from './helpers.ts'

const ITEMS = '/ACME_TST/IDM/api/items'

t.test('search: the README shape, paging with $offset/$limit, $includeCount', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const all = await call(e, `${ITEMS}/search?$query=/MDS_File&$offset=0&$limit=20&$includeCount=true`, token)
  t.equal(all.status, 200)
  t.equal(all.json.items.searchXQuery, '/MDS_File')
  t.equal(all.json.items.searchCount, IDM_PIDS.length)
  t.same(all.json.items.item.map((i: { pid: string }) => i.pid), IDM_PIDS)
  t.match(all.json.items.item[2], {
    pid: 'MDS_File-3-20-LATEST',
    id: '3',
    version: '20',
    entityName: 'MDS_File',
    filename: String,
    size: String(1024 * 1024),
    createdTS: /^\d{4}-\d\d-\d\dT/,
    attrs: { attr: [{ name: 'MDS_Name', type: '1', qual: 'MDS_Name', value: String }] },
    resrs: { res: [] },
    acl: { name: 'Public' },
  })
  const page = await call(e, `${ITEMS}/search?$query=/MDS_File&$offset=1&$limit=2`, token)
  t.same(page.json.items.item.map((i: { pid: string }) => i.pid), IDM_PIDS.slice(1, 3))
  t.notOk('searchCount' in page.json.items)
  const other = await call(e, `${ITEMS}/search?$query=/Invoice&$includeCount=true`, token)
  t.equal(other.json.items.searchCount, 0)
  const noQuery = await call(e, `${ITEMS}/search`, token)
  t.equal(noQuery.status, 400)
  t.match(noQuery.json, { error: { code: String, message: String, detail: String } })
})

t.test('item by pid, and the IDM error shape for an unknown pid', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const item = await call(e, `${ITEMS}/MDS_File-3-20-LATEST`, token)
  t.equal(item.status, 200)
  t.equal(item.json.item.pid, 'MDS_File-3-20-LATEST')
  t.equal(item.json.item.filename, 'Drawing A100.dwg')
  const missing = await call(e, `${ITEMS}/MDS_File-9-9-LATEST`, token)
  t.equal(missing.status, 404)
  t.match(missing.headers['content-type'], /^application\/json/)
  t.match(missing.json, { error: { code: 'IDM_ITEM_NOT_FOUND', message: /MDS_File-9-9-LATEST/, detail: String } })
  t.equal((await call(e, `${ITEMS}/MDS_File-9-9-LATEST/resource`, token)).status, 404)
  t.equal((await call(e, `${ITEMS}/MDS_File-3-20-LATEST`, token, { method: 'DELETE' })).status, 405)
})

t.test('binary resource: exactly the configured size, octet-stream with Content-Length', async t => {
  const size = 3 * 1024 * 1024 + 7
  const e = await startEmulator(t, { idmBinarySizeBytes: size })
  const { access_token: token } = await passwordToken(e)
  const res = await request(`${e.url}${ITEMS}/MDS_File-3-20-LATEST/resource`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/octet-stream')
  t.equal(res.headers['content-length'], String(size))
  let received = 0
  for await (const chunk of res.body) received += (chunk as Buffer).length
  t.equal(received, size)
  const head = await request(`${e.url}${ITEMS}/MDS_File-3-20-LATEST/resource`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } })
  t.equal(head.headers['content-length'], String(size))
  t.equal((await head.body.text()).length, 0)
  const unauthorized = await request(`${e.url}${ITEMS}/MDS_File-3-20-LATEST/resource`)
  t.equal(unauthorized.statusCode, 401)
  await unauthorized.body.dump()
})

t.test('the binary is generated lazily, in chunks of at most 64 KiB', async t => {
  const size = 10 * 1024 * 1024 + 3
  const stream = binaryStream(size)
  stream.read(0)
  await new Promise(resolve => setImmediate(resolve))
  t.ok(stream.readableLength <= 64 * 1024, `only ${stream.readableLength} bytes produced before anyone reads`)
  let total = 0
  let largest = 0
  stream.on('data', (chunk: Buffer) => {
    total += chunk.length
    largest = Math.max(largest, chunk.length)
  })
  await new Promise(resolve => stream.once('end', resolve))
  t.equal(total, size)
  t.ok(largest <= 64 * 1024)
})

t.test('a reader that pauses holds the download back, and aborting it releases the request', async t => {
  const e = await startEmulator(t, { idmBinarySizeBytes: 512 * 1024 * 1024 })
  const { access_token: token } = await passwordToken(e)
  const baseline = process.memoryUsage().arrayBuffers
  const controller = new AbortController()
  const res = await request(`${e.url}${ITEMS}/MDS_File-1-3-LATEST/resource`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
  t.equal(res.headers['content-length'], String(512 * 1024 * 1024))
  // The emulator has filled what the socket and the client take and now waits for the reader: from here on nothing
  // more is produced until someone reads.
  await eventually('the emulator waits for the reader', () => e.stats.downloadsHeldBack() === 1 || `${e.stats.downloadsHeldBack()} held back`)
  const grown = process.memoryUsage().arrayBuffers - baseline
  t.ok(grown < 64 * 1024 * 1024, `buffers grew by ${Math.round(grown / 1048576)} MiB while nobody read`)
  t.equal(e.stats.inFlight(), 1, 'the download is still running')
  controller.abort()
  await res.body.dump().catch(() => {})
  await eventually('the aborted download leaves the emulator', () => e.stats.inFlight() === 0 || `${e.stats.inFlight()} in flight`)
})
