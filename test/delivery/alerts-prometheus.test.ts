import t from 'tap'
import { startGateway } from '../helpers/gateway.ts'
import { startRedis } from '../helpers/redis.ts'
import { eventually } from '../helpers/wait.ts'
import { RELEASE, renderedRules, watchedSeries } from './alert-rules.ts'
import { dashboardQueries, substituteVariables } from './dashboard-queries.ts'
import { cleanUpHelm } from './helm.ts'
import { requireTool, skipWithout, startPrometheus } from './prometheus.ts'

t.teardown(cleanUpHelm)

const M3 = '/ACME_TST/M3'
const ITEM = '/m3api-rest/v2/execute/MMS200MI/GetItmBasic'
const STALE_ITEM = '/m3api-rest/v2/execute/CRS610MI/LstByNumber'

/**
 * A real Prometheus scrapes a gateway (with Redis, against the ION emulator) that has served hits, misses, a stale
 * answer after ION failed, retries, an ION 429, a 5xx and an unknown route; then every dashboard query (template
 * variables at "All") and every alert expression must return data through Prometheus' HTTP API. A name or label the
 * gateway does not export, or a PromQL error, shows up here as an empty or failed query.
 */
t.test('every dashboard query and alert expression returns data from a real Prometheus scraping the gateway', { skip: skipWithout('prometheus') }, async t => {
  const prometheus = requireTool(t, 'prometheus')
  if (!prometheus) return
  const redis = await startRedis(t)
  const gw = await startGateway(t, { env: { LOG_LEVEL: 'silent', CACHE_DRIVER: 'memory', REDIS_URL: redis.url, CACHE_TTL_M3: '1', UPSTREAM_RETRIES: '1' } })
  const get = async (path: string) => {
    const res = await fetch(gw.url + path)
    await res.arrayBuffer()
    return res
  }
  await eventually('redis ready', async () => (await get('/ready')).status === 200)

  t.equal((await get(`/m3${ITEM}?ITNO=A100`)).headers.get('x-cache'), 'MISS')
  await gw.app.responseCache?.whenIdle()
  t.equal((await get(`/m3${ITEM}?ITNO=A100`)).headers.get('x-cache'), 'HIT')
  t.equal((await get('/ln/lnapi/odata/tdapi.slsSalesOrder/Orders')).status, 200)
  t.equal((await get(`/m3${STALE_ITEM}`)).status, 200)
  await gw.app.responseCache?.whenIdle()
  // ION fails every try from now on: once the 1 s TTL has passed, the stored answer is served stale (after a retry).
  gw.emulator.faults.failNext(1000, 503, M3 + STALE_ITEM)
  await eventually('a stale answer', async () => (await get(`/m3${STALE_ITEM}`)).headers.get('x-cache') === 'STALE')
  gw.emulator.faults.rateLimitNext(1, 1, M3 + '/m3api-rest/v2/execute/MMS200MI/LstItmWhsByItm')
  t.equal((await get('/m3/m3api-rest/v2/execute/MMS200MI/LstItmWhsByItm?ITNO=A100')).status, 429)
  gw.emulator.faults.failNext(1, 500, '/ACME_TST/LN/')
  t.equal((await get('/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?x=1')).status, 500)
  t.equal((await get('/nope')).status, 404)

  const address = new URL(gw.url).host
  const prom = await startPrometheus(t, prometheus, RELEASE.job, [{ address, labels: { namespace: RELEASE.namespace, pod: `${RELEASE.job}-0` } }])
  // rate() needs two samples of each series inside its window.
  await eventually('two scrapes of the gateway', async () => {
    const r = await prom.query(`count_over_time(up{job="${RELEASE.job}"}[1m])`)
    return Number(r[0]?.value[1] ?? 0) >= 2 || `up samples: ${JSON.stringify(r)}`
  }, 30000)
  const up = await prom.query(`up{job="${RELEASE.job}"}`)
  t.equal(up[0]?.value[1], '1', 'the gateway is up for Prometheus')

  const empty: string[] = []
  const failed: string[] = []
  const queries = [
    ...dashboardQueries().map(q => ({ where: `dashboard ${q.where}`, expr: substituteVariables(q.expr, '1m') })),
    ...renderedRules().groups.flatMap(g => g.rules).map(r => ({ where: `alert ${r.alert}`, expr: watchedSeries(r.expr) })),
  ]
  t.ok(queries.length > 40, `${queries.length} queries`)
  for (const q of queries) {
    try {
      const result = await prom.query(q.expr)
      if (result.length === 0) empty.push(`${q.where}: ${q.expr}`)
    } catch (err) {
      failed.push(`${q.where}: ${(err as Error).message}`)
    }
  }
  t.same(failed, [], 'every query is valid PromQL for Prometheus')
  t.same(empty, [], 'every query returns data')
})
