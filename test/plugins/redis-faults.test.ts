import t from 'tap'
import { request } from 'undici'
import { createEmulator, ITEM_NUMBERS } from '../../emulator/index.ts'
import { startGateway, type GatewayUnderTest } from '../helpers/gateway.ts'
import { startRedis } from '../helpers/redis.ts'
import { eventually } from '../helpers/wait.ts'

const ITEM = `/m3/mi/MMS200MI/GetItmBasic?ITNO=${ITEM_NUMBERS[0]}`

async function get (url: string): Promise<{ status: number, cache: unknown, elapsedMs: number }> {
  const started = performance.now()
  const res = await request(url)
  await res.body.dump()
  return { status: res.statusCode, cache: res.headers['x-cache'], elapsedMs: performance.now() - started }
}

async function readiness (gw: GatewayUnderTest): Promise<{ status: string, checks: { redis: { status: string, mode?: string } } }> {
  const res = await request(`${gw.url}/ready`)
  return await res.body.json() as { status: string, checks: { redis: { status: string, mode?: string } } }
}

t.test('a hung Redis (accepts connections, never answers) is reported and not waited on until it answers again', async t => {
  const redis = await startRedis(t)
  const gw = await startGateway(t, { env: { REDIS_URL: redis.url, CACHE_DRIVER: 'redis' } })
  t.equal((await get(gw.url + ITEM)).cache, 'MISS')
  t.equal((await get(gw.url + ITEM)).cache, 'HIT')
  t.match(await readiness(gw), { status: 'healthy', checks: { redis: { status: 'up', mode: 'standalone' } } })

  redis.pause()
  t.teardown(() => redis.resume())
  await eventually('/ready reports the hung Redis', async () => {
    const r = await readiness(gw)
    return (r.status === 'degraded' && r.checks.redis.status === 'degraded') || JSON.stringify(r)
  })

  // Each request would wait for the rate limit's and the cache's Redis command (~500 ms each) if Redis were still
  // trusted; ten together must not come near one command timeout each.
  const answers = []
  for (let i = 0; i < 10; i++) answers.push(await get(gw.url + ITEM))
  const totalMs = answers.reduce((sum, a) => sum + a.elapsedMs, 0)
  t.same(answers.map(a => a.status), Array(10).fill(200), 'every request is answered')
  t.same(answers.map(a => a.cache), Array(10).fill('BYPASS'), 'from ION, past the cache')
  t.ok(totalMs < 10 * 500, `ten requests took ${Math.round(totalMs)} ms in all (${answers.map(a => Math.round(a.elapsedMs)).join(', ')})`)

  redis.resume()
  await eventually('/ready is healthy again', async () => (await readiness(gw)).status === 'healthy')
  t.equal((await get(gw.url + ITEM)).cache, 'HIT', 'the entry kept in Redis is served again')
})

t.test('a token endpoint slower than UPSTREAM_TIMEOUT_MS still hands out a token within TOKEN_TIMEOUT_MS', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  emulator.faults.tokenLatency(600)
  const fresh = await startGateway(t, { emulator, env: { UPSTREAM_TIMEOUT_MS: '200', TOKEN_TIMEOUT_MS: '10000' } })
  await eventually('the gateway becomes ready', async () => {
    const res = await request(`${fresh.url}/ready`)
    await res.body.dump()
    return res.statusCode === 200 || `status ${res.statusCode}`
  })
  t.ok(fresh.app.ionTokens.state().hasValidToken, 'it holds a token')
  const answer = await get(fresh.url + ITEM)
  t.equal(answer.status, 200, 'and serves with it')
})
