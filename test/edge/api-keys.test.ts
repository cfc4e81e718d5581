import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiKeysFileError, createApiKeyRegistry, loadApiKeysFile, newApiKey, sha256Hex } from '../../src/edge/api-keys.ts'
import { addressIdentity } from '../../src/edge/client-ip.ts'

t.test('new keys are random, and only their hash is registered', async t => {
  const a = newApiKey('portal')
  const b = newApiKey('portal', true)
  t.not(a.key, b.key)
  t.equal(a.record.keySha256, sha256Hex(a.key))
  t.notOk(JSON.stringify(a.record).includes(a.key))
  t.same(b.record.admin, true)
  t.throws(() => newApiKey('bad id'), ApiKeysFileError)
})

t.test('the registry identifies keys; wrong, empty, revoked and absurd keys are nobody', async t => {
  const a = newApiKey('a')
  const b = newApiKey('b', true)
  const c = newApiKey('c')
  const registry = createApiKeyRegistry([a.record, b.record, { ...c.record, revoked: true }])
  t.same(registry.identify(a.key), { id: 'a', admin: false })
  t.same(registry.identify(b.key), { id: 'b', admin: true })
  t.equal(registry.identify(c.key), undefined, 'revoked')
  t.equal(registry.identify(a.key + 'x'), undefined)
  t.equal(registry.identify(''), undefined)
  t.equal(registry.identify(undefined), undefined)
  t.equal(registry.identify('x'.repeat(10000)), undefined)
  t.equal(registry.identify(a.record.keySha256), undefined, 'the hash itself is not a key')
})

t.test('the keys file is validated with messages that name the entry', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-keys-'))
  const write = (name: string, content: string) => { writeFileSync(join(dir, name), content); return join(dir, name) }
  t.equal(loadApiKeysFile(write('ok.json', JSON.stringify([newApiKey('a').record]))).size, 1)
  t.throws(() => loadApiKeysFile(join(dir, 'missing.json')), /cannot read .*ENOENT/)
  t.throws(() => loadApiKeysFile(write('bad.json', '[{')), /not valid JSON/)
  t.throws(() => loadApiKeysFile(write('shape.json', JSON.stringify([{ id: 'a', keySha256: 'short' }]))), /entry \/0\/keySha256/)
  const dup = newApiKey('a').record
  t.throws(() => loadApiKeysFile(write('dup.json', JSON.stringify([dup, dup]))), /appears twice/)
})

t.test('addresses: IPv4 as is, IPv6 by /64, mapped IPv4 as IPv4', async t => {
  t.equal(addressIdentity('10.1.2.3'), '10.1.2.3')
  t.equal(addressIdentity('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(addressIdentity('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64')
  t.equal(addressIdentity('2001:0db8:0001:0002::9'), '2001:db8:1:2::/64')
  t.equal(addressIdentity('::1'), '0:0:0:0::/64')
  t.equal(addressIdentity('::ffff:127.0.0.1'), '127.0.0.1')
})
