import { join } from 'node:path'
import YAML from 'yaml'
import { sha256Hex } from '../../src/edge/api-keys.ts'
import { sampleIonApi } from '../fixtures/ionapi.ts'
import { CHART_README, DEPLOYMENT_DOC, ROOT, deepMerge, isPlainObject, read } from './paths.ts'

/** Values the chart is rendered with in the delivery tests, shared by the schema, render and real-Helm tests. */

export const EXISTING = { ionapi: { existingSecret: 'acme-ionapi' } }
export const ionapiText = JSON.stringify(sampleIonApi, null, 2)

export const CLUSTER = { mode: 'cluster', cluster: { nodes: ['redis-cluster-0.redis-cluster-headless:6379', 'redis-cluster-1.redis-cluster-headless:6379', '[fd00::12]:6379'] } }
export const SENTINEL = {
  mode: 'sentinel',
  sentinel: {
    sentinels: ['redis-node-0.redis-headless:26379', 'redis-node-1.redis-headless:26379'],
    masterName: 'mymaster',
    password: { existingSecret: 'redis', existingSecretKey: 'sentinel-password' },
  },
  password: { existingSecret: 'redis', existingSecretKey: 'redis-password' },
}

/** Values that render: every optional object and each way of giving a secret. */
export const CASES: Record<string, Record<string, unknown>> = {
  defaults: EXISTING,
  'every optional object': {
    ionapi: { content: ionapiText },
    clientAuth: { apiKeys: [{ id: 'portal', keySha256: sha256Hex('k'), admin: true }] },
    ingress: { enabled: true, className: 'nginx', tls: [{ secretName: 'ion-tls', hosts: ['ion-gateway.example.com'] }] },
    serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
    prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
    dashboard: { enabled: true, namespace: 'monitoring', annotations: { grafana_folder: 'ION' } },
    autoscaling: { behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } },
    podAnnotations: { 'example.com/team': 'erp' },
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'erp', effect: 'NoSchedule' }],
    imagePullSecrets: [{ name: 'registry' }],
    image: { digest: `sha256:${'a'.repeat(64)}` },
  },
  'one pod, no HPA': { ...EXISTING, autoscaling: { enabled: false }, replicaCount: 1, tmpVolume: { sizeLimit: '' }, nodeOptions: '' },
  'Redis standalone from an existing Secret': {
    ...EXISTING,
    redis: { existingSecret: 'redis-auth', existingSecretKey: 'url' },
    config: { CACHE_DRIVER: 'redis', CORS_ORIGINS: 'https://portal.example.com', RATE_LIMIT_FAIL_OPEN: false },
  },
  'Redis standalone from redis.url': { ...EXISTING, redis: { url: 'rediss://:s3cret@redis.ion.svc:6380/2' } },
  'Redis Cluster': {
    ...EXISTING,
    redis: { ...CLUSTER, username: 'gateway', password: { existingSecret: 'redis-cluster-auth' }, tls: true, keyPrefix: 'igw-canary:' },
    config: { CACHE_DRIVER: 'redis' },
  },
  'Redis Sentinel': { ...EXISTING, redis: SENTINEL },
  'NetworkPolicy, ids left to OpenShift, a budget by maxUnavailable': {
    ...EXISTING,
    redis: SENTINEL,
    networkPolicy: {
      enabled: true,
      ingressFrom: [{ namespaceSelector: { matchLabels: { 'network.openshift.io/policy-group': 'ingress' } } }, { podSelector: { matchLabels: { app: 'erp-portal' } } }],
      dns: { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'openshift-dns' } } }], ports: [53, 5353] },
      redis: { to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } }] },
      ionCidrs: ['203.0.113.0/24'],
      extraEgress: [{ to: [{ ipBlock: { cidr: '10.20.0.5/32' } }], ports: [{ port: 3128, protocol: 'TCP' }] }],
    },
    platformAssignsIds: true,
    podDisruptionBudget: { maxUnavailable: '50%' },
    ingress: { enabled: true, hosts: [{ host: 'ion.acme.com', paths: [{ path: '/api', pathType: 'Prefix' }] }] },
  },
  // Strings YAML 1.1 reads as booleans, numbers or nulls, strings that cannot be written plain, long and multi-line
  // strings, odd numbers: what toYaml, toJson and quote must write as Helm does.
  'values that YAML reads in more than one way': {
    ...EXISTING,
    podAnnotations: {
      'sidecar.istio.io/inject': 'false',
      'example.com/enabled': 'yes',
      'example.com/mode': 'on',
      'example.com/window': '12:30',
      'example.com/since': '2024-01-31',
      'example.com/octal': '0755',
      'example.com/empty': '',
      'example.com/comment': '#ops',
      'example.com/pair': 'a: b',
      'example.com/lead': ' spaced',
      'example.com/json': '{"team":"erp","tier":1}',
      'example.com/script': 'line one\nline two\n',
      'example.com/description': 'A long annotation that goes past the eighty columns where go-yaml folds plain scalars into several lines',
    },
    podLabels: { n: 'y', 10: 'ten', 9: 'nine' },
    nodeSelector: { 'kubernetes.io/os': 'linux', 'example.com/pool': 'NO' },
    resources: { requests: { cpu: 0.25, memory: '128Mi' }, limits: { cpu: 1.5, memory: 536870912 } },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'true', effect: 'NoExecute', tolerationSeconds: 3600 }],
    autoscaling: { behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] } } },
    config: { M3_READ_TRANSACTIONS: '^(Get|Lst)[A-Z]\\w*$', CORS_ORIGINS: 'https://a.example.com, https://b.example.com', TRUST_PROXY: '10.0.0.0/8,fd00::/8', CACHE_MAX_BYTES: 1073741824 },
    redis: { ...CLUSTER, keyPrefix: 'igw"tst\\:' },
  },
}

