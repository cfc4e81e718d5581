import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { EnvSchema, loadConfig, parseEnv, resolveConfig } from '../../src/config.ts'
import { loadApiKeysFile, sha256Hex } from '../../src/edge/api-keys.ts'
import { sampleIonApi } from '../fixtures/ionapi.ts'
import { CASES, CLUSTER, EXISTING, REFUSED, SENTINEL, ionapiText } from './helm-cases.ts'
import { cleanUpHelm, refusal, renderChart, type Manifest, type Rendered } from './helm.ts'
import { CHART, DASHBOARD, ROOT, read, readYaml } from './paths.ts'

// Kubernetes shapes, as far as these tests look into them.
interface EnvVar { name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string } } }
interface VolumeMount { name: string, mountPath: string, readOnly?: boolean }
interface Volume { name: string, secret?: { secretName: string, items?: Array<{ key: string, path: string }>, defaultMode?: number }, emptyDir?: Record<string, unknown> }
interface Probe { httpGet: { path: string, port: string } }
interface Container {
  name: string
  image: string
  ports: Array<{ name: string, containerPort: number }>
  env: EnvVar[]
  envFrom: Array<{ configMapRef?: { name: string } }>
  securityContext: Record<string, unknown>
  resources: { requests: Record<string, string>, limits: Record<string, string> }
  livenessProbe: Probe
  readinessProbe: Probe
  volumeMounts: VolumeMount[]
}
interface PodSpec {
  serviceAccountName: string
  automountServiceAccountToken: boolean
  terminationGracePeriodSeconds: number
  securityContext: Record<string, unknown>
  containers: Container[]
  volumes: Volume[]
  topologySpreadConstraints?: Array<{ topologyKey: string, whenUnsatisfiable: string, labelSelector: { matchLabels: Record<string, string> } }>
}
interface Deployment extends Manifest {
  spec: {
    replicas?: number
    selector: { matchLabels: Record<string, string> }
    strategy: { type: string, rollingUpdate: { maxSurge: number | string, maxUnavailable: number | string } }
    template: { metadata: { annotations: Record<string, string>, labels: Record<string, string> }, spec: PodSpec }
  }
}

// Every render below is real Helm's (`helm install --dry-run=client`).
t.teardown(cleanUpHelm)

const renders = new Map<string, Rendered>()

/** The chart rendered with `values` (once per value set: the tests only read what Helm rendered). */
function render (values: Record<string, unknown> = EXISTING) {
  const id = JSON.stringify(values)
  const rendered = renders.get(id) ?? renderChart(values, { releaseName: 'gw', namespace: 'ion' })
  renders.set(id, rendered)
  const docs = rendered.docs
  const all = (kind: string) => docs.filter(d => d.kind === kind)
  const one = <T extends Manifest = Manifest>(kind: string, nameSuffix = ''): T => {
    const found = all(kind).filter(d => d.metadata.name.endsWith(nameSuffix))
    if (found.length !== 1) throw new Error(`expected one ${kind}${nameSuffix}, found ${found.length}`)
    return found[0] as T
  }
  const deployment = one<Deployment>('Deployment')
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]!
  const configMap = all('ConfigMap').find(c => !c.metadata.name.endsWith('-dashboard')) as Manifest & { data: Record<string, string> }
  return { rendered, docs, all, one, deployment, pod, container, configMap, notes: rendered.notes }
}

function env (container: Container, name: string): EnvVar | undefined {
  return container.env.find(e => e.name === name)
}

t.test('without an .ionapi secret the chart refuses to render, naming the values to set', async t => {
  t.match(refusal({}), /ionapi\.existingSecret.*ionapi\.content/)
  t.match(refusal({ ionapi: { existingSecret: 'a', content: ionapiText } }), /not both/)
})

