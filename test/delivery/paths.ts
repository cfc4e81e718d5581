import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'

/** Locations of the delivery files, from the repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const CHART = join(ROOT, 'helm', 'ion-gateway')
export const TEMPLATES = join(CHART, 'templates')
export const DASHBOARD = join(CHART, 'dashboards', 'ion-gateway.json')
export const DOCKERFILE = join(ROOT, 'docker', 'Dockerfile')
export const DOCKERIGNORE = join(ROOT, '.dockerignore')
export const DEPLOYMENT_DOC = join(ROOT, 'docs', 'deployment.md')
export const CHART_README = join(CHART, 'README.md')

export function read (path: string): string {
  return readFileSync(path, 'utf8')
}

export function readYaml<T = Record<string, unknown>> (path: string): T {
  return YAML.parse(read(path)) as T
}

export function readJson<T = Record<string, unknown>> (path: string): T {
  return JSON.parse(read(path)) as T
}

/** Every file under `dir`, as paths relative to ROOT. */
export function walk (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) out.push(...walk(full))
    else out.push(relative(ROOT, full))
  }
  return out
}

export function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `over` merged into `base`, maps key by key (as Helm merges a values file over values.yaml). */
export function deepMerge (base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const current = out[k]
    out[k] = isPlainObject(current) && isPlainObject(v) ? deepMerge(current, v) : v
  }
  return out
}

/** The chart's default values. */
export function chartValues (): Record<string, unknown> {
  return readYaml(join(CHART, 'values.yaml'))
}
