/**
 * `npm run bench [-- --quick]`: measures, in one run on this machine, the emulator directly, the gateway's cache HIT
 * and MISS paths, a bare @fastify/http-proxy and (when installed) nginx, plus coalescing and token economy.
 * Prints a table and writes bench/results/latest.json. See bench/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { request } from 'undici'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    connections: { type: 'string', default: '100' },
    // Force autocannon even where wrk is installed.
    autocannon: { type: 'boolean', default: false },
    // Offered load of the fixed-rate HIT latency row.
    rate: { type: 'string', default: '2000' },
  },
})
const DURATION_S = values.quick ? 3 : 10
const CONNECTIONS = Number(values.connections)
const RATE = Number(values.rate)
const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=32']
const root = fileURLToPath(new URL('..', import.meta.url))
const children: ChildProcess[] = []
const ITEM = '/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'

async function freePort (): Promise<number> {
  return new Promise(resolve => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

async function startTarget (...args: string[]): Promise<{ port: number, line: string }> {
  const port = await freePort()
  // Gateways run with the V8 flags the image and the chart ship (NODE_OPTIONS there).
  const nodeFlags = args[0] === 'gateway' ? GATEWAY_NODE_FLAGS : []
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', 'bench/targets.ts', args[0] as string, String(port), ...args.slice(1)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (out.startsWith('READY') && nl !== -1) resolve(out.slice(0, nl))
    })
    child.once('exit', code => reject(new Error(`${args[0]} exited ${code}`)))
  })
  return { port, line }
}

interface Row { name: string, reqPerS: number, p50Ms: number, p99Ms: number, errors: number, non2xx: number }

const WRK = values.autocannon ? undefined : ['/usr/bin/wrk', '/usr/local/bin/wrk'].find(p => existsSync(p))

/** wrk prints latencies as 812.00us, 1.20ms or 1.01s. */
function wrkMs (text: string, label: string): number {
  const m = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text)
  if (!m) return Number.NaN
  const v = Number(m[1])
  return Math.round((m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v) * 100) / 100
}

function runWrk (url: string, durationS: number, headers: Record<string, string>): Promise<Omit<Row, 'name'>> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${durationS}s`, '--latency', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url]
  return new Promise((resolve, reject) => {
    const child = spawn(WRK as string, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.once('error', reject)
    child.once('exit', () => {
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
      resolve({
        reqPerS: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)),
        p50Ms: wrkMs(out, '50%'),
        p99Ms: wrkMs(out, '99%'),
        errors: socketErrors ? socketErrors.slice(1).reduce((n, x) => n + Number(x), 0) : 0,
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
      })
    })
  })
}

async function runAutocannon (url: string, durationS: number, headers: Record<string, string>, overallRate?: number): Promise<Omit<Row, 'name'>> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: durationS, headers, ...(overallRate ? { overallRate } : {}) })
  return { reqPerS: Math.round(r.requests.average), p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }
}

/** Closed loop: CONNECTIONS connections as fast as the target answers (throughput, and latency at saturation). */
async function measure (name: string, url: string, headers: Record<string, string> = {}): Promise<Row> {
  const load = WRK ? runWrk : runAutocannon
  // Warm up (connections, JIT, caches) before the measured run.
  await load(url, 1, headers)
  const row = { name, ...(await load(url, DURATION_S, headers)) }
  report(row)
  return row
}

/** Fixed offered rate (autocannon's overallRate): latency below saturation, as a client fleet sees it. */
async function measureAtRate (name: string, url: string, rate: number): Promise<Row> {
  await runAutocannon(url, 1, {}, rate)
  const row = { name, ...(await runAutocannon(url, DURATION_S, {}, rate)) }
  report(row)
  return row
}

function report (row: Row): void {
  process.stdout.write(`  ${row.name}: ${row.reqPerS} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms${row.errors || row.non2xx ? ` (errors ${row.errors}, non-2xx ${row.non2xx})` : ''}\n`)
}

async function stats (emulatorUrl: string): Promise<{ calls: number, tokenRequests: { total: number } }> {
  const res = await request(`${emulatorUrl}/__emulator/stats`)
  return await res.body.json() as { calls: number, tokenRequests: { total: number } }
}

async function resetEmulator (emulatorUrl: string): Promise<void> {
  await request(`${emulatorUrl}/__emulator/reset`, { method: 'POST', body: '{}' }).then(r => r.body.dump())
}

async function nginxTarget (upstreamOrigin: string, tenant: string, token: string): Promise<{ port: number, stop: () => void } | undefined> {
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
  const child = spawn(nginx, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' })
  children.push(child)
  for (let i = 0; i < 50; i++) {
    const ok = await request(`http://127.0.0.1:${port}/m3${ITEM}`).then(r => { r.body.dump(); return true }, () => false)
    if (ok) return { port, stop: () => child.kill() }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  child.kill()
  return undefined
}

