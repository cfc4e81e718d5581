import t from 'tap'
import { request } from 'undici'
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { newApiKey, readApiKeyRecords } from '../../src/edge/api-keys.ts'
import { addClient, revokeClient, writeApiKeysFile } from '../../src/edge/api-keys-file.ts'
import { writeKeysFile } from '../helpers/api-keys.ts'
import { startGateway, type GatewayUnderTest } from '../helpers/gateway.ts'
import { eventually } from '../helpers/wait.ts'

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'
// Polling with a key not yet valid spends the address's budget: it is large enough never to run out here.
const ENV = { MAX_EVENT_LOOP_DELAY_MS: '0', RATE_LIMIT_MAX: '1000000' }

async function status (url: string, key: string): Promise<number> {
  const res = await request(url + ITEM, { headers: { 'x-api-key': key } })
  await res.body.dump()
  return res.statusCode
}

async function untilStatus (gw: GatewayUnderTest, key: string, expected: number, what: string): Promise<void> {
  let seen = 0
  await eventually(what, async () => (seen = await status(gw.url, key)) === expected || `status ${seen}`)
}

t.test('the gateway follows the keys file without a restart: added keys work, revoked ones are refused, a broken file changes nothing', async t => {
  const keys = writeKeysFile(t)
  const gw = await startGateway(t, { env: { ...ENV, CLIENT_API_KEYS_FILE: keys.file } })

  const added = addClient(readApiKeyRecords(keys.file), 'erp', false)
  writeApiKeysFile(keys.file, added.records)
  await untilStatus(gw, added.key, 200, 'the new key is accepted')

  writeApiKeysFile(keys.file, revokeClient(readApiKeyRecords(keys.file), 'portal').records)
  await untilStatus(gw, keys.portal, 401, 'the revoked key is refused')
  t.equal(await status(gw.url, added.key), 200, 'the other keys still work')

  const good = readApiKeyRecords(keys.file)
  writeFileSync(keys.file, '[{"id": "broken"')
  await eventually('a warning about the broken file', () => gw.logs.some(l => l.level === 40 && /cannot be used/.test(String(l.msg))) || 'no warning yet')
  const statuses = [await status(gw.url, added.key), await status(gw.url, keys.ops), await status(gw.url, keys.portal)]
  t.same(statuses, [200, 200, 401], `the previous keys stay in force (saw ${statuses.join(', ')})`)

  writeApiKeysFile(keys.file, revokeClient(good, 'erp').records)
  await untilStatus(gw, added.key, 401, 'a fixed file is loaded again')
  t.notOk([added.key, keys.ops, keys.portal].some(k => gw.logText().includes(k)), 'no key in the logs')
})

t.test('a Kubernetes Secret update (the mount\'s ..data symlink swapped) reaches a running gateway', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const version = (name: string, content: string) => {
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'api-keys.json'), content)
  }
  const first = newApiKey('first')
  version('..2026_01', JSON.stringify([first.record]))
  symlinkSync('..2026_01', join(dir, '..data'))
  symlinkSync('..data/api-keys.json', join(dir, 'api-keys.json'))
  const gw = await startGateway(t, { env: { ...ENV, CLIENT_API_KEYS_FILE: join(dir, 'api-keys.json') } })
  t.equal(await status(gw.url, first.key), 200)

  const second = newApiKey('second')
  version('..2026_02', JSON.stringify([{ ...first.record, revoked: true }, second.record]))
  symlinkSync('..2026_02', join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  rmSync(join(dir, '..2026_01'), { recursive: true })
  await untilStatus(gw, second.key, 200, 'the key of the new Secret is accepted')
  t.equal(await status(gw.url, first.key), 401, 'the key revoked in the new Secret is refused')
})
