import t from 'tap'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { request } from 'undici'
import { buildApp } from '../src/app.ts'
import { ConfigError, resolveConfig } from '../src/config.ts'
import { loggerOptions } from '../src/logger.ts'
import { chooseLogFormat, createLogStream } from '../src/log-format.ts'
import { createEmulator } from '../emulator/index.ts'
import { demoBanner, demoRequests } from '../emulator/demo-banner.ts'
import { sampleIonApi } from './fixtures/ionapi.ts'
import { testConfig } from './helpers/config.ts'

t.test('SHUTDOWN_DELAY_MS: 5000 by default, 0 with NODE_ENV=development, an explicit value always wins', async t => {
  t.equal(resolveConfig({}, sampleIonApi).shutdownDelayMs, 5000)
  t.equal(resolveConfig({ NODE_ENV: 'production' }, sampleIonApi).shutdownDelayMs, 5000)
  t.equal(resolveConfig({ NODE_ENV: 'development' }, sampleIonApi).shutdownDelayMs, 0)
  t.equal(resolveConfig({ NODE_ENV: 'development', SHUTDOWN_DELAY_MS: '1500' }, sampleIonApi).shutdownDelayMs, 1500)
  t.equal(resolveConfig({ SHUTDOWN_DELAY_MS: '0' }, sampleIonApi).shutdownDelayMs, 0)
})

t.test('ION_TOKEN_DIR: unset by default, refused with NODE_ENV=production', async t => {
  t.equal(resolveConfig({}, sampleIonApi).tokenDir, undefined)
  t.equal(resolveConfig({ ION_TOKEN_DIR: '.dev/ion-tokens' }, sampleIonApi).tokenDir, '.dev/ion-tokens')
  t.throws(() => resolveConfig({ ION_TOKEN_DIR: '/tmp/x', NODE_ENV: 'production' }, sampleIonApi), new ConfigError('Invalid environment: ION_TOKEN_DIR is a development aid (it writes the ION access token to disk) and is refused with NODE_ENV=production'))
})

t.test('npm run dev sets NODE_ENV=development and ION_TOKEN_DIR under a git-ignored directory', async t => {
  const root = new URL('..', import.meta.url)
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> }
  // npm run dev starts the runner, which starts every gateway process with the env file.
  const runner = /scripts\/dev-runner\.ts/.exec(pkg.scripts.dev ?? '')?.[0]
  t.ok(runner, `the dev script runs the dev runner: ${pkg.scripts.dev}`)
  const envFile = /--env-file=([^'"\s]+)/.exec(readFileSync(new URL(runner!, root), 'utf8'))?.[1]
  t.ok(envFile, 'the runner starts the gateway with an env file')
  const vars = Object.fromEntries(readFileSync(new URL(envFile!, root), 'utf8').split('\n')
    .filter(l => /^[A-Z_]+=/.test(l)).map(l => l.split('=', 2) as [string, string]))
  t.equal(vars.NODE_ENV, 'development')
  t.ok(vars.ION_TOKEN_DIR)
  const ignored = readFileSync(new URL('.gitignore', root), 'utf8').split('\n')
  t.ok(ignored.includes(`/${vars.ION_TOKEN_DIR!.split('/')[0]}/`), `${vars.ION_TOKEN_DIR} is git-ignored`)
})

t.test('ION_TOKEN_DIR: the next process reuses the token, one login for two runs; never a secret on disk', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const dir = join(mkdtempSync(join(tmpdir(), 'ion-gateway-dev-')), 'tokens')
  const env = { ION_TOKEN_DIR: dir, NODE_ENV: 'development' }
  const item = '/m3/mi/MMS200MI/GetItmBasic?ITNO=A100'

  const first = await buildApp(testConfig(env, emulator.ionapi), { logger: false })
  await first.ready()
  t.equal((await first.inject(item)).statusCode, 200, 'the first run answers')
  t.equal(first.ionTokens.state().store, 'file')
  await first.close()
  t.equal(emulator.stats.revocations(), 0, 'its token is left for the next run, not revoked')

  const second = await buildApp(testConfig(env, emulator.ionapi), { logger: false })
  t.teardown(() => second.close())
  await second.ready()
  t.equal((await second.inject(item)).statusCode, 200, 'the second run answers')
  t.equal(emulator.stats.tokenRequests(), 1, 'the emulator counted one login for two runs')

  const files = readdirSync(dir)
  t.equal(files.length, 1)
  const text = readFileSync(join(dir, files[0]!), 'utf8')
  for (const secret of [emulator.ionapi.cs, emulator.ionapi.sask, emulator.ionapi.saak, emulator.ionapi.ci]) {
    t.notOk(text.includes(secret), 'no credential in the token file')
  }
  t.notOk(text.includes('refreshToken'), 'no refresh token in the token file')
})