async function main (): Promise<void> {
  process.stdout.write(`ion-gateway benchmark: ${DURATION_S} s per run, ${CONNECTIONS} connections, ${cpus().length} cores, node ${process.version}, load from ${WRK ? 'wrk' : 'autocannon'}\n`)
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

  rows.push(await measure('emulator direct', `${emulatorUrl}/${ionapi.ti}/M3${ITEM}`, { authorization: `Bearer ${token}` }))
  const hit = await startTarget('gateway', ionapiFile, 'memory')
  rows.push(await measure('gateway HIT (memory cache)', `http://127.0.0.1:${hit.port}/m3${ITEM}`))
  rows.push(await measureAtRate(`gateway HIT at ${RATE} req/s`, `http://127.0.0.1:${hit.port}/m3${ITEM}`, RATE))
  const miss = await startTarget('gateway', ionapiFile, 'none')
  rows.push(await measure('gateway MISS (cache off)', `http://127.0.0.1:${miss.port}/m3${ITEM}`))
  const bare = await startTarget('bare-proxy', `${emulatorUrl}/${ionapi.ti}`, token)
  rows.push(await measure('bare @fastify/http-proxy', `http://127.0.0.1:${bare.port}/m3${ITEM}`))
  const nginx = await nginxTarget(emulatorUrl, ionapi.ti, token)
  let nginxNote: string | undefined
  if (nginx) {
    rows.push(await measure('nginx proxy (keep-alive)', `http://127.0.0.1:${nginx.port}/m3${ITEM}`))
    rows.push(await measure('nginx proxy_cache HIT', `http://127.0.0.1:${nginx.port}/cached/m3${ITEM}`))
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
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    durationS: DURATION_S,
    connections: CONNECTIONS,
    loadGenerator: WRK ? 'wrk' : 'autocannon',
    fixedRate: RATE,
    rows,
    ratios: {
      gatewayMissOverBareProxy: ratio(byName('gateway MISS'), byName('bare')),
      gatewayHitOverDirect: ratio(byName('gateway HIT (memory'), byName('emulator')),
    },
    coalescing: { concurrentIdenticalColdRequests: 200, upstreamCalls: coalesced },
    tokens: { requests: tokenRun.requests.total, tokenRequests: tokenCalls },
    ...(nginxNote ? { notes: [nginxNote] } : {}),
  }

  const pad = (s: string, n: number) => s.padEnd(n)
  process.stdout.write(`\n${pad('target', 30)}${pad('req/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}errors\n`)
  for (const r of rows) process.stdout.write(`${pad(r.name, 30)}${pad(String(r.reqPerS), 10)}${pad(String(r.p50Ms), 9)}${pad(String(r.p99Ms), 9)}${r.errors + r.non2xx}\n`)
  process.stdout.write(`\ngateway MISS / bare proxy: ${summary.ratios.gatewayMissOverBareProxy}   gateway HIT / emulator direct: ${summary.ratios.gatewayHitOverDirect}\n`)
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
