import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A span as an OTLP/HTTP JSON export carries it, attributes flattened to a plain object. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  /** OTLP SpanKind: 2 SERVER, 3 CLIENT. */
  kind: number
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number
  attributes: Record<string, unknown>
  resource: Record<string, unknown>
}

export interface OtlpReceiver {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (exports arrive at /v1/traces). */
  url: string
  spans: ReceivedSpan[]
  /** Every export body as received, for "no secret anywhere" assertions. */
  bodies: string[]
  /** Headers of every export request. */
  headers: IncomingHttpHeaders[]
  /** Paths exports were posted to. */
  paths: string[]
  close (): Promise<void>
}

interface AnyValue { stringValue?: string, intValue?: number | string, boolValue?: boolean, doubleValue?: number }
interface KeyValue { key: string, value: AnyValue }

function flatten (attributes: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const { key, value } of attributes ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.boolValue ?? value.doubleValue
  }
  return out
}

/** A plain OTLP/HTTP JSON collector on loopback: records what the gateway's exporter sends, answers 200. */
export async function startOtlpReceiver (): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const bodies: string[] = []
  const headers: IncomingHttpHeaders[] = []
  const paths: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      bodies.push(text)
      headers.push(req.headers)
      paths.push(req.url ?? '')
      try {
        const body = JSON.parse(text) as { resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }, scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }> }
        for (const rs of body.resourceSpans ?? []) {
          const resource = flatten(rs.resource?.attributes)
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                traceId: String(s.traceId),
                spanId: String(s.spanId),
                parentSpanId: typeof s.parentSpanId === 'string' ? s.parentSpanId : '',
                name: String(s.name),
                kind: Number(s.kind),
                statusCode: Number((s.status as { code?: number } | undefined)?.code ?? 0),
                attributes: flatten(s.attributes as KeyValue[]),
                resource,
              })
            }
          }
        }
      } catch {
        res.writeHead(400).end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    bodies,
    headers,
    paths,
    async close () {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    },
  }
}
