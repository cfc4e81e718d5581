import { createServer, request as httpRequest, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

export interface ForwardProxy {
  /** `http://127.0.0.1:PORT` */
  url: string
  /** CONNECT tunnels opened, by the `host:port` asked for. */
  tunnels (target?: string): number
  /** Absolute-form requests forwarded, by the `host:port` of their URL. */
  requests (target?: string): number
  close (): Promise<void>
}

/**
 * A real forward proxy on loopback, as companies put between their servers and Infor Cloud: CONNECT tunnels for https,
 * absolute-form requests for http, each counted. `resolve` maps the host names clients ask for to where the proxy
 * actually connects (the test's ION lives on 127.0.0.1 under a name only the proxy knows), so anything that bypasses
 * the proxy cannot reach ION.
 */
export async function startForwardProxy (resolve: (host: string) => string = host => host): Promise<ForwardProxy> {
  const tunnels = new Map<string, number>()
  const forwarded = new Map<string, number>()
  const sockets = new Set<Socket>()
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  }

  const server = createServer((req: IncomingMessage, res) => {
    let target: URL
    try {
      target = new URL(req.url ?? '')
      if (target.protocol !== 'http:') throw new Error('not absolute-form http')
    } catch {
      res.writeHead(400).end('absolute-form http URLs only')
      return
    }
    count(forwarded, target.host)
    const headers = { ...req.headers }
    delete headers['proxy-connection']
    const upstream = httpRequest({ host: resolve(target.hostname), port: target.port || 80, method: req.method, path: target.pathname + target.search, headers }, answer => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => { res.destroy() })
    req.pipe(upstream)
  })
  server.on('connection', track)
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? ''
    const m = /^(.+):(\d+)$/.exec(target)
    if (!m) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n')
      return
    }
    count(tunnels, target)
    const upstream = connect(Number(m[2]), resolve(m[1] as string), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    track(upstream)
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const total = (map: Map<string, number>, key?: string) => key === undefined ? [...map.values()].reduce((a, b) => a + b, 0) : map.get(key) ?? 0
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels: target => total(tunnels, target),
    requests: target => total(forwarded, target),
    async close () {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    },
  }
}
