import t from 'tap'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { createEmulator, ITEM_NUMBERS } from '../../emulator/index.ts'
import { writeKeysFile, type KeysFile } from '../helpers/api-keys.ts'
import { startGateway, type GatewayUnderTest } from '../helpers/gateway.ts'
import { startRedisCluster, startRedisSentinel } from '../helpers/redis-topologies.ts'
import { eventually } from '../helpers/wait.ts'

// The gateway on a real 3-master Redis Cluster and on a real Sentinel setup (master, replica, sentinel).

/** The helper's client key (`portal`) and admin key (`ops`), under the names these tests use. */
function appKeys (keys: KeysFile): { file: string, app: string, admin: string } {
  return { file: keys.file, app: keys.portal, admin: keys.ops }
}

async function call (url: string, key: string, method: 'GET' | 'DELETE' = 'GET') {
  const res = await request(url, { method, headers: { 'x-api-key': key } })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text }
}

const item = (i: number): string => `/m3/mi/MMS200MI/GetItmBasic?ITNO=${ITEM_NUMBERS[i % ITEM_NUMBERS.length]}&n=${i}`

async function readiness (gw: GatewayUnderTest): Promise<{ status: string, checks: { redis: { status: string, mode?: string } } }> {
  const res = await request(`${gw.url}/ready`)
  return await res.body.json() as { status: string, checks: { redis: { status: string, mode?: string } } }
}

t.test('Redis Cluster: replicas share hits, one token request and one rate limit; purge reaches every master', async t => {
  const cluster = await startRedisCluster(t)
  const keys = appKeys(writeKeysFile(t))
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const env = { REDIS_CLUSTER_NODES: cluster.seeds, CACHE_DRIVER: 'redis', CLIENT_API_KEYS_FILE: keys.file, RATE_LIMIT_MAX: '500' }
  const a = await startGateway(t, { emulator, env })
  const b = await startGateway(t, { emulator, env })
  await Promise.all([a.app.ionTokens.getAccessToken(), b.app.ionTokens.getAccessToken()])
  t.equal(emulator.stats.tokenRequests(), 1, `one token request for both replicas (saw ${emulator.stats.tokenRequests()})`)
  t.match(await readiness(a), { status: 'healthy', checks: { redis: { status: 'up', mode: 'cluster' } } })

  const N = 24
  for (let i = 0; i < N; i++) t.equal((await call(a.url + item(i), keys.app)).headers['x-cache'], 'MISS')
  const hits = []
  for (let i = 0; i < N; i++) hits.push((await call(b.url + item(i), keys.app)).headers['x-cache'])
  t.same(hits, Array(N).fill('HIT'), 'replica B hits what A stored')
  t.equal(emulator.stats.calls('/ACME_TST/M3/'), N)

  // The entries really are spread over the masters (no hash tag pins a tenant to one slot).
  const perNode = await Promise.all(cluster.nodes.map(async node => {
    const direct = new Redis(node.port, '127.0.0.1')
    try {
      return (await direct.keys(`${a.app.redisNamespace.cache}*`)).length
    } finally {
      direct.disconnect()
    }
  }))
  t.equal(perNode.reduce((x, y) => x + y, 0), N, `entries per master: ${perNode.join(', ')}`)
  t.ok(perNode.filter(n => n > 0).length >= 2, `entries on several masters: ${perNode.join(', ')}`)

  const before = Number((await call(a.url + item(0), keys.app)).headers['ratelimit-remaining'])
  const after = Number((await call(b.url + item(0), keys.app)).headers['ratelimit-remaining'])
  t.equal(after, before - 1, `one rate limit across replicas (A left ${before}, then B left ${after})`)

  const purged = await call(`${a.url}/admin/cache`, keys.admin, 'DELETE')
  t.same(JSON.parse(purged.text), { purged: N }, 'the purge found the entries on every master')
  t.equal((await call(b.url + item(1), keys.app)).headers['x-cache'], 'MISS', 'and they are gone for B too')

  // The token's Lua scripts (compare-and-delete, unlock) run in a Cluster: ION expires the token, A refreshes once,
  // B reads A's new token.
  const tokensBefore = emulator.stats.tokenRequests()
  emulator.faults.expireAll()
  t.equal((await call(a.url + item(50), keys.app)).status, 200)
  t.equal((await call(b.url + item(51), keys.app)).status, 200)
  t.equal(emulator.stats.tokenRequests() - tokensBefore, 1, `one token request for both replicas (saw ${emulator.stats.tokenRequests() - tokensBefore})`)
})

