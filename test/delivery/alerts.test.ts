import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RELEASE, renderedRules, watchedSeries, writeRuleFile } from './alert-rules.ts'
import { EXISTING } from './helm-cases.ts'
import { cleanUpHelm, renderChart } from './helm.ts'
import { ROOT } from './paths.ts'
import { requireTool, skipWithout } from './prometheus.ts'

t.teardown(cleanUpHelm)

/** The alerts the chart must ship (docs/deployment.md "Alerts"). */
const REQUIRED = ['IonGatewayTokenExpiring', 'IonGatewayTokenRefreshFailing', 'IonGatewayHigh5xxRatio', 'IonGatewayIonRateLimited',
  'IonGatewayIonCallsHeld', 'IonGatewayLoginBudgetNearLimit', 'IonGatewayCacheHitRatioCollapsed', 'IonGatewayRedisDegraded',
  'IonGatewayEventLoopLag']
const UNIT_TESTS = join(ROOT, 'test', 'delivery', 'alerts.promtool.yaml')

/** The series selectors of a PromQL expression: metric names with their `{…}` matchers, if any. */
function seriesSelectors (expr: string): Array<{ metric: string, selector: string | undefined }> {
  const e = expr.replace(/\[[^\]]*\]/g, ' ').replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' ')
  const out: Array<{ metric: string, selector: string | undefined }> = []
  for (const m of e.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?/g)) {
    if (m[3] || /^(and|or|unless|bool)$/.test(m[1]!)) continue
    out.push({ metric: m[1]!, selector: m[2] })
  }
  return out
}

function scratch (): string {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-rules-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('the PrometheusRule ships every alert, each with a severity, summary and description', async t => {
  const { manifest, groups } = renderedRules()
  t.equal(manifest.apiVersion, 'monitoring.coreos.com/v1')
  t.equal(manifest.metadata.name, RELEASE.job)
  const rules = groups.flatMap(g => g.rules)
  t.same(REQUIRED.filter(name => !rules.some(r => r.alert === name)), [], 'no required alert is missing')
  for (const rule of rules) {
    t.match(rule.labels?.severity, /^(warning|critical)$/, `${rule.alert}: severity`)
    t.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert}: summary and description`)
  }
})

t.test('no PrometheusRule by default (it needs the Prometheus Operator CRDs)', async t => {
  const { docs } = renderChart(EXISTING, RELEASE)
  t.notOk(docs.some(d => d.kind === 'PrometheusRule'))
})

t.test('an alert expression\'s watched series: comparisons with numbers become bool comparisons, matchers stay', async t => {
  t.equal(watchedSeries('max(x{a!="1", b=~"5.."}) > 0.5 and on (job) y < 2'), 'max(x{a!="1", b=~"5.."}) > bool 0.5 and on (job) y < bool 2')
  t.equal(watchedSeries('min(up) == 0'), 'min(up) == bool 0')
})

t.test('every selector of every alert is scoped to the release (a shared Prometheus\'s other apps never alert)', async t => {
  const { groups } = renderedRules()
  const unscoped: string[] = []
  const foreign: string[] = []
  let seen = 0
  for (const rule of groups.flatMap(g => g.rules)) {
    for (const { metric, selector } of seriesSelectors(rule.expr)) {
      seen++
      if (!selector?.includes(`namespace="${RELEASE.namespace}", job="${RELEASE.job}"`)) unscoped.push(`${rule.alert}: ${metric}${selector ?? ''}`)
      if (!/^(ion_gateway_|nodejs_|process_)/.test(metric)) foreign.push(`${rule.alert}: ${metric}`)
    }
  }
  t.ok(seen > REQUIRED.length, `${seen} series selectors checked`)
  t.same(unscoped, [], 'every series selector names the release\'s namespace and job')
  t.same(foreign, [], 'only the gateway\'s metrics and its Node process metrics')
})

t.test('thresholds and the selector come from values', async t => {
  const { groups } = renderedRules({
    prometheusRule: { selector: 'cluster="prd", service="gw"', thresholds: { tokenExpiresInSeconds: 300, errorRatio: 0.01, cacheHitRatio: 0.5, cacheMinMissRate: 2, loginBudgetRatio: 0.9, eventLoopLagSeconds: 0.25 } },
  })
  const expr = (name: string) => groups.flatMap(g => g.rules).find(r => r.alert === name)?.expr ?? ''
  t.match(expr('IonGatewayTokenExpiring'), /\{cluster="prd", service="gw"\}\) < 300$/)
  t.match(expr('IonGatewayHigh5xxRatio'), /> 0\.01$/)
  t.match(expr('IonGatewayCacheHitRatioCollapsed'), /< 0\.5\n[\s\S]*> 2$/)
  t.match(expr('IonGatewayLoginBudgetNearLimit'), /> 0\.9$/)
  t.match(expr('IonGatewayEventLoopLag'), /> 0\.25$/)
})

t.test('promtool: the rendered rules are valid, and each alert fires on its condition and only then', { skip: skipWithout('promtool') }, async t => {
  const promtool = requireTool(t, 'promtool')
  if (!promtool) return
  const dir = scratch()
  const rules = writeRuleFile(dir, renderedRules().groups)
  const check = spawnSync(promtool, ['check', 'rules', rules], { encoding: 'utf8' })
  t.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`)
  t.match(check.stdout, new RegExp(`SUCCESS: ${REQUIRED.length} rules found`))
  copyFileSync(UNIT_TESTS, join(dir, 'alerts.promtool.yaml'))
  const unit = spawnSync(promtool, ['test', 'rules', 'alerts.promtool.yaml'], { encoding: 'utf8', cwd: dir })
  t.equal(unit.status, 0, `promtool test rules: ${unit.stdout}${unit.stderr}`)
})
