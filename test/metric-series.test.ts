import t from 'tap'
import { Counter, Histogram, Registry } from 'prom-client'
import { LabelledCounter, LabelledHistogram } from '../src/metric-series.ts'

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

// Deterministic pseudo-random values: durations from microseconds to past the last bucket, bounds exactly hit.
function * observations (n: number): Generator<{ method: string, route: string, status: number, value: number }> {
  let x = 12345
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648
  const routes = ['/m3/*', '/ln/*', 'unmatched', '/a "quoted"\\route\nnewline']
  for (let i = 0; i < n; i++) {
    const r = next()
    const value = i % 17 === 0 ? (BUCKETS[i % BUCKETS.length] as number) : r < 0.02 ? 40 * next() : Math.pow(10, -5 + 6 * next())
    yield { method: next() < 0.8 ? 'GET' : 'POST', route: routes[Math.floor(next() * routes.length)] as string, status: next() < 0.9 ? 200 : 503, value }
  }
}

t.test('a labelled histogram writes exactly what prom-client\'s Histogram writes for the same observations', async t => {
  const ours = new Registry()
  const theirs = new Registry()
  const labelNames = ['method', 'route', 'status_code'] as const
  const fast = new LabelledHistogram({ name: 'x_seconds', help: 'Help with a \\ backslash\nand a newline', labelNames, buckets: BUCKETS, registers: [ours] })
  const reference = new Histogram({ name: 'x_seconds', help: 'Help with a \\ backslash\nand a newline', labelNames, buckets: BUCKETS, registers: [theirs] })
  for (const o of observations(5000)) {
    fast.series([o.method, o.route, o.status]).observe(o.value)
    reference.observe({ method: o.method, route: o.route, status_code: o.status }, o.value)
  }
  const text = await ours.metrics()
  t.equal(text, await theirs.metrics())
  t.match(text, /x_seconds_bucket\{le="\+Inf",method="GET",route="\/m3\/\*",status_code="200"\} \d+/, 'the series are there')
  // The JSON form (unused by the gateway) holds the same values; prom-client adds empty exemplars.
  const values = async (registry: Registry) => (await registry.getMetricsAsJSON()).flatMap(metric => metric.values.map(v => ({ metricName: (v as { metricName?: string }).metricName, labels: v.labels, value: v.value })))
  t.same(await values(ours), await values(theirs), 'the JSON form holds the same values')
})

t.test('a labelled counter writes exactly what prom-client\'s Counter writes', async t => {
  const ours = new Registry()
  const theirs = new Registry()
  const fast = new LabelledCounter({ name: 'hits_total', help: 'Hits', labelNames: ['api'] as const, registers: [ours] })
  const reference = new Counter({ name: 'hits_total', help: 'Hits', labelNames: ['api'] as const, registers: [theirs] })
  for (const [api, by] of [['m3:MMS200MI', 1], ['ln', 2.5], ['m3:MMS200MI', 1], ['idm', 1], ['other', 0]] as const) {
    fast.series([api]).inc(by)
    reference.inc({ api }, by)
  }
  fast.series(['ln']).inc()
  reference.inc({ api: 'ln' })
  t.equal(await ours.metrics(), await theirs.metrics())
})

t.test('bad values are refused as prom-client refuses them; reset forgets every series', async t => {
  const registry = new Registry()
  const histogram = new LabelledHistogram({ name: 'h', help: 'h', labelNames: ['a'] as const, buckets: [1], registers: [registry] })
  const counter = new LabelledCounter({ name: 'c_total', help: 'c', labelNames: ['a'] as const, registers: [registry] })
  t.throws(() => histogram.series(['x']).observe(Number.NaN), TypeError)
  t.throws(() => counter.series(['x']).inc(-1))
  t.throws(() => histogram.series(['x', 'y']), TypeError, 'the wrong number of label values')
  histogram.series(['x']).observe(0.5)
  counter.series(['x']).inc()
  t.match(await registry.metrics(), /h_count\{a="x"\} 1/)
  histogram.reset()
  counter.reset()
  t.notMatch(await registry.metrics(), /a="x"/)
  t.throws(() => new LabelledCounter({ name: 'c_total', help: 'again', labelNames: ['a'] as const, registers: [registry] }), /already been registered/)
})
