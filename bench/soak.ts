/**
 * `npm run bench -- --soak <seconds>`: a mixed load (M3 HITs and MISSes, LN and IDM pass-through, a few M3 writes)
 * at half the gateway's measured capacity, Redis cache driver, for the given time. Every window (default a minute):
 * the gateway's RSS and heap (after a full GC), p99 and failed requests. Flat: after the first window, RSS, heap and
 * p99 stay within 10 % of the second window's, and no request fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { closedLoop, commit, rssBytes, root, runPaced, startEmulator, startGateway, startRedis, wrkPathsScript } from './harness.ts'

const M3 = '/m3/m3api-rest/v2/execute'
const items = Array.from({ length: 20 }, (_x, i) => `A${100 + i}`)

/** The n-th request of the mix, out of every 20: 12 M3 cached reads, 3 M3 reads never seen before, 2 LN, 2 IDM, 1 write. */
function mixPath (n: number): string {
  const item = items[n % items.length] as string
  switch (n % 20) {
    case 0: case 1: case 2: return `${M3}/MMS200MI/GetItmBasic?ITNO=${item}&miss=${n}`
    case 3: case 4: return `/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$top=${1 + (n % 5)}`
    case 5: case 6: return `/idm/api/items/search?$query=/MDS_File&$limit=${1 + (n % 5)}`
    case 7: return `${M3}/MMS200MI/UpdItmBasic?ITNO=${item}&NEWE=${(n % 1000) / 8}`
    default: return n % 2 ? `${M3}/MMS200MI/GetItmBasic?ITNO=${item}` : `${M3}/CRS610MI/GetBasicData?CUNO=${10001 + (n % 10)}`
  }
}

interface Window { window: number, reqPerS: number, p99Ms: number, failed: number, rssMiB: number, heapMiB: number }

export async function runSoak ({ durationS, windowS }: { durationS: number, windowS: number }): Promise<void> {
  if (!(durationS > 0)) throw new Error('--soak needs a duration in seconds')
  process.stdout.write(`ion-gateway soak: ${durationS} s, a row every ${windowS} s, ${cpus().length} cores, node ${process.version}\n`)
  const emulator = await startEmulator()
  const redis = await startRedis()
  const gw = await startGateway(emulator, 'redis', { REDIS_URL: redis.url })
  for (let n = 0; n < 20; n++) {
    const res = await request(`${gw.url}${mixPath(n)}`)
    await res.body.dump()
    if (res.statusCode >= 400) throw new Error(`${mixPath(n)} answered ${res.statusCode}`)
  }
  // Capacity on this mix (closed loop, wrk cycling through 200 requests of it), then half of it offered.
  const capacity = await closedLoop(`${gw.url}/`, 5, { script: wrkPathsScript(Array.from({ length: 200 }, (_x, n) => mixPath(n + 1_000_000))) })
  const rate = Math.max(100, Math.round(capacity.reqPerS / 2))
  process.stdout.write(`  capacity on the mix ${capacity.reqPerS} req/s (errors ${capacity.errors + capacity.non2xx}): offering ${rate} req/s\n`)
  const windows: Window[] = []
  const total = await runPaced(`${gw.url}/`, durationS, rate, {
    pick: n => mixPath(n + 2_000_000),
    windowS,
    onWindow: async (index, w) => {
      const m = await gw.memory()
      const row = { window: index + 1, reqPerS: w.reqPerS, p99Ms: w.p99Ms, failed: w.errors + w.non2xx, rssMiB: Math.round(rssBytes(gw.pid) / 104857.6) / 10, heapMiB: Math.round(m.heapUsed / 104857.6) / 10 }
      windows.push(row)
      process.stdout.write(`  window ${row.window}: ${row.reqPerS} req/s, p99 ${row.p99Ms} ms, failed ${row.failed}, RSS ${row.rssMiB} MiB, heap ${row.heapMiB} MiB\n`)
    },
  })
  gw.stop()
  redis.stop()

  const later = windows.slice(1)
  const flat = (pick: (w: Window) => number) => {
    const base = later[0] ? pick(later[0]) : Number.NaN
    const worst = Math.max(...later.map(pick))
    return { base, worst, withinTenPercent: later.length > 0 && worst <= base * 1.1 }
  }
  const failed = total.errors + total.non2xx
  const verdicts = { rss: flat(w => w.rssMiB), heap: flat(w => w.heapMiB), p99: flat(w => w.p99Ms), failedRequests: failed, flat: false }
  verdicts.flat = verdicts.rss.withinTenPercent && verdicts.heap.withinTenPercent && verdicts.p99.withinTenPercent && failed === 0
  const word = (ok: boolean) => (ok ? 'flat' : 'NOT flat')
  process.stdout.write('\nwindow  req/s   p99 ms  failed  RSS MiB  heap MiB\n')
  for (const w of windows) process.stdout.write(`${String(w.window).padEnd(8)}${String(w.reqPerS).padEnd(8)}${String(w.p99Ms).padEnd(8)}${String(w.failed).padEnd(8)}${String(w.rssMiB).padEnd(9)}${w.heapMiB}\n`)
  process.stdout.write(`\nRSS ${word(verdicts.rss.withinTenPercent)} (${verdicts.rss.base} -> max ${verdicts.rss.worst} MiB), heap ${word(verdicts.heap.withinTenPercent)} (${verdicts.heap.base} -> max ${verdicts.heap.worst} MiB), p99 ${word(verdicts.p99.withinTenPercent)} (${verdicts.p99.base} -> max ${verdicts.p99.worst} ms), failed requests ${failed}: ${verdicts.flat ? 'PASS' : 'FAIL'}\n`)
  const summary = { date: new Date().toISOString(), commit: commit(), node: process.version, cores: cpus().length, durationS, windowS, capacityReqPerS: capacity.reqPerS, offeredReqPerS: rate, total, windows, verdicts }
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/soak.json'), JSON.stringify(summary, null, 2) + '\n')
  process.stdout.write('written to bench/results/soak.json\n')
}
