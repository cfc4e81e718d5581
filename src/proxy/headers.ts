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

/** Never relayed to the client: hop-by-hop and ION's cookies. */
const DROP_RESPONSE = new Set([...HOP_BY_HOP, 'set-cookie'])

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

/** Headers relayed to the client: hop-by-hop and Set-Cookie removed, ION-internal redirects mapped to the gateway. */
export function clientResponseHeaders (upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>, rewrite?: LocationRewrite): OutgoingHeaders {
  const listed = connectionListed(upstream.connection)
  const out: OutgoingHeaders = {}
  for (const name in upstream) {
    if (DROP_RESPONSE.has(name) || listed?.has(name)) continue
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
