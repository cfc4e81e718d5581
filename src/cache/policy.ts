import type { IncomingHttpHeaders } from 'node:http'
import { keyCoversVary } from './keys.ts'

function headerText (value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : (value ?? '')
}

/** What the client asked of the cache (RFC 9111 request directives the gateway honours). */
export function requestDirectives (headers: IncomingHttpHeaders): { lookup: boolean, store: boolean } {
  const cc = headerText(headers['cache-control']).toLowerCase()
  const pragma = headerText(headers.pragma).toLowerCase()
  const noStore = cc.includes('no-store')
  // no-cache: do not answer from the cache, but refresh the entry with ION's answer.
  const noCache = noStore || cc.includes('no-cache') || cc.includes('max-age=0') || pragma.includes('no-cache')
  return { lookup: !noCache && headers.range === undefined, store: !noStore && headers.range === undefined }
}

/**
 * Why ION's answer may not be stored by HTTP's rules, or undefined when it may: only 200s, nothing private or
 * uncacheable, no cookies, no `Vary` the key does not cover, nothing too large. What the body says is the caller's
 * concern (`CacheRequest.storable`).
 */
export function refuseToStore (statusCode: number, upstreamHeaders: IncomingHttpHeaders, body: Buffer, maxEntryBytes: number): string | undefined {
  if (statusCode !== 200) return 'status'
  if (body.length > maxEntryBytes) return 'size'
  const cc = headerText(upstreamHeaders['cache-control']).toLowerCase()
  if (/(^|[\s,])(no-store|private|no-cache)([\s,=]|$)/.test(cc)) return 'cache-control'
  if (upstreamHeaders['set-cookie'] !== undefined) return 'set-cookie'
  const vary = headerText(upstreamHeaders.vary).toLowerCase().split(',').map(s => s.trim()).filter(Boolean)
  if (vary.some(v => !keyCoversVary(v))) return 'vary'
  return undefined
}

export interface Freshness {
  /** Seconds the stored answer is fresh; 0 = not stored. */
  ttlS: number
  /** Seconds past that it may still be served when ION fails. */
  staleS: number
  /** ION's `Age`: seconds the answer had already spent in caches upstream. */
  ageS: number
}

/** A delta-seconds value (`60`, `"60"`); anything else is `NaN`. */
function deltaSeconds (value: string | undefined): number {
  const text = value?.replace(/^"(.*)"$/, '$1') ?? ''
  return /^\d+$/.test(text) ? Number(text) : Number.NaN
}

/**
 * How long ION's answer may be served from the cache, as a shared cache (RFC 9111): `s-maxage` first, else
 * `max-age`, less ION's `Age`, never longer than the gateway's own TTL —
 * TTL = min(CACHE_TTL_<SYSTEM>, (s-maxage ?? max-age) − Age); 0 (or a directive that is not a number) = not stored.
 * Without either directive the gateway's TTL applies. `s-maxage`, `must-revalidate` and `proxy-revalidate` forbid
 * serving the answer once expired without asking ION, so such an entry is never served stale.
 */
export function freshness (upstreamHeaders: IncomingHttpHeaders, ttlS: number, staleS: number): Freshness {
  let maxAge: number | undefined
  let sMaxAge: number | undefined
  let revalidate = false
  const cc = headerText(upstreamHeaders['cache-control']).toLowerCase()
  if (cc) {
    for (const directive of cc.split(',')) {
      const eq = directive.indexOf('=')
      const name = (eq === -1 ? directive : directive.slice(0, eq)).trim()
      const value = eq === -1 ? undefined : directive.slice(eq + 1).trim()
      // A repeated directive counts with its smallest value; an unreadable one as 0 (RFC 9111 4.2.1: consider it stale).
      if (name === 'max-age') maxAge = Math.min(maxAge ?? Infinity, deltaSeconds(value) || 0)
      else if (name === 's-maxage') sMaxAge = Math.min(sMaxAge ?? Infinity, deltaSeconds(value) || 0)
      else if (name === 'must-revalidate' || name === 'proxy-revalidate') revalidate = true
    }
  }
  const ageS = deltaSeconds(headerText(upstreamHeaders.age)) || 0
  const lifetimeS = sMaxAge ?? maxAge
  const fresh = lifetimeS === undefined ? ttlS : Math.min(ttlS, lifetimeS - ageS)
  return {
    ttlS: Math.max(0, fresh),
    staleS: revalidate || sMaxAge !== undefined ? 0 : staleS,
    ageS,
  }
}
