import t from 'tap'
import { once } from 'node:events'
import { createRedisClient, redisModeOf, watchRedis } from '../src/redis.ts'
import { redisNamespace } from '../src/redis-namespace.ts'
import { startRedis } from './helpers/redis.ts'

t.test('watchRedis: a Redis that stops answering is dropped, commands then fail at once, and it is used again once it answers', async t => {
  const server = await startRedis(t)
  const client = createRedisClient(server.url)
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.disconnect())
  let hangs = 0
  const watchdog = watchRedis(client, { intervalMs: 100, timeoutMs: 200, onHang: () => { hangs++ } })
  t.teardown(() => watchdog.stop())
  t.equal(await client.ping(), 'PONG')

  server.pause()
  t.teardown(() => server.resume())
  await once(client, 'close')
  t.equal(hangs, 1, `the hang was reported once (saw ${hangs})`)
  t.not(client.status, 'ready')
  const err = await client.get('k').then(() => undefined, (e: Error) => e)
  t.ok(err, 'a command is refused')
  t.notMatch(String(err?.message), /timed out/i, `refused at once, not after a timeout: ${String(err?.message)}`)

  server.resume()
  await once(client, 'ready')
  t.equal(await client.ping(), 'PONG', 'used again once it answers')
})

t.test('redisModeOf names the topology', async t => {
  t.equal(redisModeOf(createRedisClient('redis://127.0.0.1:1')), 'standalone')
  t.equal(redisModeOf(createRedisClient({ mode: 'sentinel', sentinels: [{ host: '127.0.0.1', port: 1 }], masterName: 'm', tls: false })), 'sentinel')
  t.equal(redisModeOf(createRedisClient({ mode: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }], tls: false })), 'cluster')
})

t.test('redisNamespace: tenant and a hash of the ION URL under the prefix; no hash tag, no way out of the tenant part', async t => {
  const tst = redisNamespace('ion-gateway:', { tenant: 'ACME_TST', apiBaseUrl: 'https://ion.example.com/ACME_TST' })
  t.match(tst.root, /^ion-gateway:ACME_TST:[0-9a-f]{8}:$/)
  t.equal(tst.cache, `${tst.root}cache:`)
  t.equal(tst.rateLimit, `${tst.root}ratelimit:`)
  t.equal(tst.token, `${tst.root}token:`)
  const otherHost = redisNamespace('ion-gateway:', { tenant: 'ACME_TST', apiBaseUrl: 'https://ion2.example.com/ACME_TST' })
  t.not(otherHost.root, tst.root, 'same tenant name on another ION: another namespace')
  t.equal(redisNamespace('ion-gateway:', { tenant: 'ACME_TST', apiBaseUrl: 'https://ion.example.com/ACME_TST' }).root, tst.root, 'stable')
  const odd = redisNamespace('p:', { tenant: 'A:{B}*', apiBaseUrl: 'https://x/A' })
  t.match(odd.root, /^p:A%3A%7BB%7D%2A:[0-9a-f]{8}:$/, `odd tenants are encoded: ${odd.root}`)
  t.throws(() => redisNamespace('a{b}:', { tenant: 'T', apiBaseUrl: 'https://x/T' }), /hash tags/)
})
