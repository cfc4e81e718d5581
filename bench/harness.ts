/**
 * What every benchmark mode shares: targets in their own processes (bench/targets.mjs), pinning, CPU and memory of a
 * process, wrk and the fixed-rate client, a private redis-server, the emulator's credentials.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Pool, request } from 'undici'

export const root = fileURLToPath(new URL('..', import.meta.url))
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=32']
// The target under test gets the last core to itself; the load generator, this runner and idle targets share core 0.
export const TARGET_CPU = String(cpus().length - 1)
export const LOAD_CPU = '0'
const CLOCK_TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

/** The M3 read every row sends: nine items from A100 on, a 1.2 KB JSON answer (1,258 bytes from the emulator). */
export const ITEM = '/m3api-rest/v2/execute/MMS200MI/LstItmByItm?ITNO=A100&maxrecs=9'

export const settings = {
  connections: 100,
  /** taskset's path when pinning, else undefined. */
  taskset: undefined as string | undefined,
  /** wrk's path, undefined for autocannon. */
  wrk: undefined as string | undefined,
}

export function configure (opts: { connections: number, pin: boolean, autocannon: boolean }): void {
  settings.connections = opts.connections
  settings.taskset = opts.pin && cpus().length >= 2 ? ['/usr/bin/taskset', '/bin/taskset'].find(p => existsSync(p)) : undefined
  settings.wrk = opts.autocannon ? undefined : ['/usr/bin/wrk', '/usr/local/bin/wrk'].find(p => existsSync(p))
}

export const children: ChildProcess[] = []

export function killChildren (): void {
  // SIGTERM: nginx's master takes its worker down with it; the node targets exit cleanly.
  for (const c of children) c.kill('SIGTERM')
}

export function pin (pid: number | undefined, cpu: string): void {
  if (settings.taskset && pid !== undefined) execFileSync(settings.taskset, ['-a', '-pc', cpu, String(pid)], { stdio: 'ignore' })
}

/** Runs a command pinned to a core when pinning. */
export function spawnPinned (cpu: string, command: string, args: string[], options: Parameters<typeof spawn>[2]): ChildProcess {
  return settings.taskset ? spawn(settings.taskset, ['-c', cpu, command, ...args], options) : spawn(command, args, options)
}

