import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { createEmulator, ITEM_NUMBERS, type Emulator } from '../../emulator/index.ts'
import { parseIonApi } from '../../src/ion/ionapi.ts'
import { redisNamespace } from '../../src/redis-namespace.ts'
import { writeKeysFile, type KeysFile } from '../helpers/api-keys.ts'
import { startGateway, type GatewayUnderTest } from '../helpers/gateway.ts'
import { startRedis } from '../helpers/redis.ts'

// Two tenants (TST and PRD) and two releases of TST on ONE Redis database, as a cluster with one shared Redis runs them.

/** The helper's client key (`portal`) and admin key (`ops`), under the names these tests use. */
function appKeys (keys: KeysFile): { file: string, app: string, admin: string } {
  return { file: keys.file, app: keys.portal, admin: keys.ops }
}

async function call (url: string, key: string, method: 'GET' | 'DELETE' = 'GET') {
  const res = await request(url, { method, headers: { 'x-api-key': key } })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text }
}

async function emulatorFor (t: Test, tenant: string): Promise<Emulator> {
  const e = await createEmulator({ port: 0, tenant })
  t.teardown(() => e.close())
  return e
}

const ITEM = `/m3/mi/MMS200MI/GetItmBasic?ITNO=${ITEM_NUMBERS[0]}`
const ORDERS = '/ln/lnapi/odata/tdapi.slsSalesOrder/Orders'

