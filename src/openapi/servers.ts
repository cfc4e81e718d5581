import { BlockList, isIP } from 'node:net'
import type { TrustProxy } from '../config.ts'

/** A path prefix an ingress may announce: absolute, plain segments, no dot segments. */
const PREFIX = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._~-]+)+\/?$/

export type PeerTrust = (address: string | undefined) => boolean

/** Whether the direct peer is one of TRUST_PROXY's proxies (the same set Fastify believes X-Forwarded-For from). */
export function peerTrust (trustProxy: TrustProxy): PeerTrust {
  if (trustProxy === true) return () => true
  if (trustProxy === false) return () => false
  const list = new BlockList()
  for (const entry of trustProxy) {
    const [address = '', bits] = entry.split('/')
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(address, family)
    else list.addSubnet(address, Number(bits), family)
  }
  return address => {
    if (!address) return false
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
    const plain = mapped ? mapped[1] as string : address
    return list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4')
  }
}

/**
 * The document's `servers` for one request: the X-Forwarded-Prefix of a trusted ingress (e.g. `/ion-gateway` when the
 * ingress serves the gateway below that path), else the root. Relative, so clients resolve it against the address
 * they fetched the document from. An untrusted or malformed prefix is ignored.
 */
export function serversFor (forwardedPrefix: string | string[] | undefined, peerTrusted: boolean): Array<{ url: string, description: string }> {
  const value = Array.isArray(forwardedPrefix) ? forwardedPrefix[forwardedPrefix.length - 1] : forwardedPrefix
  const prefix = peerTrusted && value !== undefined && PREFIX.test(value.trim()) ? value.trim().replace(/\/$/, '') : ''
  return [{ url: prefix || '/', description: prefix ? 'This gateway, behind its ingress path prefix' : 'This gateway' }]
}
