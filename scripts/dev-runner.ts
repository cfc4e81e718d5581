// `npm run dev`: runs the gateway from its TypeScript sources and restarts it on every save. A restart under a plain
// watcher (node --watch, tsx watch) waits for a whole new process to load its dependencies (~1 to 2 s); this runner
// keeps the next process warm (scripts/dev-standby.ts), so a restart costs only loading the gateway's own files and
// building the app, and that build overlaps the old process's close. See "Development loop" in docs/design.md.
import { watch } from 'chokidar'
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { RunnerMessage, StandbyMessage } from './dev-standby.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const standbyScript = fileURLToPath(new URL('dev-standby.ts', import.meta.url))
/** What the gateway is made of, plus what a new process reads at its start. */
const watched = ['src', 'plugins', 'package.json', 'dev.env', 'tsconfig.json']
/** Read when a process starts, not when it is told to go: a change here makes the warm process stale too. */
const readAtSpawn = new Set(['package.json', 'dev.env'])
/** Editors write a file in bursts (truncate, write, rename): one restart per burst. */
const SETTLE_MS = 25

// Node strips the types itself from 22.18; before that tsx does. Shell variables win over dev.env.
const nodeStripsTypes = Boolean((process.features as { typescript?: unknown }).typescript)
const execArgv = [...(nodeStripsTypes ? [] : ['--import', 'tsx']), '--env-file=dev.env']

const say = (line: string) => process.stderr.write(`[dev] ${line}\n`)

interface Standby { child: ChildProcess, exited: Promise<void> }

function spawnStandby (): Standby {
  // Its own process group: a Ctrl-C reaches the runner only, which forwards it once (closeWithGrace takes a second
  // signal as "exit now").
  const child = fork(standbyScript, [], { cwd: root, execArgv, stdio: 'inherit', detached: true })
  child.on('message', (message: StandbyMessage) => {
    // The first process goes live at once: only a standby still waiting is news.
    if (message.type === 'warm' && next?.child === child) say(`pid ${child.pid} has loaded the dependencies: the next restart starts from it`)
  })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  return { child, exited }
}

let live: Standby | undefined
let next: Standby | undefined = spawnStandby()
let stopping = false

function restart (): void {
  const previous = live
  const current = next ?? spawnStandby()
  next = undefined
  live = current
  // The next standby loads its dependencies once this one is about to listen (or has died), not alongside its
  // build: they would share two cores.
  const spawnNext = () => { if (!next && !stopping && live === current) next = spawnStandby() }
  current.child.on('message', (message: StandbyMessage) => { if (message.type === 'listening') spawnNext() })
  current.child.once('exit', spawnNext)
  const previousGone = !previous || previous.child.exitCode !== null || previous.child.signalCode !== null
  current.child.send({ type: 'go', portFree: previousGone } satisfies RunnerMessage)
  if (!previousGone) {
    previous.child.kill('SIGTERM')
    previous.exited.then(() => {
      if (current.child.connected) current.child.send({ type: 'port-free' } satisfies RunnerMessage)
    })
  }
  current.exited.then(() => {
    if (live === current && !stopping) say(`the gateway exited (code ${current.child.exitCode ?? current.child.signalCode}); waiting for a change`)
  })
}

restart()

let timer: NodeJS.Timeout | undefined
const changed = new Set<string>()
const watcher = watch(watched, { cwd: root, ignoreInitial: true })
watcher.on('all', (_event, path) => {
  changed.add(path)
  clearTimeout(timer)
  timer = setTimeout(() => {
    const paths = [...changed]
    changed.clear()
    say(`${paths.join(', ')} changed: restarting`)
    if (next && paths.some(p => readAtSpawn.has(p))) {
      next.child.kill('SIGTERM')
      next = undefined
    }
    restart()
  }, SETTLE_MS)
})

async function stop (signal: NodeJS.Signals): Promise<void> {
  if (stopping) return
  stopping = true
  clearTimeout(timer)
  await watcher.close()
  next?.child.kill('SIGTERM')
  live?.child.kill(signal)
  await Promise.all([next?.exited, live?.exited])
  process.exit(live?.child.exitCode ?? 0)
}
process.on('SIGINT', () => { stop('SIGINT').catch(() => process.exit(1)) })
process.on('SIGTERM', () => { stop('SIGTERM').catch(() => process.exit(1)) })