/** CPU seconds used so far by a process and its children that are still alive (nginx workers). */
export function cpuSeconds (pid: number): number {
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

/** Resident set size of a process, in bytes (VmRSS). */
export function rssBytes (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : Number.NaN
}

export async function freePort (): Promise<number> {
  return new Promise(resolve => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export interface Target {
  port: number
  line: string
  pid: number
  child: ChildProcess
  url: string
  /** The target's own memory after a full GC (`process.memoryUsage()`, asked over IPC). */
  memory (): Promise<NodeJS.MemoryUsage>
  stop (): void
}

export interface StartOptions {
  /** Core to pin to (default: the target core, the emulator's default is the load core). */
  cpu?: string
  /** Extra node flags before the script. */
  nodeFlags?: string[]
  /** Wrap the node command (valgrind). */
  wrapper?: string[]
  readyTimeoutMs?: number
}

/** Starts `node bench/targets.mjs <kind> <port> ...args` and waits for its `READY` line. */
export async function startTarget (kind: string, args: string[] = [], opts: StartOptions = {}): Promise<Target> {
  const port = await freePort()
  // Gateways run with the V8 flags the image and the chart ship (NODE_OPTIONS there); --expose-gc only lets the
  // runner ask for a full GC before reading the heap (memory rows).
  const nodeFlags = [...(kind === 'gateway' ? GATEWAY_NODE_FLAGS : []), '--expose-gc', ...(opts.nodeFlags ?? [])]
  const nodeArgs = [...nodeFlags, 'bench/targets.mjs', kind, String(port), ...args]
  const [command, ...commandArgs] = opts.wrapper ? [...opts.wrapper, process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs]
  const child = spawn(command as string, commandArgs, { cwd: root, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  children.push(child)
  // The emulator is the upstream of most rows: it lives with the load generator unless measured itself.
  pin(child.pid, opts.cpu ?? (kind === 'emulator' ? LOAD_CPU : TARGET_CPU))
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${kind} not ready in time`)), opts.readyTimeoutMs ?? 30_000)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (out.startsWith('READY') && nl !== -1) {
        clearTimeout(timer)
        resolve(out.slice(0, nl))
      }
    })
    child.once('exit', code => reject(new Error(`${kind} exited ${code}`)))
  })
  child.stdout?.resume()
  const memory = () => new Promise<NodeJS.MemoryUsage>(resolve => {
    child.once('message', m => resolve(m as NodeJS.MemoryUsage))
    child.send('memory')
  })
  return { port, line, pid: child.pid as number, child, url: `http://127.0.0.1:${port}`, memory, stop: () => child.kill('SIGKILL') }
}

export interface Emulator {
  target: Target
  url: string
  ionapi: { iu: string, ti: string, pu: string, ot: string, ci: string, cs: string, saak: string, sask: string }
  ionapiFile: string
  /** A bearer token for calling the emulator directly (the bare proxies' fixed token). */
  token: string
}

export async function startEmulator (): Promise<Emulator> {
  const target = await startTarget('emulator')
  const ionapi = JSON.parse(target.line.slice(target.line.indexOf('{'))) as Emulator['ionapi']
  const ionapiFile = join(mkdtempSync(join(tmpdir(), 'ion-gateway-bench-')), 'bench.ionapi')
  writeFileSync(ionapiFile, JSON.stringify(ionapi))
  const tokenRes = await request(ionapi.pu + ionapi.ot, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: ionapi.saak, password: ionapi.sask, client_id: ionapi.ci, client_secret: ionapi.cs }).toString(),
  })
  const token = ((await tokenRes.body.json()) as { access_token: string }).access_token
  return { target, url: target.url, ionapi, ionapiFile, token }
}

/** A gateway on the emulator: cache driver and any further variables (`REDIS_URL`, `CACHE_MAX_BYTES`, …). */
export function startGateway (emulator: Emulator, cacheDriver: 'memory' | 'redis' | 'none', env: Record<string, string> = {}, opts: StartOptions = {}): Promise<Target> {
  return startTarget('gateway', [emulator.ionapiFile, cacheDriver, JSON.stringify(env)], opts)
}

/** A private redis-server (no persistence) for the Redis cache driver, on the load core like every upstream. */
export async function startRedis (): Promise<{ url: string, pid: number, stop: () => void }> {
  const port = await freePort()
  const child = spawnPinned(LOAD_CPU, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir(), '--loglevel', 'warning'], { stdio: 'ignore' })
  children.push(child)
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>(resolve => {
      const c = connect(port, '127.0.0.1', () => { c.end(); resolve(true) })
      c.on('error', () => resolve(false))
    })
    if (up) return { url: `redis://127.0.0.1:${port}`, pid: child.pid as number, stop: () => child.kill('SIGKILL') }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error('redis-server did not start')
}

export interface Load { reqPerS: number, requests: number, p50Ms: number, p99Ms: number, errors: number, non2xx: number }
export interface Row extends Omit<Load, 'requests'> {
  name: string
  /** CPU time the process under test spent per request (user + system), in microseconds. */
  cpuUsPerReq?: number
}

/** wrk prints latencies as 812.00us, 1.20ms or 1.01s. */
function wrkMs (text: string, label: string): number {
  const m = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text)
  if (!m) return Number.NaN
  const v = Number(m[1])
  return Math.round((m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v) * 100) / 100
}

export interface LoadOptions {
  headers?: Record<string, string>
  connections?: number
  /** A wrk Lua script (paths to vary per request); wrk only. */
  script?: string
  /** Seconds of load before the measured run (default 1). */
  warmupS?: number
}