/** Values the chart's templates refuse (`fail`), each with what the message must say. */
export const REFUSED: Record<string, { values: Record<string, unknown>, message: RegExp }> = {
  'no .ionapi': { values: {}, message: /ionapi\.existingSecret.*ionapi\.content/ },
  'both .ionapi sources': { values: { ionapi: { existingSecret: 'a', content: ionapiText } }, message: /ionapi: set existingSecret or content, not both/ },
  'both client key sources': {
    values: { ...EXISTING, clientAuth: { existingSecret: 'a', apiKeys: [{ id: 'p', keySha256: sha256Hex('k') }] } },
    message: /clientAuth: set existingSecret or apiKeys, not both/,
  },
  'a grace period shorter than the drain': { values: { ...EXISTING, terminationGracePeriodSeconds: 20 }, message: /terminationGracePeriodSeconds/ },
  'minReplicas over maxReplicas': { values: { ...EXISTING, autoscaling: { minReplicas: 7 } }, message: /minReplicas/ },
  'CACHE_DRIVER=redis without Redis': { values: { ...EXISTING, config: { CACHE_DRIVER: 'redis' } }, message: /CACHE_DRIVER=redis needs Redis/ },
  'redis.url and redis.existingSecret': { values: { ...EXISTING, redis: { url: 'redis://r:6379', existingSecret: 'r' } }, message: /redis: set url or existingSecret, not both/ },
  'standalone with cluster nodes': {
    values: { ...EXISTING, redis: { existingSecret: 'r', cluster: CLUSTER.cluster } },
    message: /redis\.mode is standalone but redis\.cluster or redis\.sentinel is set/,
  },
  'standalone with Sentinels': { values: { ...EXISTING, redis: { sentinel: SENTINEL.sentinel } }, message: /one topology at a time/ },
  'standalone with a password Secret': {
    values: { ...EXISTING, redis: { existingSecret: 'r', password: { existingSecret: 'p' } } },
    message: /redis\.mode=standalone: put the user and password in the URL/,
  },
  'standalone with redis.username': { values: { ...EXISTING, redis: { url: 'redis://r:6379', username: 'gw' } }, message: /put the user and password in the URL/ },
  'standalone with redis.tls': { values: { ...EXISTING, redis: { url: 'redis://r:6379', tls: true } }, message: /rediss:\/\/ for TLS/ },
  'cluster without nodes': { values: { ...EXISTING, redis: { mode: 'cluster' } }, message: /redis\.mode=cluster needs redis\.cluster\.nodes/ },
  'cluster and a URL': { values: { ...EXISTING, redis: { ...CLUSTER, url: 'redis://r:6379' } }, message: /redis\.mode=cluster: unset redis\.url/ },
  'cluster and Sentinels': { values: { ...EXISTING, redis: { ...CLUSTER, sentinel: SENTINEL.sentinel } }, message: /redis\.mode=cluster: unset .*redis\.sentinel/ },
  'sentinel without Sentinels': { values: { ...EXISTING, redis: { mode: 'sentinel', sentinel: { masterName: 'mymaster' } } }, message: /redis\.mode=sentinel needs redis\.sentinel\.sentinels/ },
  'sentinel without masterName': {
    values: { ...EXISTING, redis: { mode: 'sentinel', sentinel: { sentinels: SENTINEL.sentinel.sentinels } } },
    message: /redis\.mode=sentinel needs redis\.sentinel\.masterName/,
  },
  'sentinel and an existing URL Secret': { values: { ...EXISTING, redis: { ...SENTINEL, existingSecret: 'r' } }, message: /redis\.mode=sentinel: unset redis\.url, redis\.existingSecret/ },
  'a PDB minAvailable equal to the HPA floor': {
    values: { ...EXISTING, podDisruptionBudget: { minAvailable: 2 } },
    message: /podDisruptionBudget\.minAvailable=2 keeps all 2 pods \(autoscaling\.minReplicas\) and would block every node drain/,
  },
  'a PDB minAvailable over replicaCount': {
    values: { ...EXISTING, autoscaling: { enabled: false }, replicaCount: 3, podDisruptionBudget: { minAvailable: 4 } },
    message: /minAvailable=4 keeps all 3 pods \(replicaCount\).*set it below 3/,
  },
  'a PDB percentage that rounds up to every pod': {
    values: { ...EXISTING, autoscaling: { minReplicas: 3 }, podDisruptionBudget: { minAvailable: '70%' } },
    message: /minAvailable=70% keeps all 3 pods/,
  },
  'sentinel and cluster nodes': { values: { ...EXISTING, redis: { ...SENTINEL, cluster: CLUSTER.cluster } }, message: /redis\.mode=sentinel: unset .*redis\.cluster\.nodes/ },
}

