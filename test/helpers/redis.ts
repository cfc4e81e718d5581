import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { eventually, freePort } from './wait.ts'

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string
  port: number
  /** Kills the server (SIGKILL), as a crash would. Nothing is kept: it never writes to disk. */
  stop (): Promise<void>
  /** Starts it again, empty, on the same port (clients reconnect to where they were). No-op while it runs. */
  start (): Promise<void>
  /** Freezes the process (SIGSTOP): it still accepts connections (the kernel does) but never answers: a hung Redis. */
  pause (): void
  /** Lets a paused server run again (SIGCONT). */
  resume (): void
}

const BINARY = existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server'
const STARTUP_TIMEOUT_MS = 5000

/** Servers still running, killed if the test process exits without its teardown (crash, tap timeout). */
const running = new Set<ChildProcess>()
let exitHookInstalled = false
function killOnExit (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const proc of running) proc.kill('SIGKILL')
  })
}

async function answersPing (port: number, password?: string): Promise<boolean> {
  const probe = new Redis({ port, host: '127.0.0.1', ...(password ? { password } : {}), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: 500 })
  probe.on('error', () => {})
  try {
    await probe.connect()
    return await probe.ping() === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

type Launch = { ok: true, proc: ChildProcess } | { ok: false, addressInUse: boolean, output: string }

/** Spawns redis-server on `port` and waits until it answers PING, or exits, or the timeout passes. */
async function launch (port: number, extraArgs: string[] = [], configFile?: string, password?: string): Promise<Launch> {
  const proc = spawn(BINARY, [
    ...(configFile ? [configFile] : []),
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', tmpdir(), '--daemonize', 'no', '--loglevel', 'warning', ...extraArgs,
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-2000) }
  proc.stdout?.on('data', collect)
  proc.stderr?.on('data', collect)
  const status = { exited: false }
  proc.once('exit', () => { status.exited = true })
  const spawnError = new Promise<Error>(resolve => proc.once('error', resolve))
  running.add(proc)
  proc.once('exit', () => running.delete(proc))
  let failed: Error | undefined
  spawnError.then(err => { failed = err }, () => {})
  // A readiness the test can only observe by asking: PING until it answers, the process exits or cannot spawn.
  // Someone else may answer on this port (a race for a free port): only our live process counts.
  let answered = false
  await eventually(`redis-server on ${port} answers PING`, async () => {
    if (status.exited || failed) return true
    answered = await answersPing(port, password)
    return answered
  }, STARTUP_TIMEOUT_MS, 25).catch(() => {})
  if (failed) return { ok: false, addressInUse: false, output: failed.message }
  if (answered && !status.exited) return { ok: true, proc }
  await killProcess(proc)
  return { ok: false, addressInUse: /in use|EADDRINUSE/i.test(output), output }
}

/** Nobody listens on `port` now: it can be bound. */
async function portIsFree (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

async function killProcess (proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  await new Promise<void>(resolve => {
    proc.once('exit', () => resolve())
    proc.kill('SIGKILL')
  })
}

/**
 * A private redis-server (never REDIS_URL, never the default port) on a free port, waiting until it answers PING;
 * killed in `t.teardown`. `stop()` kills it like a crash, `start()` brings it back empty on the same port.
 * `extraArgs` are more redis-server options; `portFor` picks the port (Cluster nodes need their bus port free too);
 * `password` is what the readiness PING authenticates with (when the options set `requirepass`).
 */
export async function startRedis (t: Test, options: { extraArgs?: (port: number) => string[], configFile?: (port: number) => string, portFor?: () => Promise<number>, password?: string } = {}): Promise<RedisServer> {
  killOnExit()
  let child: ChildProcess | undefined
  let port = 0
  let lastOutput = ''
  const argsFor = (p: number): string[] => options.extraArgs?.(p) ?? []
  for (let attempt = 0; attempt < 10 && !child; attempt++) {
    port = await (options.portFor ?? freePort)()
    const result = await launch(port, argsFor(port), options.configFile?.(port), options.password)
    if (result.ok) child = result.proc
    else lastOutput = result.output
  }
  if (!child) throw new Error(`could not start ${BINARY}: ${lastOutput.trim() || 'no output'}`)

  async function stop (): Promise<void> {
    const proc = child
    child = undefined
    if (proc) await killProcess(proc)
  }

  t.teardown(stop)
  return {
    get url () { return `redis://127.0.0.1:${port}` },
    get port () { return port },
    stop,
    pause () { child?.kill('SIGSTOP') },
    resume () { child?.kill('SIGCONT') },
    async start () {
      if (child) return
      // The port may be briefly held (a client's reconnect attempt, a socket closing): retry on the same one.
      for (let attempt = 0; attempt < 40; attempt++) {
        const result = await launch(port, argsFor(port), options.configFile?.(port), options.password)
        if (result.ok) {
          child = result.proc
          return
        }
        lastOutput = result.output
        await eventually(`port ${port} free again`, () => portIsFree(port), 4000, 50).catch(() => {})
      }
      throw new Error(`could not restart ${BINARY} on port ${port}: ${lastOutput.trim() || 'no output'}`)
    },
  }
}
