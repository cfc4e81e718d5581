import t from 'tap'
import { createMemoryDriver } from '../../src/cache/drivers/memory.ts'
import { ENTRY_OVERHEAD_BYTES, stringSizeBytes, type CacheEntry } from '../../src/cache/entry.ts'

/** Heap plus ArrayBuffer bytes still reachable after a full collection. */
function heldBytes (): number {
  if (typeof global.gc !== 'function') throw new Error('tap runs with --expose-gc')
  global.gc()
  global.gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** An entry shaped like a stored ION answer; the body is concatenated like the cache reads it (from Node's Buffer pool). */
function entryOf (i: number, bodyBytes: number): CacheEntry {
  const now = Date.now()
  const body = Buffer.concat([Buffer.from('{'), Buffer.alloc(Math.max(0, bodyBytes - 1), 0x61 + (i % 26))])
  return {
    statusCode: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(body.length),
      date: new Date(now).toUTCString(),
      'x-request-id': `req-${i}`,
    },
    body,
    storedAtMs: now,
    freshUntilMs: now + 60_000 + i,
    staleUntilMs: now + 120_000 + i,
  }
}

// Large enough that what the test framework itself allocates meanwhile (a few hundred KB) is not mistaken for the cache.
const MAX_BYTES = 16 * 1024 * 1024
// What the bound promises: the memory actually held by the cache (its keys, headers, bookkeeping and bodies) stays
// within this multiple of CACHE_MAX_BYTES.
const HELD_MULTIPLE = 1.25

const shapes = [
  { name: '8 KiB paths, tiny bodies', keyBytes: 8192, bodyBytes: 16, count: 8000 },
  { name: 'short paths, empty bodies (bookkeeping dominates)', keyBytes: 40, bodyBytes: 0, count: 80_000 },
  { name: '2.8 KB bodies sliced from the shared Buffer pool (two to an 8 KiB slab)', keyBytes: 60, bodyBytes: 2800, count: 20_000 },
]

for (const shape of shapes) {
  t.test(`memory driver: ${shape.name} stay within the bound, counted and held`, async t => {
    const keyOf = (i: number) => `ln:GET:${JSON.stringify([`/p/${String(i).padStart(8, '0')}`.padEnd(shape.keyBytes, 'x'), 'f'.repeat(32)])}`
    // A first, small run compiles the code involved: compiled code lives on the heap too and is not the cache's.
    const warmUp = createMemoryDriver({ maxBytes: MAX_BYTES / 16 })
    for (let i = 0; i < shape.count / 8; i++) await warmUp.set(keyOf(i), entryOf(i, shape.bodyBytes), 600_000)
    await warmUp.close()

    const before = heldBytes()
    const driver = createMemoryDriver({ maxBytes: MAX_BYTES })
    let largest = 0
    for (let i = 0; i < shape.count; i++) {
      await driver.set(keyOf(i), entryOf(i, shape.bodyBytes), 600_000)
      largest = Math.max(largest, driver.sizeBytes())
    }
    const held = heldBytes() - before
    t.ok(largest <= MAX_BYTES, `sizeBytes() peaked at ${largest} for a bound of ${MAX_BYTES}`)
    t.ok(held <= HELD_MULTIPLE * MAX_BYTES,
      `${shape.count} entries offered: ${(held / 1048576).toFixed(2)} MiB held for a ${MAX_BYTES / 1048576} MiB bound ` +
      `(at most ${HELD_MULTIPLE}x allowed; sizeBytes() says ${(driver.sizeBytes() / 1048576).toFixed(2)} MiB)`)
    t.ok(driver.sizeBytes() > MAX_BYTES / 2, `it did fill up (${driver.sizeBytes()} bytes)`)
    await driver.close()
  })
}

t.test('the bound charges the key, the headers and the per-entry bookkeeping, not only the body', async t => {
  const driver = createMemoryDriver({ maxBytes: 1 << 20 })
  const key = `m3:GET:${JSON.stringify(['/x'.padEnd(14_000, 'x'), 'f'.repeat(32)])}`
  const entry = entryOf(1, 10)
  await driver.set(key, entry, 60_000)
  const headerBytes = Object.entries(entry.headers).reduce((n, [name, value]) => n + name.length + String(value).length, 0)
  t.ok(driver.sizeBytes() >= key.length + 10 + headerBytes + ENTRY_OVERHEAD_BYTES, `one entry with a 14 KB key charged ${driver.sizeBytes()} bytes`)
  t.equal(stringSizeBytes('ab'), stringSizeBytes('é\u00ff'), 'Latin-1 text is one byte a character')
  t.equal(stringSizeBytes('€€') - stringSizeBytes('ab'), 2, 'other text two')
  await driver.close()
})
