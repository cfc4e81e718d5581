import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { postForm } from './helpers.ts'

t.jobs = 2

const CLI = fileURLToPath(new URL('../../emulator/cli.ts', import.meta.url))

function start (args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1]
      if (url && stdout.includes('curl')) resolve(url)
    })
    child.once('exit', code => reject(new Error(`cli exited with ${code}: ${stderr}`)))
  })
  listening.catch(() => {}) // awaited only by the tests that expect the CLI to start
  return { child, listening, output: () => stdout, errors: () => stderr }
}

t.test('npm run emulator: writes the .ionapi, prints URL and a curl example, serves tokens, exits cleanly on SIGTERM', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'ion-emulator-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'local.ionapi')
  const cli = start(['--out', out, '--tenant', 'CLI_TST', '--token-lifetime', '600'], { PORT: '0' })
  t.teardown(() => { cli.child.kill('SIGKILL') })
  const url = await cli.listening
  const ionapi = JSON.parse(readFileSync(out, 'utf8'))
  t.equal(ionapi.iu, url)
  t.equal(ionapi.ti, 'CLI_TST')
  t.equal(statSync(out).mode & 0o077, 0, 'the credentials file is private')
  t.match(cli.output(), out)
  t.match(cli.output(), `curl -s -X POST '${ionapi.pu}${ionapi.ot}'`)
  const token = await postForm(ionapi.pu + ionapi.ot, {
    grant_type: 'password', username: ionapi.saak, password: ionapi.sask, client_id: ionapi.ci, client_secret: ionapi.cs,
  })
  t.equal(token.status, 200)
  t.equal(token.json.expires_in, 600)
  cli.child.kill('SIGTERM')
  const [code, signal] = await once(cli.child, 'exit')
  t.equal(code, 0, cli.errors())
  t.equal(signal, null)
})

t.test('the CLI refuses a bad port with a usage message', async t => {
  const cli = start(['--port', 'abc', '--out', join(tmpdir(), 'never-written.ionapi')])
  const [code] = await once(cli.child, 'exit')
  t.equal(code, 2)
  t.match(cli.errors(), /--port must be an integer/)
})
