/**
 * `npm run bench [-- --quick]`: measures, in one run on this machine, the emulator directly, the gateway's cache HIT
 * and MISS paths, a bare @fastify/http-proxy and (when installed) nginx, plus coalescing and token economy.
 * Prints a table and writes bench/results/latest.json. See bench/README.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { Pool, request } from 'undici'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    connections: { type: 'string', default: '100' },
    // Force autocannon even where wrk is installed.
    autocannon: { type: 'boolean', default: false },
    // Offered load of the fixed-rate HIT latency row.
    rate: { type: 'string', default: '2000' },
    // Pin the target under test to its own core (taskset), everything else to another.
    pin: { type: 'boolean', default: true },
  },
  allowNegative: true,
})
const DURATION_S = values.quick ? 3 : 10
const CONNECTIONS = Number(values.connections)
const RATE = Number(values.rate)
const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=32']
const root = fileURLToPath(new URL('..', import.meta.url))
const children: ChildProcess[] = []
const TASKSET = values.pin && cpus().length >= 2 ? ['/usr/bin/taskset', '/bin/taskset'].find(p => existsSync(p)) : undefined
// The target under test gets the last core to itself; the load generator, this runner and idle targets share core 0.
const TARGET_CPU = String(cpus().length - 1)
const LOAD_CPU = '0'
const CLOCK_TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

function pin (pid: number | undefined, cpu: string): void {
  if (TASKSET && pid !== undefined) execFileSync(TASKSET, ['-a', '-pc', cpu, String(pid)], { stdio: 'ignore' })
}

/** CPU seconds used so far by a process and its children that are still alive (nginx workers). */
function cpuSeconds (pid: number): number {
  const ticks = (p: number): number => {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
      // utime and stime are fields 14 and 15 of stat, 12 and 13 once pid and comm are cut off.
      return Number(fields[11]) + Number(fields[12])
    } catch {
      return 0
    }
  }
  let kids: number[] = []
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {}
  return [pid, ...kids].reduce((sum, p) => sum + ticks(p), 0) / CLOCK_TICKS_PER_S
}
const ITEM = '/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'

async function freePort (): Promise<number> {
  return new Promise(resolve => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

async function startTarget (...args: string[]): Promise<{ port: number, line: string, pid: number }> {
  const port = await freePort()
  // Gateways run with the V8 flags the image and the chart ship (NODE_OPTIONS there).
  const nodeFlags = args[0] === 'gateway' ? GATEWAY_NODE_FLAGS : []
  const child = spawn(process.execPath, [...nodeFlags, 'bench/targets.mjs', args[0] as string, String(port), ...args.slice(1)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  // The emulator is the upstream of every row but one: it lives with the load generator unless measured itself.
  pin(child.pid, args[0] === 'emulator' ? LOAD_CPU : TARGET_CPU)
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (out.startsWith('READY') && nl !== -1) resolve(out.slice(0, nl))
    })
    child.once('exit', code => reject(new Error(`${args[0]} exited ${code}`)))
  })
  return { port, line, pid: child.pid as number }
}

interface Load { reqPerS: number, requests: number, p50Ms: number, p99Ms: number, errors: number, non2xx: number }
interface Row extends Omit<Load, 'requests'> {
  name: string
  /** CPU time the process under test spent per request (user + system), in microseconds. */
  cpuUsPerReq?: number
}

const WRK = values.autocannon ? undefined : ['/usr/bin/wrk', '/usr/local/bin/wrk'].find(p => existsSync(p))

/** wrk prints latencies as 812.00us, 1.20ms or 1.01s. */
function wrkMs (text: string, label: string): number {
  const m = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text)
  if (!m) return Number.NaN
  const v = Number(m[1])
  return Math.round((m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v) * 100) / 100
}

