import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import YAML from 'yaml'
import { eventually, freePort } from '../helpers/wait.ts'

/**
 * Debian's `prometheus` package (it brings `promtool`), which .ci/run installs: the binary when it is on the PATH.
 */
export function prometheusTool (name: 'prometheus' | 'promtool'): string | undefined {
  return spawnSync(name, ['--version'], { encoding: 'utf8' }).status === 0 ? name : undefined
}

/** tap's `skip` option for a test needing `name`: a reason locally when it is missing; in CI (CI=true) never. */
export function skipWithout (name: 'prometheus' | 'promtool'): string | false {
  if (prometheusTool(name) || process.env.CI === 'true') return false
  return `${name} is not installed (apt-get install prometheus)`
}

/** The binary, or a failed assertion saying it is missing (CI must run every test). */
export function requireTool (t: Test, name: 'prometheus' | 'promtool'): string | undefined {
  const bin = prometheusTool(name)
  if (!bin) t.fail(`${name} is not installed (apt-get install prometheus): CI must run this test`)
  return bin
}

export interface PromResult { metric: Record<string, string>, value: [number, string] }

export interface RunningPrometheus {
  url: string
  /** An instant query through /api/v1/query; throws on a PromQL error. */
  query (expr: string): Promise<PromResult[]>
}

export interface ScrapeTarget {
  /** host:port */
  address: string
  /** Labels the target gets, as Kubernetes service discovery would give them (namespace, pod…). */
  labels: Record<string, string>
}

/**
 * A private Prometheus (temp config and data directory, loopback, a free port) scraping `targets` every second under
 * the job name `job`, killed in teardown.
 */
export async function startPrometheus (t: Test, binary: string, job: string, targets: ScrapeTarget[]): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-prometheus-'))
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: [{ job_name: job, static_configs: targets.map(target => ({ targets: [target.address], labels: target.labels })) }],
  }
  writeFileSync(join(dir, 'prometheus.yml'), YAML.stringify(config))
  let child: ChildProcess | undefined
  let url = ''
  let output = ''
  t.teardown(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise<void>(resolve => child!.once('exit', () => resolve()))
      child.kill('SIGKILL')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })
  // Another process may take the free port before Prometheus binds it: try again on a new one.
  for (let attempt = 0; attempt < 5 && !url; attempt++) {
    const port = await freePort()
    const proc = spawn(binary, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    let gone = false
    const exited = new Promise<void>(resolve => proc.once('exit', () => {
      gone = true
      resolve()
    }))
    const candidate = `http://127.0.0.1:${port}`
    try {
      await eventually('prometheus ready', async () => {
        if (gone) throw new Error(`prometheus exited: ${output.slice(-500)}`)
        const res = await fetch(`${candidate}/-/ready`).catch(() => undefined)
        return res?.status === 200
      }, 30000)
      child = proc
      url = candidate
    } catch (err) {
      proc.kill('SIGKILL')
      await exited
      if (attempt === 4) throw err
    }
  }
  return {
    url,
    async query (expr) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`)
      const body = await res.json() as { status: string, error?: string, data?: { resultType: string, result: PromResult[] } }
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? res.status}`)
      if (body.data?.resultType !== 'vector') throw new Error(`${expr}: a ${body.data?.resultType} result`)
      return body.data.result
    },
  }
}
