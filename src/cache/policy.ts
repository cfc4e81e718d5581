import type { IncomingHttpHeaders } from 'node:http'
import { m3Failure } from '../ion/m3.ts'

export interface CachePolicyOptions {
  ttlS: Record<string, number>
  staleS: number
  maxEntryBytes: number
}

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
 * Why ION's answer may not be stored, or undefined when it may: only 200s, nothing private or uncacheable, no
 * cookies, no `Vary` the key does not cover, no M3 body that reports a failed transaction, nothing too large.
 */
export function refuseToStore (system: string, statusCode: number, upstreamHeaders: IncomingHttpHeaders, body: Buffer, maxEntryBytes: number): string | undefined {
  if (statusCode !== 200) return 'status'
  if (body.length > maxEntryBytes) return 'size'
  const cc = headerText(upstreamHeaders['cache-control']).toLowerCase()
  if (/(^|[\s,])(no-store|private|no-cache)([\s,=]|$)/.test(cc)) return 'cache-control'
  if (upstreamHeaders['set-cookie'] !== undefined) return 'set-cookie'
  const vary = headerText(upstreamHeaders.vary).toLowerCase().split(',').map(s => s.trim()).filter(Boolean)
  // The key covers accept, accept-language, content-language and the LN company; accept-encoding is never forwarded.
  if (vary.some(v => !['accept', 'accept-language', 'content-language', 'x-infor-lncompany', 'accept-encoding'].includes(v))) return 'vary'
  if (system === 'm3') {
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch {
      return 'm3-body'
    }
    if (m3Failure(parsed)) return 'm3-error'
  }
  return undefined
}
