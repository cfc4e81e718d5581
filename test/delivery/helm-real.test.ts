import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FailError, parseManifestYaml, renderChart } from './helm-template.ts'
import { CASES, REFUSED, SCHEMA_REFUSED } from './helm-cases.ts'
import { CHART } from './paths.ts'

// The delivery tests render the chart with helm-template.ts, a hand-written imitation of Helm. This file checks
// that imitation against the real binary: same objects for every case, same refusals, and a clean `helm lint`.
// It runs when a Helm binary is found: HELM_BIN, else `helm` on the PATH; without one it is skipped.

const helmBin = process.env.HELM_BIN || 'helm'
const probe = spawnSync(helmBin, ['version', '--short'], { encoding: 'utf8' })
const available = probe.status === 0

if (!available && process.env.CI) {
  // .ci/run installs Helm: in CI a missing binary is a failure, never a skip.
  t.fail(`no Helm binary in CI (HELM_BIN=${helmBin}): ${probe.error?.message ?? probe.stderr}`)
} else if (!available) {
  t.plan(0, `no Helm binary (set HELM_BIN or put helm on the PATH): ${probe.error?.message ?? probe.stderr}`)
} else {
  t.comment(`Helm ${probe.stdout.trim()}`)
  const work = mkdtempSync(join(tmpdir(), 'ion-gateway-helm-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  // Helm writes caches and a repository list under its home directories: keep them out of the user's.
  const env = { ...process.env, HELM_CACHE_HOME: join(work, 'cache'), HELM_CONFIG_HOME: join(work, 'config'), HELM_DATA_HOME: join(work, 'data') }
  let files = 0

  const helm = (args: string[], values: Record<string, unknown>) => {
    const file = join(work, `values-${files++}.yaml`)
    writeFileSync(file, JSON.stringify(values))
    return spawnSync(helmBin, [...args, '-f', file], { encoding: 'utf8', env })
  }

  /** `helm template` output: the documents of each source file, in order. */
  const helmManifests = (values: Record<string, unknown>) => {
    const result = helm(['template', 'gw', CHART, '--namespace', 'ion'], values)
    if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`)
    return bySource(result.stdout.split(/^---\n# Source: (.+)\n/m).slice(1))
  }

  const ownManifests = (values: Record<string, unknown>) => {
    const rendered = renderChart(CHART, { releaseName: 'gw', namespace: 'ion', values })
    const pairs: string[] = []
    for (const [name, text] of rendered.files) {
      if (!name.endsWith('.yaml')) continue
      for (const doc of text.split(/^---\s*$/m)) pairs.push(name, doc)
    }
    return { docs: bySource(pairs), notes: rendered.files.get('ion-gateway/templates/NOTES.txt') ?? '' }
  }

  for (const [what, values] of Object.entries(CASES)) {
    t.test(`helm template renders what the test renderer renders: ${what}`, async t => {
      const own = ownManifests(values)
      const real = helmManifests(values)
      t.same([...real.keys()].sort(), [...own.docs.keys()].sort(), 'the same files make objects')
      for (const [source, docs] of real) {
        const mine = own.docs.get(source) ?? []
        t.same(mine.map(d => d.value), docs.map(d => d.value), `${source}: the same objects`)
        t.same(mine.map(d => d.text), docs.map(d => d.text), `${source}: the same text`)
      }

      const install = helm(['install', 'gw', CHART, '--namespace', 'ion', '--dry-run=client'], values)
      t.equal(install.status, 0, `helm install --dry-run=client: ${install.stderr}`)
      const notes = install.stdout.split(/^NOTES:\n/m)[1] ?? ''
      t.equal(notes.trim(), own.notes.trim(), 'NOTES.txt')

      const lint = helm(['lint', '--strict', CHART], values)
      t.equal(lint.status, 0, `helm lint --strict: ${lint.stdout}${lint.stderr}`)
    })
  }

  t.test('helm refuses what the test renderer refuses, with the same message', async t => {
    for (const [what, { values, message }] of Object.entries(REFUSED)) {
      let own = 'rendered without failing'
      try {
        renderChart(CHART, { values })
      } catch (err) {
        if (!(err instanceof FailError)) throw err
        own = err.message
      }
      t.match(own, message, `${what}: the test renderer refuses`)
      const real = helm(['template', 'gw', CHART], values)
      t.not(real.status, 0, `${what}: helm refuses`)
      t.ok(real.stderr.includes('execution error at') && real.stderr.includes(own), `${what}: helm says "${own}"; it said: ${real.stderr.trim()}`)
    }
  })

  t.test('helm\'s schema validation refuses what the tests\' schema validator refuses', async t => {
    for (const [what, { values, path }] of Object.entries(SCHEMA_REFUSED)) {
      const real = helm(['template', 'gw', CHART], values)
      t.not(real.status, 0, `${what}: helm refuses`)
      t.match(real.stderr, /values don't meet the specifications of the schema/, `${what}: by the schema`)
      t.ok(real.stderr.includes(`'${path}'`), `${what}: names ${path}; it said: ${real.stderr.trim()}`)
    }
  })
}

interface SourceDocument { text: string, value: unknown }

/** Documents by source file, from alternating [source, text, source, text…]; documents without content dropped. */
function bySource (pairs: string[]): Map<string, SourceDocument[]> {
  const out = new Map<string, SourceDocument[]>()
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const text = pairs[i + 1]!.trim()
    const value = parseManifestYaml(text)[0]?.toJS() as unknown
    if (value === null || value === undefined) continue
    const list = out.get(pairs[i]!) ?? []
    list.push({ text, value })
    out.set(pairs[i]!, list)
  }
  return out
}