function runWrk (url: string, durationS: number, opts: LoadOptions): Promise<Load> {
  const connections = opts.connections ?? settings.connections
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`, '--timeout', '10s', '--latency',
    ...(opts.script ? ['-s', opts.script] : []),
    ...Object.entries(opts.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url]
  return new Promise((resolve, reject) => {
    const child = spawnPinned(LOAD_CPU, settings.wrk as string, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
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

async function runAutocannon (url: string, durationS: number, opts: LoadOptions): Promise<Load> {
  const r = await autocannon({ url, connections: opts.connections ?? settings.connections, duration: durationS, headers: opts.headers ?? {} })
  return { reqPerS: Math.round(r.requests.average), requests: r.requests.total, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }
}

/** Closed loop: wrk (or autocannon) with every connection always busy. */
export function closedLoop (url: string, durationS: number, opts: LoadOptions = {}): Promise<Load> {
  if (opts.script && !settings.wrk) throw new Error('varying paths needs wrk (apt-get install wrk)')
  return settings.wrk ? runWrk(url, durationS, opts) : runAutocannon(url, durationS, opts)
}

/** A wrk Lua script sending `prefix .. n` for n drawn at random from 1..count (distinct keys, e.g. `&n=`). */
export function wrkRandomScript (prefix: string, count: number): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ion-gateway-wrk-')), 'random.lua')
  writeFileSync(file, `math.randomseed(42)
request = function()
  return wrk.format("GET", ${JSON.stringify(prefix)} .. math.random(1, ${count}))
end
`)
  return file
}

export function row (name: string, pid: number, cpuBefore: number, load: Load): Row {
  const { requests, ...figures } = load
  const cpuUsPerReq = requests > 0 ? Math.round(((cpuSeconds(pid) - cpuBefore) / requests) * 1e6) : undefined
  return { name, ...figures, ...(cpuUsPerReq !== undefined ? { cpuUsPerReq } : {}) }
}

export function report (r: Row): void {
  process.stdout.write(`  ${r.name}: ${r.reqPerS} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.cpuUsPerReq ?? '?'} µs CPU/req${r.errors || r.non2xx ? ` (errors ${r.errors}, non-2xx ${r.non2xx})` : ''}\n`)
}

/** Closed loop after a warm-up (1 s unless told), with the CPU the target spent per request. */
export async function measure (name: string, pid: number, url: string, durationS: number, opts: LoadOptions = {}): Promise<Row> {
  await closedLoop(url, opts.warmupS ?? 1, opts)
  const cpuBefore = cpuSeconds(pid)
  const measured = row(name, pid, cpuBefore, await closedLoop(url, durationS, opts))
  report(measured)
  return measured
}

export interface Contender {
  name: string
  pid: number
  url: string
}

/**
 * Closed loop on several targets taking turns: after each one's warm-up, `slices` rounds in which each target in turn
 * gets `durationS / slices` seconds of load. A shared VM's speed drifts by tens of percent over minutes; targets
 * measured one after the other for 10 s each take that drift into their ratio, targets taking turns share it. Each
 * row is the sum of its slices: requests per second and CPU per request over all of them; p50 and p99 are the
 * medians of the slices' own (each slice's first requests open 50 connections at once: its p99 holds that burst).
 */
export async function measureInTurns (contenders: Contender[], durationS: number, opts: LoadOptions & { slices: number }): Promise<Row[]> {
  for (const c of contenders) await closedLoop(c.url, opts.warmupS ?? 1, opts)
  const sliceS = Math.max(1, Math.round(durationS / opts.slices))
  const totals = contenders.map(() => ({ requests: 0, cpuS: 0, p50s: [] as number[], p99s: [] as number[], errors: 0, non2xx: 0 }))
  for (let round = 0; round < opts.slices; round++) {
    for (const [i, c] of contenders.entries()) {
      const total = totals[i] as (typeof totals)[number]
      const cpuBefore = cpuSeconds(c.pid)
      const load = await closedLoop(c.url, sliceS, opts)
      total.cpuS += cpuSeconds(c.pid) - cpuBefore
      total.requests += load.requests
      total.p50s.push(load.p50Ms)
      total.p99s.push(load.p99Ms)
      total.errors += load.errors
      total.non2xx += load.non2xx
    }
  }
  return contenders.map((c, i) => {
    const total = totals[i] as (typeof totals)[number]
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number
    const measured: Row = {
      name: c.name,
      reqPerS: Math.round(total.requests / (opts.slices * sliceS)),
      p50Ms: median(total.p50s),
      p99Ms: median(total.p99s),
      errors: total.errors,
      non2xx: total.non2xx,
      ...(total.requests > 0 ? { cpuUsPerReq: Math.round((total.cpuS / total.requests) * 1e6) } : {}),
    }
    report(measured)
    return measured
  })
}

export interface PacedOptions {
  connections?: number
  /** Paths (with query) to send, drawn by `pick(n)` for the n-th request; default the URL's own path. */
  pick?: (n: number) => string
  /** Called every `windowS` seconds with the figures of that window. */
  windowS?: number
  onWindow?: (index: number, window: Load) => void | Promise<void>
}

function quantile (sorted: number[], q: number): number {
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN) * 100) / 100
}

/**
 * Open loop at a fixed offered rate, paced evenly (every millisecond, the requests now due), over up to
 * `connections` keep-alive connections. Sending never waits for answers, so a stalled target cannot slow the
 * generator down and hide its own stall (coordinated omission); a request waiting for a free connection counts that
 * wait.
 */
export async function runPaced (url: string, durationS: number, rate: number, opts: PacedOptions = {}): Promise<Load> {
  const target = new URL(url)
  const defaultPath = target.pathname + target.search
  const pool = new Pool(target.origin, { connections: opts.connections ?? settings.connections, pipelining: 1 })
  const all = { latencies: [] as number[], errors: 0, non2xx: 0 }
  let win = { latencies: [] as number[], errors: 0, non2xx: 0, start: performance.now() }
  let windowIndex = 0
  let sent = 0
  const total = Math.round(durationS * rate)
  const inFlight = new Set<Promise<void>>()
  const start = performance.now()
  const closeWindow = async (): Promise<void> => {
    const w = win
    win = { latencies: [], errors: 0, non2xx: 0, start: performance.now() }
    w.latencies.sort((a, b) => a - b)
    await opts.onWindow?.(windowIndex++, {
      reqPerS: Math.round(w.latencies.length / ((performance.now() - w.start) / 1000)),
      requests: w.latencies.length + w.errors,
      p50Ms: quantile(w.latencies, 0.5),
      p99Ms: quantile(w.latencies, 0.99),
      errors: w.errors,
      non2xx: w.non2xx,
    })
  }
  await new Promise<void>(resolve => {
    const tick = setInterval(() => {
      const elapsedMs = performance.now() - start
      const due = Math.min(Math.floor((elapsedMs * rate) / 1000), total)
      for (; sent < due; sent++) {
        const sentAt = performance.now()
        const path = opts.pick ? opts.pick(sent) : defaultPath
        const done: Promise<void> = pool.request({ method: 'GET', path })
          .then(async res => {
            await res.body.dump()
            if (res.statusCode >= 400) { all.non2xx++; win.non2xx++ }
            const ms = performance.now() - sentAt
            all.latencies.push(ms)
            win.latencies.push(ms)
          }, () => { all.errors++; win.errors++ })
          .finally(() => inFlight.delete(done))
        inFlight.add(done)
      }
      if (opts.windowS && performance.now() - win.start >= opts.windowS * 1000 && sent < total) closeWindow().catch(err => process.stderr.write(`window report failed: ${String(err)}\n`))
      if (sent >= total) {
        clearInterval(tick)
        resolve()
      }
    }, 1)
  })
  await Promise.all(inFlight)
  if (opts.windowS) await closeWindow()
  await pool.close()
  all.latencies.sort((a, b) => a - b)
  return { reqPerS: Math.round(all.latencies.length / ((performance.now() - start) / 1000)), requests: all.latencies.length + all.errors, p50Ms: quantile(all.latencies, 0.5), p99Ms: quantile(all.latencies, 0.99), errors: all.errors, non2xx: all.non2xx }
}

/** Fixed offered rate after a 1 s warm-up: latency below saturation, as a fleet of clients sees it. */
export async function measureAtRate (name: string, pid: number, url: string, durationS: number, rate: number, opts: PacedOptions = {}): Promise<Row> {
  await runPaced(url, 1, rate, opts)
  const cpuBefore = cpuSeconds(pid)
  const measured = row(name, pid, cpuBefore, await runPaced(url, durationS, rate, opts))
  report(measured)
  return measured
}

/**
 * Sends `count` requests (path `pathOf(i)`) with `concurrency` in flight over keep-alive connections, as fast as the
 * target answers; returns how many were not 2xx. For filling caches and counters.
 */
export async function fill (origin: string, count: number, pathOf: (i: number) => string, concurrency = 64, headersOf?: (i: number) => Record<string, string>): Promise<number> {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1 })
  let next = 0
  let failed = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++
      try {
        const res = await pool.request({ method: 'GET', path: pathOf(i), ...(headersOf ? { headers: headersOf(i) } : {}) })
        await res.body.dump()
        if (res.statusCode >= 300) failed++
      } catch {
        failed++
      }
    }
  }))
  await pool.close()
  return failed
}

/** Builds the gateway (dist/) and the emulator (dist-emulator/) the targets run. */
export function build (): void {
  process.stdout.write('building (npm run build, and the emulator)…\n')
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
  // The emulator is tooling, built apart (dist-emulator/), never into the gateway's dist/.
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.emulator.json'], { cwd: root, stdio: 'inherit' })
  pin(process.pid, LOAD_CPU)
}

export function commit (): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim()
  } catch {
    return 'unknown'
  }
}
