import t from 'tap'
import YAML from 'yaml'
import { cleanUpHelm, renderChart, type Manifest } from './helm.ts'
import { DASHBOARD, ROOT, read, readJson } from './paths.ts'
import { join } from 'node:path'

// The README's operator walk ("Operating it"), checked against the chart: the values file it shows, rendered by real
// Helm under the release name and namespace its commands use, makes every object and name the walk refers to.

t.teardown(cleanUpHelm)

const readme = read(join(ROOT, 'README.md'))
const start = readme.indexOf('## Operating it')
const walk = readme.slice(start, readme.indexOf('\n## ', start + 1))

t.test('the walk\'s values, commands and alert table match what the chart renders', async t => {
  t.ok(start > 0, 'README has the walk')
  const block = /```yaml\n([\s\S]*?)```/.exec(walk)
  t.ok(block, 'a values file')
  const values = YAML.parse(block![1]!) as Record<string, Record<string, unknown>>
  const release = /helm upgrade --install (\S+) \.\/helm\/ion-gateway -n (\S+) -f (\S+)/.exec(walk)
  t.ok(release, 'a helm upgrade --install command')
  const [, name, namespace, file] = release!
  t.match(walk, `# ${file}`, 'the values file is the one the command names')
  const { docs, notes } = renderChart(values, { releaseName: name!, namespace: namespace! })
  const one = (kind: string, suffix = '') => docs.find(d => d.kind === kind && d.metadata.name === `${name}${suffix}`)

  // Step 1: each Secret the commands create is the one the pods read, under the key they read.
  const deployment = one('Deployment') as Manifest & { spec: { template: { spec: { volumes: Array<{ secret?: { secretName: string, items?: Array<{ key: string }> } }>, containers: Array<{ env?: Array<{ name: string, valueFrom?: { secretKeyRef?: { name: string, key: string } } }> }> } } } }
  t.ok(deployment, `deployment/${name}`)
  const pod = deployment.spec.template.spec
  const secrets = [...walk.matchAll(/kubectl -n (\S+) create secret generic (\S+) --from-(?:file|literal)=([^=]+)=/g)]
  t.equal(secrets.length, 3, 'three Secrets')
  for (const [, ns, secret, key] of secrets) {
    t.equal(ns, namespace)
    const mounted = pod.volumes.some(v => v.secret?.secretName === secret && (v.secret?.items ?? []).some(i => i.key === key))
    const injected = pod.containers.some(c => (c.env ?? []).some(e => e.valueFrom?.secretKeyRef?.name === secret && e.valueFrom?.secretKeyRef?.key === key))
    t.ok(mounted || injected, `Secret ${secret} key ${key} reaches the pod`)
  }

  // Step 3: the names the commands use.
  const service = one('Service') as Manifest & { spec: { ports: Array<{ port: number }> } }
  t.ok(walk.includes(`rollout status deployment/${name}`))
  const forward = /port-forward svc\/(\S+) \d+:(\d+)/.exec(walk)
  t.equal(forward?.[1], service.metadata.name, 'the Service port-forwarded exists')
  t.equal(Number(forward?.[2]), service.spec.ports[0]?.port, 'on its port')

  // Step 4: what Prometheus shows.
  const monitor = one('ServiceMonitor')
  t.ok(monitor, 'a ServiceMonitor')
  t.same(monitor?.metadata.labels?.release, 'kube-prometheus-stack')
  t.match(walk, `serviceMonitor/${namespace}/${monitor?.metadata.name}/0`)
  const rule = one('PrometheusRule') as Manifest & { spec: { groups: Array<{ name: string, rules: Array<{ alert: string, expr: string }> }> } }
  t.ok(rule, 'a PrometheusRule')
  t.same(rule.metadata.labels?.release, 'kube-prometheus-stack')
  const group = rule.spec.groups[0]!
  t.match(walk, `the \`${group.name}\` group`)
  const selector = `namespace="${namespace}", job="${service.metadata.name}"`
  t.match(walk, selector, 'the series the alerts select, as the walk quotes them')
  for (const r of group.rules) t.ok(r.expr.includes(selector), `${r.alert} selects ${selector}`)

  // Step 5: the dashboard.
  const dashboard = docs.find(d => d.kind === 'ConfigMap' && d.metadata.name === `${name}-dashboard`)
  t.equal(dashboard?.metadata.namespace, 'monitoring', 'in the namespace the Grafana sidecar watches')
  t.equal(dashboard?.metadata.labels?.grafana_dashboard, '1')
  t.equal(dashboard?.metadata.annotations?.grafana_folder, 'ION')
  const title = readJson<{ title: string }>(DASHBOARD).title
  t.match(walk, `**${title}**`, 'the dashboard title the walk names')
  t.match(walk, 'helm/ion-gateway/dashboards/ion-gateway.json')

  // The chart's NOTES point at the same things.
  t.match(notes, `target serviceMonitor/${namespace}/${monitor?.metadata.name}/0`)
  t.match(notes, `the alerts of group ${group.name}, on ${selector}`)
  t.match(notes, `ConfigMap ${name}-dashboard in namespace monitoring`)
  t.notMatch(notes, /labels is empty/, 'the walk sets the labels Prometheus selects by')
  t.match(walk, /## Operating it/, 'the section the NOTES name')
  t.notMatch(notes, /<no value>|map\[/)

  // Step 6: one row per alert, no more.
  const rows = [...walk.matchAll(/^\| `(IonGateway\w+)`/gm)].map(m => m[1])
  t.same(rows.sort(), group.rules.map(r => r.alert).sort(), 'the alert table lists exactly the chart\'s alerts')
})

t.test('NOTES without monitoring say how to turn it on', async t => {
  const { notes } = renderChart({ ionapi: { existingSecret: 'acme-ionapi' } })
  t.match(notes, /Monitoring is off: serviceMonitor\.enabled, prometheusRule\.enabled and dashboard\.enabled/)
  const bare = renderChart({ ionapi: { existingSecret: 'acme-ionapi' }, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } }).notes
  t.match(bare, /serviceMonitor\.labels is empty/)
  t.match(bare, /prometheusRule\.labels is empty/)
})
