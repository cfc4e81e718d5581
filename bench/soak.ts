/**
 * `npm run bench -- --soak <seconds>`: a mixed load (M3 HITs and MISSes, LN and IDM pass-through, a few M3 writes)
 * at half the gateway's measured capacity, Redis cache driver, for the given time. Every window (default a minute):
 * the gateway's RSS and heap (after a full GC), p99 (as the client saw it, and the bucket of the gateway's own
 * request histogram that holds its 99th percentile) and failed requests. Flat: after the first window, RSS, heap and
 * p99 stay within 10 % of their median, and no request fails.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { closedLoop, commit, rssBytes, root, settings, startEmulator, startGateway, startRedis } from './harness.ts'

const M3 = '/m3/m3api-rest/v2/execute'
/**
 * A wrk script sending the mix, out of every 20 requests: 12 M3 cached reads (20 items, 10 customers), 3 M3 reads
 * never seen before (`&miss=<n>`), 2 LN, 2 IDM, 1 M3 write; with `delayMs`, each connection pauses that long before
 * each request (without, a closed loop). Run `run` numbers its requests from run * 10^9: the never-seen reads stay
 * unseen across runs (one wrk per window).
 */
function mixScript (run: number, delayMs = 0): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ion-gateway-soak-')), 'mix.lua')
  writeFileSync(file, `local M3 = ${JSON.stringify(M3)}
local n = ${run} * 1000000000
request = function()
  n = n + 1
  local item = "A" .. (100 + n % 20)
  local k = n % 20
  local path
  if k <= 2 then path = M3 .. "/MMS200MI/GetItmBasic?ITNO=" .. item .. "&miss=" .. string.format("%d", n)
  elseif k <= 4 then path = "/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$top=" .. (1 + n % 5)
  elseif k <= 6 then path = "/idm/api/items/search?$query=/MDS_File&$limit=" .. (1 + n % 5)
  elseif k == 7 then path = M3 .. "/MMS200MI/UpdItmBasic?ITNO=" .. item .. "&NEWE=" .. (n % 1000) / 8
  elseif n % 2 == 1 then path = M3 .. "/MMS200MI/GetItmBasic?ITNO=" .. item
  else path = M3 .. "/CRS610MI/GetBasicData?CUNO=" .. (10001 + n % 10) end
  return wrk.format("GET", path)
end
${delayMs > 0 ? `delay = function() return ${delayMs.toFixed(3)} end\n` : ''}`)
  return file
}

interface Window { window: number, reqPerS: number, p99Ms: number, gatewayP99Ms: number, failed: number, rssMiB: number, heapMiB: number }

/** The gateway's request-duration histogram, every series summed: cumulative count per upper bound (seconds). */
async function durationBuckets (gatewayUrl: string): Promise<Map<number, number>> {
  const res = await request(`${gatewayUrl}/metrics`)
  const text = await res.body.text()
  const counts = new Map<number, number>()
  for (const m of text.matchAll(/^\w*http_request_duration_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/gm)) {
    const le = m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1])
    counts.set(le, (counts.get(le) ?? 0) + Number(m[2]))
  }
  return counts
}

/** The bucket bound (ms) under which 99 % of the requests between two readings took, as the gateway timed them. */
function p99BoundMs (before: Map<number, number>, after: Map<number, number>): number {
  const delta = (le: number): number => (after.get(le) ?? 0) - (before.get(le) ?? 0)
  const total = delta(Number.POSITIVE_INFINITY)
  for (const le of [...after.keys()].sort((a, b) => a - b)) if (delta(le) >= 0.99 * total) return le * 1000
  return Number.POSITIVE_INFINITY
}

