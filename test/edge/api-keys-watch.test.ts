import t, { type Test } from 'tap'
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { newApiKey, type ApiKeyRegistry } from '../../src/edge/api-keys.ts'
import { writeApiKeysFile } from '../../src/edge/api-keys-file.ts'
import { watchApiKeysFile } from '../../src/edge/api-keys-watch.ts'
import { eventually } from '../helpers/wait.ts'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function watched (t: Test, file: string) {
  const seen = { reloads: [] as ApiKeyRegistry[], invalid: [] as string[] }
  const watch = watchApiKeysFile(file, {
    debounceMs: 20,
    onReload: registry => seen.reloads.push(registry),
    onInvalid: error => seen.invalid.push(error.message),
  })
  t.teardown(() => watch.close())
  return seen
}

t.test('a file replaced by rename (npm run keys) is reloaded; a broken one is reported and not loaded', async t => {
  const file = join(tempDir(t), 'clients.json')
  const a = newApiKey('a')
  writeApiKeysFile(file, [a.record])
  const seen = watched(t, file)

  const b = newApiKey('b')
  writeApiKeysFile(file, [a.record, b.record])
  await eventually('reload after the rename', () => seen.reloads.length === 1 || `${seen.reloads.length} reloads, invalid: ${seen.invalid.join('; ')}`)
  t.same(seen.reloads[0]?.identify(b.key), { id: 'b', admin: false })

  writeFileSync(file, '[{"id":')
  // The write may be seen half done (truncated, then written): one report or two, never a reload.
  await eventually('the broken file is reported', () => seen.invalid.length >= 1 || `${seen.invalid.length} reports`)
  t.ok(seen.invalid.every(m => /not valid JSON/.test(m)), `reported as not JSON (saw ${seen.invalid.join('; ')})`)
  t.equal(seen.reloads.length, 1, `no reload from a broken file (saw ${seen.reloads.length})`)

  writeApiKeysFile(file, [{ ...a.record, revoked: true }, b.record])
  await eventually('reload after the fix', () => seen.reloads.length === 2 || `${seen.reloads.length} reloads`)
  t.equal(seen.reloads[1]?.identify(a.key), undefined, 'revoked')
})

t.test('a Kubernetes Secret update (the ..data symlink renamed over) is reloaded', async t => {
  const dir = tempDir(t)
  // The kubelet's layout: clients.json -> ..data/clients.json, ..data -> a timestamped directory.
  const version = (name: string, content: string) => {
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'clients.json'), content)
  }
  const a = newApiKey('a')
  version('..2026_01', JSON.stringify([a.record]))
  symlinkSync('..2026_01', join(dir, '..data'))
  symlinkSync('..data/clients.json', join(dir, 'clients.json'))
  const seen = watched(t, join(dir, 'clients.json'))

  const b = newApiKey('b', true)
  version('..2026_02', JSON.stringify([a.record, b.record]))
  symlinkSync('..2026_02', join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  rmSync(join(dir, '..2026_01'), { recursive: true })
  await eventually('reload after the Secret update', () => seen.reloads.length === 1 || `${seen.reloads.length} reloads, invalid: ${seen.invalid.join('; ')}`)
  t.same(seen.reloads[0]?.identify(b.key), { id: 'b', admin: true })
  t.same(seen.invalid, [])
})
