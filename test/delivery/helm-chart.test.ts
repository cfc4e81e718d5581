import t from 'tap'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import YAML from 'yaml'
import { EnvSchema } from '../../src/config.ts'
import { CASES, SCHEMA_REFUSED } from './helm-cases.ts'
import { CHART, CHART_README, DEPLOYMENT_DOC, ROOT, TEMPLATES, chartValues, deepMerge, isPlainObject, read, readJson, readYaml, walk } from './paths.ts'

interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  additionalProperties?: boolean | JsonSchema
  items?: JsonSchema
  enum?: unknown[]
  minimum?: number
  maximum?: number
  pattern?: string
  maxLength?: number
  default?: unknown
}

const schema = readJson<JsonSchema & { $schema: string }>(join(CHART, 'values.schema.json'))

function compileSchema () {
  // strict: an unknown keyword or a typo in the schema is an error, not silently ignored.
  return new Ajv({ strict: true, allErrors: true }).compile(schema)
}

/** Dotted paths of every value in values.yaml, down to leaves, lists and empty maps. */
function valuePaths (value: unknown, prefix = ''): string[] {
  if (!isPlainObject(value) || Object.keys(value).length === 0) return [prefix]
  return Object.entries(value).flatMap(([k, v]) => valuePaths(v, prefix ? `${prefix}.${k}` : k))
}

/** The schema node describing `path`, or undefined when the schema does not know it. */
function schemaAt (path: string): JsonSchema | undefined {
  let node: JsonSchema | undefined = schema
  for (const key of path.split('.')) {
    if (!node) return undefined
    if (node.properties && key in node.properties) node = node.properties[key]
    else if (node.additionalProperties && typeof node.additionalProperties === 'object') node = node.additionalProperties
    else if (node.type === 'object' && !node.properties && node.additionalProperties !== false) return node // free-form object (resources, affinity…)
    else return undefined
  }
  return node
}

function templateFiles (): string[] {
  return readdirSync(TEMPLATES).sort()
}

t.test('every YAML and JSON file under helm/ parses', async t => {
  const files = walk(join(ROOT, 'helm'))
  const plain = files.filter(f => /\.ya?ml$/.test(f) && !f.includes('/templates/'))
  t.ok(plain.includes('helm/ion-gateway/Chart.yaml') && plain.includes('helm/ion-gateway/values.yaml'), 'Chart.yaml and values.yaml exist')
  for (const file of plain) {
    const docs = YAML.parseAllDocuments(read(join(ROOT, file)))
    t.same(docs.flatMap(d => d.errors.map(e => e.message)), [], `${file} parses`)
    t.ok(isPlainObject(docs[0]?.toJS()), `${file} is a mapping`)
  }
  for (const file of files.filter(f => f.endsWith('.json'))) {
    t.doesNotThrow(() => JSON.parse(read(join(ROOT, file))), `${file} is JSON`)
  }
})

t.test('Chart.yaml: apiVersion v2, appVersion is package.json version', async t => {
  const chart = readYaml(join(CHART, 'Chart.yaml'))
  const pkg = readJson<{ version: string }>(join(ROOT, 'package.json'))
  t.equal(chart.apiVersion, 'v2')
  t.equal(chart.name, 'ion-gateway')
  t.equal(chart.type, 'application')
  t.equal(chart.appVersion, pkg.version, 'appVersion follows package.json')
  t.match(chart.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'chart version is SemVer')
})

t.test('each template is well formed: balanced braces, starts with a condition or apiVersion', async t => {
  const files = templateFiles()
  for (const expected of ['_helpers.tpl', 'deployment.yaml', 'service.yaml', 'configmap.yaml', 'secret.yaml', 'hpa.yaml', 'pdb.yaml',
    'servicemonitor.yaml', 'prometheusrule.yaml', 'ingress.yaml', 'networkpolicy.yaml', 'serviceaccount.yaml', 'dashboard-configmap.yaml', 'NOTES.txt']) {
    t.ok(files.includes(expected), `templates/${expected} exists`)
  }
  for (const file of files) {
    const src = read(join(TEMPLATES, file))
    t.equal((src.match(/\{\{/g) ?? []).length, (src.match(/\}\}/g) ?? []).length, `${file}: as many {{ as }}`)
    if (file.endsWith('.yaml')) {
      const first = src.split('\n').find(line => line.trim() !== '' && !line.trim().startsWith('#')) ?? ''
      t.match(first, /^(\{\{-? if .*\}\}|apiVersion: \S+)$/, `${file} starts with a condition or apiVersion:`)
    }
  }
})

