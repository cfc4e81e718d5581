import type { IncomingHttpHeaders } from 'node:http'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, defaultTextMapSetter, trace, type Attributes, type Context, type Span } from '@opentelemetry/api'
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOffSampler, AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler,
  type Sampler, type SpanExporter,
} from '@opentelemetry/sdk-trace-base'
import {
  ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_REQUEST_RESEND_COUNT, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION, ATTR_URL_FULL, ATTR_URL_PATH, ATTR_URL_QUERY,
} from '@opentelemetry/semantic-conventions'
import type { TracesSampler, TracingConfig } from '../config.ts'
import { redactUrl } from '../edge/redact-url.ts'
import { SYSTEMS } from '../proxy/systems.ts'
import type { IonAttempt, IonAttemptSpan, IonCallTracer, TokenCallSpan, TokenCallTracer } from './spans.ts'

/** The gateway's own span attributes (the rest follow OpenTelemetry's HTTP semantic conventions). */
export const ATTR_ION_SYSTEM = 'ion.system'
/** HIT, MISS, STALE or BYPASS, as in the `x-cache` response header. */
export const ATTR_ION_CACHE = 'ion.cache'
export const ATTR_ION_TOKEN_GRANT = 'ion.token.grant'
export const ATTR_REQUEST_ID = 'gateway.request_id'
export const ATTR_CLIENT_ID = 'gateway.client_id'

export interface ServerSpanStart {
  method: string
  /** The route template (`/m3/*`), undefined when no route matched. */
  route: string | undefined
  /** The request target as received; recorded with secret query values redacted. */
  url: string
  /** Read for `traceparent` and `tracestate` only. */
  headers: IncomingHttpHeaders
  requestId: string
}

export interface ServerSpanEnd {
  /** Absent when the client went away before an answer was sent. */
  statusCode: number | undefined
  system?: string | undefined
  cache?: string | undefined
  clientId?: string | undefined
  /** The client went away before the answer was complete. */
  aborted?: boolean
}

/** A request's SERVER span; also the parent of its ION calls. */
export interface ServerSpan extends IonCallTracer {
  /** The error the request failed with (the gateway's code): recorded, the span still ends in {@link end}. */
  error (errorType: string): void
  /** Ends the span once; later calls do nothing. */
  end (result: ServerSpanEnd): void
}

export interface Tracing extends TokenCallTracer {
  startServerSpan (start: ServerSpanStart): ServerSpan
  /** Exports every ended span now. */
  flush (): Promise<void>
  /** Exports what is left and stops. */
  shutdown (): Promise<void>
}

export interface TracingOptions {
  /** ION's origin (`https://mingle-ionapi.example.com`): server address and port of the ION spans. */
  ionOrigin: string
  /** service.version */
  serviceVersion?: string
  /** Replaces the OTLP/HTTP exporter (tests of this module). */
  exporter?: SpanExporter
  /** Exports started failing (spans are being dropped): once, until one succeeds again. Never a URL or header. */
  onExportFailing?: (reason: string) => void
  /** An export succeeded after failures. */
  onExportRecovered?: () => void
}

/**
 * OpenTelemetry tracing without a global context manager: the request's span travels in the gateway's own request
 * state, so nothing is installed globally and nothing runs per request when tracing is off. Incoming W3C
 * `traceparent`/`tracestate` continue the caller's trace; ION receives the `traceparent` of its CLIENT span.
 */