/** Values values.schema.json refuses, with the path of the error (as JSON pointer; '' = the root). */
export const SCHEMA_REFUSED: Record<string, { values: Record<string, unknown>, path: string }> = {
  'replicaCount "two"': { values: { replicaCount: 'two' }, path: '/replicaCount' },
  'an unknown top-level key': { values: { replicas: 3 }, path: '' },
  'a variable the chart sets itself': { values: { config: { ION_API_FILE: '/x.ionapi' } }, path: '/config' },
  'an unknown variable': { values: { config: { CACHE_TTL_M33: 1 } }, path: '/config' },
  'a log level pino lacks': { values: { config: { LOG_LEVEL: 'loud' } }, path: '/config/LOG_LEVEL' },
  'a size with a unit': { values: { config: { CACHE_MAX_BYTES: '64MB' } }, path: '/config/CACHE_MAX_BYTES' },
  'UPSTREAM_RETRIES over 10': { values: { config: { UPSTREAM_RETRIES: 11 } }, path: '/config/UPSTREAM_RETRIES' },
  'a TRUST_PROXY that is not an address list': { values: { config: { TRUST_PROXY: 'the ingress' } }, path: '/config/TRUST_PROXY' },
  'a Redis URL of another scheme': { values: { redis: { url: 'http://redis:6379' } }, path: '/redis/url' },
  'a Redis mode the gateway lacks': { values: { redis: { mode: 'replicated' } }, path: '/redis/mode' },
  'a Redis password as a plain value': { values: { redis: { ...CLUSTER, password: 's3cret' } }, path: '/redis/password' },
  'a Redis password under another key': { values: { redis: { ...CLUSTER, password: { value: 's3cret' } } }, path: '/redis/password' },
  'a cluster node without a port': { values: { redis: { mode: 'cluster', cluster: { nodes: ['redis-cluster:6379', 'redis-cluster-1'] } } }, path: '/redis/cluster/nodes/1' },
  'a cluster node given as a URL': { values: { redis: { mode: 'cluster', cluster: { nodes: ['redis://redis-cluster:6379'] } } }, path: '/redis/cluster/nodes/0' },
  'a Sentinel port out of range': { values: { redis: { ...SENTINEL, sentinel: { sentinels: ['s:65536'], masterName: 'm' } } }, path: '/redis/sentinel/sentinels/0' },
  'Sentinels as one comma string': { values: { redis: { ...SENTINEL, sentinel: { sentinels: 's1:26379,s2:26379', masterName: 'm' } } }, path: '/redis/sentinel/sentinels' },
  'TLS as a string': { values: { redis: { ...CLUSTER, tls: 'yes' } }, path: '/redis/tls' },
  'a key prefix with a Cluster hash tag': { values: { redis: { keyPrefix: '{igw}:' } }, path: '/redis/keyPrefix' },
  'a key prefix with a space': { values: { redis: { keyPrefix: 'ion gateway:' } }, path: '/redis/keyPrefix' },
  'a key prefix over 64 characters': { values: { redis: { keyPrefix: `${'x'.repeat(64)}:` } }, path: '/redis/keyPrefix' },
  'a Redis variable under config': { values: { config: { REDIS_PASSWORD: 's3cret' } }, path: '/config' },
  'an API key entry holding a key instead of its hash': { values: { clientAuth: { apiKeys: [{ id: 'portal', keySha256: 'igw_secret' }] } }, path: '/clientAuth/apiKeys/0/keySha256' },
  'an unknown ionapi option': { values: { ionapi: { file: 'acme.ionapi' } }, path: '/ionapi' },
  'a pull policy Kubernetes lacks': { values: { image: { pullPolicy: 'Sometimes' } }, path: '/image/pullPolicy' },
  'maxUnavailable in words': { values: { rollingUpdate: { maxUnavailable: 'one pod' } }, path: '/rollingUpdate/maxUnavailable' },
  'a CPU target over 100 %': { values: { autoscaling: { targetCPUUtilizationPercentage: 170 } }, path: '/autoscaling/targetCPUUtilizationPercentage' },
  'a PDB minAvailable of 100 %': { values: { podDisruptionBudget: { minAvailable: '100%' } }, path: '/podDisruptionBudget/minAvailable' },
  'a PDB maxUnavailable of 0': { values: { podDisruptionBudget: { maxUnavailable: 0 } }, path: '/podDisruptionBudget/maxUnavailable' },
  'a PDB maxUnavailable of 0 %': { values: { podDisruptionBudget: { maxUnavailable: '0%' } }, path: '/podDisruptionBudget/maxUnavailable' },
  'an Ingress without hosts': { values: { ingress: { enabled: true, hosts: [] } }, path: '/ingress/hosts' },
  'an Ingress host without paths': { values: { ingress: { enabled: true, hosts: [{ host: 'ion.acme.com', paths: [] }] } }, path: '/ingress/hosts/0/paths' },
  'a NetworkPolicy nothing may reach': { values: { networkPolicy: { enabled: true, ingressFrom: [] } }, path: '/networkPolicy/ingressFrom' },
  'an ION CIDR that is a host name': { values: { networkPolicy: { ionCidrs: ['acme.inforcloudsuite.com'] } }, path: '/networkPolicy/ionCidrs/0' },
  'a Service port out of range': { values: { service: { port: 70000 } }, path: '/service/port' },
}