t.test('the defaults render the core objects and none of the optional ones', async t => {
  const { docs } = render()
  t.same(docs.map(d => d.kind).sort(), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceAccount'])
  const apiVersions = Object.fromEntries(docs.map(d => [d.kind, d.apiVersion]))
  t.same(apiVersions, {
    ConfigMap: 'v1',
    Deployment: 'apps/v1',
    HorizontalPodAutoscaler: 'autoscaling/v2',
    PodDisruptionBudget: 'policy/v1',
    Service: 'v1',
    ServiceAccount: 'v1',
  })
})

t.test('every object carries the standard labels', async t => {
  const all = render({ ...EXISTING, ionapi: { content: ionapiText }, ingress: { enabled: true }, serviceMonitor: { enabled: true }, dashboard: { enabled: true }, clientAuth: { apiKeys: [{ id: 'portal', keySha256: sha256Hex('k') }] } })
  t.equal(all.docs.length, 11, 'every template made its object')
  for (const doc of all.docs) {
    t.match(doc.metadata.labels, {
      'helm.sh/chart': 'ion-gateway-0.1.0',
      'app.kubernetes.io/name': 'ion-gateway',
      'app.kubernetes.io/instance': 'gw',
      'app.kubernetes.io/version': '0.1.0',
      'app.kubernetes.io/managed-by': 'Helm',
    }, `${doc.kind} ${doc.metadata.name}`)
    t.match(doc.metadata.name, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS-1123 name')
  }
})

t.test('the Deployment: hardened pod, probes, resources, /tmp, image of the appVersion', async t => {
  const { deployment, pod, container } = render()
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 1001, runAsGroup: 1001, fsGroup: 1001, seccompProfile: { type: 'RuntimeDefault' } })
  t.match(container.securityContext, {
    runAsNonRoot: true,
    runAsUser: 1001,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  })
  t.equal(pod.automountServiceAccountToken, false)
  t.equal(pod.serviceAccountName, 'gw-ion-gateway')
  t.same(container.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } })
  t.same(container.livenessProbe.httpGet, { path: '/health', port: 'http' })
  t.same(container.readinessProbe.httpGet, { path: '/ready', port: 'http' })
  t.same(container.ports, [{ name: 'http', containerPort: 3000, protocol: 'TCP' }])
  t.equal(container.image, 'ion-gateway:0.1.0', 'the tag defaults to appVersion')
  const tmp = pod.volumes.find(v => v.name === 'tmp')
  t.ok(tmp?.emptyDir && typeof tmp.emptyDir === 'object', 'an emptyDir (an object, not null)')
  t.ok(container.volumeMounts.some(m => m.name === 'tmp' && m.mountPath === '/tmp'), '/tmp is writable')
  t.same(deployment.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }, 'never below the ready count during an update')
  t.equal(deployment.spec.replicas, undefined, 'the HPA owns the replica count')
  t.same(deployment.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'ion-gateway', 'app.kubernetes.io/instance': 'gw' })
  t.match(deployment.spec.template.metadata.labels, deployment.spec.selector.matchLabels)
  t.same(container.envFrom, [{ configMapRef: { name: 'gw-ion-gateway' } }])

  const spread = pod.topologySpreadConstraints ?? []
  t.ok(spread.some(c => c.topologyKey === 'kubernetes.io/hostname'), 'spread across nodes')
  for (const c of spread) {
    t.same(c.labelSelector.matchLabels, deployment.spec.selector.matchLabels, `${c.topologyKey}: selects this release's pods`)
    t.equal(c.whenUnsatisfiable, 'ScheduleAnyway', 'a preference, never a reason to stay Pending')
  }
  const digest = `sha256:${'a'.repeat(64)}`
  t.equal(render({ ...EXISTING, image: { repository: 'registry.local/ion-gateway', digest } }).container.image, `registry.local/ion-gateway@${digest}`)
  t.equal(render({ ...EXISTING, autoscaling: { enabled: false } }).deployment.spec.replicas, 2, 'replicaCount without an HPA')
})

t.test('terminationGracePeriodSeconds outlasts SHUTDOWN_DELAY_MS plus the server\'s drain budget', async t => {
  const { pod, configMap } = render()
  const server = read(join(ROOT, 'src', 'serve.ts'))
  const budget = /DRAIN_BUDGET_MS\s*=\s*(\d+)/.exec(server)
  // The lead owns serve.ts; if the constant is renamed the chart's 25 s stays the reference.
  if (!budget) t.comment('DRAIN_BUDGET_MS not found in src/serve.ts: assuming 25000 ms')
  const drainMs = budget ? Number(budget[1]) : 25000
  const delayMs = Number(configMap.data.SHUTDOWN_DELAY_MS)
  t.equal(delayMs, 5000)
  t.ok(pod.terminationGracePeriodSeconds * 1000 > delayMs + drainMs, `${pod.terminationGracePeriodSeconds}s > ${delayMs} + ${drainMs} ms`)
  t.equal(drainMs, 25000, 'the chart\'s validation assumes a 25 s drain budget (templates/_helpers.tpl)')
  t.match(refusal({ ...EXISTING, terminationGracePeriodSeconds: 20 }), /terminationGracePeriodSeconds/)
  t.match(refusal({ ...EXISTING, shutdown: { delayMs: 30000 } }), /terminationGracePeriodSeconds/)
})

t.test('the ConfigMap holds only EnvSchema variables, as the app parses them, with the app\'s own defaults', async t => {
  const { configMap } = render()
  const names = Object.keys(EnvSchema.properties)
  for (const [key, value] of Object.entries(configMap.data)) {
    t.ok(names.includes(key), `${key} is a variable of src/config.ts`)
    t.type(value, 'string')
    const type = (EnvSchema.properties as Record<string, { type?: string }>)[key]?.type
    if (type === 'integer') t.match(value, /^\d+$/, `${key}=${value}: plain digits (no 6.7e+07)`)
  }
  t.notOk('ION_API_FILE' in configMap.data, 'the .ionapi path is set by the Deployment')
  t.same(parseEnv(configMap.data), parseEnv({}), 'the chart\'s defaults are the app\'s defaults')

  const custom = render({ ...EXISTING, config: { CACHE_MAX_BYTES: 134217728, CORS_ORIGINS: 'https://portal.example.com', RATE_LIMIT_FAIL_OPEN: false } }).configMap.data
  t.equal(custom.CACHE_MAX_BYTES, '134217728')
  t.equal(custom.CORS_ORIGINS, 'https://portal.example.com')
  t.equal(custom.RATE_LIMIT_FAIL_OPEN, 'false')
  t.equal(parseEnv(custom).RATE_LIMIT_FAIL_OPEN, false)
  t.notOk('CORS_ORIGINS' in configMap.data, '"" leaves a variable unset')
})

