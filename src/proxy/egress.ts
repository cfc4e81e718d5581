import { Pool, ProxyAgent, type Dispatcher } from 'undici'

/** How the gateway reaches ION: HTTPS_PROXY, HTTP_PROXY, NO_PROXY and ION_CA_FILE. */
export interface Egress {
  /** Forward proxy for `http:` targets (absolute-form requests). */
  httpProxy?: string
  /** Forward proxy for `https:` targets (CONNECT tunnels). */
  httpsProxy?: string
  /** NO_PROXY entries, lower-cased: `host`, `.domain`, `*.domain`, `host:port`, or `*` (never proxy). */
  noProxy: string[]
  /** PEM bundle trusted for ION's certificates (and an https proxy's) in addition to Node's own CAs. */
  ca?: string
}

export const DIRECT: Egress = Object.freeze({ noProxy: [] })

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 }

/** Parses a NO_PROXY value (commas or spaces between entries). */
export function parseNoProxy (value: string | undefined): string[] {
  if (!value) return []
  return value.split(/[\s,]+/).map(s => s.trim().toLowerCase()).filter(s => s.length > 0)
}

/**
 * The proxy URL a request to `target` goes through, or undefined when it goes direct: no proxy for its scheme, or a
 * NO_PROXY entry matches its host (the host itself or a subdomain, on any port unless the entry names one).
 */
export function proxyFor (target: URL, egress: Egress): string | undefined {
  const proxy = target.protocol === 'https:' ? egress.httpsProxy : target.protocol === 'http:' ? egress.httpProxy : undefined
  if (!proxy) return undefined
  const host = target.hostname.toLowerCase()
  const port = Number(target.port) || DEFAULT_PORTS[target.protocol] || 0
  for (const entry of egress.noProxy) {
    if (entry === '*') return undefined
    const m = /^(?:\*?\.)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry)
    if (!m) continue
    const name = m[1] as string
    if (m[2] !== undefined && Number(m[2]) !== port) continue
    if (host === name || host.endsWith('.' + name)) return undefined
  }
  return proxy
}

export interface IonDispatcherOptions {
  connections?: number
  pipelining?: number
  keepAliveTimeout?: number
  headersTimeout?: number
  bodyTimeout?: number
  connectTimeoutMs: number
}

/**
 * A dispatcher for one ION origin: a keep-alive Pool when the origin is reached directly, else a ProxyAgent (CONNECT
 * tunnel for https, absolute-form requests for http). Certificates are always verified, against Node's CAs plus
 * ION_CA_FILE. Requests must name the origin (`origin` option) so that a ProxyAgent knows where to go.
 */
export function createIonDispatcher (origin: string, egress: Egress, options: IonDispatcherOptions): Dispatcher {
  const tls = { rejectUnauthorized: true, timeout: options.connectTimeoutMs, ...(egress.ca ? { ca: egress.ca } : {}) }
  const { connectTimeoutMs: _connectTimeoutMs, ...poolOptions } = options
  const proxy = proxyFor(new URL(origin), egress)
  if (!proxy) return new Pool(origin, { ...poolOptions, connect: tls })
  return new ProxyAgent({
    ...poolOptions,
    uri: proxy,
    // undici tunnels plain http too unless told otherwise; forward proxies expect absolute-form for it.
    proxyTunnel: new URL(origin).protocol === 'https:',
    requestTls: tls,
    proxyTls: tls,
  })
}

/** Dispatchers per origin, made on first use (the token endpoint and its revocation URL may live elsewhere). */
export function createEgressDispatchers (egress: Egress, options: IonDispatcherOptions): { for (url: string): Dispatcher, close (): Promise<void> } {
  const byOrigin = new Map<string, Dispatcher>()
  return {
    for (url) {
      const origin = new URL(url).origin
      let dispatcher = byOrigin.get(origin)
      if (!dispatcher) byOrigin.set(origin, (dispatcher = createIonDispatcher(origin, egress, options)))
      return dispatcher
    },
    async close () {
      await Promise.all([...byOrigin.values()].map(d => d.close()))
    },
  }
}