t.test('ION_TOKEN_DIR: a token within the refresh margin is not reused (one more login); without the setting every run logs in', async t => {
  const emulator = await createEmulator({ port: 0, tokenLifetimeS: 600 })
  t.teardown(() => emulator.close())
  const dir = join(mkdtempSync(join(tmpdir(), 'ion-gateway-dev-')), 'tokens')
  // The default refresh margin (300 s) is clamped to half of a 600 s token: a fresh token is outside it...
  const run = async (env: Record<string, string>) => {
    const app = await buildApp(testConfig(env, emulator.ionapi), { logger: false })
    await app.ready()
    const status = (await app.inject('/m3/mi/MMS200MI/GetItmBasic?ITNO=A100')).statusCode
    await app.close()
    return status
  }
  t.equal(await run({ ION_TOKEN_DIR: dir }), 200)
  t.equal(await run({ ION_TOKEN_DIR: dir }), 200)
  t.equal(emulator.stats.tokenRequests(), 1, 'fresh: reused')
  // ...and one obtained 590 s ago, with 10 s left, is inside it: the next run logs in rather than take it.
  const file = join(dir, readdirSync(dir)[0]!)
  const stored = JSON.parse(readFileSync(file, 'utf8')) as { obtainedAtMs: number, expiresAtMs: number }
  writeFileSync(file, JSON.stringify({ ...stored, obtainedAtMs: Date.now() - 590_000, expiresAtMs: Date.now() + 10_000 }))
  t.equal(await run({ ION_TOKEN_DIR: dir }), 200)
  t.equal(emulator.stats.tokenRequests(), 2, 'due for refresh: a new login')
  t.ok((JSON.parse(readFileSync(file, 'utf8')) as { expiresAtMs: number }).expiresAtMs > Date.now() + 500_000, 'and the new token replaced it in the file')
  t.equal(await run({}), 200)
  t.equal(await run({}), 200)
  t.equal(emulator.stats.tokenRequests(), 4, 'no ION_TOKEN_DIR: one login per run, as in production')
})

t.test('log format: pretty only at a terminal', async t => {
  t.equal(chooseLogFormat({ isTTY: true }), 'pretty')
  t.equal(chooseLogFormat({ isTTY: false }), 'json')
  t.equal(chooseLogFormat({}), 'json', 'a pipe or a file has no isTTY')
  t.same(await createLogStream({ stdout: {} }), { format: 'json' }, 'not a terminal: pino\'s own JSON')
  const absent = await createLogStream({
    stdout: { isTTY: true },
    loadPretty: async () => { throw Object.assign(new Error('Cannot find package \'pino-pretty\''), { code: 'ERR_MODULE_NOT_FOUND' }) },
  })
  t.same(absent, { format: 'json' }, 'a terminal without pino-pretty (the production image): JSON')
})

t.test('pretty logs keep the redaction of secrets', async t => {
  let out = ''
  const destination = new Writable({ write (chunk: Buffer, _enc, done) { out += chunk.toString(); done() } })
  const { format, stream } = await createLogStream({ stdout: { isTTY: true }, destination })
  t.equal(format, 'pretty', 'pino-pretty (a devDependency) is installed here')
  const app = Fastify({ logger: loggerOptions({ level: 'info', stream: stream! }) })
  t.teardown(() => app.close())
  app.log.info({ headers: { authorization: 'Bearer s3cr3t-token', 'x-api-key': 'k3y-v4lu3' }, clientSecret: 'cl13nt-s3cr3t' }, 'calling https://ion.example.com/x?access_token=t0k3n&ITNO=A100')
  t.notOk(out.trimStart().startsWith('{'), 'not a JSON line')
  t.match(out, /INFO/)
  t.match(out, /ITNO=A100/)
  for (const secret of ['s3cr3t-token', 'k3y-v4lu3', 'cl13nt-s3cr3t', 't0k3n']) t.notOk(out.includes(secret), `${secret} is redacted`)
  t.match(out, /\[redacted\]/)
})

t.test('the demo banner lists the docs, the probes, the metrics and tries that answer 200, IDM included', async t => {
  const banner = demoBanner({ base: 'http://127.0.0.1:3000', emulatorUrl: 'http://127.0.0.1:4000', tenant: 'ACME_TST', keysRequired: false })
  for (const path of ['/docs', '/health', '/ready', '/metrics', '/idm/api/items/search']) t.match(banner, `http://127.0.0.1:3000${path}`)
  t.match(banner, /none needed \(open mode/)
  t.notMatch(banner, /x-api-key/)
  const keyed = demoBanner({ base: 'http://h:1', emulatorUrl: 'http://e:2', tenant: 'T', keysRequired: true })
  t.match(keyed, /curl -s -H "x-api-key: \$KEY" 'http:\/\/h:1\/m3\//)

  // Every curl the banner offers, sent to a real gateway and emulator (undici, as curl would: unencoded).
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const app = await buildApp(testConfig({ CACHE_DRIVER: 'memory' }, emulator.ionapi), { logger: false })
  t.teardown(() => app.close())
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const live = demoBanner({ base: address, emulatorUrl: emulator.url, tenant: emulator.tenant, keysRequired: false })
  const urls = [...live.matchAll(/curl -s '([^']+)'/g)].map(m => m[1]!)
  t.ok(urls.length >= demoRequests(address).length + 1, `${urls.length} tries`)
  for (const url of [...urls, `${address}/docs/`]) {
    const res = await request(url)
    const body = await res.body.text()
    t.equal(res.statusCode, 200, `${url} -> ${res.statusCode} ${res.statusCode === 200 ? '' : body.slice(0, 200)}`)
  }
})