export async function runSoak ({ durationS, windowS }: { durationS: number, windowS: number }): Promise<void> {
  if (!(durationS > 0)) throw new Error('--soak needs a duration in seconds')
  process.stdout.write(`ion-gateway soak: ${durationS} s, a row every ${windowS} s, ${cpus().length} cores, node ${process.version}\n`)
  const emulator = await startEmulator()
  const redis = await startRedis()
  const gw = await startGateway(emulator, 'redis', { REDIS_URL: redis.url })
  // Capacity on this mix (closed loop, 5 s; it also fills the cache with the mix's cached reads), then half of it
  // offered.
  const capacity = await closedLoop(`${gw.url}/`, 5, { script: mixScript(1) })
  if (capacity.errors + capacity.non2xx > 0) throw new Error(`the mix failed ${capacity.errors} times and answered ${capacity.non2xx} errors`)
  const rate = Math.max(100, Math.round(capacity.reqPerS / 2))
  process.stdout.write(`  capacity on the mix ${capacity.reqPerS} req/s (errors ${capacity.errors + capacity.non2xx}): offering ${rate} req/s\n`)
  // The load: wrk (C, as the closed-loop rows), every connection waiting `delay` ms between its answer and its next
  // request, so the offered rate is about connections / (delay + latency). A Node client pacing itself took 40 % of
  // the load core, shared with the emulator and Redis: its own delays, not the gateway's, were its p99 (100-700 ms,
  // while the gateway timed its 99th percentile at 25 ms or less).
  const connections = settings.connections
  let delayMs = Math.max(0, (connections * 1000) / rate - 1)
  const probe = await closedLoop(`${gw.url}/`, 5, { script: mixScript(2, delayMs) })
  // One correction from the probe: the latency per cycle it saw, then the delay that leaves the target rate.
  const cycleMs = (connections * 1000) / Math.max(1, probe.reqPerS)
  delayMs = Math.max(0, (connections * 1000) / rate - (cycleMs - delayMs))
  process.stdout.write(`  ${connections} connections, ${Math.round(delayMs * 10) / 10} ms between an answer and the next request (probe: ${probe.reqPerS} req/s)\n`)
  const windows: Window[] = []
  const total = { requests: 0, errors: 0, non2xx: 0 }
  let buckets = await durationBuckets(gw.url)
  for (let index = 0; index * windowS < durationS; index++) {
    const w = await closedLoop(`${gw.url}/`, Math.min(windowS, durationS - index * windowS), { script: mixScript(index + 3, delayMs) })
    total.requests += w.requests
    total.errors += w.errors
    total.non2xx += w.non2xx
    const now = await durationBuckets(gw.url)
    const gatewayP99Ms = p99BoundMs(buckets, now)
    buckets = now
    const m = await gw.memory()
    const row = { window: index + 1, reqPerS: w.reqPerS, p99Ms: w.p99Ms, gatewayP99Ms, failed: w.errors + w.non2xx, rssMiB: Math.round(rssBytes(gw.pid) / 104857.6) / 10, heapMiB: Math.round(m.heapUsed / 104857.6) / 10 }
    windows.push(row)
    process.stdout.write(`  window ${row.window}: ${row.reqPerS} req/s, p99 ${row.p99Ms} ms (in the gateway ≤ ${row.gatewayP99Ms} ms), failed ${row.failed}, RSS ${row.rssMiB} MiB, heap ${row.heapMiB} MiB\n`)
  }
  gw.stop()
  redis.stop()

  const later = windows.slice(1)
  // Flat: every window after the first within 10 % of their median (a base taken from one window would pass
  // anything at or below it, however uneven).
  const flat = (pick: (w: Window) => number) => {
    const values = later.map(pick).sort((a, b) => a - b)
    const base = values.length ? Math.round((values[(values.length - 1) >> 1]! + values[values.length >> 1]!) * 50) / 100 : Number.NaN
    const worst = values.at(-1) ?? Number.NaN
    const least = values[0] ?? Number.NaN
    return { base, least, worst, withinTenPercent: values.length > 0 && worst <= base * 1.1 && least >= base * 0.9 }
  }
  const failed = total.errors + total.non2xx
  const verdicts = { rss: flat(w => w.rssMiB), heap: flat(w => w.heapMiB), p99: flat(w => w.p99Ms), failedRequests: failed, flat: false }
  verdicts.flat = verdicts.rss.withinTenPercent && verdicts.heap.withinTenPercent && verdicts.p99.withinTenPercent && failed === 0
  const word = (ok: boolean) => (ok ? 'flat' : 'NOT flat')
  process.stdout.write('\nwindow  req/s   p99 ms  gw p99 ≤  failed  RSS MiB  heap MiB\n')
  for (const w of windows) process.stdout.write(`${String(w.window).padEnd(8)}${String(w.reqPerS).padEnd(8)}${String(w.p99Ms).padEnd(8)}${String(w.gatewayP99Ms).padEnd(10)}${String(w.failed).padEnd(8)}${String(w.rssMiB).padEnd(9)}${w.heapMiB}\n`)
  process.stdout.write(`\nRSS ${word(verdicts.rss.withinTenPercent)} (median ${verdicts.rss.base}, ${verdicts.rss.least}-${verdicts.rss.worst} MiB), heap ${word(verdicts.heap.withinTenPercent)} (median ${verdicts.heap.base}, ${verdicts.heap.least}-${verdicts.heap.worst} MiB), p99 ${word(verdicts.p99.withinTenPercent)} (median ${verdicts.p99.base}, ${verdicts.p99.least}-${verdicts.p99.worst} ms), failed requests ${failed}: ${verdicts.flat ? 'PASS' : 'FAIL'}\n`)
  const summary = { date: new Date().toISOString(), commit: commit(), node: process.version, cores: cpus().length, durationS, windowS, capacityReqPerS: capacity.reqPerS, offeredReqPerS: rate, total, windows, verdicts }
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/soak.json'), JSON.stringify(summary, null, 2) + '\n')
  process.stdout.write('written to bench/results/soak.json\n')
}
