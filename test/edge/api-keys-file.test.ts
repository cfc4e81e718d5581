import t, { type Test } from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadApiKeysFile } from '../../src/edge/api-keys.ts'
import { addClient, describeClients, readOrEmpty, revokeClient, writeApiKeysFile } from '../../src/edge/api-keys-file.ts'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('clients are added, revoked and listed without the file ever holding a key', async t => {
  const dir = tempDir(t)
  const file = join(dir, 'clients.json')
  t.same(readOrEmpty(file), [], 'a missing file is an empty list')

  const portal = addClient(readOrEmpty(file), 'portal', false)
  writeApiKeysFile(file, portal.records)
  const ops = addClient(readOrEmpty(file), 'ops', true)
  writeApiKeysFile(file, ops.records)
  t.equal(statSync(file).mode & 0o777, 0o600, `mode 600 (saw ${(statSync(file).mode & 0o777).toString(8)})`)
  t.same(readdirSync(dir), ['clients.json'], 'no temp file left behind')
  const text = readFileSync(file, 'utf8')
  t.notOk(text.includes(portal.key) || text.includes(ops.key), 'keys are not stored')
  t.same(loadApiKeysFile(file).identify(ops.key), { id: 'ops', admin: true })

  t.throws(() => addClient(readOrEmpty(file), 'portal', false), /"portal" is already in the file/)
  t.throws(() => addClient(readOrEmpty(file), 'bad id', false), /client id/)
  t.throws(() => revokeClient(readOrEmpty(file), 'nobody'), /no client "nobody"/)

  const revoked = revokeClient(readOrEmpty(file), 'portal')
  t.equal(revoked.alreadyRevoked, false)
  writeApiKeysFile(file, revoked.records)
  t.equal(loadApiKeysFile(file).identify(portal.key), undefined, 'a revoked key is refused')
  t.equal(revokeClient(readOrEmpty(file), 'portal').alreadyRevoked, true)
  t.throws(() => addClient(readOrEmpty(file), 'portal', false), /already in the file \(revoked\)/, 'a revoked id is not given out again')

  const lines = describeClients(readOrEmpty(file))
  t.match(lines[1], /^portal +no +yes +[0-9a-f]{8}…$/, `list line (saw ${lines[1]})`)
  t.match(lines[2], /^ops +yes +no +[0-9a-f]{8}…$/, `list line (saw ${lines[2]})`)
  for (const r of readOrEmpty(file)) t.notOk(lines.join('\n').includes(r.keySha256), 'no whole hash is listed')
})

t.test('a file that cannot be read or parsed is not overwritten', async t => {
  const dir = tempDir(t)
  const file = join(dir, 'clients.json')
  writeFileSync(file, '[{')
  t.throws(() => readOrEmpty(file), /not valid JSON/)
  t.equal(readFileSync(file, 'utf8'), '[{')
})
