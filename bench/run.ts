/**
 * `npm run bench [-- --quick]`: measures, in one run on this machine, the emulator directly, a bare Fastify route,
 * the gateway's cache HIT (memory and Redis) and MISS paths, a bare @fastify/http-proxy, Express 5 with
 * http-proxy-middleware and (when installed) nginx, plus coalescing, token economy and instructions per request
 * under callgrind. `--growth` and `--soak <s>` run the growth tables and the soak instead (bench/growth.ts,
 * bench/soak.ts). Prints a table and writes bench/results/latest.json. See bench/README.md.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { request } from 'undici'
import { CALLGRIND_TARGETS, callgrindAvailable, callgrindRows, type CallgrindTarget } from './callgrind.ts'
import { runGrowth } from './growth.ts'
import {
  build, children, commit, configure, freePort, ITEM, killChildren, LOAD_CPU, measure as measureFor, measureAtRate as measureAtRateFor,
  measureInTurns, root, settings, startEmulator, startGateway, startRedis, startTarget, TARGET_CPU, pin, type Contender, type Row,
} from './harness.ts'
import { runSoak } from './soak.ts'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    connections: { type: 'string', default: '50' },
    // Force autocannon even where wrk is installed.
    autocannon: { type: 'boolean', default: false },
    // Offered load of the fixed-rate HIT latency row.
    rate: { type: 'string', default: '2000' },
    // Pin the target under test to its own core (taskset), everything else to another.
    pin: { type: 'boolean', default: true },
    // Instructions per request under callgrind, alone (several minutes): updates bench/results/latest.json.
    callgrind: { type: 'boolean', default: false },
    // With --callgrind: only these targets (comma-separated: hit, miss, route, proxy); printed, not written.
    only: { type: 'string' },
    growth: { type: 'boolean', default: false },
    // Growth: the most cache entries and rate-limit clients (default 1 M, 100 k with --quick).
    largest: { type: 'string' },
    soak: { type: 'string' },
    // Soak report window, seconds.
    window: { type: 'string', default: '60' },
  },
  allowNegative: true,
})
const DURATION_S = values.quick ? 3 : 10
const RATE = Number(values.rate)
configure({ connections: Number(values.connections), pin: values.pin, autocannon: values.autocannon })
const CONNECTIONS = settings.connections
const TASKSET = settings.taskset
const WRK = settings.wrk
// V8 needs ~10,000 requests to finish compiling the gateway's hot path (bench/README.md, callgrind): every row
// warms up long enough for that, the fastest targets included, so no row counts compilation.
const WARMUP_S = values.quick ? 2 : 5
const measure = (name: string, pid: number, url: string, headers: Record<string, string> = {}) => measureFor(name, pid, url, DURATION_S, { headers, warmupS: WARMUP_S })
const measureAtRate = (name: string, pid: number, url: string, rate: number) => measureAtRateFor(name, pid, url, DURATION_S, rate)
// One-second turns: ten rounds in a full run, three with --quick.
const inTurns = (contenders: Contender[]) => measureInTurns(contenders, DURATION_S, { warmupS: WARMUP_S, slices: DURATION_S })

async function stats (emulatorUrl: string): Promise<{ calls: number, tokenRequests: { total: number } }> {
  const res = await request(`${emulatorUrl}/__emulator/stats`)
  return await res.body.json() as { calls: number, tokenRequests: { total: number } }
}

async function resetEmulator (emulatorUrl: string): Promise<void> {
  await request(`${emulatorUrl}/__emulator/reset`, { method: 'POST', body: '{}' }).then(r => r.body.dump())
}

async function nginxTarget (upstreamOrigin: string, tenant: string, token: string): Promise<{ port: number, pid: number, stop: () => void } | undefined> {
  const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(p => existsSync(p))
  if (!nginx) return undefined
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-nginx-'))
  const port = await freePort()
  mkdirSync(join(dir, 'cache'))
  mkdirSync(join(dir, 'tmp'))
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
daemon off;
${process.getuid?.() === 0 ? 'user root;' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  proxy_cache_path ${dir}/cache keys_zone=ion:10m;
  proxy_temp_path ${dir}/tmp;
  client_body_temp_path ${dir}/tmp;
  upstream ion { server ${new URL(upstreamOrigin).host}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /m3/ {
      proxy_pass http://ion/${tenant}/M3/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${token}";
    }
    location /cached/m3/ {
      proxy_pass http://ion/${tenant}/M3/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${token}";
      proxy_cache ion;
      proxy_cache_valid 200 5m;
      proxy_ignore_headers Cache-Control Expires Set-Cookie;
    }
  }
}
`)
  const args = ['-c', join(dir, 'nginx.conf'), '-p', dir]
  // Its worker inherits the affinity of the master.
  const child = TASKSET ? spawn(TASKSET, ['-c', TARGET_CPU, nginx, ...args], { stdio: 'ignore' }) : spawn(nginx, args, { stdio: 'ignore' })
  children.push(child)
  for (let i = 0; i < 50; i++) {
    const ok = await request(`http://127.0.0.1:${port}/m3${ITEM}`).then(r => { r.body.dump(); return true }, () => false)
    if (ok) return { port, pid: child.pid as number, stop: () => child.kill() }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  child.kill()
  return undefined
}

/** Set by Node on every answer (or by Fastify from the body): not part of what the bare route is told to send. */
const NODE_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'content-type', 'transfer-encoding'])

