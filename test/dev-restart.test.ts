import t from 'tap'
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { createEmulator } from '../emulator/index.ts'
import { eventually, freePort } from './helpers/wait.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The sources `npm run dev` runs, copied to a temporary directory: the test edits a file there, never here. */
function devCopy (): string {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-dev-restart-'))
  for (const entry of ['src', 'plugins', 'scripts', 'package.json', 'dev.env', 'tsconfig.json']) cpSync(join(root, entry), join(dir, entry), { recursive: true })
  symlinkSync(realpathSync(join(root, 'node_modules')), join(dir, 'node_modules'))
  return dir
}

t.test('npm run dev: a saved file restarts the gateway with no shutdown delay, and the token is reused', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const dir = devCopy()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ionapi = join(dir, 'emulator.ionapi')
  writeFileSync(ionapi, JSON.stringify(emulator.ionapi))
  const port = await freePort()
  const spawnedAt = Date.now()
  const child = spawn('npm', ['run', 'dev'], {
    cwd: dir,
    // Not a terminal: JSON log lines. NODE_ENV and ION_TOKEN_DIR come from dev.env, as for a developer.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ION_API_FILE: ionapi, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise(resolve => child.on('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode !== null || !child.pid) return
    process.kill(-child.pid, 'SIGTERM')
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }, 10000)
    await exited
    clearTimeout(timer)
  })

  const lines = () => output.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as { msg?: string, delayMs?: number, pid?: number, time?: number })
  const listening = () => lines().filter(l => l.msg?.startsWith('Server listening'))
  const ready = async () => {
    const res = await request(`http://127.0.0.1:${port}/ready`)
    await res.body.dump()
    return res.statusCode === 200 || `status ${res.statusCode}`
  }
  await eventually('the dev gateway is ready', async () => listening().length === 1 && await ready(), 60000)
  t.equal(emulator.stats.tokenRequests(), 1, 'one login')
  t.comment(`first boot (npm, the watcher, compile, ION login): listening ${(listening()[0]?.time ?? NaN) - spawnedAt} ms after the spawn`)
  const firstPid = listening()[0]!.pid

  // The runner keeps the next process warm (dependencies loaded): a developer saves seconds after a start, so the
  // test waits for that too, and checks that the warm process is the one that takes over.
  const warmPids = () => [...output.matchAll(/\[dev\] pid (\d+) has loaded the dependencies/g)].map(m => Number(m[1])).filter(pid => pid !== firstPid)
  await eventually('a standby process is warm', () => warmPids().length === 1 || `${warmPids().length} warm`, 60000)
  const standbyPid = warmPids()[0]

  const serve = join(dir, 'src', 'serve.ts')
  const source = readFileSync(serve, 'utf8')
  const saved = Date.now()
  writeFileSync(serve, source + '\n// saved again\n')
  await eventually('a new process listens', () => listening().length === 2 || `${listening().length} listening lines`, 60000)
  await eventually('and is ready', ready, 30000)
  const closedAt = lines().find(l => l.msg === 'closed')?.time
  const secondAt = listening()[1]?.time
  // From the processes' own log times: the poll above only notices later.
  t.comment(`restart: the new process listened ${secondAt ? secondAt - saved : '?'} ms after the save; the old one had closed ${closedAt ? closedAt - saved : '?'} ms after it`)

  const shutdown = lines().find(l => l.msg?.startsWith('shutting down'))
  t.ok(shutdown, 'the old process shut down gracefully')
  t.equal(shutdown?.delayMs, 0, 'with no shutdown delay (NODE_ENV=development)')
  t.ok(lines().some(l => l.msg === 'closed' && l.pid === firstPid), 'and closed by itself')
  t.equal(listening()[1]!.pid, standbyPid, 'the warm standby took over')
  t.ok(closedAt && secondAt && secondAt >= closedAt, 'and listened only after the old process had closed')
  t.equal(emulator.stats.tokenRequests(), 1, 'the new process took the token from ION_TOKEN_DIR: still one login')
  t.equal(emulator.stats.revocations(), 0, 'the token was not revoked on the restart')

  // A save that does not compile: the gateway stops, the runner waits; the fix starts it again.
  writeFileSync(serve, source + '\nexport const = 1\n')
  await eventually('the broken gateway exited', () => /\[dev\] the gateway exited \(code 1\); waiting for a change/.test(output) || 'not yet', 60000)
  t.equal(lines().filter(l => l.msg === 'closed').length, 2, 'the good process closed before the broken one started')
  writeFileSync(serve, source)
  await eventually('the fixed gateway listens', () => listening().length === 3 || `${listening().length} listening lines`, 60000)
  await eventually('and is ready', ready, 30000)
  t.equal(emulator.stats.tokenRequests(), 1, 'still one login')

  t.notMatch(output, /second SIG|killed by timeout/, 'every process closed on the one signal it was sent')
  t.notOk(output.includes(emulator.ionapi.cs) || output.includes(emulator.ionapi.sask), 'no secret in the output')
})