export function createTracing (config: TracingConfig, options: TracingOptions): Tracing {
  const exporter = watchExports(
    options.exporter ?? new OTLPTraceExporter({ url: config.url, headers: { ...config.headers }, timeoutMillis: config.exportTimeoutMs }),
    options)
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({
      ...config.resourceAttributes,
      [ATTR_SERVICE_NAME]: config.serviceName,
      ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
    })),
    sampler: createSampler(config.sampler, config.samplerRatio),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: config.scheduledDelayMs })],
  })
  const tracer = provider.getTracer('ion-gateway', options.serviceVersion)
  const propagator = new W3CTraceContextPropagator()
  const ion = new URL(options.ionOrigin)
  const ionPort = Number(ion.port || (ion.protocol === 'https:' ? 443 : 80))

  function startServerSpan (start: ServerSpanStart): ServerSpan {
    const parent = propagator.extract(ROOT_CONTEXT, start.headers, defaultTextMapGetter)
    const url = redactUrl(start.url)
    const q = url.indexOf('?')
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: start.method,
      [ATTR_URL_PATH]: q === -1 ? url : url.slice(0, q),
      [ATTR_REQUEST_ID]: start.requestId,
    }
    if (q !== -1) attributes[ATTR_URL_QUERY] = url.slice(q + 1)
    if (start.route !== undefined) attributes[ATTR_HTTP_ROUTE] = start.route
    const span = tracer.startSpan(start.route === undefined ? start.method : `${start.method} ${start.route}`, { kind: SpanKind.SERVER, attributes }, parent)
    const context = trace.setSpan(ROOT_CONTEXT, span)
    let ended = false
    let errorType: string | undefined
    return {
      ionAttempt: attempt => startIonAttempt(attempt, context),
      error (type) { errorType = type },
      end (result) {
        if (ended) return
        ended = true
        if (result.statusCode !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, result.statusCode)
        if (result.system !== undefined) span.setAttribute(ATTR_ION_SYSTEM, SYSTEMS[result.system as keyof typeof SYSTEMS] ?? result.system)
        if (result.cache !== undefined) span.setAttribute(ATTR_ION_CACHE, result.cache)
        if (result.clientId !== undefined) span.setAttribute(ATTR_CLIENT_ID, result.clientId)
        if (result.aborted) span.setAttribute(ATTR_ERROR_TYPE, 'client_aborted')
        // A SERVER span is an error on 5xx only: a 4xx is the caller's mistake, answered correctly.
        if (result.statusCode !== undefined && result.statusCode >= 500) {
          span.setAttribute(ATTR_ERROR_TYPE, errorType ?? String(result.statusCode))
          span.setStatus({ code: SpanStatusCode.ERROR })
        }
        span.end()
      },
    }
  }

  function startIonAttempt (attempt: IonAttempt, parent: Context): IonAttemptSpan {
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: attempt.method,
      [ATTR_SERVER_ADDRESS]: ion.hostname,
      [ATTR_SERVER_PORT]: ionPort,
      [ATTR_URL_FULL]: ion.origin + redactUrl(attempt.path),
      [ATTR_ION_SYSTEM]: SYSTEMS[attempt.system],
    }
    if (attempt.resendCount > 0) attributes[ATTR_HTTP_REQUEST_RESEND_COUNT] = attempt.resendCount
    const span = tracer.startSpan(`ION ${SYSTEMS[attempt.system]} ${attempt.method}`, { kind: SpanKind.CLIENT, attributes }, parent)
    return clientSpan(span, trace.setSpan(ROOT_CONTEXT, span))
  }

  function clientSpan (span: Span, context: Context): IonAttemptSpan {
    return {
      inject (headers) {
        delete headers.tracestate
        propagator.inject(context, headers, defaultTextMapSetter)
      },
      end (statusCode) {
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode)
        // A CLIENT span is an error on 4xx too: the gateway's own request was refused.
        if (statusCode >= 400) {
          span.setAttribute(ATTR_ERROR_TYPE, String(statusCode))
          span.setStatus({ code: SpanStatusCode.ERROR })
        }
        span.end()
      },
      fail (type) {
        span.setAttribute(ATTR_ERROR_TYPE, type)
        span.setStatus({ code: SpanStatusCode.ERROR })
        span.end()
      },
    }
  }

  /** A login is shared by every request waiting for the token (and often runs in the background): its own trace. */
  function tokenCall (grant: string, url: string): TokenCallSpan {
    const endpoint = new URL(url)
    const span = tracer.startSpan('ION token', {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: 'POST',
        [ATTR_SERVER_ADDRESS]: endpoint.hostname,
        [ATTR_URL_FULL]: endpoint.origin + endpoint.pathname,
        [ATTR_ION_TOKEN_GRANT]: grant,
      },
    }, ROOT_CONTEXT)
    const { end, fail } = clientSpan(span, ROOT_CONTEXT)
    return { end, fail }
  }

  return {
    startServerSpan,
    tokenCall,
    flush: () => provider.forceFlush(),
    // The last export gets its timeout (retries included) and a second; a collector that is down must not hold the
    // gateway's shutdown, nor fail it.
    shutdown: async () => {
      let timer: NodeJS.Timeout | undefined
      const bound = new Promise<void>(resolve => { timer = setTimeout(resolve, config.exportTimeoutMs + 1000) })
      try {
        await Promise.race([provider.shutdown().catch(() => {}), bound])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

/** Reports the exporter's failures and recoveries (the SDK only tells its own diagnostic logger, off by default). */
function watchExports (exporter: SpanExporter, options: Pick<TracingOptions, 'onExportFailing' | 'onExportRecovered'>): SpanExporter {
  let failing = false
  return {
    export (spans, resultCallback) {
      exporter.export(spans, result => {
        if (result.code === ExportResultCode.SUCCESS) {
          if (failing) options.onExportRecovered?.()
          failing = false
        } else if (!failing) {
          failing = true
          options.onExportFailing?.(errorReason(result.error))
        }
        resultCallback(result)
      })
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  }
}

/** A code or a class name: an exporter's message may quote the collector URL, which may carry credentials. */
function errorReason (error: Error | undefined): string {
  const code = (error as { code?: unknown } | undefined)?.code
  const reason = typeof code === 'string' || typeof code === 'number' ? String(code) : error?.name ?? 'unknown'
  return /^[A-Za-z0-9_]{1,40}$/.test(reason) ? reason : 'Error'
}

/** OTEL_TRACES_SAMPLER with OTEL_TRACES_SAMPLER_ARG, as the specification defines them. */
export function createSampler (name: TracesSampler, ratio: number): Sampler {
  switch (name) {
    case 'always_on': return new AlwaysOnSampler()
    case 'always_off': return new AlwaysOffSampler()
    case 'traceidratio': return new TraceIdRatioBasedSampler(ratio)
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) })
    default: return new ParentBasedSampler({ root: new AlwaysOnSampler() })
  }
}