t.test('every EnvSchema variable reaches the container, from the ConfigMap or the Deployment, in one Redis mode or another', async t => {
  const provided = new Set<string>()
  const renders = [
    {
      redis: { url: 'redis://redis:6379/0' },
      clientAuth: { apiKeys: [{ id: 'portal', keySha256: sha256Hex('k') }] },
      ionCa: { existingConfigMap: 'ion-ca' },
      config: {
        CORS_ORIGINS: 'https://portal.example.com',
        PUBLIC_URL: 'https://gw.example.com',
        HTTPS_PROXY: 'http://proxy:3128',
        HTTP_PROXY: 'http://proxy:3128',
        NO_PROXY: '.svc',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prd',
      },
      tracing: { existingSecret: 'otlp-headers' },
    },
    { redis: { ...CLUSTER, username: 'gateway', password: { existingSecret: 'redis-auth' } } },
    { redis: SENTINEL },
  ]
  for (const values of renders) {
    const { configMap, container } = render({ ...EXISTING, ...values })
    for (const name of [...Object.keys(configMap.data), ...container.env.map(e => e.name)]) provided.add(name)
    // The tracing Secret's keys are the OTLP header variables (envFrom).
    if (container.envFrom.some(e => (e as { secretRef?: { name: string } }).secretRef?.name === 'otlp-headers')) {
      provided.add('OTEL_EXPORTER_OTLP_HEADERS').add('OTEL_EXPORTER_OTLP_TRACES_HEADERS')
    }
  }
  // The development aids are never the chart's: the image sets NODE_ENV=production, and ION_TOKEN_DIR is refused then.
  const developmentOnly = ['NODE_ENV', 'ION_TOKEN_DIR']
  t.same(Object.keys(EnvSchema.properties).filter(name => !provided.has(name) && !developmentOnly.includes(name)), [], 'no variable is out of reach')
})

t.test('the pod\'s environment and mounted .ionapi make a Config the gateway boots with', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-chart-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { one, pod, container, configMap, docs } = render({ ionapi: { content: ionapiText, key: 'acme.ionapi' } })
  const secret = one<Manifest & { data: Record<string, string> }>('Secret', '-ionapi')
  const volume = pod.volumes.find(v => v.name === 'ionapi')
  const mount = container.volumeMounts.find(m => m.name === 'ionapi')
  t.equal(volume?.secret?.secretName, secret.metadata.name)
  t.equal(mount?.readOnly, true)
  t.equal(volume?.secret?.defaultMode, 0o440)
  // Lay the Secret's items out as the kubelet would, under a temporary root.
  for (const item of volume?.secret?.items ?? []) {
    const file = join(dir, mount!.mountPath, item.path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, Buffer.from(secret.data[item.key]!, 'base64'))
  }
  const ionApiFile = env(container, 'ION_API_FILE')?.value
  t.equal(ionApiFile, '/etc/ion-gateway/ionapi/acme.ionapi')
  const config = loadConfig({ ...configMap.data, ION_API_FILE: join(dir, ionApiFile!) })
  t.equal(config.ion.tenant, sampleIonApi.ti)
  t.equal(config.ion.credentials.clientSecret, sampleIonApi.cs, 'the file the pod reads is the .ionapi given')
  t.equal(config.port, 3000)
  t.equal(config.shutdownDelayMs, 5000)

  const everythingButTheSecret = JSON.stringify(docs.filter(d => d.kind !== 'Secret'))
  t.notOk(everythingButTheSecret.includes(sampleIonApi.cs), 'the client secret is only in the Secret')
  t.notOk(everythingButTheSecret.includes(sampleIonApi.sask), 'the service-account secret is only in the Secret')
  t.notOk(container.env.some(e => e.value?.includes('{')), 'no credential passed as environment')

  const existing = render()
  t.equal(existing.all('Secret').length, 0, 'an existing Secret is used, not made')
  t.equal(existing.pod.volumes.find(v => v.name === 'ionapi')?.secret?.secretName, 'acme-ionapi')
  t.same(existing.pod.volumes.find(v => v.name === 'ionapi')?.secret?.items, [{ key: 'credentials.ionapi', path: 'credentials.ionapi' }])
  t.equal(env(existing.container, 'ION_API_FILE')?.value, '/etc/ion-gateway/ionapi/credentials.ionapi')
})

