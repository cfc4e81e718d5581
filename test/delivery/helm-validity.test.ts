import t from 'tap'
import { CASES, EXISTING, SCHEMA_REFUSED, documentedValueSets } from './helm-cases.ts'
import { cleanUpHelm, helm, helmVersion, lintChart, renderChart } from './helm.ts'
import { kubernetesSchemaErrors } from './kube-schemas.ts'
import { CHART } from './paths.ts'

// Real Helm lints the chart and renders the test value sets and every value set the documentation shows; every
// object it renders must be one the Kubernetes API accepts (its OpenAPI schemas, offline). helm-render.test.ts checks
// what the objects say.

t.comment(`Helm ${helmVersion()}`)
t.teardown(cleanUpHelm)

const documented = documentedValueSets()
t.ok(Object.keys(documented).length >= 4, `the documentation's value sets were found: ${Object.keys(documented).join(', ')}`)

for (const [what, values] of Object.entries({ ...CASES, ...documented })) {
  t.test(`${what}: helm lint --strict passes and every object fits its Kubernetes schema`, async t => {
    const lint = lintChart(values)
    t.ok(lint.ok, `helm lint --strict: ${lint.output}`)
    const { docs } = renderChart(values)
    t.ok(docs.length >= 4, `${docs.length} objects rendered`)
    for (const doc of docs) {
      t.equal(kubernetesSchemaErrors(doc), undefined, `${doc.kind} ${doc.metadata.name}`)
    }
  })
}

t.test('the schema check refuses what Kubernetes refuses', async t => {
  const deployment = renderChart(EXISTING).docs.find(d => d.kind === 'Deployment')!
  const broken = structuredClone(deployment) as typeof deployment & { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } }
  const container = broken.spec.template.spec.containers[0]!
  container.ports = [{ name: 'http', containerPort: 'http' }]
  t.match(kubernetesSchemaErrors(broken), /containers\/0\/ports\/0\/containerPort must be integer/, 'a port given as a name')
  delete container.name
  t.match(kubernetesSchemaErrors(broken), /containers\/0 must have required property name/, 'a container without a name')
  const annotated = structuredClone(deployment)
  annotated.metadata.annotations = { 'example.com/enabled': true } as unknown as Record<string, string>
  t.match(kubernetesSchemaErrors(annotated), /annotations\/example\.com~1enabled must be string/, 'an annotation YAML reads as a boolean')
  t.match(kubernetesSchemaErrors({ ...deployment, apiVersion: 'extensions/v1beta1' }), /no schema for extensions\/v1beta1 Deployment/, 'an API version outside the chart\'s')
})

t.test('helm refuses the values values.schema.json refuses, naming the value', async t => {
  for (const [what, { values, path }] of Object.entries(SCHEMA_REFUSED)) {
    const real = helm(['template', 'gw', CHART], values)
    t.not(real.status, 0, `${what}: helm refuses`)
    t.match(real.stderr, /values don't meet the specifications of the schema/, `${what}: by the schema`)
    t.ok(real.stderr.includes(`'${path}'`), `${what}: names ${path}; it said: ${real.stderr.trim()}`)
  }
})
