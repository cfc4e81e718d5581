import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * The gateway's helmet configuration for its answers (a JSON API, and whatever ION relays): a strict CSP that also
 * suits Swagger UI at /docs, HSTS, nosniff, frame and cross-origin policies.
 */
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
  xContentTypeOptions: true,
  referrerPolicy: { policy: 'same-origin' },
  // Off on API answers: they only ever mattered to HTML pages in browsers of the past (IE8's download prompt, the XSS
  // auditor, Flash and Acrobat policy files) or hint at how a document's process and DNS prefetching go. Every
  // header costs every answer (bench/README.md); the one HTML page, /docs, still gets them (documentSecurityHeaderOptions).
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
}

/** For the HTML page the gateway serves itself (Swagger UI at /docs): the same, plus the rest of helmet's set. */
export const documentSecurityHeaderOptions: Readonly<HelmetOptions> = {
  ...securityHeaderOptions,
  originAgentCluster: true,
  xDnsPrefetchControl: { allow: false },
  xDownloadOptions: true,
  xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
  xXssProtection: true,
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