t.test('tenants on one Redis database share nothing; replicas of one release share everything', async t => {
  const redis = await startRedis(t)
  const keys = appKeys(writeKeysFile(t))
  const tst = await emulatorFor(t, 'ACME_TST')
  const prd = await emulatorFor(t, 'ACME_PRD')
  const env = { REDIS_URL: redis.url, CACHE_DRIVER: 'redis', CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '50', RATE_LIMIT_WINDOW_MS: '600000' }
  // One after the other, as a rolling deploy starts them: the second replica finds the first one's token in Redis.
  // (Started at once they share it through the refresh lock too, unless a loaded machine makes a Redis call miss
  // its 1 s store deadline: then each replica fairly falls back to its own login.)
  const tstA = await startGateway(t, { emulator: tst, env })
  await tstA.app.ionTokens.getAccessToken()
  const tstB = await startGateway(t, { emulator: tst, env })
  const prdA = await startGateway(t, { emulator: prd, env })
  const canary = await startGateway(t, { emulator: tst, env: { ...env, REDIS_KEY_PREFIX: 'ion-gateway-canary:' } })
  for (const gw of [tstA, tstB, prdA, canary]) await gw.app.ionTokens.getAccessToken()

  t.equal(tst.stats.tokenRequests(), 2, `TST: one token for both replicas, one for the canary release (saw ${tst.stats.tokenRequests()})`)
  t.equal(prd.stats.tokenRequests(), 1, `PRD: its own token (saw ${prd.stats.tokenRequests()})`)

  const m3Calls = (e: Emulator): number => e.stats.calls(`/${e.tenant}/M3/`)
  t.equal((await call(tstA.url + ITEM, keys.app)).headers['x-cache'], 'MISS')
  t.equal((await call(tstB.url + ITEM, keys.app)).headers['x-cache'], 'HIT', 'a replica of the same release shares the entry')
  t.equal(m3Calls(tst), 1)
  const prdFirst = await call(prdA.url + ITEM, keys.app)
  t.equal(prdFirst.headers['x-cache'], 'MISS', 'PRD never gets TST\'s entry')
  t.equal(m3Calls(prd), 1, 'PRD\'s first read reached PRD\'s ION')
  t.equal((await call(canary.url + ITEM, keys.app)).headers['x-cache'], 'MISS', 'another release of TST (other prefix) shares nothing')
  t.equal(m3Calls(tst), 2)

  // LN answers name their ION: PRD must never serve TST's @odata.context.
  await call(tstA.url + ORDERS, keys.app)
  const prdOrders = await call(prdA.url + ORDERS, keys.app)
  t.equal(prdOrders.headers['x-cache'], 'MISS')
  t.notMatch(prdOrders.text, '/ACME_TST/', 'no TST link in PRD\'s LN answer')

  // Purges stay in their namespace.
  const purged = await call(`${prdA.url}/admin/cache`, keys.admin, 'DELETE')
  t.equal(purged.status, 200)
  t.same(JSON.parse(purged.text), { purged: 2 }, 'PRD purged its own two entries only')
  t.equal((await call(tstB.url + ITEM, keys.app)).headers['x-cache'], 'HIT', 'TST\'s entry survived PRD\'s purge')
  t.equal((await call(canary.url + ITEM, keys.app)).headers['x-cache'], 'HIT', 'the canary\'s entry survived too')
  t.equal((await call(prdA.url + ITEM, keys.app)).headers['x-cache'], 'MISS', 'PRD\'s entry is gone')

  // Rate limits: one budget per release, shared by its replicas.
  const remaining = async (gw: GatewayUnderTest): Promise<number> => Number((await call(`${gw.url}${ITEM}`, keys.app)).headers['ratelimit-remaining'])
  const a1 = await remaining(tstA)
  const b1 = await remaining(tstB)
  t.equal(b1, a1 - 1, `the TST replicas count one budget (A left ${a1}, then B left ${b1})`)
  const p1 = await remaining(prdA)
  const c1 = await remaining(canary)
  t.ok(p1 > b1, `PRD's budget is its own (PRD left ${p1}, TST left ${b1})`)
  t.ok(c1 > b1, `the canary's budget is its own (canary left ${c1}, TST left ${b1})`)

  // Every key in Redis belongs to exactly one namespace.
  const spaces = [
    { name: 'tst', root: redisNamespace('ion-gateway:', parseIonApi(tst.ionapi, 'password')).root },
    { name: 'prd', root: redisNamespace('ion-gateway:', parseIonApi(prd.ionapi, 'password')).root },
    { name: 'canary', root: redisNamespace('ion-gateway-canary:', parseIonApi(tst.ionapi, 'password')).root },
  ]
  const inspector = new Redis(redis.url)
  t.teardown(() => inspector.disconnect())
  const all = await inspector.keys('*')
  const owners = all.map(key => spaces.filter(s => key.startsWith(s.root)).map(s => s.name))
  t.ok(all.length >= 9, `keys written: ${all.length}`)
  t.same(owners.filter(o => o.length !== 1), [], `every key has one owner: ${JSON.stringify(all)}`)
  for (const space of spaces) {
    const kinds = new Set(all.filter(k => k.startsWith(space.root)).map(k => k.slice(space.root.length).split(':', 1)[0]))
    t.same([...kinds].sort(), ['cache', 'ratelimit', 'token'], `${space.name} keeps cache, counters and token in its namespace`)
  }
})

t.test('the same tenant name on two ION hosts (two iu) gets two namespaces', async t => {
  const redis = await startRedis(t)
  const keys = appKeys(writeKeysFile(t))
  const one = await emulatorFor(t, 'ACME_TST')
  const two = await emulatorFor(t, 'ACME_TST')
  const env = { REDIS_URL: redis.url, CACHE_DRIVER: 'redis', CLIENT_API_KEYS_FILE: keys.file }
  const gwOne = await startGateway(t, { emulator: one, env })
  const gwTwo = await startGateway(t, { emulator: two, env })
  t.not(gwOne.app.redisNamespace.root, gwTwo.app.redisNamespace.root)
  await call(gwOne.url + ITEM, keys.app)
  t.equal((await call(gwTwo.url + ITEM, keys.app)).headers['x-cache'], 'MISS')
  t.equal(two.stats.calls('/ACME_TST/M3/'), 1, 'the second ION host was asked')
  t.equal(two.stats.tokenRequests(), 1, 'and gave its own token')
})