/**
 * The gateway's HIT answer (body bytes, content-type, and the other headers it sends), for the bare Fastify route
 * to answer the same.
 */
async function hitAnswer (gatewayUrl: string): Promise<{ file: string, contentType: string, bytes: number, headersFile: string, headerCount: number }> {
  await request(`${gatewayUrl}/m3${ITEM}`).then(res => res.body.dump())
  const res = await request(`${gatewayUrl}/m3${ITEM}`)
  const body = Buffer.from(await res.body.arrayBuffer())
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-bench-'))
  const file = join(dir, 'hit-body')
  writeFileSync(file, body)
  const headers = Object.fromEntries(Object.entries(res.headers).filter(([name]) => !NODE_HEADERS.has(name)))
  const headersFile = join(dir, 'hit-headers.json')
  writeFileSync(headersFile, JSON.stringify(headers))
  return { file, contentType: String(res.headers['content-type']), bytes: body.length, headersFile, headerCount: Object.keys(headers).length }
}

const round2 = (x: number) => Math.round(x * 100) / 100

async function main (): Promise<void> {
  build()
  if (values.growth) return await runGrowth({ durationS: values.quick ? 3 : 5, largest: values.largest ? Number(values.largest) : values.quick ? 100_000 : 1_000_000, rate: RATE })
  if (values.soak !== undefined) return await runSoak({ durationS: Number(values.soak), windowS: Number(values.window) })
  const onlyCallgrind = values.callgrind
  if (onlyCallgrind && !callgrindAvailable()) throw new Error('--callgrind needs valgrind (apt-get install valgrind)')
  process.stdout.write(`ion-gateway benchmark: ${DURATION_S} s per run, ${CONNECTIONS} connections, ${cpus().length} cores, node ${process.version}, load from ${WRK ? 'wrk' : 'autocannon'}, ${TASKSET ? `target pinned to core ${TARGET_CPU}, load and upstream on core ${LOAD_CPU}` : 'not pinned'}\n`)
  const emulator = await startEmulator()
  const { ionapi, token } = emulator
  const emulatorUrl = emulator.url
  const rows: Row[] = []
  const notes: string[] = []

  const hit = await startGateway(emulator, 'memory')
  const answer = await hitAnswer(hit.url)
  if (onlyCallgrind) {
    hit.stop()
    const only = values.only?.split(',').map(name => name.trim())
    const unknown = only?.filter(name => !(CALLGRIND_TARGETS as readonly string[]).includes(name))
    if (unknown?.length) throw new Error(`--only: unknown target ${unknown.join(', ')} (${CALLGRIND_TARGETS.join(', ')})`)
    const callgrind = await callgrindRows(emulator, answer.file, answer.contentType, only as CallgrindTarget[] | undefined)
    if (only) return
    // Alone, it updates the callgrind figures of the last full run's results.
    writeResults({ ...previousResults(), callgrind, callgrindDate: new Date().toISOString(), callgrindCommit: commit() })
    return
  }

  pin(emulator.target.pid, TARGET_CPU)
  rows.push(await measure('emulator direct', emulator.target.pid, `${emulatorUrl}/${ionapi.ti}/M3${ITEM}`, { authorization: `Bearer ${token}` }))
  pin(emulator.target.pid, LOAD_CPU)
  const bareRoute = await startTarget('bare-route', [answer.file, answer.contentType])
  // The same answer byte for byte, headers included: what sending them costs, apart from deciding them.
  const bareRouteHeaders = await startTarget('bare-route', [answer.file, answer.contentType, answer.headersFile])
  // Each target and its floor take turns (measureInTurns): the VM's drift lands on both sides of a target's ratio.
  rows.push(...await inTurns([
    { name: `bare Fastify route (${answer.bytes} B)`, pid: bareRoute.pid, url: `${bareRoute.url}/m3${ITEM}` },
    { name: `bare route + the HIT's ${answer.headerCount} headers`, pid: bareRouteHeaders.pid, url: `${bareRouteHeaders.url}/m3${ITEM}` },
    { name: 'gateway HIT (memory cache)', pid: hit.pid, url: `${hit.url}/m3${ITEM}` },
  ]))
  bareRoute.stop()
  bareRouteHeaders.stop()
  rows.push(await measureAtRate(`gateway HIT at ${RATE} req/s`, hit.pid, `${hit.url}/m3${ITEM}`, RATE))
  hit.stop()
  const redis = await startRedis()
  const redisHit = await startGateway(emulator, 'redis', { REDIS_URL: redis.url })
  rows.push(await measure('gateway HIT (Redis cache)', redisHit.pid, `${redisHit.url}/m3${ITEM}`))
  redisHit.stop()
  redis.stop()
  const miss = await startGateway(emulator, 'none')
  const bare = await startTarget('bare-proxy', [`${emulatorUrl}/${ionapi.ti}`, token])
  rows.push(...await inTurns([
    { name: 'gateway MISS (cache off)', pid: miss.pid, url: `${miss.url}/m3${ITEM}` },
    { name: 'bare @fastify/http-proxy', pid: bare.pid, url: `${bare.url}/m3${ITEM}` },
  ]))
  miss.stop()
  bare.stop()
  const express = await startTarget('express-proxy', [`${emulatorUrl}/${ionapi.ti}`, token])
  rows.push(await measure('Express 5 + http-proxy-middleware', express.pid, `${express.url}/m3${ITEM}`))
  express.stop()
  const nginx = await nginxTarget(emulatorUrl, ionapi.ti, token)
  if (nginx) {
    rows.push(await measure('nginx proxy (keep-alive)', nginx.pid, `http://127.0.0.1:${nginx.port}/m3${ITEM}`))
    rows.push(await measure('nginx proxy_cache HIT', nginx.pid, `http://127.0.0.1:${nginx.port}/cached/m3${ITEM}`))
    nginx.stop()
  } else {
    notes.push('nginx not installed (apt-get install nginx): skipped')
    process.stdout.write(`  ${notes.at(-1)}\n`)
  }

  // Coalescing: 200 concurrent identical cold requests through a fresh gateway (memory cache), slow ION.
  const coalesce = await startGateway(emulator, 'memory')
  await request(`${coalesce.url}/ready`).then(r => r.body.dump())
  await request(`${emulatorUrl}/__emulator/faults`, { method: 'POST', body: JSON.stringify({ latencyMs: 100 }) }).then(r => r.body.dump())
  await resetEmulator(emulatorUrl)
  await Promise.all(Array.from({ length: 200 }, () => request(`${coalesce.url}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10001`).then(r => r.body.dump())))
  const coalesced = (await stats(emulatorUrl)).calls
  await request(`${emulatorUrl}/__emulator/faults`, { method: 'POST', body: JSON.stringify({ clear: true }) }).then(r => r.body.dump())
  coalesce.stop()

  // Tokens: a cold gateway serving many requests asks ION for how many tokens?
  await resetEmulator(emulatorUrl)
  const cold = await startGateway(emulator, 'none')
  const tokenRun = await autocannon({ url: `${cold.url}/m3${ITEM}`, connections: 50, amount: 5000 })
  const tokenCalls = (await stats(emulatorUrl)).tokenRequests.total
  cold.stop()

  const byName = (n: string) => rows.find(r => r.name.startsWith(n))
  const ratio = (a?: Row, b?: Row) => (a && b && b.reqPerS > 0 ? round2(a.reqPerS / b.reqPerS) : undefined)
  // CPU per request of the gateway over its floor's: how many times the floor's cost a request costs.
  const cpuTimes = (a?: Row, b?: Row) => (a?.cpuUsPerReq && b?.cpuUsPerReq ? round2(a.cpuUsPerReq / b.cpuUsPerReq) : undefined)
  const hitOverRoute = cpuTimes(byName('gateway HIT (memory'), byName('bare Fastify route ('))
  const hitOverSameAnswer = cpuTimes(byName('gateway HIT (memory'), byName('bare route + '))
  const missOverProxy = cpuTimes(byName('gateway MISS'), byName('bare @fastify'))
  const targets = {
    hitCpuOverBareRoute: { value: hitOverRoute, target: 1.7, met: hitOverRoute !== undefined && hitOverRoute <= 1.7 },
    missCpuOverBareProxy: { value: missOverProxy, target: 1.0, met: missOverProxy !== undefined && missOverProxy <= 1.0 },
  }
  const summary = {
    date: new Date().toISOString(),
    commit: commit(),
    node: process.version,
    cores: cpus().length,
    durationS: DURATION_S,
    connections: CONNECTIONS,
    loadGenerator: WRK ? 'wrk' : 'autocannon',
    pinned: TASKSET !== undefined,
    fixedRate: RATE,
    hitBodyBytes: answer.bytes,
    rows,
    targets,
    ratios: {
      cpuGatewayHitOverBareRouteSameHeaders: hitOverSameAnswer,
      gatewayMissOverBareProxy: ratio(byName('gateway MISS'), byName('bare @fastify')),
      gatewayHitOverDirect: ratio(byName('gateway HIT (memory'), byName('emulator')),
      gatewayMissOverExpress: ratio(byName('gateway MISS'), byName('Express')),
      cpuGatewayHitOverBareRoute: hitOverRoute,
      cpuGatewayMissOverBareProxy: missOverProxy,
      cpuGatewayMissOverExpress: cpuTimes(byName('gateway MISS'), byName('Express')),
    },
    coalescing: { concurrentIdenticalColdRequests: 200, upstreamCalls: coalesced },
    tokens: { requests: tokenRun.requests.total, tokenRequests: tokenCalls },
    ...(notes.length ? { notes } : {}),
  }

  const pad = (s: string, n: number) => s.padEnd(n)
  process.stdout.write(`\n${pad('target', 36)}${pad('req/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('µs CPU/req', 12)}errors\n`)
  for (const r of rows) process.stdout.write(`${pad(r.name, 36)}${pad(String(r.reqPerS), 10)}${pad(String(r.p50Ms), 9)}${pad(String(r.p99Ms), 9)}${pad(String(r.cpuUsPerReq ?? '?'), 12)}${r.errors + r.non2xx}\n`)
  const verdict = (t: { value?: number, target: number, met: boolean }) => `${t.value ?? '?'}× (target ≤ ${t.target}×: ${t.met ? 'met' : 'NOT met'})`
  process.stdout.write(`\nCPU/request gateway HIT / bare Fastify route: ${verdict(targets.hitCpuOverBareRoute)}\n`)
  process.stdout.write(`CPU/request gateway HIT / bare route sending the same headers: ${hitOverSameAnswer ?? '?'}×\n`)
  process.stdout.write(`CPU/request gateway MISS / bare @fastify/http-proxy: ${verdict(targets.missCpuOverBareProxy)}\n`)
  process.stdout.write(`CPU/request gateway MISS / Express 5 + http-proxy-middleware: ${summary.ratios.cpuGatewayMissOverExpress}×\n`)
  process.stdout.write(`throughput  gateway MISS / bare proxy: ${summary.ratios.gatewayMissOverBareProxy}   gateway HIT / emulator direct: ${summary.ratios.gatewayHitOverDirect}\n`)
  process.stdout.write(`coalescing: 200 concurrent identical cold requests -> ${coalesced} upstream call(s)\n`)
  process.stdout.write(`tokens: ${tokenRun.requests.total} requests on a cold gateway -> ${tokenCalls} token request(s)\n`)
  // The callgrind figures of the last --callgrind run are kept (with their own date and commit).
  const { callgrind, callgrindDate, callgrindCommit } = previousResults() as Record<string, unknown>
  writeResults({ ...summary, ...(callgrind ? { callgrind, callgrindDate, callgrindCommit } : {}) })
}

function previousResults (): object {
  const file = join(root, 'bench/results/latest.json')
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as object : {}
}

function writeResults (summary: object): void {
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/latest.json'), JSON.stringify(summary, null, 2) + '\n')
  process.stdout.write('written to bench/results/latest.json\n')
}

try {
  await main()
} finally {
  killChildren()
}
