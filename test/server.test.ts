import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sampleIonApi } from './fixtures/ionapi.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-server-'))

function boot (env: Record<string, string>): Promise<{ code: number | null, stderr: string, stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let stdout = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('boot did not stop')) }, 20000)
    child.on('exit', code => { clearTimeout(timer); resolve({ code, stderr, stdout }) })
  })
}

t.test('a bad .ionapi stops the boot with one clear line and exit code 1', async t => {
  const file = join(dir, 'bad.ionapi')
  const { saak: _saak, ...withoutSaak } = sampleIonApi
  writeFileSync(file, JSON.stringify(withoutSaak))
  const { code, stderr, stdout } = await boot({ ION_API_FILE: file })
  t.equal(code, 1)
  t.equal(stdout, '')
  const lines = stderr.trim().split('\n')
  t.equal(lines.length, 1, 'one line')
  t.match(lines[0], /^ion-gateway: Invalid ION_API_FILE: .*bad\.ionapi: fields "saak" and "sask" are required/)
  t.notOk(stderr.includes(sampleIonApi.sask), 'no secret printed')
  t.notOk(stderr.includes(sampleIonApi.cs), 'no secret printed')
})

t.test('a bad variable stops the boot naming it', async t => {
  const file = join(dir, 'good.ionapi')
  writeFileSync(file, JSON.stringify(sampleIonApi))
  const { code, stderr } = await boot({ ION_API_FILE: file, UPSTREAM_RETRIES: 'many' })
  t.equal(code, 1)
  t.equal(stderr.trim(), 'ion-gateway: Invalid environment: UPSTREAM_RETRIES must be integer')
})

t.test('a bad CLIENT_API_KEYS_FILE stops the boot naming it', async t => {
  const file = join(dir, 'good2.ionapi')
  writeFileSync(file, JSON.stringify(sampleIonApi))
  const keys = join(dir, 'keys.json')
  writeFileSync(keys, JSON.stringify([{ id: 'portal', keySha256: 'not-a-hash' }]))
  const { code, stderr } = await boot({ ION_API_FILE: file, CLIENT_API_KEYS_FILE: keys })
  t.equal(code, 1)
  t.match(stderr.trim(), /^ion-gateway: CLIENT_API_KEYS_FILE: .*keys\.json: entry \/0\/keySha256/)
  t.equal(stderr.trim().split('\n').length, 1)
})
