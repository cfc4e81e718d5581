import { hash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

function decodeQueryPart (part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '))
  } catch {
    return part
  }
}

/**
 * The query in one canonical form: parameters decoded and re-encoded, sorted by name. Repeated names keep their
 * relative order (`?a=1&a=2` and `?a=2&a=1` may mean different things to ION), so the sort is stable on the name only.
 * Parameters named in `ignore` (decoded names, CACHE_IGNORE_PARAMS: cache-busters such as `_rid` and `_`) are left out.
 */
export function canonicalQuery (rawQuery: string, ignore?: ReadonlySet<string>): string {
  if (!rawQuery) return ''
  const pairs: Array<[string, string | undefined]> = []
  for (const part of rawQuery.split('&')) {
    if (!part) continue
    const eq = part.indexOf('=')
    const name = decodeQueryPart(eq === -1 ? part : part.slice(0, eq))
    if (ignore?.has(name)) continue
    pairs.push([name, eq === -1 ? undefined : decodeQueryPart(part.slice(eq + 1))])
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  return pairs.map(([k, v]) => v === undefined ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
}

/**
 * Request headers ION answers differ by (LN company and language, content negotiation, and `Prefer`: LN's page size
 * `odata.maxpagesize=…`, `return=minimal`): part of the key.
 */
export const KEYED_HEADERS = ['x-infor-lncompany', 'content-language', 'accept-language', 'accept', 'prefer'] as const

// accept-encoding is never forwarded to ION (the gateway compresses itself), so ION's answer cannot depend on it.
const VARY_COVERED = new Set<string>([...KEYED_HEADERS, 'accept-encoding'])

/** Whether the key tells apart the answers ION's `Vary: <name>` says differ (`name` lower-cased). */
export function keyCoversVary (name: string): boolean {
  return VARY_COVERED.has(name)
}

/** A keyed header's value as it enters the key: repeated headers joined, absent ones empty. */
export function keyedHeaderValue (value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : (value ?? '')
}

/**
 * The keyed headers' values, each after a NUL (which no header value can hold: Node's parser refuses it): what a
 * key's hash takes of the headers, and what the memos of the request path remember a key by.
 */
export function keyedHeadersInput (headers: IncomingHttpHeaders): string {
  let input = ''
  for (const name of KEYED_HEADERS) input += '\u0000' + keyedHeaderValue(headers[name])
  return input
}

export interface CacheKeyInput {
  system: string
  /**
   * The path below the system prefix exactly as sent to ION: not decoded, not normalised, matrix parameters included.
   * Two spellings of one path (`;` and `%3B`, `%3b` and `%3B`, `A` and `%41`) are two entries: at worst a second
   * call to ION, where decoding could answer one spelling with the answer ION gave another.
   */
  path: string
  rawQuery: string
  headers: IncomingHttpHeaders
  /** Query parameters left out of the key (still sent to ION): CACHE_IGNORE_PARAMS. */
  ignoreParams?: ReadonlySet<string>
}

/**
 * Part of every key's hash, changed whenever what an entry holds changes, so a shared Redis never serves an entry an
 * earlier version stored. 2: ION's CORS and security headers are no longer stored with the answer.
 */
const KEY_FORMAT = '2\u0000'

/**
 * `system:GET:["path","<sha256 of query and keyed headers>"]` — a structured tuple (JSON), never a plain
 * concatenation, with the readable path first so an admin can purge by system and path prefix.
 */
export function cacheKey ({ system, path, rawQuery, headers, ignoreParams }: CacheKeyInput): string {
  const keyed = KEY_FORMAT + canonicalQuery(rawQuery, ignoreParams) + keyedHeadersInput(headers)
  // One-shot hash: the same digest as a streamed createHash over the same bytes, at a fraction of the cost.
  return `${system}:GET:${JSON.stringify([path, hash('sha256', keyed, 'hex').slice(0, 32)])}`
}

/**
 * The key prefix that matches every entry of `system` whose path starts with `pathPrefix`, compared character for
 * character with the path as sent to ION: `/x%3B` matches paths sent with `%3B`, not `;` nor `%3b`. A prefix without
 * escapes matches every spelling of the paths below it.
 */
export function cacheKeyPrefix (system?: string, pathPrefix?: string): string {
  if (!system) return ''
  if (!pathPrefix) return `${system}:GET:`
  return `${system}:GET:[${JSON.stringify(pathPrefix).slice(0, -1)}`
}
