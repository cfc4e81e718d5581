import t from 'tap'
import type { Test } from 'tap'
import { startGateway } from '../helpers/gateway.ts'
import { allPanels, dashboard, dashboardQueries as queries } from './dashboard-queries.ts'

const DATASOURCE = '${DS_PROMETHEUS}' // eslint-disable-line no-template-curly-in-string
/** Labels Prometheus adds to every scraped series (Kubernetes service discovery), not the app. */
const TARGET_LABELS = new Set(['namespace', 'job', 'pod', 'instance', 'service', 'container'])
/** What the dashboard must show (docs/deployment.md "Metrics and the dashboard"). */
const REQUIRED = [
  'ion_gateway_http_request_duration_seconds_bucket',
  'ion_gateway_http_request_duration_seconds_count',
  'ion_gateway_cache_hits_total',
  'ion_gateway_cache_misses_total',
  'ion_gateway_cache_stale_served_total',
  'ion_gateway_token_expires_in_seconds',
  'ion_gateway_token_refreshes_total',
  'ion_gateway_token_refresh_failing',
  'ion_gateway_upstream_request_duration_seconds_bucket',
  'ion_gateway_upstream_request_duration_seconds_count',
  'ion_gateway_upstream_retries_total',
  'ion_gateway_ion_holds_total',
  'ion_gateway_ion_login_budget_used_ratio',
  'ion_gateway_rate_limit_exceeded_total',
  'ion_gateway_active_connections',
  'ion_gateway_redis_up',
  'process_resident_memory_bytes',
  'process_cpu_seconds_total',
  'nodejs_eventloop_lag_seconds',
]
/** Standard Node process metrics keep their names; everything else the dashboard reads must be the gateway's own. */
const PROCESS_METRIC = /^(process|nodejs)_/

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])

/** Metric names of a PromQL expression, and the labels it matches or groups on. */
function analyse (expr: string): { metrics: string[], matchers: Array<{ metric: string, label: string }>, grouping: string[] } {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  const matchers: Array<{ metric: string, label: string }> = []
  for (const m of e.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}/g)) {
    for (const l of m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) matchers.push({ metric: m[1]!, label: l[1]! })
  }
  const grouping: string[] = []
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_m, _k, labels: string) => {
    grouping.push(...labels.split(',').map(s => s.trim()).filter(Boolean))
    return ' '
  })
  e = e.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ').replace(/\$\{?\w+\}?/g, ' ').replace(/\b\d+(\.\d+)?([eE][+-]?\d+)?\b/g, ' ')
  const metrics: string[] = []
  for (const m of e.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]!.toLowerCase())) continue
    metrics.push(m[1]!)
  }
  return { metrics: [...new Set(metrics)], matchers, grouping: [...new Set(grouping)] }
}

interface Scrape {
  /** Metric family name -> type (counter, gauge, histogram, summary). */
  families: Map<string, string>
  /** Label names a family declares (from the app's registry). */
  labelNames: (family: string) => string[]
}

