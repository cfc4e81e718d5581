import { Transform, type TransformCallback } from 'node:stream'
import { GatewayError } from '../errors.ts'
import { SYSTEMS, SYSTEM_IDS } from './systems.ts'

/** One exact byte sequence and what takes its place. */
export interface Replacement {
  from: Buffer
  to: Buffer
}

/**
 * The replacements that turn ION's links to `{iu}/{ti}/{SYSTEM}/…` into the gateway's `{publicBase}/{system}/…`, for
 * every system (an LN answer may link to IDM), in plain and in JSON's escaped-slash form (`https:\/\/…`). The trailing
 * slash is part of each: `/ACME/LN/…` is a link to LN, `/ACME/LNX/…` is not.
 */
export function gatewayLinkReplacements (apiBaseUrl: string, publicBase: string): Replacement[] {
  const ion = apiBaseUrl.replace(/\/+$/, '')
  const own = publicBase.replace(/\/+$/, '')
  const out: Replacement[] = []
  for (const system of SYSTEM_IDS) {
    const from = `${ion}/${SYSTEMS[system]}/`
    const to = `${own}/${system}/`
    out.push({ from: Buffer.from(from), to: Buffer.from(to) })
    out.push({ from: Buffer.from(from.replace(/\//g, '\\/')), to: Buffer.from(to.replace(/\//g, '\\/')) })
  }
  return out
}

/** `application/json` and `…+json` (any parameters): the answers whose links are rewritten. */
export function isJsonMediaType (contentType: string | string[] | undefined): boolean {
  const value = Array.isArray(contentType) ? contentType[0] : contentType
  if (!value) return false
  const type = value.split(';', 1)[0]?.trim().toLowerCase() ?? ''
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

/**
 * Replaces every occurrence in `buf`, leftmost first, never rescanning a replacement. Unless `final`, the last
 * (longest pattern − 1) bytes are held back as `tail`: a pattern that starts there may end in the next chunk.
 */
function replaceIn (buf: Buffer, replacements: readonly Replacement[], longest: number, final: boolean): { parts: Buffer[], tail: Buffer } {
  const parts: Buffer[] = []
  // The next occurrence of each pattern at or after `pos`: each one is searched again only once it has been passed.
  const next = replacements.map(r => buf.indexOf(r.from))
  let pos = 0
  for (;;) {
    let best = -1
    for (let i = 0; i < replacements.length; i++) {
      let at = next[i] as number
      if (at !== -1 && at < pos) next[i] = at = buf.indexOf((replacements[i] as Replacement).from, pos)
      if (at !== -1 && (best === -1 || at < (next[best] as number))) best = i
    }
    if (best === -1) break
    const r = replacements[best] as Replacement
    const at = next[best] as number
    parts.push(buf.subarray(pos, at), r.to)
    pos = at + r.from.length
  }
  const keep = final ? buf.length : Math.max(pos, buf.length - (longest - 1))
  parts.push(buf.subarray(pos, keep))
  return { parts, tail: buf.subarray(keep) }
}

function longestOf (replacements: readonly Replacement[]): number {
  return replacements.reduce((n, r) => Math.max(n, r.from.length), 1)
}

/** A whole body with every replacement made; the same Buffer when nothing matched. */
export function replaceAll (body: Buffer, replacements: readonly Replacement[]): Buffer {
  const { parts } = replaceIn(body, replacements, longestOf(replacements), true)
  return parts.length === 1 ? body : Buffer.concat(parts)
}

/** The streaming form of replaceAll: a pattern split across chunks is still replaced. */
export function createReplaceStream (replacements: readonly Replacement[]): Transform {
  const longest = longestOf(replacements)
  let carry: Buffer = Buffer.alloc(0)
  return new Transform({
    transform (chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk
      const { parts, tail } = replaceIn(buf, replacements, longest, false)
      // The tail is copied: it must not keep the whole chunk alive until the next one.
      carry = Buffer.from(tail)
      const out = parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts)
      done(null, out.length > 0 ? out : undefined)
    },
    flush (done: TransformCallback) {
      done(null, carry.length > 0 ? carry : undefined)
    },
  })
}

/** An ION system's base, absolute and origin-relative, and the gateway's route prefix for it. */
export interface LocationBase {
  ionBase: string
  routePrefix: string
}

export function locationBases (apiBaseUrl: string): LocationBase[] {
  const base = new URL(apiBaseUrl)
  const path = base.pathname.replace(/\/+$/, '')
  return SYSTEM_IDS.flatMap(system => [
    { ionBase: `${base.origin}${path}/${SYSTEMS[system]}`, routePrefix: `/${system}` },
    { ionBase: `${path}/${SYSTEMS[system]}`, routePrefix: `/${system}` },
  ])
}

/** A `Location` into any ION system mapped to the gateway's route for that system; anything else unchanged. */
export function gatewayLocation (location: string, bases: readonly LocationBase[]): string {
  for (const { ionBase, routePrefix } of bases) {
    if (location === ionBase || location.startsWith(ionBase + '/') || location.startsWith(ionBase + '?')) {
      return routePrefix + location.slice(ionBase.length)
    }
  }
  return location
}

// A DNS name (underscores tolerated), an IPv4 address or a bracketed IPv6 address, and an optional port: nothing that
// could carry a path, credentials, a quote or a second URL into the links the gateway writes.
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/**
 * The gateway's base URL as a client reached it, for rewriting links when PUBLIC_URL is unset: `protocol` and `host`
 * as Fastify gives them (X-Forwarded-Proto/Host honoured only from TRUST_PROXY peers). The Host is the client's to
 * choose: anything but `hostname[:port]` is refused (API_003).
 */
export function requestBaseUrl (protocol: string, host: string | undefined): string {
  if (protocol !== 'http' && protocol !== 'https') throw new GatewayError('API_003', 'The forwarded protocol is neither http nor https')
  if (!host || host.length > 260 || !HOST.test(host)) throw new GatewayError('API_003', 'The Host header must be a hostname[:port]')
  return `${protocol}://${host.toLowerCase()}`
}