function runWrk (url: string, durationS: number, headers: Record<string, string>): Promise<Load> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${durationS}s`, '--latency', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url]
  return new Promise((resolve, reject) => {
    const child = TASKSET
      ? spawn(TASKSET, ['-c', LOAD_CPU, WRK as string, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(WRK as string, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.once('error', reject)
    child.once('exit', () => {
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
      resolve({
        reqPerS: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)),
        requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
        p50Ms: wrkMs(out, '50%'),
        p99Ms: wrkMs(out, '99%'),
        errors: socketErrors ? socketErrors.slice(1).reduce((n, x) => n + Number(x), 0) : 0,
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
      })
    })
  })
}

async function runAutocannon (url: string, durationS: number, headers: Record<string, string>, overallRate?: number): Promise<Load> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: durationS, headers, ...(overallRate ? { overallRate } : {}) })
  return { reqPerS: Math.round(r.requests.average), requests: r.requests.total, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }
}

function row (name: string, pid: number, cpuBefore: number, load: Load): Row {
  const { requests, ...figures } = load
  const cpuUsPerReq = requests > 0 ? Math.round(((cpuSeconds(pid) - cpuBefore) / requests) * 1e6) : undefined
  return { name, ...figures, ...(cpuUsPerReq !== undefined ? { cpuUsPerReq } : {}) }
}

/** Closed loop: CONNECTIONS connections as fast as the target answers (throughput, and latency at saturation). */
async function measure (name: string, pid: number, url: string, headers: Record<string, string> = {}): Promise<Row> {
  const load = WRK ? runWrk : runAutocannon
  // Warm up (connections, JIT, caches) before the measured run.
  await load(url, 1, headers)
  const cpuBefore = cpuSeconds(pid)
  const measured = row(name, pid, cpuBefore, await load(url, DURATION_S, headers))
  report(measured)
  return measured
}

/**
 * Open loop at a fixed offered rate, paced evenly (every millisecond, the requests now due), over up to CONNECTIONS
 * keep-alive connections. Sending never waits for answers, so a stalled target cannot slow the generator down and
 * hide its own stall (coordinated omission); a request waiting for a free connection counts that wait.
 */
async function runPaced (url: string, durationS: number, rate: number): Promise<Load> {
  const target = new URL(url)
  const pool = new Pool(target.origin, { connections: CONNECTIONS, pipelining: 1 })
  const latencies: number[] = []
  let errors = 0
  let non2xx = 0
  let sent = 0
  const inFlight = new Set<Promise<void>>()
  const start = performance.now()
  await new Promise<void>(resolve => {
    const tick = setInterval(() => {
      const elapsedMs = performance.now() - start
      const due = Math.min(Math.floor((elapsedMs * rate) / 1000), durationS * rate)
      for (; sent < due; sent++) {
        const sentAt = performance.now()
        const done: Promise<void> = pool.request({ method: 'GET', path: target.pathname + target.search })
          .then(async res => {
            await res.body.dump()
            if (res.statusCode >= 400) non2xx++
            latencies.push(performance.now() - sentAt)
          }, () => { errors++ })
          .finally(() => inFlight.delete(done))
        inFlight.add(done)
      }
      if (sent >= durationS * rate) {
        clearInterval(tick)
        resolve()
      }
    }, 1)
  })
  await Promise.all(inFlight)
  await pool.close()
  latencies.sort((a, b) => a - b)
  const quantile = (q: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN) * 100) / 100
  return { reqPerS: Math.round(latencies.length / ((performance.now() - start) / 1000)), requests: latencies.length + errors, p50Ms: quantile(0.5), p99Ms: quantile(0.99), errors, non2xx }
}

/** Fixed offered rate: latency below saturation, as a fleet of clients sees it. */
async function measureAtRate (name: string, pid: number, url: string, rate: number): Promise<Row> {
  await runPaced(url, 1, rate)
  const cpuBefore = cpuSeconds(pid)
  const measured = row(name, pid, cpuBefore, await runPaced(url, DURATION_S, rate))
  report(measured)
  return measured
}

function report (row: Row): void {
  process.stdout.write(`  ${row.name}: ${row.reqPerS} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${row.cpuUsPerReq ?? '?'} µs CPU/req${row.errors || row.non2xx ? ` (errors ${row.errors}, non-2xx ${row.non2xx})` : ''}\n`)
}

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

async function main (): Promise<void> {
  // The targets run the built gateway and emulator: build the current sources first.
  process.stdout.write('building (npm run build, and the emulator)…\n')
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
  // The emulator is tooling, built apart (dist-emulator/), never into the gateway's dist/.
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.emulator.json'], { cwd: root, stdio: 'inherit' })
  pin(process.pid, LOAD_CPU)
  process.stdout.write(`ion-gateway benchmark: ${DURATION_S} s per run, ${CONNECTIONS} connections, ${cpus().length} cores, node ${process.version}, load from ${WRK ? 'wrk' : 'autocannon'}, ${TASKSET ? `target pinned to core ${TARGET_CPU}, load and upstream on core ${LOAD_CPU}` : 'not pinned'}\n`)
  const emulator = await startTarget('emulator')
  const ionapi = JSON.parse(emulator.line.slice(emulator.line.indexOf('{'))) as { iu: string, ti: string, pu: string, ot: string, ci: string, cs: string, saak: string, sask: string }
  const emulatorUrl = `http://127.0.0.1:${emulator.port}`
  const ionapiFile = join(mkdtempSync(join(tmpdir(), 'ion-gateway-bench-')), 'bench.ionapi')
  writeFileSync(ionapiFile, JSON.stringify(ionapi))
  const tokenRes = await request(ionapi.pu + ionapi.ot, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: ionapi.saak, password: ionapi.sask, client_id: ionapi.ci, client_secret: ionapi.cs }).toString(),
  })
  const token = ((await tokenRes.body.json()) as { access_token: string }).access_token
  const rows: Row[] = []

  pin(emulator.pid, TARGET_CPU)
  rows.push(await measure('emulator direct', emulator.pid, `${emulatorUrl}/${ionapi.ti}/M3${ITEM}`, { authorization: `Bearer ${token}` }))
  pin(emulator.pid, LOAD_CPU)
  const hit = await startTarget('gateway', ionapiFile, 'memory')
  rows.push(await measure('gateway HIT (memory cache)', hit.pid, `http://127.0.0.1:${hit.port}/m3${ITEM}`))
  rows.push(await measureAtRate(`gateway HIT at ${RATE} req/s`, hit.pid, `http://127.0.0.1:${hit.port}/m3${ITEM}`, RATE))
  const miss = await startTarget('gateway', ionapiFile, 'none')
  rows.push(await measure('gateway MISS (cache off)', miss.pid, `http://127.0.0.1:${miss.port}/m3${ITEM}`))
  const bare = await startTarget('bare-proxy', `${emulatorUrl}/${ionapi.ti}`, token)
  rows.push(await measure('bare @fastify/http-proxy', bare.pid, `http://127.0.0.1:${bare.port}/m3${ITEM}`))
  const nginx = await nginxTarget(emulatorUrl, ionapi.ti, token)
  let nginxNote: string | undefined
  if (nginx) {
    rows.push(await measure('nginx proxy (keep-alive)', nginx.pid, `http://127.0.0.1:${nginx.port}/m3${ITEM}`))
    rows.push(await measure('nginx proxy_cache HIT', nginx.pid, `http://127.0.0.1:${nginx.port}/cached/m3${ITEM}`))
  } else {
    nginxNote = 'nginx not installed (apt-get install nginx): skipped'
    process.stdout.write(`  ${nginxNote}\n`)
  }

  // Coalescing: 200 concurrent identical cold requests through a fresh gateway (memory cache), slow ION.
  const coalesce = await startTarget('gateway', ionapiFile, 'memory')
  await request(`http://127.0.0.1:${coalesce.port}/ready`).then(r => r.body.dump())
  await request(`${emulatorUrl}/__emulator/faults`, { method: 'POST', body: JSON.stringify({ latencyMs: 100 }) }).then(r => r.body.dump())
  await resetEmulator(emulatorUrl)
  await Promise.all(Array.from({ length: 200 }, () => request(`http://127.0.0.1:${coalesce.port}/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10001`).then(r => r.body.dump())))
  const coalesced = (await stats(emulatorUrl)).calls
  await request(`${emulatorUrl}/__emulator/faults`, { method: 'POST', body: JSON.stringify({ clear: true }) }).then(r => r.body.dump())

  // Tokens: a cold gateway serving many requests asks ION for how many tokens?
  await resetEmulator(emulatorUrl)
  const cold = await startTarget('gateway', ionapiFile, 'none')
  const tokenRun = await autocannon({ url: `http://127.0.0.1:${cold.port}/m3${ITEM}`, connections: 50, amount: 5000 })
  const tokenCalls = (await stats(emulatorUrl)).tokenRequests.total

  const byName = (n: string) => rows.find(r => r.name.startsWith(n))
  const ratio = (a?: Row, b?: Row) => (a && b && b.reqPerS > 0 ? Math.round((a.reqPerS / b.reqPerS) * 100) / 100 : undefined)
  // The same comparison by CPU spent per request (the cheaper one over the dearer one): steadier than throughput.
  const cpuRatio = (a?: Row, b?: Row) => (a?.cpuUsPerReq && b?.cpuUsPerReq ? Math.round((b.cpuUsPerReq / a.cpuUsPerReq) * 100) / 100 : undefined)
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    durationS: DURATION_S,
    connections: CONNECTIONS,
    loadGenerator: WRK ? 'wrk' : 'autocannon',
    pinned: TASKSET !== undefined,
    fixedRate: RATE,
    rows,
    ratios: {
      gatewayMissOverBareProxy: ratio(byName('gateway MISS'), byName('bare')),
      gatewayHitOverDirect: ratio(byName('gateway HIT (memory'), byName('emulator')),
      cpuBareProxyOverGatewayMiss: cpuRatio(byName('gateway MISS'), byName('bare')),
      cpuDirectOverGatewayHit: cpuRatio(byName('gateway HIT (memory'), byName('emulator')),
    },
    coalescing: { concurrentIdenticalColdRequests: 200, upstreamCalls: coalesced },
    tokens: { requests: tokenRun.requests.total, tokenRequests: tokenCalls },
    ...(nginxNote ? { notes: [nginxNote] } : {}),
  }

  const pad = (s: string, n: number) => s.padEnd(n)
  process.stdout.write(`\n${pad('target', 30)}${pad('req/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('µs CPU/req', 12)}errors\n`)
  for (const r of rows) process.stdout.write(`${pad(r.name, 30)}${pad(String(r.reqPerS), 10)}${pad(String(r.p50Ms), 9)}${pad(String(r.p99Ms), 9)}${pad(String(r.cpuUsPerReq ?? '?'), 12)}${r.errors + r.non2xx}\n`)
  process.stdout.write(`\nthroughput  gateway MISS / bare proxy: ${summary.ratios.gatewayMissOverBareProxy}   gateway HIT / emulator direct: ${summary.ratios.gatewayHitOverDirect}\n`)
  process.stdout.write(`CPU/request bare proxy / gateway MISS: ${summary.ratios.cpuBareProxyOverGatewayMiss}   emulator direct / gateway HIT: ${summary.ratios.cpuDirectOverGatewayHit}\n`)
  process.stdout.write(`coalescing: 200 concurrent identical cold requests -> ${coalesced} upstream call(s)\n`)
  process.stdout.write(`tokens: ${tokenRun.requests.total} requests on a cold gateway -> ${tokenCalls} token request(s)\n`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/latest.json'), JSON.stringify(summary, null, 2) + '\n')
  process.stdout.write('written to bench/results/latest.json\n')
}

try {
  await main()
} finally {
  for (const c of children) c.kill()
}
