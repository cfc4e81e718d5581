import t, { type Test } from 'tap'
import type { CacheDriver } from '../../src/cache/driver.ts'
import { createMemoryDriver, createRedisDriver } from '../../src/cache/drivers/index.ts'
import type { CacheEntry } from '../../src/cache/entry.ts'
import { createRedisClient } from '../../src/redis.ts'
import { startRedis } from '../helpers/redis.ts'
import { eventually } from '../helpers/wait.ts'

function entry (body: string | Buffer, extra: Partial<CacheEntry> = {}): CacheEntry {
  const now = Date.now()
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json', 'x-multi': ['a', 'b'] },
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    storedAtMs: now,
    freshUntilMs: now + 1000,
    staleUntilMs: now + 2000,
    ...extra,
  }
}

/** The contract every driver keeps; run against each one. */
function contract (name: string, make: (t: Test) => Promise<CacheDriver>): void {
  t.test(`${name}: a missing key is undefined`, async t => {
    const d = await make(t)
    t.equal(await d.get('nope'), undefined)
  })

  t.test(`${name}: stores and returns an entry, binary body intact`, async t => {
    const d = await make(t)
    const binary = Buffer.from([0, 1, 2, 255, 254, 10, 13])
    await d.set('k1', entry(binary), 5000)
    const got = await d.get('k1')
    t.ok(got)
    t.same(got?.body, binary)
    t.same(got?.headers, { 'content-type': 'application/json', 'x-multi': ['a', 'b'] })
    t.equal(got?.statusCode, 200)
  })

  t.test(`${name}: delete and purge by prefix`, async t => {
    const d = await make(t)
    await d.set('m3:GET:["/a"]', entry('1'), 5000)
    await d.set('m3:GET:["/b"]', entry('2'), 5000)
    await d.set('ln:GET:["/a"]', entry('3'), 5000)
    await d.set('x*[weird]?', entry('4'), 5000)
    await d.delete('m3:GET:["/b"]')
    t.equal(await d.get('m3:GET:["/b"]'), undefined)
    t.equal(await d.purge('m3:'), 1)
    t.ok(await d.get('ln:GET:["/a"]'))
    t.equal(await d.purge('x*['), 1, 'glob characters in a prefix are literal')
    t.equal(await d.purge(), 1)
    t.equal(await d.get('ln:GET:["/a"]'), undefined)
  })
}

contract('memory', async t => {
  const d = createMemoryDriver({ maxBytes: 1024 * 1024 })
  t.teardown(() => d.close())
  return d
})

contract('redis', async t => {
  const server = await startRedis(t)
  const client = createRedisClient(server.url)
  await client.connect()
  t.teardown(() => client.disconnect())
  return createRedisDriver(client, { keyPrefix: `test:${Math.random()}:` })
})

t.test('memory: entries expire after their TTL, on the clock the driver is given', async t => {
  let nowMs = 1_000_000
  const d = createMemoryDriver({ maxBytes: 1024 * 1024, now: () => nowMs })
  await d.set('short', entry('x'), 80)
  nowMs += 80
  t.ok(await d.get('short'), 'alive until its TTL ends')
  nowMs += 1
  t.equal(await d.get('short'), undefined, 'gone past it')
})

t.test('redis: entries expire after their TTL (Redis\'s own PX)', async t => {
  const server = await startRedis(t)
  const client = createRedisClient(server.url)
  await client.connect()
  t.teardown(() => client.disconnect())
  const d = createRedisDriver(client, { keyPrefix: 'ttl:' })
  await d.set('short', entry('x'), 300)
  const pttl = Number(await client.pttl('ttl:short'))
  t.ok(pttl > 0 && pttl <= 300, `the key carries the TTL: ${pttl} ms`)
  t.ok(await d.get('short'))
  await eventually('the entry expires', async () => (await d.get('short')) === undefined)
})

t.test('memory: 10x its bound of distinct answers stays within the bound', async t => {
  const maxBytes = 256 * 1024
  const d = createMemoryDriver({ maxBytes })
  const body = Buffer.alloc(2000, 'x')
  const count = Math.ceil((10 * maxBytes) / body.length)
  for (let i = 0; i < count; i++) {
    await d.set(`k${i}`, entry(body), 60000)
    if (d.sizeBytes() > maxBytes) t.fail(`over the bound at ${i}`)
  }
  t.ok(d.sizeBytes() > maxBytes / 2, 'it does fill up')
  t.ok(await d.get(`k${count - 1}`), 'the newest entry is kept')
  t.equal(await d.get('k0'), undefined, 'the oldest was evicted')
  await d.set('huge', entry(Buffer.alloc(maxBytes + 1)), 60000)
  t.equal(await d.get('huge'), undefined, 'an entry larger than the whole cache is not stored')
})

t.test('redis driver: the borrowed client is not closed and keys carry the prefix', async t => {
  const server = await startRedis(t)
  const client = createRedisClient(server.url)
  await client.connect()
  t.teardown(() => client.disconnect())
  const d = createRedisDriver(client, { keyPrefix: 'gw:' })
  await d.set('a', entry('1'), 5000)
  t.same(await client.keys('*'), ['gw:a'])
  const pttl = await client.pttl('gw:a')
  t.ok(pttl > 0 && pttl <= 5000, 'TTL set in Redis')
  await d.close()
  t.equal(await client.ping(), 'PONG')
})

t.test('redis driver: fails fast while Redis is down', async t => {
  const server = await startRedis(t)
  const client = createRedisClient(server.url)
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.disconnect())
  const d = createRedisDriver(client, { keyPrefix: 'gw:' })
  await server.stop()
  const started = Date.now()
  await t.rejects(d.get('a'))
  t.ok(Date.now() - started < 1000, 'no offline queue: the error comes at once')
})
