import type { IncomingMessage } from 'node:http'
import { isIPv6 } from 'node:net'
import proxyAddr from '@fastify/proxy-addr'

/**
 * The rate-limit identity of an address: IPv4 as is, IPv6 by its /64 (a client usually owns a whole /64 and could
 * rotate through it to escape a per-address limit). IPv4-mapped IPv6 addresses count as IPv4.
 */
export function addressIdentity (ip: string): string {
  if (!ip.includes(':') || !isIPv6(ip)) return ip
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped) return mapped[1] as string
  const [head = '', tail = ''] = ip.split('::')
  const headGroups = head ? head.split(':') : []
  const tailGroups = ip.includes('::') ? (tail ? tail.split(':') : []) : []
  const groups = ip.includes('::')
    ? [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
    : headGroups
  return groups.slice(0, 4).map(g => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':') + '::/64'
}

/**
 * The caller's address exactly as Fastify's `request.ip` gives it for this TRUST_PROXY (fastify/lib/request.js):
 * the socket's peer, or with trusted proxies the last address proxy-addr accepts from X-Forwarded-For. For the HIT
 * lane (src/proxy/read-lane.ts), which answers before Fastify makes a request object.
 */
export function clientIpOf (trustProxy: boolean | readonly string[]): (req: IncomingMessage) => string {
  if (trustProxy === false) return req => req.socket.remoteAddress as string
  const trusted = trustProxy === true ? () => true : proxyAddr.compile([...trustProxy])
  return req => {
    const addresses = proxyAddr.all(req, trusted)
    return addresses[addresses.length - 1] as string
  }
}
