/**
 * `npm run bench -- --growth`: how the gateway's costs grow with what it is given. Four tables: answer size (HIT and
 * MISS), cache entries (HIT cost and memory per entry), connections at a fixed offered load (latency), and distinct
 * clients in the rate limiter (memory per client). Each should grow no faster than its input.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import {
  closedLoop, commit, cpuSeconds, root, fill, ITEM, measure, measureAtRate, rssBytes, settings, startEmulator, startGateway,
  wrkRandomScript, type Emulator, type Row, type Target,
} from './harness.ts'

const GET = '/m3api-rest/v2/execute/MMS200MI/GetItmBasic'
const LIST = '/m3api-rest/v2/execute/MMS200MI/LstItmByItm'
/** Items added to the emulator for the large answers: numbered so `LstItmByItm?ITNO=<from>` lists only the tail. */
const EXTRA_ITEMS = 8000
/** Fewer connections for the answer sizes: 50 MISSes of 1 MB in flight queue in the emulator for seconds. */
const SIZE_CONNECTIONS = 10
const itemNumber = (i: number) => `Z${String(i).padStart(5, '0')}`

async function bytesOf (url: string): Promise<number> {
  const res = await request(url)
  const body = Buffer.from(await res.body.arrayBuffer())
  if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}: ${body.toString().slice(0, 200)}`)
  return body.length
}

/** Adds EXTRA_ITEMS items to the emulator (M3 writes are GETs), each with a 30-character name. */
async function addItems (emulator: Emulator): Promise<void> {
  const base = `/${emulator.ionapi.ti}/M3/m3api-rest/v2/execute/MMS200MI/AddItmBasic`
  const failed = await fill(emulator.url, EXTRA_ITEMS, i => `${base}?ITNO=${itemNumber(i)}&ITDS=${encodeURIComponent(`Benchmark item ${String(i).padStart(14, '0')}`)}&ITTY=FIN&UNMS=PCS`, 16,
    () => ({ authorization: `Bearer ${emulator.token}` }))
  if (failed) throw new Error(`${failed} AddItmBasic calls failed`)
}

/** A path listing the last `rows` of the added items (maxrecs bounds it, the ITNO bound keeps the emulator's sort small). */
const listPath = (rows: number) => `${LIST}?ITNO=${itemNumber(EXTRA_ITEMS - rows)}&maxrecs=${rows}`

interface SizeRow { label: string, bytes: number, hit: Row, miss: Row }
interface CacheRow { entries: number, hit: Row, rssBytesPerEntry: number, heapBytesPerEntry: number }
interface LatencyRow { connections: number, at: Row }
interface ClientRow { clients: number, rssBytesPerClient: number, heapBytesPerClient: number }

async function bodySizes (emulator: Emulator, durationS: number): Promise<SizeRow[]> {
  await addItems(emulator)
  const tenantM3 = `${emulator.url}/${emulator.ionapi.ti}/M3`
  const headers = { authorization: `Bearer ${emulator.token}` }
  // Bytes per listed row, from a 1,000-row list, to size the 64 KB and 1 MB answers.
  const perRow = (await request(`${tenantM3}${listPath(1000)}`, { headers }).then(async r => Buffer.from(await r.body.arrayBuffer()).length)) / 1000
  const sizes: Array<[string, string]> = [
    ['1 KB', ITEM],
    ['64 KB', listPath(Math.round(64_000 / perRow))],
    ['1 MB', listPath(Math.min(EXTRA_ITEMS, Math.round(1_000_000 / perRow)))],
  ]
  const hitGw = await startGateway(emulator, 'memory')
  const missGw = await startGateway(emulator, 'none')
  // Fresh gateways: a longer warm-up than each row's own second, so the first row does not pay for the JIT.
  for (const gw of [hitGw, missGw]) await closedLoop(`${gw.url}/m3${ITEM}`, 3, { connections: SIZE_CONNECTIONS })
  const out: SizeRow[] = []
  for (const [label, path] of sizes) {
    const bytes = await bytesOf(`${hitGw.url}/m3${path}`)
    const hit = await measure(`HIT ${label} (${bytes} B)`, hitGw.pid, `${hitGw.url}/m3${path}`, durationS, { connections: SIZE_CONNECTIONS })
    const miss = await measure(`MISS ${label} (${bytes} B)`, missGw.pid, `${missGw.url}/m3${path}`, durationS, { connections: SIZE_CONNECTIONS })
    out.push({ label, bytes, hit, miss })
  }
  hitGw.stop()
  missGw.stop()
  return out
}

async function memoryNow (target: Target): Promise<{ rss: number, heap: number }> {
  const m = await target.memory()
  return { rss: rssBytes(target.pid), heap: m.heapUsed }
}

async function cacheSizes (emulator: Emulator, durationS: number, largest: number): Promise<CacheRow[]> {
  // 1 M entries of ~1.3 KB need ~1.6 GB: the bound is raised (default 64 MiB), TTL long enough to outlive the run.
  const gw = await startGateway(emulator, 'memory', { CACHE_MAX_BYTES: String(4 * 1024 ** 3), CACHE_TTL_M3: '3600' }, { nodeFlags: ['--max-old-space-size=4096'] })
  // Distinct keys, identical answers: the emulator ignores an input field it does not know (`n`).
  const keyed = (i: number) => `/m3${ITEM}&n=${i}`
  await fill(gw.url, 1000, i => `/m3${GET}?ITNO=A101&n=${i}`)
  const base = await memoryNow(gw)
  const out: CacheRow[] = []
  let filled = 0
  for (const entries of new Set([1000, largest / 10, largest])) {
    const started = performance.now()
    const failed = await fill(gw.url, entries - filled, i => keyed(filled + i + 1))
    if (failed) throw new Error(`${failed} fill requests failed`)
    filled = entries
    const mem = await memoryNow(gw)
    process.stdout.write(`  filled ${entries} entries (${Math.round((performance.now() - started) / 1000)} s): RSS ${Math.round(mem.rss / 1048576)} MiB, heap ${Math.round(mem.heap / 1048576)} MiB\n`)
    const hit = await measure(`HIT over ${entries} entries (random key)`, gw.pid, `${gw.url}/m3${ITEM}`, durationS, { script: wrkRandomScript(`/m3${ITEM}&n=`, entries) })
    out.push({ entries, hit, rssBytesPerEntry: Math.round((mem.rss - base.rss) / entries), heapBytesPerEntry: Math.round((mem.heap - base.heap) / entries) })
  }
  gw.stop()
  return out
}

async function concurrency (emulator: Emulator, durationS: number, rate: number): Promise<LatencyRow[]> {
  const gw = await startGateway(emulator, 'memory')
  const out: LatencyRow[] = []
  for (const connections of [1, 50, 500]) {
    const at = await measureAtRate(`HIT at ${rate} req/s over ${connections} connection(s)`, gw.pid, `${gw.url}/m3${ITEM}`, durationS, rate, { connections })
    out.push({ connections, at })
  }
  gw.stop()
  return out
}

/** Client i's address: 10.x.y.z, distinct for i < 2^24. */
const clientIp = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`

