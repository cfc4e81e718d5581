import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { createEmulator } from '../emulator/index.ts'
import { buildIsCurrent, root } from './helpers/build.ts'
import { eventually, freePort } from './helpers/wait.ts'

t.test('SIGTERM: /ready 503 during the delay, the slow in-flight request completes, token revoked, exit 0', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const file = join(mkdtempSync(join(tmpdir(), 'ion-gateway-shutdown-')), 'e.ionapi')
  writeFileSync(file, JSON.stringify(emulator.ionapi))
  const port = await freePort()
  // The real `npm start` on the current build (npm test builds before the suite; a stale dist/ is rebuilt): npm
  // forwards SIGTERM to node, and its exit code is node's.
  if (!buildIsCurrent()) {
    const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' })
    t.equal(build.status, 0, 'npm run build', { stderr: build.stderr })
  }
  const child = spawn('npm', ['start'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ION_API_FILE: file, PORT: String(port), HOST: '127.0.0.1', SHUTDOWN_DELAY_MS: '800', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  // npm and node share a process group of their own: a failed test leaves neither behind.
  t.teardown(() => { if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL') })

  const base = `http://127.0.0.1:${port}`
  const readiness = (): Promise<number> => request(`${base}/ready`).then(async r => { await r.body.dump(); return r.statusCode }, () => 0)
  await eventually('the gateway is ready', async () => (await readiness()) === 200, 20000)
  emulator.faults.latency(1500, '/ACME_TST/M3/')
  const slow = request(`${base}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`).then(async r => ({ status: r.statusCode, body: await r.body.text() }))
  await eventually('the slow request reached ION', () => emulator.stats.inFlight() === 1)
  child.kill('SIGTERM')
  // SHUTDOWN_DELAY_MS is 800: readiness must turn within it, while the slow request is still in flight.
  await eventually('/ready turns 503', async () => (await readiness()) === 503, 700)
  t.pass('/ready turns 503 at once')
  const during = await request(`${base}/ready`)
  t.equal(during.statusCode, 503)
  t.equal(((await during.body.json()) as { status: string }).status, 'unhealthy')
  t.equal((await request(`${base}/health`).then(async r => { await r.body.dump(); return r.statusCode })), 200, 'still serving during the delay')
  const answer = await slow
  t.equal(answer.status, 200, 'the in-flight request completed')
  t.match(answer.body, /A100/)
  const code = await exited
  t.equal(code, 0, 'exit code 0')
  const after = await request(`${base}/health`).then(r => r.statusCode, (err: NodeJS.ErrnoException) => err.code)
  t.equal(after, 'ECONNREFUSED', 'node itself stopped (npm forwarded the signal; no orphan left listening)')
  t.equal(emulator.stats.revocations(), 2, 'access and refresh tokens revoked')
  t.match(output, /shutting down/)
  t.notOk(output.includes(emulator.ionapi.cs) || output.includes(emulator.ionapi.sask), 'no secret in the output')
})
