import { DASHBOARD, readJson } from './paths.ts'

export interface Target { expr: string, refId: string, legendFormat?: string, datasource?: { type: string, uid: string } }
export interface Panel {
  id: number
  type: string
  title: string
  gridPos: { h: number, w: number, x: number, y: number }
  datasource?: { type: string, uid: string }
  targets?: Target[]
  panels?: Panel[]
}
export interface Variable { name: string, type: string, query?: string | { query: string }, definition?: string }
export interface Dashboard { schemaVersion: number, title: string, uid: string, panels: Panel[], templating: { list: Variable[] } }

export const dashboard = readJson<Dashboard>(DASHBOARD)

export function allPanels (panels: Panel[]): Panel[] {
  return panels.flatMap(p => [p, ...allPanels(p.panels ?? [])])
}

export interface Query { where: string, expr: string }

/** Every PromQL expression: panel targets, and the metric selectors of label_values() variables. */
export function dashboardQueries (): Query[] {
  const out: Query[] = []
  for (const panel of allPanels(dashboard.panels)) {
    for (const target of panel.targets ?? []) out.push({ where: `${panel.title} ${target.refId}`, expr: target.expr })
  }
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue
    const text = typeof v.query === 'string' ? v.query : v.query?.query ?? v.definition ?? ''
    const m = /^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(text.trim())
    if (m) out.push({ where: `variable ${v.name}`, expr: `sum by (${m[2]}) (${m[1]})` })
    else out.push({ where: `variable ${v.name}`, expr: text })
  }
  return out
}

/**
 * A dashboard expression as Grafana sends it: every template variable at its "All" value (`.*`), and
 * `$__rate_interval` as the given range.
 */
export function substituteVariables (expr: string, rateInterval: string): string {
  return expr.replace(/\$__rate_interval/g, rateInterval).replace(/\$\{?(namespace|job|pod)\}?/g, '.*')
}
