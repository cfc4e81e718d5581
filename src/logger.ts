import type { FastifyRequest, FastifyServerOptions } from 'fastify'
import type { LogLevel } from './config.ts'
import { redactLogLine } from './edge/redact-url.ts'
import { loggedUrl } from './request-log.ts'

/** Anything that may carry a secret is redacted before a log line is written (never rely on this alone). */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'accessToken',
  'refreshToken',
  'clientSecret',
  'token',
  'password',
]

export interface LoggerOptions {
  level: LogLevel
  /** A writable stream for the log lines (tests capture logs through it); stdout by default. */
  stream?: { write (line: string): unknown }
}

/** Fastify's own `req` serializer, with the URL's secret query parameters redacted. */
function serializeRequest (request: FastifyRequest) {
  return {
    method: request.method,
    url: loggedUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

export function loggerOptions ({ level, stream }: LoggerOptions): FastifyServerOptions['logger'] {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: { req: serializeRequest },
    // The last line of defence: a URL inside a message, an error's message or stack (Fastify's own warnings quote
    // request URLs) loses its secret parameters too, whatever logged it.
    hooks: { streamWrite: redactLogLine },
    ...(stream ? { stream } : {}),
  }
}