t.test('every .Values path used by a template exists in values.yaml', async t => {
  const values = chartValues()
  const used = new Set<string>()
  for (const file of templateFiles()) {
    for (const m of read(join(TEMPLATES, file)).matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) used.add(m[1]!.slice(1))
  }
  t.ok(used.size > 40, `${used.size} paths found`)
  const missing = [...used].sort().filter(path => {
    let node: unknown = values
    for (const key of path.split('.')) {
      if (!isPlainObject(node) || !(key in node)) return true
      node = node[key]
    }
    return false
  })
  t.same(missing, [], 'no template reads a value values.yaml lacks')
})

t.test('values.schema.json is draft-07 and every default of values.yaml validates', async t => {
  t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#')
  const validate = compileSchema()
  const ok = validate(chartValues())
  t.ok(ok, JSON.stringify(validate.errors))
})

t.test('values.schema.json rejects bad values', async t => {
  const validate = compileSchema()
  for (const [what, { values: override, path }] of Object.entries(SCHEMA_REFUSED)) {
    const values = deepMerge(chartValues(), override)
    t.notOk(validate(values), `rejects ${what}`)
    t.ok(validate.errors?.some(e => e.instancePath === path), `${what}: error at ${path || '(root)'}: ${JSON.stringify(validate.errors?.map(e => e.instancePath))}`)
  }
})

t.test('values.schema.json accepts every rendered case, and host:port lists the gateway parses', async t => {
  const validate = compileSchema()
  for (const [what, override] of Object.entries(CASES)) t.ok(validate(deepMerge(chartValues(), override)), `${what}: ${JSON.stringify(validate.errors)}`)
  const nodes = ['redis:6379', 'redis-0.redis-headless.ion.svc.cluster.local:26379', '10.0.0.12:1', '[fd00::12]:65535', '[::1]:6379']
  t.ok(validate(deepMerge(chartValues(), { redis: { mode: 'cluster', cluster: { nodes } } })), JSON.stringify(validate.errors))
  t.ok(validate(deepMerge(chartValues(), { redis: { keyPrefix: '' } })), 'an empty key prefix (keys start at the tenant)')
})

t.test('the schema describes every value of values.yaml, and nothing values.yaml lacks', async t => {
  const values = chartValues()
  const paths = valuePaths(values)
  t.ok(paths.length > 60, `${paths.length} values`)
  t.same(paths.filter(path => !schemaAt(path)), [], 'no value escapes the schema')
  const walkSchema = (node: JsonSchema, prefix: string): string[] => Object.entries(node.properties ?? {}).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k
    return v.properties ? [path, ...walkSchema(v, path)] : [path]
  })
  const stale = walkSchema(schema, '').filter(path => {
    let node: unknown = values
    for (const key of path.split('.')) node = isPlainObject(node) ? node[key] : undefined
    return node === undefined
  })
  t.same(stale, [], 'the schema describes no value values.yaml lacks')
})

