import t from 'tap'
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base'
import { ConfigError, type TracingConfig } from '../../src/config.ts'
import { createTracing } from '../../src/telemetry/tracing.ts'
import { testConfig } from '../helpers/config.ts'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT_ID = '00f067aa0ba902b7'

function configError (env: Record<string, string>): ConfigError {
  try {
    testConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('configuration: off by default, on with an OTLP endpoint, the standard variables honoured', async t => {
  t.equal(testConfig().tracing, undefined, 'no endpoint: off')
  t.equal(testConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }).tracing, undefined, 'an empty endpoint is unset (Helm\'s "")')
  t.equal(testConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).tracing, undefined, 'OTEL_SDK_DISABLED wins')
  t.same(testConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing, {
    url: 'http://collector:4318/v1/traces',
    headers: {},
    serviceName: 'ion-gateway',
    resourceAttributes: {},
    sampler: 'parentbased_always_on',
    samplerRatio: 1,
    scheduledDelayMs: 5000,
    exportTimeoutMs: 10000,
  })
  const specific = testConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/custom/path',
    OTEL_EXPORTER_OTLP_HEADERS: 'x-key=general,x-tenant=acme%20tst',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'X-Key=specific',
    OTEL_SERVICE_NAME: 'gw-prd',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prd,service.name=ignored,k8s.cluster.name=eu%201',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
  }).tracing
  t.match(specific, {
    url: 'https://traces.example.com/custom/path',
    headers: { 'x-key': 'specific', 'x-tenant': 'acme tst' },
    serviceName: 'gw-prd',
    resourceAttributes: { 'deployment.environment.name': 'prd', 'service.name': 'ignored', 'k8s.cluster.name': 'eu 1' },
    sampler: 'parentbased_traceidratio',
    samplerRatio: 0.25,
    exportTimeoutMs: 2500,
  }, 'the traces endpoint is used as is; signal headers win, values percent-decoded')
})

t.test('configuration errors name the variable, never its value', async t => {
  const headers = configError({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'api-key-SECRET1' })
  t.match(headers.message, /OTEL_EXPORTER_OTLP_HEADERS/)
  t.notMatch(headers.message, /SECRET1/)
  const url = configError({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:SECRET2@[bad' })
  t.match(url.message, /OTEL_EXPORTER_OTLP_ENDPOINT/)
  t.notMatch(url.message, /SECRET2/)
  t.match(configError({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_RESOURCE_ATTRIBUTES: 'no value' }).message, /OTEL_RESOURCE_ATTRIBUTES/)
  t.match(configError({ OTEL_TRACES_SAMPLER: 'sometimes' }).message, /OTEL_TRACES_SAMPLER/)
  t.match(configError({ OTEL_TRACES_SAMPLER_ARG: '2' }).message, /OTEL_TRACES_SAMPLER_ARG/)
})

function tracingWith (overrides: Partial<TracingConfig> = {}) {
  const exporter = new InMemorySpanExporter()
  const config: TracingConfig = { url: 'http://unused.invalid/v1/traces', headers: {}, serviceName: 'test', resourceAttributes: { 'deployment.environment.name': 'tst', 'service.name': 'overridden' }, sampler: 'parentbased_always_on', samplerRatio: 1, scheduledDelayMs: 60000, exportTimeoutMs: 1000, ...overrides }
  const tracing = createTracing(config, { ionOrigin: 'https://mingle-ionapi.example.com', exporter })
  t.teardown(() => tracing.shutdown())
  return { tracing, exporter }
}

t.test('an ION attempt injects its own traceparent and the caller\'s tracestate, replacing what the client sent', async t => {
  const { tracing, exporter } = tracingWith()
  const server = tracing.startServerSpan({
    method: 'GET',
    route: '/ln/*',
    url: '/ln/lnapi/odata/x?$top=1',
    headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'acme=1' },
    requestId: 'r-1',
  })
  const attempt = server.ionAttempt({ system: 'ln', method: 'GET', path: '/T/LN/lnapi/odata/x?$top=1&access_token=abc', resendCount: 0 })
  const headers: Record<string, string | string[]> = { traceparent: 'client-value', tracestate: 'client=forged' }
  attempt.inject(headers)
  attempt.end(404)
  server.end({ statusCode: 404, system: 'ln', cache: 'BYPASS' })
  server.end({ statusCode: 500 })
  await tracing.flush()
  const spans = exporter.getFinishedSpans()
  t.equal(spans.length, 2, `spans: ${spans.map(s => s.name).join(', ')} (a second end is ignored)`)
  const ion = spans.find(s => s.name === 'ION LN GET')
  const srv = spans.find(s => s.name === 'GET /ln/*')
  t.equal(headers.traceparent, `00-${TRACE_ID}-${ion?.spanContext().spanId}-01`)
  t.equal(headers.tracestate, 'acme=1', 'the caller\'s tracestate, not the forged one')
  t.equal(ion?.parentSpanContext?.spanId, srv?.spanContext().spanId)
  t.equal(ion?.attributes['url.full'], 'https://mingle-ionapi.example.com/T/LN/lnapi/odata/x?$top=1&access_token=[redacted]')
  t.equal(ion?.status.code, 2, 'a 4xx fails the CLIENT span')
  t.equal(srv?.status.code, 0, 'but not the SERVER span: the caller\'s mistake, answered')
  t.match(srv?.resource.attributes, { 'service.name': 'test', 'deployment.environment.name': 'tst' }, 'OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES')
  t.match(srv?.attributes, { 'http.response.status_code': 404, 'ion.system': 'LN', 'ion.cache': 'BYPASS', 'url.query': '$top=1' })
})

t.test('samplers: the caller\'s sampled flag is followed; an unsampled trace still propagates, unsampled', async t => {
  const { tracing, exporter } = tracingWith({ sampler: 'parentbased_traceidratio', samplerRatio: 0 })
  const root = tracing.startServerSpan({ method: 'GET', route: '/m3/*', url: '/m3/x', headers: {}, requestId: 'a' })
  const rootAttempt = root.ionAttempt({ system: 'm3', method: 'GET', path: '/T/M3/x', resendCount: 0 })
  const rootHeaders: Record<string, string | string[]> = {}
  rootAttempt.inject(rootHeaders)
  rootAttempt.end(200)
  root.end({ statusCode: 200 })
  const followed = tracing.startServerSpan({ method: 'GET', route: '/m3/*', url: '/m3/x', headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` }, requestId: 'b' })
  followed.end({ statusCode: 200 })
  await tracing.flush()
  t.same(exporter.getFinishedSpans().map(s => s.attributes['gateway.request_id']), ['b'], 'ratio 0 drops new traces, a sampled caller is followed')
  t.match(rootHeaders.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'the unsampled trace reaches ION with the flag off')
})
