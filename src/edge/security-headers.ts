import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet, { type HelmetOptions } from 'helmet'

/** The gateway's helmet configuration: a strict CSP for a JSON API that also serves Swagger UI at /docs. */
export const securityHeaderOptions: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    // Exactly these directives, not merged with helmet's defaults.
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      scriptSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'https:'],
    },
  },
  hsts: { maxAge: 31536000, includeSubDomains: true, preload: true },
  noSniff: true,
  xssFilter: true,
  referrerPolicy: { policy: 'same-origin' },
}

/**
 * The headers helmet sets for these options, computed once. With no CSP nonce they do not depend on the request, so
 * running helmet's middleware per request (12 `setHeader` calls on the raw response, which also pushes every other
 * header through Node's slower merge path) buys nothing. Options with a function directive (a per-request nonce)
 * cannot be precomputed: do not pass them here.
 */
export function securityHeaders (options: Readonly<HelmetOptions> = securityHeaderOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader (name: string, value: unknown) { headers[name.toLowerCase()] = String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] },
  }
  let failure: unknown
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, err => { failure = err })
  if (failure) throw failure
  return Object.freeze(headers)
}
