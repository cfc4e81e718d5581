import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { EXISTING } from './helm-cases.ts'
import { renderChart, type Manifest } from './helm.ts'

export interface AlertRule { alert: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
export interface RuleGroup { name: string, rules: AlertRule[] }

/** The release the rules are rendered for: its series are namespace="ion", job="gw-ion-gateway". */
export const RELEASE = { releaseName: 'gw', namespace: 'ion', job: 'gw-ion-gateway' }

/** The chart's PrometheusRule (prometheusRule.enabled) as real Helm renders it for RELEASE. */
export function renderedRules (values: Record<string, unknown> = {}): { manifest: Manifest, groups: RuleGroup[] } {
  const { docs } = renderChart({ ...EXISTING, ...values, prometheusRule: { enabled: true, ...(values.prometheusRule as object) } }, RELEASE)
  const manifest = docs.find(d => d.kind === 'PrometheusRule')
  if (!manifest) throw new Error('no PrometheusRule rendered')
  return { manifest, groups: (manifest.spec as { groups: RuleGroup[] }).groups }
}

/** The groups as a Prometheus rule file (what the Operator hands Prometheus), written into `dir`. */
export function writeRuleFile (dir: string, groups: RuleGroup[], name = 'ion-gateway.rules.yaml'): string {
  const file = join(dir, name)
  writeFileSync(file, YAML.stringify({ groups }))
  return file
}

/**
 * An alert expression that answers whether or not the alert fires: each comparison with a number becomes a `bool`
 * comparison (0 or 1 per series), so a query returns the series the alert watches even when all is well.
 */
export function watchedSeries (expr: string): string {
  return expr.replace(/(==|!=|>=|<=|>|<)\s*(?=-?[0-9.])/g, '$1 bool ')
}
