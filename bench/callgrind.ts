/**
 * Instructions per request under valgrind's callgrind: a figure that does not move with the machine's load or clock,
 * for catching regressions. Each target runs under callgrind, is warmed up, its counters are zeroed
 * (`callgrind_control -z`), answers N requests from a sequential client, and is dumped (`callgrind_control -d`); the
 * dump's `summary:` (instructions executed, every thread) divided by N is the figure.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { ITEM, startGateway, startTarget, type Emulator, type Target } from './harness.ts'

export interface CallgrindRow {
  name: string
  /** Everything the process executed while answering, divided by the requests. */
  instructionsPerReq: number
  /** What it executes idle (timers, samplers, background compilation), per second. */
  idleInstructionsPerS: number
  /** instructionsPerReq less the idle rate over the time the requests took: steadier when the machine is busy. */
  instructionsPerReqLessIdle: number
  requests: number
}

// V8 is still compiling the gateway's hot functions after a few hundred requests: with 300 warm-up requests the
// count held TurboFan's work and baseline code (HIT 895 k, 700 k after 3,000); after 10,000 it is steady (572 k, and
// 573 k after 30,000; the bare route 325 k and 320 k). Warming up runs uninstrumented: a few seconds.
const WARMUP = 10_000
const REQUESTS = 500
const IDLE_S = 5

async function sequential (url: string, count: number): Promise<void> {
  const target = new URL(url)
  const pool = new Pool(target.origin, { connections: 1 })
  for (let i = 0; i < count; i++) {
    const res = await pool.request({ method: 'GET', path: target.pathname + target.search })
    await res.body.dump()
    if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`)
  }
  await pool.close()
}

export function callgrindAvailable (): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
    execFileSync('callgrind_control', ['-h'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Dumps the counters and reads the newest dump's `summary:` (instructions, every thread). */
function dump (dir: string, pid: number): number {
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' })
  const newest = readdirSync(dir).filter(f => /^cg\.out\.\d+$/.test(f)).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop())).pop()
  if (!newest) throw new Error(`no callgrind dump in ${dir}`)
  const summary = /^summary:\s+(\d+)/m.exec(readFileSync(join(dir, newest), 'utf8'))
  if (!summary) throw new Error(`no summary in ${newest}`)
  return Number(summary[1])
}

async function measureTarget (name: string, start: (wrapper: string[]) => Promise<Target>, path: string): Promise<CallgrindRow> {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-callgrind-'))
  // V8 writes and rewrites machine code in anonymous memory: callgrind must check for it everywhere.
  // Started and warmed up with instrumentation off (several times faster), switched on before counting.
  const wrapper = ['valgrind', '-q', '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--dump-instr=no', `--callgrind-out-file=${dir}/cg.out`]
  const started = performance.now()
  const target = await start(wrapper)
  try {
    const url = target.url + path
    await sequential(url, WARMUP)
    execFileSync('callgrind_control', ['-i', 'on', String(target.pid)], { stdio: 'ignore' })
    execFileSync('callgrind_control', ['-z', String(target.pid)], { stdio: 'ignore' })
    const requestsStart = performance.now()
    await sequential(url, REQUESTS)
    const requestsS = (performance.now() - requestsStart) / 1000
    const busy = dump(dir, target.pid)
    // The gateway's timers (event-loop sampler, token check, metrics) run whether or not requests come: their share
    // grows with the time the requests take, so with how busy the machine is. Measured idle, then taken out.
    execFileSync('callgrind_control', ['-z', String(target.pid)], { stdio: 'ignore' })
    const idleStart = performance.now()
    await new Promise(resolve => setTimeout(resolve, IDLE_S * 1000))
    const idle = dump(dir, target.pid) / ((performance.now() - idleStart) / 1000)
    const measured = {
      name,
      instructionsPerReq: Math.round(busy / REQUESTS),
      idleInstructionsPerS: Math.round(idle),
      instructionsPerReqLessIdle: Math.round((busy - idle * requestsS) / REQUESTS),
      requests: REQUESTS,
    }
    process.stdout.write(`  ${name}: ${measured.instructionsPerReq.toLocaleString('en')} instructions/request, ${measured.instructionsPerReqLessIdle.toLocaleString('en')} less idle (${measured.idleInstructionsPerS.toLocaleString('en')}/s idle; ${REQUESTS} requests in ${requestsS.toFixed(1)} s after ${WARMUP}, ${Math.round((performance.now() - started) / 1000)} s in all)\n`)
    return measured
  } finally {
    target.stop()
  }
}

export const CALLGRIND_TARGETS = ['hit', 'miss', 'route', 'proxy'] as const
export type CallgrindTarget = typeof CALLGRIND_TARGETS[number]

/** HIT, MISS, the bare Fastify route and the bare proxy (or those of `only`), one after the other. */
export async function callgrindRows (emulator: Emulator, hitBodyFile: string, hitContentType: string, only: readonly CallgrindTarget[] = CALLGRIND_TARGETS): Promise<CallgrindRow[]> {
  const opts = (wrapper: string[]) => ({ wrapper, readyTimeoutMs: 600_000 })
  const rows: CallgrindRow[] = []
  if (only.includes('hit')) rows.push(await measureTarget('gateway HIT (memory cache)', w => startGateway(emulator, 'memory', {}, opts(w)), `/m3${ITEM}`))
  if (only.includes('miss')) rows.push(await measureTarget('gateway MISS (cache off)', w => startGateway(emulator, 'none', {}, opts(w)), `/m3${ITEM}`))
  if (only.includes('route')) rows.push(await measureTarget('bare Fastify route', w => startTarget('bare-route', [hitBodyFile, hitContentType], opts(w)), `/m3${ITEM}`))
  if (only.includes('proxy')) rows.push(await measureTarget('bare @fastify/http-proxy', w => startTarget('bare-proxy', [`${emulator.url}/${emulator.ionapi.ti}`, emulator.token], opts(w)), `/m3${ITEM}`))
  return rows
}