async function rateLimitClients (emulator: Emulator, largest: number): Promise<ClientRow[]> {
  // Behind a trusted proxy the client is the X-Forwarded-For address: one counter per address (the runner is the proxy).
  const gw = await startGateway(emulator, 'memory', { TRUST_PROXY: '127.0.0.1' })
  await fill(gw.url, 1000, () => `/m3${ITEM}`, 16, () => ({ 'x-forwarded-for': '192.0.2.1' }))
  const base = await memoryNow(gw)
  const out: ClientRow[] = []
  let seen = 0
  for (const clients of new Set([10, largest / 100, largest])) {
    const cpuBefore = cpuSeconds(gw.pid)
    const started = performance.now()
    const failed = await fill(gw.url, clients - seen, () => `/m3${ITEM}`, 64, i => ({ 'x-forwarded-for': clientIp(seen + i) }))
    if (failed) throw new Error(`${failed} requests failed`)
    const cpuUsPerReq = Math.round(((cpuSeconds(gw.pid) - cpuBefore) / (clients - seen)) * 1e6)
    seen = clients
    const mem = await memoryNow(gw)
    const r = { clients, rssBytesPerClient: Math.round((mem.rss - base.rss) / clients), heapBytesPerClient: Math.round((mem.heap - base.heap) / clients) }
    process.stdout.write(`  ${clients} distinct clients (${Math.round((performance.now() - started) / 1000)} s, ${cpuUsPerReq} µs CPU/req while adding): RSS ${Math.round(mem.rss / 1048576)} MiB (${r.rssBytesPerClient} B/client), heap ${Math.round(mem.heap / 1048576)} MiB (${r.heapBytesPerClient} B/client)\n`)
    out.push(r)
  }
  gw.stop()
  return out
}