t.test('Sentinel: replicas share hits and tokens, and again within 10 s of a failover; no request fails meanwhile', async t => {
  const setup = await startRedisSentinel(t)
  const keys = appKeys(writeKeysFile(t))
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const env = {
    REDIS_SENTINELS: setup.sentinels,
    REDIS_SENTINEL_MASTER: setup.masterName,
    CACHE_DRIVER: 'redis',
    CLIENT_API_KEYS_FILE: keys.file,
    RATE_LIMIT_MAX: '10000',
  }
  const a = await startGateway(t, { emulator, env })
  const b = await startGateway(t, { emulator, env })
  await Promise.all([a.app.ionTokens.getAccessToken(), b.app.ionTokens.getAccessToken()])
  t.equal(emulator.stats.tokenRequests(), 1, 'one token request for both replicas')
  t.match(await readiness(a), { status: 'healthy', checks: { redis: { status: 'up', mode: 'sentinel' } } })
  t.equal((await call(a.url + item(0), keys.app)).headers['x-cache'], 'MISS')
  t.equal((await call(b.url + item(0), keys.app)).headers['x-cache'], 'HIT')

  // Clients keep calling both replicas through the failover; every answer must still be a 200.
  const statuses = new Map<number, number>()
  const traffic = { on: true }
  const load = (async () => {
    for (let i = 0; traffic.on; i++) {
      const gw = i % 2 === 0 ? a : b
      const res = await call(gw.url + item(i % 5), keys.app)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    }
  })()

  const oldMaster = setup.master.port
  await setup.master.stop()
  await eventually('the sentinel promotes the replica', async () => (await setup.masterPort()) === setup.replica.port, 20000)
  t.not(await setup.masterPort(), oldMaster)

  // Within 10 s of the promotion both gateways use the new master: a fresh entry stored by A is a hit for B.
  let probe = 100
  await eventually('the replicas share hits again', async () => {
    probe++
    const first = await call(a.url + item(probe), keys.app)
    const second = await call(b.url + item(probe), keys.app)
    return (first.headers['x-cache'] === 'MISS' && second.headers['x-cache'] === 'HIT') || `${String(first.headers['x-cache'])}/${String(second.headers['x-cache'])}`
  }, 10000)
  t.pass('hits are shared again after the failover')

  traffic.on = false
  await load
  const seen = Object.fromEntries(statuses)
  t.same(Object.keys(seen), ['200'], `every client request during the failover was answered 200: ${JSON.stringify(seen)}`)

  // Tokens: ION lets the access token expire; A refreshes it once (with its refresh token) and stores it on the new
  // master, and B, answered 401 with the old one, reads A's new token instead of logging in again.
  const tokensBefore = emulator.stats.tokenRequests()
  emulator.faults.expireAll()
  t.equal((await call(a.url + item(300), keys.app)).status, 200)
  t.equal((await call(b.url + item(301), keys.app)).status, 200)
  t.equal(emulator.stats.tokenRequests() - tokensBefore, 1, `one token request for both replicas after the failover (saw ${emulator.stats.tokenRequests() - tokensBefore})`)
  t.match(await readiness(b), { status: 'healthy', checks: { redis: { status: 'up', mode: 'sentinel' } } })
})

t.test('Sentinel with passwords: the data nodes\' (REDIS_PASSWORD) and the sentinels\' own (REDIS_SENTINEL_PASSWORD)', async t => {
  const passwords = { data: 'data-secret-1', sentinel: 'sentinel-secret-2' }
  const setup = await startRedisSentinel(t, 'iongw', passwords)
  const keys = appKeys(writeKeysFile(t))
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const env = {
    REDIS_SENTINELS: setup.sentinels,
    REDIS_SENTINEL_MASTER: setup.masterName,
    REDIS_PASSWORD: passwords.data,
    REDIS_SENTINEL_PASSWORD: passwords.sentinel,
    CACHE_DRIVER: 'redis',
    CLIENT_API_KEYS_FILE: keys.file,
  }
  const a = await startGateway(t, { emulator, env })
  const b = await startGateway(t, { emulator, env })
  await eventually('both replicas reach Redis through the sentinel', async () => {
    const states = await Promise.all([readiness(a), readiness(b)])
    return states.every(s => s.checks.redis.status === 'up') || JSON.stringify(states.map(s => s.checks.redis))
  })
  t.equal((await call(a.url + item(0), keys.app)).headers['x-cache'], 'MISS')
  t.equal((await call(b.url + item(0), keys.app)).headers['x-cache'], 'HIT', 'the replicas share the authenticated master')
  t.notMatch(a.logText() + b.logText(), new RegExp(`${passwords.data}|${passwords.sentinel}`), 'no password in the logs')
})
