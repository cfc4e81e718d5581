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
  for (const entry of ['src', 'plugins', 'package.json', 'dev.env', 'tsconfig.json']) cpSync(join(root, entry), join(dir, entry), { recursive: true })
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

  const saved = Date.now()
  const server = join(dir, 'src', 'server.ts')
  writeFileSync(server, readFileSync(server, 'utf8') + '\n// saved again\n')
  await eventually('a new process listens', () => listening().length === 2 || `${listening().length} listening lines`, 60000)
  const restartMs = Date.now() - saved
  await eventually('and is ready', ready, 30000)
  const closedAt = lines().find(l => l.msg === 'closed')?.time
  const secondAt = listening()[1]?.time
  t.comment(`restart observed ${restartMs} ms after the save (new process listening); old process closed ${closedAt ? closedAt - saved : '?'} ms after the save, the new one listened ${closedAt && secondAt ? secondAt - closedAt : '?'} ms later`)

  const shutdown = lines().find(l => l.msg?.startsWith('shutting down'))
  t.ok(shutdown, 'the old process shut down gracefully')
  t.equal(shutdown?.delayMs, 0, 'with no shutdown delay (NODE_ENV=development)')
  t.ok(lines().some(l => l.msg === 'closed' && l.pid === firstPid), 'and closed by itself')
  t.notMatch(output, /Killing process/, 'the watcher never had to kill it (tsx says so when it does; node --watch waits)')
  t.not(listening()[1]!.pid, firstPid, 'another process')
  t.equal(emulator.stats.tokenRequests(), 1, 'the new process took the token from ION_TOKEN_DIR: still one login')
  t.equal(emulator.stats.revocations(), 0, 'the token was not revoked on the restart')
  t.notOk(output.includes(emulator.ionapi.cs) || output.includes(emulator.ionapi.sask), 'no secret in the output')
})