/** The real gateway, listening, against the ION emulator: a few requests, then GET /metrics over HTTP. */
async function scrape (t: Test): Promise<Scrape> {
  const gw = await startGateway(t, { env: { LOG_LEVEL: 'silent', CACHE_DRIVER: 'memory' } })
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${gw.url}/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`)
    await res.arrayBuffer()
    t.equal(res.status, 200, `item request ${i + 1}`)
  }
  await (await fetch(`${gw.url}/ready`)).arrayBuffer()
  const res = await fetch(`${gw.url}/metrics`)
  t.equal(res.status, 200, 'GET /metrics')
  const text = await res.text()
  const families = new Map<string, string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1]!, m[2]!)
  // Label names seen on samples, plus those the registry declares for series not yet observed.
  const sampled = new Map<string, Set<string>>()
  for (const m of text.matchAll(/^([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}/gm)) {
    const family = familyOf(m[1]!, families) ?? m[1]!
    const names = sampled.get(family) ?? new Set<string>()
    for (const l of m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="/g)) names.add(l[1]!)
    sampled.set(family, names)
  }
  const registry = gw.app.gatewayMetrics.registry
  return {
    families,
    labelNames: family => [
      ...(sampled.get(family) ?? []),
      ...((registry.getSingleMetric(family) as unknown as { labelNames?: string[] } | undefined)?.labelNames ?? []),
    ],
  }
}

/** The family a sample name belongs to: histograms and summaries expose _bucket, _sum and _count series. */
function familyOf (name: string, families: Map<string, string>): string | undefined {
  if (families.has(name)) return name
  const m = /^(.+)_(bucket|sum|count)$/.exec(name)
  if (!m) return undefined
  const type = families.get(m[1]!)
  if (type === 'histogram' || (type === 'summary' && m[2] !== 'bucket')) return m[1]
  return undefined
}

t.test('the dashboard is a Grafana dashboard with a Prometheus datasource variable and job/namespace filters', async t => {
  t.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`)
  t.equal(dashboard.uid, 'ion-gateway')
  t.ok(dashboard.title)
  const vars = new Map(dashboard.templating.list.map(v => [v.name, v]))
  t.match(vars.get('DS_PROMETHEUS'), { type: 'datasource', query: 'prometheus' })
  t.ok(vars.get('job')?.type === 'query' || vars.get('namespace')?.type === 'query', 'a job or namespace variable')
  const panels = allPanels(dashboard.panels)
  const ids = panels.map(p => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const panel of panels) {
    t.ok(panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: fits the 24-column grid`)
    if (panel.type === 'row') continue
    t.equal(panel.datasource?.uid, DATASOURCE, `${panel.title}: uses the datasource variable`)
    t.ok((panel.targets ?? []).length > 0, `${panel.title}: has a query`)
    for (const target of panel.targets ?? []) {
      t.equal(target.datasource?.uid, DATASOURCE, `${panel.title} ${target.refId}: datasource variable`)
      t.match(target.expr, /job=~"\$job"/, `${panel.title} ${target.refId}: follows the job filter`)
    }
  }
})

t.test('the dashboard shows every metric it must show', async t => {
  const used = new Set(queries().flatMap(q => analyse(q.expr).metrics))
  t.same(REQUIRED.filter(name => !used.has(name)), [], 'no required metric is missing')
  const titles = allPanels(dashboard.panels).map(p => p.title.toLowerCase())
  for (const words of ['request rate', 'error rate', 'p50 / p95 / p99', 'cache hit ratio', 'stale', 'token expires', 'token refreshes',
    'upstream latency', 'retries', 'rate-limit', 'active connections', 'memory', 'cpu', 'event loop']) {
    t.ok(titles.some(title => title.includes(words)), `a panel about ${words}`)
  }
  const exprs = queries().map(q => q.expr)
  t.ok(exprs.some(e => /histogram_quantile\(0\.99, sum by \(le\) \(rate\(ion_gateway_http_request_duration_seconds_bucket/.test(e)), 'p99 from the route histogram')
  t.ok(exprs.some(e => /by \(success, trigger\) \(increase\(ion_gateway_token_refreshes_total/.test(e)), 'refreshes by success and trigger')
  t.ok(exprs.some(e => /ion_gateway_cache_hits_total.*\/ \(.*ion_gateway_cache_hits_total.*\+.*ion_gateway_cache_misses_total/.test(e)), 'hits / (hits + misses)')
})

t.test('every metric the dashboard reads is the gateway\'s own (ion_gateway_) or a standard Node process metric', async t => {
  const foreign = queries().flatMap(q => analyse(q.expr).metrics.filter(m => !m.startsWith('ion_gateway_') && !PROCESS_METRIC.test(m)).map(m => `${q.where}: ${m}`))
  t.same(foreign, [], 'a shared Prometheus\'s other applications cannot leak into a panel')
  const anchors = dashboard.templating.list.filter(v => v.type === 'query').map(v => String(v.definition))
  t.ok(anchors.every(a => a.includes('ion_gateway_')), `variables list only targets exporting the gateway's metrics: ${anchors.join(' | ')}`)
})

t.test('the PromQL parser finds metric names and labels', async t => {
  const a = analyse('histogram_quantile(0.95, sum by (le, system) (rate(upstream_request_duration_seconds_bucket{job=~"$job", system!="x"}[$__rate_interval]))) / on (pod) group_left foo:bar')
  t.same(a.metrics, ['upstream_request_duration_seconds_bucket', 'foo:bar'])
  t.same(a.grouping, ['le', 'system', 'pod'])
  t.same(a.matchers.map(m => m.label), ['job', 'system'])
})

t.test('every metric and label the dashboard queries exists in a real scrape of the gateway', async t => {
  const s = await scrape(t)
  t.ok(s.families.size > 5, `${s.families.size} metric families scraped`)
  const unknown: string[] = []
  const badLabels: string[] = []
  for (const q of queries()) {
    const { metrics, matchers, grouping } = analyse(q.expr)
    const families: string[] = []
    for (const name of metrics) {
      const family = familyOf(name, s.families)
      if (family) families.push(family)
      else unknown.push(`${q.where}: ${name}`)
    }
    const labelsOf = (family: string) => new Set([...s.labelNames(family), ...(s.families.get(family) === 'histogram' ? ['le'] : [])])
    for (const { metric, label } of matchers) {
      const family = familyOf(metric, s.families)
      if (family && !TARGET_LABELS.has(label) && !labelsOf(family).has(label)) badLabels.push(`${q.where}: ${metric} has no label ${label}`)
    }
    for (const label of grouping) {
      if (TARGET_LABELS.has(label)) continue
      for (const family of families) {
        if (!labelsOf(family).has(label)) badLabels.push(`${q.where}: ${family} has no label ${label} to group by`)
      }
    }
  }
  t.same(unknown, [], 'every metric name is exported by the gateway')
  t.same(badLabels, [], 'every label filtered or grouped on is exported with its metric')
})