/**
 * The value sets the documentation shows: each YAML block of docs/deployment.md, the chart's README and the README (a fragment without an .ionapi is
 * taken with EXISTING, as the guide's values file has one) and the README's `helm install --set` command.
 */
export function documentedValueSets (): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {}
  for (const [name, file] of [['docs/deployment.md', DEPLOYMENT_DOC], ['helm/ion-gateway/README.md', CHART_README], ['README.md', join(ROOT, 'README.md')]] as const) {
    const doc = read(file)
    for (const block of doc.matchAll(/^```yaml\n([\s\S]*?)^```/gm)) {
      const values: unknown = YAML.parse(block[1]!)
      if (!isPlainObject(values)) throw new Error(`${name}: a YAML block that is not a values map:\n${block[1]}`)
      const line = doc.slice(0, block.index).split('\n').length
      out[`${name} line ${line}`] = 'ionapi' in values ? values : deepMerge(EXISTING, values)
    }
  }
  const install = /^helm install (?:[^\n]*\\\n)*[^\n]*/m.exec(read(join(ROOT, 'README.md')))
  if (!install) throw new Error('README.md: no helm install command')
  let readme: Record<string, unknown> = {}
  for (const [, path, value] of install[0].matchAll(/--set ([\w.]+)=(\S+)/g)) {
    const keys = path!.split('.')
    let set: Record<string, unknown> = { [keys.pop()!]: value }
    for (const key of keys.reverse()) set = { [key]: set }
    readme = deepMerge(readme, set)
  }
  out['README.md helm install'] = readme
  return out
}
