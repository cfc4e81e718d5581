import type { FastifyServerOptions } from 'fastify'
import type { LogLevel } from './config.ts'

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

export function loggerOptions ({ level, stream }: LoggerOptions): FastifyServerOptions['logger'] {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...(stream ? { stream } : {}),
  }
}