t.test('client API keys: a chart-made Secret the gateway can load, or an existing one; none = open mode, said in NOTES', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const apiKeys = [{ id: 'erp-portal', keySha256: sha256Hex('igw_portal') }, { id: 'ops', keySha256: sha256Hex('igw_ops'), admin: true }]
  const made = render({ ...EXISTING, clientAuth: { apiKeys } })
  const secret = made.one<Manifest & { data: Record<string, string> }>('Secret', '-api-keys')
  const file = join(dir, 'api-keys.json')
  writeFileSync(file, Buffer.from(secret.data['api-keys.json']!, 'base64'))
  const registry = loadApiKeysFile(file)
  t.same(registry.identify('igw_ops'), { id: 'ops', admin: true })
  t.equal(env(made.container, 'CLIENT_API_KEYS_FILE')?.value, '/etc/ion-gateway/clients/api-keys.json')
  t.equal(made.pod.volumes.find(v => v.name === 'api-keys')?.secret?.secretName, secret.metadata.name)
  t.ok(made.container.volumeMounts.some(m => m.name === 'api-keys' && m.mountPath === '/etc/ion-gateway/clients' && m.readOnly))
  t.notMatch(made.notes, /open mode/)

  const existing = render({ ...EXISTING, clientAuth: { existingSecret: 'gw-keys' } })
  t.equal(existing.all('Secret').length, 0)
  t.equal(existing.pod.volumes.find(v => v.name === 'api-keys')?.secret?.secretName, 'gw-keys')

  const open = render()
  t.equal(env(open.container, 'CLIENT_API_KEYS_FILE'), undefined)
  t.notOk(open.pod.volumes.some(v => v.name === 'api-keys'))
  t.match(open.notes, /open mode/)
  t.match(refusal({ ...EXISTING, clientAuth: { existingSecret: 'a', apiKeys } }), /not both/)
})

const REDIS_VARIABLES = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS', 'REDIS_KEY_PREFIX']

/** The REDIS_* variables of the pod: ConfigMap values as they are, Secret references as { secret, key }. */
function redisEnvironment (r: ReturnType<typeof render>): Record<string, string | { secret: string, key: string }> {
  const out: Record<string, string | { secret: string, key: string }> = {}
  for (const [name, value] of Object.entries(r.configMap.data)) if (name.startsWith('REDIS_')) out[name] = value
  for (const e of r.container.env) {
    if (!e.name.startsWith('REDIS_')) continue
    const ref = e.valueFrom?.secretKeyRef
    out[e.name] = ref ? { secret: ref.name, key: ref.key } : e.value ?? ''
  }
  return out
}

t.test('Redis standalone: the URL always from a Secret (yours or chart-made), never in the ConfigMap', async t => {
  const fromSecret = render({ ...EXISTING, redis: { existingSecret: 'redis-auth', existingSecretKey: 'url' } })
  t.same(redisEnvironment(fromSecret), { REDIS_KEY_PREFIX: 'ion-gateway:', REDIS_URL: { secret: 'redis-auth', key: 'url' } },
    'the URL by secretKeyRef and the key prefix; no user, password or TLS variable next to a URL (the gateway refuses them)')
  t.equal(fromSecret.all('Secret').length, 0, 'an existing Secret is used, not made')
  t.notMatch(fromSecret.notes, /without Redis/)
  t.match(fromSecret.notes, /Redis \(standalone\)/)

  const url = 'rediss://:s3cret@redis.ion.svc:6380/2'
  const fromUrl = render({ ...EXISTING, redis: { url, keyPrefix: 'igw-blue:' }, config: { CACHE_DRIVER: 'redis' } })
  t.same(redisEnvironment(fromUrl), { REDIS_KEY_PREFIX: 'igw-blue:', REDIS_URL: { secret: 'gw-ion-gateway-redis', key: 'redis-url' } })
  t.equal(parseEnv(fromUrl.configMap.data).CACHE_DRIVER, 'redis')
  const redisSecret = fromUrl.one<Manifest & { data: Record<string, string> }>('Secret', '-redis')
  t.equal(Buffer.from(redisSecret.data['redis-url']!, 'base64').toString(), url)
  t.notOk(JSON.stringify(fromUrl.docs.filter(d => d.kind !== 'Secret')).includes('s3cret'), 'the password is only in the Secret')
  t.notOk(fromUrl.notes.includes('s3cret'), 'nor in NOTES')
  t.match(fromUrl.notes, /the rate-limit counters and the cache under the key prefix "igw-blue:"/)
})

