import type { IncomingHttpHeaders } from 'node:http'

export type OutgoingHeaders = Record<string, string | string[]>

const HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings',
]

/** Never forwarded to ION: hop-by-hop, the caller's credentials, spoofable routing and method-override headers. */
const DROP_REQUEST = new Set([
  ...HOP_BY_HOP,
  'authorization', 'cookie', 'x-api-key', 'x-client-id',
  'host', 'content-length', 'expect',
  'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-scheme',
  'x-forwarded-prefix', 'x-real-ip', 'x-original-url', 'x-rewrite-url',
  'x-http-method-override', 'x-http-method', 'x-method-override',
  // The gateway compresses for its clients itself; ION answers identity so bodies can be inspected and cached.
  'accept-encoding',
  'x-request-id',
])

/**
 * Security headers are the gateway's alone (helmet's set, plus the X-Powered-By helmet removes): ION's would replace
 * the gateway's strict ones. CORS headers (`access-control-*`) are dropped by prefix for the same reason: an ION
 * `Access-Control-Allow-Origin: *` would open the gateway to every origin, CORS_ORIGINS or not.
 */
const SECURITY_HEADERS = [
  'content-security-policy', 'content-security-policy-report-only', 'cross-origin-embedder-policy',
  'cross-origin-opener-policy', 'cross-origin-resource-policy', 'origin-agent-cluster', 'referrer-policy',
  'strict-transport-security', 'x-content-type-options', 'x-dns-prefetch-control', 'x-download-options',
  'x-frame-options', 'x-permitted-cross-domain-policies', 'x-xss-protection', 'x-powered-by',
]

/** Never relayed to the client: hop-by-hop, ION's cookies, and the headers the gateway owns. */
const DROP_RESPONSE = new Set([...HOP_BY_HOP, 'set-cookie', ...SECURITY_HEADERS])

function connectionListed (value: string | string[] | undefined): Set<string> | undefined {
  // The usual values name no other header (keep-alive is hop-by-hop anyway).
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined
  const list = Array.isArray(value) ? value.join(',') : value
  const names = new Set<string>()
  for (const token of list.split(',')) {
    const name = token.trim().toLowerCase()
    if (name) names.add(name)
  }
  return names.size > 0 ? names : undefined
}

export interface UpstreamHeaderValues {
  token: string
  requestId: string
  clientIp: string
}

/**
 * Headers for the request to ION. The gateway's own headers are set after filtering, so a `Connection: authorization`
 * from the client can never strip the service token.
 */
export function upstreamRequestHeaders (incoming: IncomingHttpHeaders, own: UpstreamHeaderValues): OutgoingHeaders {
  const listed = connectionListed(incoming.connection)
  const out: OutgoingHeaders = {}
  for (const name in incoming) {
    if (DROP_REQUEST.has(name) || name.startsWith('proxy-') || listed?.has(name)) continue
    const value = incoming[name]
    if (value !== undefined) out[name] = value
  }
  out.authorization = `Bearer ${own.token}`
  out['x-request-id'] = own.requestId
  out['x-forwarded-for'] = own.clientIp
  return out
}

export interface LocationRewrite {
  /** Absolute and origin-relative forms of the ION system base, e.g. `https://ion/T/M3` and `/T/M3`. */
  upstreamBases: string[]
  /** The gateway prefix to put in their place, e.g. `/m3`. */
  routePrefix: string
}

/**
 * Headers relayed to the client: hop-by-hop, Set-Cookie, CORS and security headers removed, ION-internal redirects
 * mapped to the gateway.
 */
export function clientResponseHeaders (upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>, rewrite?: LocationRewrite): OutgoingHeaders {
  const listed = connectionListed(upstream.connection)
  const out: OutgoingHeaders = {}
  for (const name in upstream) {
    if (DROP_RESPONSE.has(name) || name.startsWith('access-control-') || listed?.has(name)) continue
    const value = upstream[name]
    if (value !== undefined) out[name] = value
  }
  const location = out.location
  if (rewrite && typeof location === 'string') {
    for (const base of rewrite.upstreamBases) {
      if (location === base || location.startsWith(base + '/') || location.startsWith(base + '?')) {
        out.location = rewrite.routePrefix + location.slice(base.length)
        break
      }
    }
  }
  return out
}

/**
 * One Vary from the gateway's own (`Origin`, set by the CORS plugin) and ION's: both decide the answer, so a cache
 * downstream must key on both. `*` stays `*`.
 */
export function mergeVary (own: string | string[] | number, upstream: string | string[]): string {
  const names: string[] = []
  const seen = new Set<string>()
  for (const list of [own, upstream]) {
    for (const token of (Array.isArray(list) ? list.join(',') : String(list)).split(',')) {
      const name = token.trim()
      if (name === '*') return '*'
      if (name && !seen.has(name.toLowerCase())) {
        seen.add(name.toLowerCase())
        names.push(name)
      }
    }
  }
  return names.join(', ')
}