t.test('config.* of the schema mirrors EnvSchema of src/config.ts', async t => {
  const env = EnvSchema.properties as Record<string, JsonSchema>
  const chartConfig = schema.properties?.config?.properties ?? {}
  t.ok(Object.keys(chartConfig).length > 20)
  for (const [name, prop] of Object.entries(chartConfig)) {
    const app = env[name]
    t.ok(app, `${name} is a variable of EnvSchema`)
    if (!app) continue
    t.equal(prop.type, app.type, `${name}: same type`)
    if (app.enum) t.same(prop.enum, app.enum, `${name}: same choices`)
    if (app.minimum !== undefined) t.ok((prop.minimum ?? -Infinity) >= app.minimum, `${name}: minimum at least ${app.minimum}`)
    if (app.maximum !== undefined) t.ok((prop.maximum ?? Infinity) <= app.maximum, `${name}: maximum at most ${app.maximum}`)
  }
  const setByChart = (name: string) => ['ION_API_FILE', 'CLIENT_API_KEYS_FILE', 'SHUTDOWN_DELAY_MS', 'ION_CA_FILE'].includes(name) || name.startsWith('REDIS_') ||
    // from tracing.existingSecret: they may hold the collector's credentials
    ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'].includes(name)
  // Development aids (docs/design.md "Development loop"): the image sets NODE_ENV=production, nothing sets ION_TOKEN_DIR.
  const developmentOnly = (name: string) => ['NODE_ENV', 'ION_TOKEN_DIR'].includes(name)
  for (const name of Object.keys(env)) {
    if (developmentOnly(name)) t.notOk(name in chartConfig, `${name} is a development aid, never config.${name}`)
    else if (setByChart(name)) t.notOk(name in chartConfig, `${name} is set by the chart, not config.${name}`)
    else t.ok(name in chartConfig, `config.${name} is configurable`)
  }
})

t.test('redis.keyPrefix follows the gateway\'s REDIS_KEY_PREFIX rule', async t => {
  const chart = schema.properties?.redis?.properties?.keyPrefix ?? {}
  t.equal(chart.pattern, '^[^{}\\s]*$', 'no Cluster hash tag braces, no whitespace')
  t.equal(chart.maxLength, 64)
  t.match(chartValues(), { redis: { keyPrefix: 'ion-gateway:' } }, 'the gateway\'s default')
  const app = (EnvSchema.properties as Record<string, JsonSchema>).REDIS_KEY_PREFIX
  if (!app) {
    t.comment('src/config.ts does not read REDIS_KEY_PREFIX yet: the chart follows the documented rule')
    return
  }
  t.equal(chart.pattern, app.pattern, 'same pattern as EnvSchema')
  t.equal(chart.maxLength, app.maxLength, 'same length bound as EnvSchema')
  t.equal(app.default, 'ion-gateway:', 'same default')
})

t.test('docs/deployment.md has a values reference row for every value', async t => {
  const doc = read(DEPLOYMENT_DOC)
  const rows = new Set([...doc.matchAll(/^\| `([^`]+)`/gm)].map(m => m[1]!))
  const values = chartValues()
  const documented = (path: string) => rows.has(path)
  const undocumented = valuePaths(values).filter(path => {
    const [top, second] = path.split('.')
    if (top === 'config') return false
    // Kubernetes objects (resources, probes…) are documented as a whole.
    const shallow = second === undefined ? top! : `${top}.${second}`
    return !(documented(path) || documented(shallow) || documented(top!))
  })
  t.same(undocumented, [], 'every value has a row')
  t.ok(rows.has('config.<VARIABLE>'), 'config variables are documented as a family')
})

t.test('the chart README: install steps, a row for each group of values, and a link to docs/deployment.md that resolves', async t => {
  const readme = read(CHART_README)
  t.match(readme, /^helm upgrade --install ion-gateway \.\/helm\/ion-gateway /m, 'the install command')
  const links = [...readme.matchAll(/\]\(([^)#]+)\)/g)].map(m => m[1]!)
  t.ok(links.includes('../../docs/deployment.md'), `links to the deployment guide: ${links.join(', ')}`)
  for (const link of links) t.doesNotThrow(() => read(join(CHART, link)), `${link} exists`)
  const rows = [...readme.matchAll(/^\| `([^`.]+)/gm)].map(m => m[1]!)
  for (const key of ['config', 'ionapi', 'clientAuth', 'redis', 'ingress', 'networkPolicy', 'platformAssignsIds', 'podDisruptionBudget']) {
    t.ok(rows.includes(key), `${key} is summarised`)
  }
})