const growth = (a: number | undefined, b: number | undefined) => (a && b ? Math.round((b / a) * 100) / 100 : undefined)

/** `largest`: the most cache entries and rate-limit clients (1 M; `--quick` 100 k). */
export async function runGrowth ({ durationS, largest = 1_000_000, rate = 2000 }: { durationS: number, largest?: number, rate?: number }): Promise<void> {
  const started = performance.now()
  process.stdout.write(`ion-gateway growth: ${durationS} s per row, ${settings.connections} connections unless stated, ${cpus().length} cores, node ${process.version}\n`)
  const emulator = await startEmulator()
  process.stdout.write('answer size\n')
  const sizes = await bodySizes(emulator, durationS)
  process.stdout.write('cache entries\n')
  const cache = await cacheSizes(emulator, durationS, largest)
  process.stdout.write('connections at a fixed offered load\n')
  const latency = await concurrency(emulator, durationS, rate)
  process.stdout.write('distinct clients in the rate limiter\n')
  const clients = await rateLimitClients(emulator, largest)

  const first = sizes[0]
  const last = sizes.at(-1)
  const verdicts = {
    // Input × (1 MB / 1 KB bytes) against CPU per request ×: no faster means the CPU factor is at most the bytes factor.
    bodyBytesFactor: growth(first?.bytes, last?.bytes),
    hitCpuFactor: growth(first?.hit.cpuUsPerReq, last?.hit.cpuUsPerReq),
    missCpuFactor: growth(first?.miss.cpuUsPerReq, last?.miss.cpuUsPerReq),
    cacheEntriesFactor: largest / 1000,
    cacheHitCpuFactor: growth(cache[0]?.hit.cpuUsPerReq, cache.at(-1)?.hit.cpuUsPerReq),
    cacheRssPerEntryFactor: growth(cache[1]?.rssBytesPerEntry, cache.at(-1)?.rssBytesPerEntry),
    p99Factor1To500Connections: growth(latency[0]?.at.p99Ms, latency.at(-1)?.at.p99Ms),
    clientsRssPerClientFactor: growth(clients[1]?.rssBytesPerClient, clients.at(-1)?.rssBytesPerClient),
  }
  const summary = { date: new Date().toISOString(), commit: commit(), node: process.version, cores: cpus().length, durationS, fixedRate: rate, sizes, cache, latency, clients, verdicts, seconds: Math.round((performance.now() - started) / 1000) }

  process.stdout.write('\nanswer size     HIT req/s  HIT µs CPU/req  MISS req/s  MISS µs CPU/req\n')
  for (const s of sizes) process.stdout.write(`${`${s.label} (${s.bytes} B)`.padEnd(22)}${String(s.hit.reqPerS).padEnd(11)}${String(s.hit.cpuUsPerReq).padEnd(16)}${String(s.miss.reqPerS).padEnd(12)}${s.miss.cpuUsPerReq}\n`)
  process.stdout.write('\ncache entries   HIT req/s  HIT µs CPU/req  RSS B/entry  heap B/entry\n')
  for (const c of cache) process.stdout.write(`${String(c.entries).padEnd(16)}${String(c.hit.reqPerS).padEnd(11)}${String(c.hit.cpuUsPerReq).padEnd(16)}${String(c.rssBytesPerEntry).padEnd(13)}${c.heapBytesPerEntry}\n`)
  process.stdout.write(`\nconnections at ${rate} req/s   p50 ms  p99 ms  µs CPU/req\n`)
  for (const l of latency) process.stdout.write(`${String(l.connections).padEnd(28)}${String(l.at.p50Ms).padEnd(8)}${String(l.at.p99Ms).padEnd(8)}${l.at.cpuUsPerReq}\n`)
  process.stdout.write('\nrate-limit clients   RSS B/client  heap B/client\n')
  for (const c of clients) process.stdout.write(`${String(c.clients).padEnd(21)}${String(c.rssBytesPerClient).padEnd(14)}${c.heapBytesPerClient}\n`)
  process.stdout.write(`\ngrowth factors: ${JSON.stringify(verdicts)}\n`)
  process.stdout.write(`growth run took ${summary.seconds} s\n`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/growth.json'), JSON.stringify(summary, null, 2) + '\n')
  process.stdout.write('written to bench/results/growth.json\n')
}
