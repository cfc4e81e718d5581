import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { createMemoryDriver } from '../../src/cache/drivers/memory.ts'
import type { CacheDriver } from '../../src/cache/driver.ts'
import { createResponseCache, type CacheRequest, type OriginAnswer } from '../../src/cache/manager.ts'

/** A real memory driver whose writes land `delayMs` late, as a remote store's do. */
function slowWrites (delayMs: number): CacheDriver {
  const inner = createMemoryDriver({ maxBytes: 1 << 20 })
  return {
    ...inner,
    name: 'slow-writes',
    async set (key, entry, ttlMs) {
      await sleep(delayMs)
      await inner.set(key, entry, ttlMs)
    },
  }
}

function originCounting (): { calls: () => number, fetchOrigin: () => Promise<OriginAnswer> } {
  let calls = 0
  return {
    calls: () => calls,
    async fetchOrigin () {
      calls++
      await sleep(20)
      const body = Buffer.from(JSON.stringify({ call: calls }))
      return {
        statusCode: 200,
        upstreamHeaders: { 'content-type': 'application/json' },
        clientHeaders: { 'content-type': 'application/json' },
        body: (async function * () { yield body })(),
        discard () {},
      }
    },
  }
}

function request (origin: ReturnType<typeof originCounting>): CacheRequest {
  return { key: 'k', system: 'm3', endpoint: 'm3', ttlS: 60, lookup: true, store: true, fetchOrigin: origin.fetchOrigin }
}

t.test('a miss arriving while the leader is still writing the entry shares its answer', async t => {
  const cache = createResponseCache({ driver: slowWrites(100), staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000 })
  const origin = originCounting()
  const first = await cache.fetch(request(origin))
  t.equal(first.cacheStatus, 'MISS')
  // The leader has answered; its write is still on the way to the driver.
  const late = await cache.fetch(request(origin))
  t.equal(origin.calls(), 1, 'ION is not called a second time')
  t.same(late.body, first.body)
  await sleep(150)
  const hit = await cache.fetch(request(origin))
  t.equal(hit.cacheStatus, 'HIT')
  t.equal(origin.calls(), 1)
})

t.test('concurrent misses spread over the write window cause one origin call', async t => {
  const cache = createResponseCache({ driver: slowWrites(30), staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000 })
  const origin = originCounting()
  const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    await sleep(i * 2)
    return cache.fetch(request(origin))
  }))
  t.equal(origin.calls(), 1)
  t.ok(answers.every(a => a.statusCode === 200))
})

t.test('once the write failed, the next miss calls ION again (the flight is released)', async t => {
  const failing: CacheDriver = { ...createMemoryDriver({ maxBytes: 1 << 20 }), async set () { await sleep(10); throw new Error('down') } }
  const errors: string[] = []
  const cache = createResponseCache({ driver: failing, staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000, events: { error: (_e, op) => errors.push(op) } })
  const origin = originCounting()
  await cache.fetch(request(origin))
  await sleep(30)
  await cache.fetch(request(origin))
  t.equal(origin.calls(), 2)
  await sleep(30)
  t.same(errors, ['set', 'set'])
})
