import t from 'tap'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileTokenStore, tokenFileName, type TokenFileIdentity } from '../../src/ion/token-file-store.ts'
import type { StoredToken } from '../../src/ion/token-store.ts'

const identity: TokenFileIdentity = {
  tenant: 'ACME_TST',
  tokenUrl: 'https://mingle-sso.example.com:443/ACME_TST/as/token.oauth2',
  clientId: 'ACME_TST~client',
  grant: 'password',
  serviceAccount: 'ACME_TST#saak',
}

function fixture () {
  let clock = 1_000_000
  const dir = join(mkdtempSync(join(tmpdir(), 'ion-gateway-token-file-')), 'tokens')
  const store = new FileTokenStore(dir, identity, { now: () => clock })
  const token = (accessToken: string, lifetimeMs = 3_600_000, refreshToken?: string): StoredToken =>
    ({ accessToken, obtainedAtMs: clock, expiresAtMs: clock + lifetimeMs, ...(refreshToken ? { refreshToken } : {}) })
  return { dir, store, token, advance: (ms: number) => { clock += ms } }
}

t.test('keeps the access token for the next run, in a 600 file of a 700 directory, and nothing else', async t => {
  const { dir, store, token } = fixture()
  t.equal(store.kind, 'file')
  t.equal(store.shared, true, 'shared: the manager never revokes what the next run will use')
  t.equal(await store.get(), undefined, 'no file yet')
  await store.set(token('access-a', 3_600_000, 'refresh-secret'))
  const again = new FileTokenStore(dir, identity, { now: () => 1_000_000 })
  t.same(await again.get(), { accessToken: 'access-a', obtainedAtMs: 1_000_000, expiresAtMs: 4_600_000 }, 'another process reads it')
  t.equal(statSync(store.path).mode & 0o777, 0o600, 'file mode 600')
  t.equal(statSync(dir).mode & 0o777, 0o700, 'directory mode 700')
  const text = readFileSync(store.path, 'utf8')
  t.notOk(text.includes('refresh-secret'), 'the refresh token is never written')
  t.same(Object.keys(JSON.parse(text) as object).sort(), ['accessToken', 'expiresAtMs', 'obtainedAtMs'])
  t.same(readdirSync(dir), [tokenFileName(identity)], 'no temporary file left behind')
})

t.test('expired, corrupt or foreign content is no token; clear(token) removes only that token', async t => {
  const { store, token, advance } = fixture()
  await store.set(token('expired', -1))
  t.equal(await store.get(), undefined, 'an expired token is never written')
  await store.set(token('short', 1000))
  advance(1000)
  t.equal(await store.get(), undefined, 'a token is no longer read once expired')
  writeFileSync(store.path, '{not json')
  t.equal(await store.get(), undefined, 'not JSON')
  writeFileSync(store.path, JSON.stringify({ accessToken: 42 }))
  t.equal(await store.get(), undefined, 'not a token')
  await store.set(token('b'))
  await store.clear('another')
  t.equal((await store.get())?.accessToken, 'b', 'clear(other) leaves it')
  await store.clear('b')
  t.equal(await store.get(), undefined, 'clear(same) removes it')
  await store.clear()
  t.pass('clear() without a file is fine')
  t.equal(await store.tryLock('x', 1000), true, 'one process at a time: the lock is the manager\'s own single flight')
})

t.test('an unreadable file is an unavailable store (the manager goes process-local), not an empty one', { skip: process.getuid?.() === 0 ? 'root reads any file' : false }, async t => {
  const { store, token } = fixture()
  await store.set(token('a'))
  chmodSync(store.path, 0o000)
  await t.rejects(store.get(), { code: 'EACCES' })
})

t.test('the file name: readable tenant, a hash of who the token is for, never a credential', async t => {
  const name = tokenFileName(identity)
  t.match(name, /^ACME_TST-[0-9a-f]{16}\.json$/)
  t.not(tokenFileName({ ...identity, tokenUrl: 'http://127.0.0.1:4001/ACME_TST/as/token.oauth2' }), name, 'another authority (an emulator on another port)')
  t.not(tokenFileName({ ...identity, clientId: 'ACME_TST~other' }), name, 'another client')
  t.not(tokenFileName({ ...identity, grant: 'client_credentials', serviceAccount: undefined }), name, 'another grant')
  t.not(tokenFileName({ ...identity, serviceAccount: 'ACME_TST#other' }), name, 'another service account')
  t.not(tokenFileName({ ...identity, tenant: 'ACME_PRD' }), name, 'another tenant')
  t.match(tokenFileName({ ...identity, tenant: '../etc/x' }), /^___etc_x-[0-9a-f]{16}\.json$/, 'the tenant cannot leave the directory')
  t.notOk(name.includes('client') || name.includes('saak'))
})