t.test('Redis Cluster: the startup nodes, user, TLS and prefix in the ConfigMap; the password only by secretKeyRef', async t => {
  const cluster = render({
    ...EXISTING,
    redis: { ...CLUSTER, username: 'gateway', password: { existingSecret: 'redis-cluster-auth' }, tls: true, keyPrefix: 'igw-canary:' },
  })
  t.same(redisEnvironment(cluster), {
    REDIS_KEY_PREFIX: 'igw-canary:',
    REDIS_CLUSTER_NODES: 'redis-cluster-0.redis-cluster-headless:6379,redis-cluster-1.redis-cluster-headless:6379,[fd00::12]:6379',
    REDIS_USERNAME: 'gateway',
    REDIS_TLS: 'true',
    REDIS_PASSWORD: { secret: 'redis-cluster-auth', key: 'redis-password' },
  })
  t.equal(cluster.all('Secret').length, 0, 'no Secret is made: the password is yours')
  t.match(cluster.notes, /Redis \(cluster\)\n {2}The replicas share the ION token and the rate-limit counters under the key prefix "igw-canary:"/,
    'NOTES name the mode and the prefix, and leave the cache out when it is per pod')

  const plain = render({ ...EXISTING, redis: CLUSTER })
  t.same(redisEnvironment(plain), { REDIS_KEY_PREFIX: 'ion-gateway:', REDIS_CLUSTER_NODES: CLUSTER.cluster.nodes.join(','), REDIS_TLS: 'false' },
    'no user and no password unless given')
})

t.test('Redis Sentinel: the Sentinels and the master name in the ConfigMap; both passwords only by secretKeyRef', async t => {
  const sentinel = render({ ...EXISTING, redis: SENTINEL, config: { CACHE_DRIVER: 'redis' } })
  t.same(redisEnvironment(sentinel), {
    REDIS_KEY_PREFIX: 'ion-gateway:',
    REDIS_SENTINELS: 'redis-node-0.redis-headless:26379,redis-node-1.redis-headless:26379',
    REDIS_SENTINEL_MASTER: 'mymaster',
    REDIS_TLS: 'false',
    REDIS_PASSWORD: { secret: 'redis', key: 'redis-password' },
    REDIS_SENTINEL_PASSWORD: { secret: 'redis', key: 'sentinel-password' },
  })
  t.equal(parseEnv(sentinel.configMap.data).CACHE_DRIVER, 'redis', 'CACHE_DRIVER=redis is accepted with Sentinel')
  t.match(sentinel.notes, /Redis \(sentinel\)/)
})

t.test('without Redis no REDIS_* variable is set, and NOTES warn that replicas each log in', async t => {
  const none = render()
  t.same(redisEnvironment(none), {})
  t.match(none.notes, /several replicas without Redis/)
  t.notMatch(render({ ...EXISTING, autoscaling: { enabled: false }, replicaCount: 1 }).notes, /without Redis/, 'not for a single pod')
})

t.test('every Redis variable the chart sets is one of the gateway\'s', async t => {
  for (const [what, values] of Object.entries(CASES)) {
    for (const name of Object.keys(redisEnvironment(render(values)))) t.ok(REDIS_VARIABLES.includes(name), `${what}: ${name}`)
  }
})

t.test('contradictory values are refused with a message naming the values to change', async t => {
  for (const [what, { values, message }] of Object.entries(REFUSED)) t.match(refusal(values), message, what)
})

// The gateway reads these variables once src/config.ts has the three topologies; until then this test is skipped.
const gatewayReadsTopologies = 'REDIS_CLUSTER_NODES' in EnvSchema.properties
t.test('the gateway reads each mode\'s environment as the chart renders it', { skip: gatewayReadsTopologies ? false : 'src/config.ts does not read REDIS_CLUSTER_NODES yet' }, async t => {
  const secrets: Record<string, string> = { 'gw-ion-gateway-redis/redis-url': 'redis://:s3cret@redis:6379/0', 'redis-cluster-auth/redis-password': 'cluster-pw', 'redis/redis-password': 'sentinel-pw' }
  const gatewayConfig = (values: Record<string, unknown>) => {
    const r = render(values)
    const env: Record<string, string> = { ...r.configMap.data }
    for (const [name, value] of Object.entries(redisEnvironment(r))) env[name] = typeof value === 'string' ? value : secrets[`${value.secret}/${value.key}`]!
    // Typed loosely: src/config.ts gains `redis` and `redisKeyPrefix` alongside this chart.
    return resolveConfig(env, sampleIonApi) as unknown as { redis?: Record<string, unknown>, redisKeyPrefix?: string }
  }
  const unknown = REDIS_VARIABLES.filter(name => !(name in EnvSchema.properties))
  t.same(unknown, [], 'the gateway reads every Redis variable the chart may set')
  const standalone = gatewayConfig({ ...EXISTING, redis: { url: 'redis://:s3cret@redis:6379/0' } })
  t.same(standalone.redis, { mode: 'standalone', url: 'redis://:s3cret@redis:6379/0' })
  t.equal(standalone.redisKeyPrefix, 'ion-gateway:')
  const cluster = gatewayConfig(CASES['Redis Cluster']!)
  t.same(cluster.redis, {
    mode: 'cluster',
    nodes: [{ host: 'redis-cluster-0.redis-cluster-headless', port: 6379 }, { host: 'redis-cluster-1.redis-cluster-headless', port: 6379 }, { host: 'fd00::12', port: 6379 }],
    username: 'gateway',
    password: 'cluster-pw',
    tls: true,
  })
  t.equal(cluster.redisKeyPrefix, 'igw-canary:')
  const sentinel = gatewayConfig(CASES['Redis Sentinel']!)
  t.same(sentinel.redis, {
    mode: 'sentinel',
    sentinels: [{ host: 'redis-node-0.redis-headless', port: 26379 }, { host: 'redis-node-1.redis-headless', port: 26379 }],
    masterName: 'mymaster',
    password: 'sentinel-pw',
    tls: false,
  })
  t.equal(gatewayConfig(EXISTING).redis, undefined, 'no Redis')
})

