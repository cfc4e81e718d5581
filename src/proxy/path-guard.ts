import { GatewayError } from '../errors.ts'

export interface GuardedTarget {
  /** The path to send upstream, as the client encoded it: `/{ti}/{SYSTEM}/…` (no query). */
  upstreamPath: string
  /** The path below the system prefix, percent-decoded, matrix parameters kept (`/m3api-rest/…/LstByNumber;maxrecs=3`). */
  decodedSuffix: string
  /** The raw query string without `?` ('' when none). */
  rawQuery: string
}

// Any of these, once decoded a first time, means the client encoded twice: refused rather than guessed at.
const DOUBLE_ENCODED = /%(2e|2f|5c|00|25)/i
// Encoded slash or backslash inside a segment, NUL, backslash, fragment.
const FORBIDDEN_RAW = /%2f|%5c|%00|\\|#|\0/i
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/
const DOT = 0x2e

function refuse (why: string): GatewayError {
  return new GatewayError('API_003', `Path refused: ${why}`)
}

/**
 * Maps `rawUrl` (the request target exactly as received, below a route prefix such as `/m3`) to the ION path
 * `/{tenantSegment}/{system}/…`, or throws API_003 when the path could leave that prefix once decoded by ION
 * or by a Java servlet container behind it (dot-segments, `..;`, backslashes, encoded slashes, double encoding).
 * M3 matrix parameters (`/LstByNumber;maxrecs=3;returncols=CUNO`) are legitimate and pass untouched.
 */
export function guardPath (rawUrl: string, routePrefix: string, upstreamPrefix: string): GuardedTarget {
  const q = rawUrl.indexOf('?')
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q)
  const rawQuery = q === -1 ? '' : rawUrl.slice(q + 1)

  if (!rawPath.startsWith(routePrefix + '/')) throw refuse('it must start with ' + routePrefix + '/')
  const rawSuffix = rawPath.slice(routePrefix.length)
  if (FORBIDDEN_RAW.test(rawSuffix)) throw refuse('encoded slash, backslash, NUL or fragment')

  const encoded = rawSuffix.includes('%')
  const segments = rawSuffix.split('/')
  // segments[0] is '' (the suffix starts with '/'); a trailing slash gives one final empty segment.
  const decoded: string[] | undefined = encoded ? [''] : undefined
  for (let i = 1; i < segments.length; i++) {
    const raw = segments[i] as string
    if (raw === '' && i !== segments.length - 1) throw refuse('empty segment')
    let segment = raw
    if (encoded && raw.includes('%')) {
      try {
        segment = decodeURIComponent(raw)
      } catch {
        throw refuse('malformed percent-encoding')
      }
      if (DOUBLE_ENCODED.test(segment)) throw refuse('double encoding')
      // Decoded `/`, `\`, `?` or `#` would let a decode-then-reparse upstream see another path.
      if (/[\\/?#]/.test(segment)) throw refuse('encoded separator')
    }
    if (CONTROL.test(segment)) throw refuse('control character')
    // Servlet containers drop `;params` before resolving dot-segments: `..;x` is `..` to them.
    if (segment.charCodeAt(0) === DOT) {
      const name = segment.split(';', 1)[0] as string
      if (name === '.' || name === '..') throw refuse('dot-segment')
    }
    decoded?.push(segment)
  }

  return {
    upstreamPath: upstreamPrefix + rawSuffix,
    // Without any `%`, nothing was decoded: the suffix is its own decoded form.
    decodedSuffix: decoded ? decoded.join('/') : rawSuffix,
    rawQuery,
  }
}
