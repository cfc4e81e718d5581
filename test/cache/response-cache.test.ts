import t from 'tap'
import { createMemoryDriver } from '../../src/cache/drivers/memory.ts'
import type { CacheDriver } from '../../src/cache/driver.ts'
import { createResponseCache, type CacheRequest, type OriginAnswer } from '../../src/cache/manager.ts'

/** A promise the test settles when it chooses: a slow remote store or ION, whatever the machine's load. */
function gate (): { opened: Promise<void>, open: () => void } {
  let open!: () => void
  const opened = new Promise<void>(resolve => { open = resolve })
  return { opened, open }
}

/** A real memory driver whose writes land only once `writes` is opened, as a remote store's land late. */
function heldWrites (writes: { opened: Promise<void> }): CacheDriver {
  const inner = createMemoryDriver({ maxBytes: 1 << 20 })
  return {
    ...inner,
    name: 'held-writes',
    async set (key, entry, ttlMs) {
      await writes.opened
      await inner.set(key, entry, ttlMs)
    },
  }
}

/** An origin that counts its calls; each answers once `answers` is opened (at once without one). */
function originCounting (answers?: { opened: Promise<void> }): { calls: () => number, fetchOrigin: () => Promise<OriginAnswer> } {
  let calls = 0
  return {
    calls: () => calls,
    async fetchOrigin () {
      calls++
      await answers?.opened
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
  return { key: 'k', api: 'm3', ttlS: 60, lookup: true, store: true, fetchOrigin: origin.fetchOrigin }
}

t.test('a miss arriving while the leader is still writing the entry shares its answer', async t => {
  const writes = gate()
  const cache = createResponseCache({ driver: heldWrites(writes), staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000 })
  const origin = originCounting()
  const first = await cache.fetch(request(origin))
  t.equal(first.cacheStatus, 'MISS')
  // The leader has answered; its write is still on the way to the driver.
  const late = await cache.fetch(request(origin))
  t.equal(origin.calls(), 1, 'ION is not called a second time')
  t.same(late.body, first.body)
  writes.open()
  await cache.whenIdle() // the write has landed
  const hit = await cache.fetch(request(origin))
  t.equal(hit.cacheStatus, 'HIT')
  t.equal(origin.calls(), 1)
})

t.test('misses before ION answers, while the entry is written and after it landed cause one origin call', async t => {
  const writes = gate()
  const answers = gate()
  const cache = createResponseCache({ driver: heldWrites(writes), staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000 })
  const origin = originCounting(answers)
  const fetchMany = (n: number) => Promise.all(Array.from({ length: n }, () => cache.fetch(request(origin))))
  const beforeAnswer = fetchMany(20)
  answers.open()
  const waited = await beforeAnswer
  const whileWriting = await fetchMany(20) // the write is still held
  writes.open()
  await cache.whenIdle()
  const afterWrite = await fetchMany(10)
  t.equal(origin.calls(), 1, 'one call to ION for all 50')
  t.ok([...waited, ...whileWriting, ...afterWrite].every(a => a.statusCode === 200))
  t.same(afterWrite.map(a => a.cacheStatus), Array(10).fill('HIT'), 'once written, hits')
})

t.test('once the write failed, the next miss calls ION again (the flight is released)', async t => {
  const failing: CacheDriver = { ...createMemoryDriver({ maxBytes: 1 << 20 }), async set () { throw new Error('down') } }
  const errors: string[] = []
  const cache = createResponseCache({ driver: failing, staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000, events: { error: (_e, op) => errors.push(op) } })
  const origin = originCounting()
  await cache.fetch(request(origin))
  await cache.whenIdle() // the failed write is over and its flight released
  await cache.fetch(request(origin))
  t.equal(origin.calls(), 2)
  await cache.whenIdle()
  t.same(errors, ['set', 'set'])
})

/** An origin whose answers wait until `release()`: every caller is in before ION answers, whatever the machine's load. */
function heldOrigin (headers: Record<string, string> = {}) {
  let calls = 0
  let release!: () => void
  const released = new Promise<void>(resolve => { release = resolve })
  return {
    calls: () => calls,
    release,
    async fetchOrigin (): Promise<OriginAnswer> {
      calls++
      await released
      return {
        statusCode: 200,
        upstreamHeaders: { 'content-type': 'application/json', ...headers },
        clientHeaders: { 'content-type': 'application/json', 'content-length': '2' },
        body: (async function * () { yield Buffer.from('{}') })(),
        discard () {},
      }
    },
  }
}

t.test('concurrent HEAD misses share one origin call; a HEAD joins a GET in flight; a GET never joins a HEAD', async t => {
  const cache = createResponseCache({ driver: createMemoryDriver({ maxBytes: 1 << 20 }), staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 5000 })
  const heads = heldOrigin()
  const head = (): CacheRequest => ({ key: 'h', api: 'idm', ttlS: 60, lookup: true, store: true, headOnly: true, fetchOrigin: heads.fetchOrigin })
  const pending = Array.from({ length: 100 }, () => cache.fetch(head()))
  await new Promise(resolve => setImmediate(resolve)) // every lookup done: all 100 are waiting on one flight
  heads.release()
  const answers = await Promise.all(pending)
  t.equal(heads.calls(), 1, `100 HEADs, ${heads.calls()} origin call(s)`)
  t.ok(answers.every(a => a.statusCode === 200 && a.headers['content-length'] === '2'))
  t.equal((await cache.fetch(head())).cacheStatus, 'MISS', 'a HEAD answer is never stored')

  const gets = heldOrigin()
  const headsOnGet = heldOrigin()
  const get = cache.fetch({ key: 'g', api: 'idm', ttlS: 60, lookup: true, store: true, fetchOrigin: gets.fetchOrigin })
  await new Promise(resolve => setImmediate(resolve))
  const joined = cache.fetch({ key: 'g', api: 'idm', ttlS: 60, lookup: true, store: true, headOnly: true, fetchOrigin: headsOnGet.fetchOrigin })
  await new Promise(resolve => setImmediate(resolve))
  gets.release()
  headsOnGet.release()
  await Promise.all([get, joined])
  t.equal(gets.calls() + headsOnGet.calls(), 1, 'the HEAD shared the GET\'s call')

  const lone = heldOrigin()
  const getAfterHead = heldOrigin()
  const headFirst = cache.fetch({ key: 'x', api: 'idm', ttlS: 60, lookup: true, store: true, headOnly: true, fetchOrigin: lone.fetchOrigin })
  await new Promise(resolve => setImmediate(resolve))
  const getSecond = cache.fetch({ key: 'x', api: 'idm', ttlS: 60, lookup: true, store: true, fetchOrigin: getAfterHead.fetchOrigin })
  await new Promise(resolve => setImmediate(resolve))
  lone.release()
  getAfterHead.release()
  await Promise.all([headFirst, getSecond])
  t.equal(getAfterHead.calls(), 1, 'the GET made its own call')
})

t.test('ION\'s max-age shortens the entry\'s life; after s-maxage nothing stale is served', async t => {
  let clock = 1_000_000
  const cache = createResponseCache({ driver: createMemoryDriver({ maxBytes: 1 << 20 }), staleS: 3600, maxEntryBytes: 1 << 20, waitTimeoutMs: 5000, now: () => clock })
  const answering = (headers: Record<string, string>, statusCode = 200) => async (): Promise<OriginAnswer> => ({
    statusCode,
    upstreamHeaders: headers,
    clientHeaders: {},
    body: (async function * () { yield Buffer.from('{}') })(),
    discard () {},
  })
  const req = (key: string, fetchOrigin: CacheRequest['fetchOrigin']): CacheRequest => ({ key, api: 'ln', ttlS: 300, lookup: true, store: true, fetchOrigin })

  await cache.fetch(req('a', answering({ 'cache-control': 'max-age=10' })))
  await cache.whenIdle() // the store has landed before the clock moves on
  clock += 9_000
  t.equal((await cache.fetch(req('a', answering({})))).cacheStatus, 'HIT', 'fresh for max-age')
  clock += 2_000
  t.equal((await cache.fetch(req('a', answering({})))).cacheStatus, 'MISS', 'expired after max-age, not after CACHE_TTL')

  await cache.fetch(req('b', answering({ 'cache-control': 'max-age=10' })))
  await cache.whenIdle() // the store has landed before the clock moves on
  clock += 11_000
  t.equal((await cache.fetch(req('b', answering({}, 503)))).cacheStatus, 'STALE', 'max-age alone: stale-if-error applies')

  await cache.fetch(req('c', answering({ 'cache-control': 's-maxage=10' })))
  await cache.whenIdle() // the store has landed before the clock moves on
  clock += 11_000
  const failed = await cache.fetch(req('c', answering({}, 503)))
  t.equal(failed.statusCode, 503, 's-maxage: ION\'s failure, never the expired entry')

  await cache.fetch(req('d', answering({ 'cache-control': 'max-age=60', age: '20' })))
  await cache.whenIdle() // the store has landed before the clock moves on
  clock += 5_000
  const aged = await cache.fetch(req('d', answering({})))
  t.equal(aged.cacheStatus, 'HIT')
  t.equal(aged.ageS, 25, 'age = ION\'s Age + the time spent here')
})

t.test('a lookup that read the driver before the leader stored the entry does not call ION again', async t => {
  // The second request's read reaches the driver first (empty) but its answer comes back only after the leader has
  // fetched, stored and released its flight, as with a slow Redis round trip. Gated by promises, not by time.
  const inner = createMemoryDriver({ maxBytes: 1 << 20 })
  let releaseRead!: () => void
  const readHeld = new Promise<void>(resolve => { releaseRead = resolve })
  let reads = 0
  const driver: CacheDriver = {
    ...inner,
    name: 'late-reads',
    async get (key) {
      const read = ++reads
      const snapshot = await inner.get(key)
      if (read === 2) await readHeld
      return snapshot
    },
  }
  const cache = createResponseCache({ driver, staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000 })
  const origin = originCounting()
  // Both look up before either has a flight; the second read is the one held.
  const first = cache.fetch(request(origin))
  const second = cache.fetch(request(origin))
  const leader = await first
  t.equal(leader.cacheStatus, 'MISS')
  t.ok(await inner.get('k'), 'the leader stored the entry')
  // The leader's flight is released once its store settled: let those callbacks run.
  await new Promise(resolve => setImmediate(resolve))
  releaseRead()
  const late = await second
  t.equal(origin.calls(), 1, `ION called once (saw ${origin.calls()})`)
  t.equal(late.cacheStatus, 'HIT', `the late lookup reads the stored entry (${late.cacheStatus}, ${reads} reads)`)
})

t.test('the caller says what may be stored: asked once, on a 200 the HTTP rules would store, by the request that called ION', async t => {
  const cache = createResponseCache({ driver: createMemoryDriver({ maxBytes: 1 << 20 }), staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000 })
  const origin = originCounting()
  const asked: string[] = []
  const refusing = (): CacheRequest => ({ ...request(origin), storable: body => { asked.push(body.toString()); return false } })
  const answers = await Promise.all([cache.fetch(refusing()), cache.fetch(refusing())])
  t.same(answers.map(a => a.cacheStatus), ['MISS', 'MISS'])
  t.same(asked, ['{"call":1}'], `asked once for the one ION answer (asked ${asked.length} times)`)
  const again = await cache.fetch(refusing())
  t.equal(again.cacheStatus, 'MISS', 'the refused answer was not stored')
  t.equal(origin.calls(), 2, `saw ${origin.calls()} origin calls`)
  const stored = await cache.fetch({ ...request(origin), storable: () => true })
  await cache.whenIdle()
  t.equal(stored.cacheStatus, 'MISS')
  t.equal((await cache.fetch(request(origin))).cacheStatus, 'HIT', 'an answer the caller allows is stored')
})

t.test('a body that breaks while it is read becomes the origin\'s own coded error', async t => {
  const cache = createResponseCache({ driver: createMemoryDriver({ maxBytes: 1 << 20 }), staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000 })
  const broken = Object.assign(new Error('body timeout'), { code: 'UND_ERR_BODY_TIMEOUT' })
  const coded = new Error('mapped by the origin')
  const failed = await cache.fetch({
    ...request(originCounting()),
    fetchOrigin: async () => ({
      statusCode: 200,
      upstreamHeaders: {},
      clientHeaders: {},
      body: (async function * () { yield Buffer.from('{'); throw broken })(),
      bodyError: err => (err === broken ? coded : new Error('other')),
      discard () {},
    }),
  }).catch((err: unknown) => err)
  t.equal(failed, coded)
})

t.test('freshAnswer: a fresh entry at once, counted as a hit; nothing while stale, in flight, or from a driver that only answers by promise', async t => {
  let nowMs = 1_000_000
  const hits: string[] = []
  const driver = createMemoryDriver({ maxBytes: 1 << 20, now: () => nowMs })
  const cache = createResponseCache({ driver, staleS: 60, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000, now: () => nowMs, events: { hit: api => hits.push(api) } })
  const answers = gate()
  const origin = originCounting(answers)
  t.equal(cache.freshAnswer('k', 'm3', false), undefined, 'nothing stored yet')
  const first = cache.fetch(request(origin))
  t.equal(cache.freshAnswer('k', 'm3', false), undefined, 'a call to ION in flight: fetch joins it instead')
  answers.open()
  t.equal((await first).cacheStatus, 'MISS')
  await cache.whenIdle()

  nowMs += 10_000
  const fresh = cache.freshAnswer('k', 'm3', false)
  t.notOk(fresh instanceof Promise, 'answered without a promise')
  t.same([fresh?.cacheStatus, fresh?.ageS, fresh?.body.toString()], ['HIT', 10, '{"call":1}'])
  t.same(cache.freshAnswer('k', 'm3', true)?.cacheStatus, 'HIT', 'HEAD too')
  t.same(hits, ['m3', 'm3'], 'each counted as a hit, as fetch counts them')
  t.equal(cache.hitRatio(), 2 / 3)

  nowMs += 60_000
  t.equal(cache.freshAnswer('k', 'm3', false), undefined, 'stale: fetch decides (revalidate, or stale on error)')
  t.equal(origin.calls(), 1)

  const { peek: _peek, ...promiseOnly } = createMemoryDriver({ maxBytes: 1 << 20 })
  const remote = createResponseCache({ driver: promiseOnly, staleS: 0, maxEntryBytes: 1 << 20, waitTimeoutMs: 1000 })
  await remote.fetch(request(originCounting()))
  await remote.whenIdle()
  t.equal((await remote.fetch(request(originCounting()))).cacheStatus, 'HIT', 'stored')
  t.equal(remote.freshAnswer('k', 'm3', false), undefined, 'but a driver without peek answers through fetch only')
})