t.test('pods roll when the ConfigMap or a chart-made Secret changes', async t => {
  const a = render()
  const configFile = a.rendered.files.get('ion-gateway/templates/configmap.yaml')!
  t.equal(a.deployment.spec.template.metadata.annotations['checksum/config'], createHash('sha256').update(configFile).digest('hex'))
  const b = render({ ...EXISTING, config: { LOG_LEVEL: 'debug' } })
  t.not(b.deployment.spec.template.metadata.annotations['checksum/config'], a.deployment.spec.template.metadata.annotations['checksum/config'])
  const s1 = render({ ionapi: { content: ionapiText } }).deployment.spec.template.metadata.annotations['checksum/secret']
  const s2 = render({ ionapi: { content: ionapiText.replace('ACME_TST', 'ACME_PRD') } }).deployment.spec.template.metadata.annotations['checksum/secret']
  t.not(s1, s2)
})

t.test('Service: ClusterIP, port 80 to the container port named http; ServiceAccount without a token', async t => {
  const { one } = render()
  const service = one<Manifest & { spec: { type: string, ports: unknown[], selector: Record<string, string> } }>('Service')
  t.equal(service.spec.type, 'ClusterIP')
  t.same(service.spec.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }])
  t.same(service.spec.selector, { 'app.kubernetes.io/name': 'ion-gateway', 'app.kubernetes.io/instance': 'gw' })
  const sa = one<Manifest & { automountServiceAccountToken: boolean }>('ServiceAccount')
  t.equal(sa.automountServiceAccountToken, false)
})

t.test('HPA (autoscaling/v2, 2..6 at 70 % CPU) and PDB (minAvailable 1), left out for a single pod', async t => {
  const { one } = render()
  const hpa = one<Manifest & { spec: Record<string, unknown> }>('HorizontalPodAutoscaler')
  t.match(hpa.spec, {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'gw-ion-gateway' },
    minReplicas: 2,
    maxReplicas: 6,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
  })
  const pdb = one<Manifest & { spec: Record<string, unknown> }>('PodDisruptionBudget')
  t.same(pdb.spec, { minAvailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'ion-gateway', 'app.kubernetes.io/instance': 'gw' } } })
  const single = render({ ...EXISTING, autoscaling: { enabled: false }, replicaCount: 1 })
  t.equal(single.all('PodDisruptionBudget').length, 0)
  t.equal(single.all('HorizontalPodAutoscaler').length, 0)
  t.match(refusal({ ...EXISTING, autoscaling: { minReplicas: 7 } }), /minReplicas/)
})

t.test('PDB: a percentage or maxUnavailable as given; a budget that keeps every pod is refused, naming the value', async t => {
  const selector = { matchLabels: { 'app.kubernetes.io/name': 'ion-gateway', 'app.kubernetes.io/instance': 'gw' } }
  const spec = (values: Record<string, unknown>) => render({ ...EXISTING, ...values }).one<Manifest & { spec: Record<string, unknown> }>('PodDisruptionBudget').spec
  t.same(spec({ autoscaling: { minReplicas: 3 }, podDisruptionBudget: { minAvailable: '60%' } }), { minAvailable: '60%', selector }, '60 % of 3 keeps 2')
  t.same(spec({ podDisruptionBudget: { maxUnavailable: 1 } }), { maxUnavailable: 1, selector }, 'maxUnavailable replaces minAvailable')
  t.same(spec({ autoscaling: { enabled: false }, replicaCount: 3, podDisruptionBudget: { minAvailable: 2 } }), { minAvailable: 2, selector }, 'replicaCount without the HPA')
  t.match(refusal({ ...EXISTING, podDisruptionBudget: { minAvailable: 2 } }), /minAvailable=2 keeps all 2 pods/)
  t.match(refusal({ ...EXISTING, podDisruptionBudget: { minAvailable: '51%' } }), /minAvailable=51% keeps all 2 pods/, '51 % of 2 rounds up to 2')
  t.equal(refusal({ ...EXISTING, podDisruptionBudget: { minAvailable: 5, maxUnavailable: 1 } }), 'rendered without failing', 'maxUnavailable set: minAvailable is not used')
  t.equal(refusal({ ...EXISTING, podDisruptionBudget: { enabled: false, minAvailable: 2 } }), 'rendered without failing', 'no budget, nothing to check')
})

