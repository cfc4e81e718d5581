import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { accessLineWriter, type AccessLineFields } from './access-log.ts'
import { redactUrl } from './edge/redact-url.ts'
import { elapsedMs } from './proxy/hand-over.ts'
import { routeOptionsOf } from './route-options.ts'

/** What the proxy learned about a request's trip to ION, for the request's log line. */
export interface UpstreamTrace {
  system?: string
  statusCode?: number
  attempts?: number
}

const INFO = 30
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: INFO, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY }

/** A request URL as logged: secret query parameters redacted (before the cut, so a cut never spares a value), at most 512 characters. */
export function loggedUrl (url: string): string {
  const redacted = redactUrl(url)
  return redacted.length > 512 ? redacted.slice(0, 512) + '…' : redacted
}

/**
 * One structured line per request, written when it completes: request id (the logger's label), client id, route,
 * status, duration, system, ION's status and the cache result. Never headers or bodies (they may carry secrets), and
 * the URL without the values of secret query parameters.
 */
// Per app logger (several apps may share a process in tests): the line writer, or null where pino must write it.
const writers = new WeakMap<FastifyBaseLogger, ((fields: AccessLineFields) => void) | null>()

/**
 * Writes a completed request's line for the app's logger, with the id as a field: cheaper than the per-request child
 * logger, and serialized by src/access-log.ts rather than by pino (figures in bench/README.md).
 */
export function writeRequestLine (logger: FastifyBaseLogger, line: AccessLineFields): void {
  let write = writers.get(logger)
  if (write === undefined) {
    write = accessLineWriter(logger as Logger) ?? null
    writers.set(logger, write)
  }
  if (write) write(line)
  else logger.info(line, 'request completed')
}

export class RequestLogController extends LogController {
  constructor () {
    super({ requestIdLogLabel: 'requestId' })
  }

  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return
    if (error) {
      reply.log.error({ ...lineFor(request, reply), err: error }, 'request errored')
      return
    }
    // A route's own log level (probes and /metrics log at warn) is set on its per-request child logger.
    if ((LEVELS[reply.log.level] ?? INFO) > INFO) return
    writeRequestLine(request.server.log, lineFor(request, reply, request.id))
  }
}

/**
 * The line's fields in one object literal, every field present (pino leaves undefined ones out): one hidden class, no
 * spreads and no properties added later (each would migrate the object's map). Built for every request.
 */
function lineFor (request: FastifyRequest, reply: FastifyReply, requestId?: string): AccessLineFields {
  const trace = request.upstreamTrace
  const upstreamStatus = trace?.statusCode
  const cache = reply.getHeader('x-cache')
  return {
    // Absent from the error line: its id comes from the child logger's label.
    requestId,
    method: request.method,
    url: loggedUrl(request.url),
    route: routeOptionsOf(request).url,
    statusCode: reply.statusCode,
    durationMs: Math.round(elapsedMs(request.raw, reply.elapsedTime) * 100) / 100,
    clientId: request.client?.id,
    system: trace?.system || undefined,
    upstreamStatus,
    upstreamAttempts: upstreamStatus === undefined ? undefined : trace?.attempts,
    cache: typeof cache === 'string' ? cache : undefined,
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    upstreamTrace: UpstreamTrace | null
  }
}