t.test('NetworkPolicy: off by default; in to http from ingressFrom only; out to DNS, Redis (when used), ION on 443 and extraEgress', async t => {
  t.equal(render().all('NetworkPolicy').length, 0, 'off by default')
  const values = CASES['NetworkPolicy, ids left to OpenShift, a budget by maxUnavailable']!
  const np = render(values).one<Manifest & { spec: Record<string, unknown> }>('NetworkPolicy')
  t.equal(np.apiVersion, 'networking.k8s.io/v1')
  t.same(np.spec, {
    podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ion-gateway', 'app.kubernetes.io/instance': 'gw' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{
      from: [{ namespaceSelector: { matchLabels: { 'network.openshift.io/policy-group': 'ingress' } } }, { podSelector: { matchLabels: { app: 'erp-portal' } } }],
      ports: [{ port: 'http', protocol: 'TCP' }],
    }],
    egress: [
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'openshift-dns' } } }],
        ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }, { port: 5353, protocol: 'UDP' }, { port: 5353, protocol: 'TCP' }],
      },
      { ports: [{ port: 6379, protocol: 'TCP' }, { port: 26379, protocol: 'TCP' }], to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } }] },
      { to: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ port: 443, protocol: 'TCP' }] },
      { to: [{ ipBlock: { cidr: '10.20.0.5/32' } }], ports: [{ port: 3128, protocol: 'TCP' }] },
    ],
  })
  const defaults = render({ ...EXISTING, networkPolicy: { enabled: true } }).one<Manifest & { spec: { ingress: Array<{ from: unknown[] }>, egress: Array<{ to?: unknown[], ports: Array<{ port: number }> }> } }>('NetworkPolicy')
  t.same(defaults.spec.ingress[0]!.from.length, 2, 'the ingress controller\'s and the monitoring namespace')
  t.same(defaults.spec.egress.map(rule => rule.ports[0]!.port), [53, 443], `no Redis rule without Redis: ${JSON.stringify(defaults.spec.egress)}`)
  t.same(defaults.spec.egress[1]!.to, [{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }], 'ION anywhere by default')
  const port = render({ ...EXISTING, networkPolicy: { enabled: true }, redis: { url: 'redis://r:6379' } }).one<Manifest & { spec: { egress: Array<{ to?: unknown[], ports: Array<{ port: number }> }> } }>('NetworkPolicy')
  t.same(port.spec.egress[1], { ports: [{ port: 6379, protocol: 'TCP' }, { port: 26379, protocol: 'TCP' }] }, 'Redis anywhere on its ports by default')
})

t.test('platformAssignsIds leaves runAsUser, runAsGroup and fsGroup to the platform, and keeps the rest of the hardening', async t => {
  const ids = ['runAsUser', 'runAsGroup', 'fsGroup']
  const fixed = render()
  t.match(fixed.pod.securityContext, { runAsUser: 1001, runAsGroup: 1001, fsGroup: 1001 }, 'uid 1001 by default')
  const { pod, container } = render({ ...EXISTING, platformAssignsIds: true })
  t.same(ids.filter(id => id in pod.securityContext || id in container.securityContext), [], `no ids: ${JSON.stringify({ pod: pod.securityContext, container: container.securityContext })}`)
  t.same(pod.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } })
  t.same(container.securityContext, {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  })
})

t.test('Ingress (networking.k8s.io/v1), off by default', async t => {
  const { one } = render({
    ...EXISTING,
    ingress: { enabled: true, className: 'nginx', hosts: [{ host: 'ion.acme.com', paths: [{ path: '/', pathType: 'Prefix' }] }], tls: [{ secretName: 'ion-tls', hosts: ['ion.acme.com'] }] },
  })
  const ingress = one<Manifest & { spec: Record<string, unknown> }>('Ingress')
  t.equal(ingress.apiVersion, 'networking.k8s.io/v1')
  t.same(ingress.spec, {
    ingressClassName: 'nginx',
    tls: [{ hosts: ['ion.acme.com'], secretName: 'ion-tls' }],
    rules: [{ host: 'ion.acme.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'gw-ion-gateway', port: { name: 'http' } } } }] } }],
  })
})

t.test('ServiceMonitor (off by default) scrapes /metrics on http; target labels win (the gateway exports none of their names)', async t => {
  const { one } = render({ ...EXISTING, serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } } })
  const sm = one<Manifest & { spec: { endpoints: unknown[], selector: unknown } }>('ServiceMonitor')
  t.equal(sm.apiVersion, 'monitoring.coreos.com/v1')
  t.equal(sm.metadata.labels?.release, 'kube-prometheus-stack')
  t.same(sm.spec.endpoints, [{ port: 'http', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }])
  t.same(sm.spec.selector, { matchLabels: { 'app.kubernetes.io/name': 'ion-gateway', 'app.kubernetes.io/instance': 'gw' } })
})

t.test('the dashboard ConfigMap embeds dashboards/ion-gateway.json with the sidecar label', async t => {
  const { one } = render({ ...EXISTING, dashboard: { enabled: true, namespace: 'monitoring', annotations: { grafana_folder: 'ION' } } })
  const cm = one<Manifest & { data: Record<string, string> }>('ConfigMap', '-dashboard')
  t.equal(cm.metadata.labels?.grafana_dashboard, '1', 'a string label')
  t.equal(cm.metadata.namespace, 'monitoring')
  t.equal(cm.metadata.annotations?.grafana_folder, 'ION')
  t.same(JSON.parse(cm.data['ion-gateway.json']!), JSON.parse(read(DASHBOARD)), 'the whole dashboard, intact')
  const relabelled = render({ ...EXISTING, dashboard: { enabled: true, labels: { my_dashboards: 'yes' } } }).one('ConfigMap', '-dashboard')
  t.equal(relabelled.metadata.labels?.my_dashboards, 'yes')
})

t.test('NOTES.txt says how to reach the gateway, check readiness, and where the .ionapi secret is', async t => {
  const { notes } = render()
  t.match(notes, /port-forward svc\/gw-ion-gateway 8080:80/)
  t.match(notes, /\/ready/)
  t.match(notes, /Secret "acme-ionapi"/)
  t.match(notes, /never passed as environment/)
  t.notMatch(notes, /<no value>|map\[/)
  t.match(render({ ...EXISTING, ingress: { enabled: true } }).notes, /http:\/\/ion-gateway\.example\.com\//)
})

t.test('NOTES.txt with an Ingress: each host and path, https only for the hosts under tls, and the port-forward readiness uses', async t => {
  const { notes } = render({
    ...EXISTING,
    ingress: {
      enabled: true,
      hosts: [
        { host: 'ion.acme.com', paths: [{ path: '/api', pathType: 'Prefix' }, { path: '/m3', pathType: 'Prefix' }] },
        { host: 'ion.internal.acme.com', paths: [{ path: '/', pathType: 'Prefix' }] },
      ],
      tls: [{ secretName: 'ion-tls', hosts: ['ion.acme.com'] }],
    },
  })
  const urls = [...notes.matchAll(/https?:\/\/ion\.[\w./]+/g)].map(m => m[0])
  t.same(urls, ['https://ion.acme.com/api', 'https://ion.acme.com/m3', 'http://ion.internal.acme.com/'], notes)
  const forward = notes.indexOf('port-forward svc/gw-ion-gateway 8080:80')
  t.ok(forward >= 0 && forward < notes.indexOf('with the port-forward above'), `the port-forward comes before the readiness check that uses it:\n${notes}`)
  t.notMatch(notes, /<no value>|map\[/)
})

t.test('values.yaml documents the chart defaults', async t => {
  const values = readYaml(join(CHART, 'values.yaml'))
  t.match(values, {
    replicaCount: 2,
    shutdown: { delayMs: 5000 },
    terminationGracePeriodSeconds: 45,
    autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 70 },
    podDisruptionBudget: { enabled: true, minAvailable: 1 },
    serviceMonitor: { enabled: false },
    ingress: { enabled: false },
    ionapi: { key: 'credentials.ionapi' },
    dashboard: { labels: { grafana_dashboard: '1' } },
  })
})

t.test('tracing: the endpoint in the ConfigMap, the collector\'s headers only from a Secret by envFrom', async t => {
  const { container, configMap } = render({ ...EXISTING, config: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318' }, tracing: { existingSecret: 'otlp-headers' } })
  t.same(container.envFrom.map(e => e.configMapRef?.name ?? (e as { secretRef?: { name: string } }).secretRef?.name), ['gw-ion-gateway', 'otlp-headers'])
  t.equal(configMap.data.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector.observability:4318')
  t.notOk(Object.keys(configMap.data).some(name => name.startsWith('OTEL_') && name.endsWith('_HEADERS')), 'no OTLP header variable in the ConfigMap')
  const plain = render(EXISTING)
  t.notOk('OTEL_EXPORTER_OTLP_ENDPOINT' in plain.configMap.data, 'no endpoint by default: tracing off')
})

t.test('egress: proxy settings from a Secret by envFrom; a private CA from a ConfigMap, mounted read-only as ION_CA_FILE', async t => {
  const { container, pod } = render({ ...EXISTING, egress: { existingSecret: 'egress-proxy' }, ionCa: { existingConfigMap: 'corp-ca', key: 'bundle.pem' } })
  t.same(container.envFrom.map(e => e.configMapRef?.name ?? (e as { secretRef?: { name: string } }).secretRef?.name), ['gw-ion-gateway', 'egress-proxy'])
  t.same(container.env.find(e => e.name === 'ION_CA_FILE'), { name: 'ION_CA_FILE', value: '/etc/ion-gateway/ca/bundle.pem' })
  t.match(container.volumeMounts.find(m => m.name === 'ion-ca'), { mountPath: '/etc/ion-gateway/ca', readOnly: true })
  t.match(pod.volumes.find(v => v.name === 'ion-ca'), { configMap: { name: 'corp-ca', items: [{ key: 'bundle.pem', path: 'bundle.pem' }] } })
  const plain = render(EXISTING)
  t.notOk(plain.container.env.some(e => e.name === 'ION_CA_FILE'), 'no CA: no variable')
  t.equal(plain.container.envFrom.length, 1, 'no egress Secret: the ConfigMap only')
})
