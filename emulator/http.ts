import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export type HeaderMap = Record<string, string | string[]>

const JSON_TYPE = 'application/json; charset=utf-8'
/** Request bodies are kept up to this size; the rest is read and dropped. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024

/** A JSON answer with Content-Type and Content-Length; `body === undefined` sends no body (204, 304). */
export function sendJson (res: ServerResponse, status: number, body: unknown, headers: HeaderMap = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers)
    res.end()
    return
  }
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/** An answer with a raw body: a string is sent as is, anything else as JSON. */
export function sendRaw (res: ServerResponse, status: number, body: string | object | undefined, headers: HeaderMap = {}): void {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  const type = body !== undefined && typeof body === 'object' ? { 'content-type': JSON_TYPE } : {}
  res.writeHead(status, { ...type, 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export function readBody (req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      if (size < MAX_BODY_BYTES) chunks.push(chunk)
      size += chunk.length
    })
    req.on('end', () => resolve(chunks.length === 0 ? '' : Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8')))
    req.on('error', reject)
    req.on('close', () => { if (!req.complete) reject(new Error('the request was aborted')) })
  })
}

/** Ends the connection with a TCP RST where the platform allows it, so the client sees a reset, not a clean close. */
export function destroyHard (socket: Socket | null): void {
  if (!socket || socket.destroyed) return
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy()
  else socket.destroy()
}

/** application/x-www-form-urlencoded decoding of one value (RFC 6749 2.3.1 for HTTP Basic client credentials). */
export function formDecode (s: string): string {
  return s.replace(/\+/g, ' ').replace(/(?:%[0-9A-Fa-f]{2})+/g, escaped => {
    try {
      return decodeURIComponent(escaped)
    } catch {
      return escaped
    }
  })
}

export interface ClientCredentials { id?: string, secret?: string, viaBasic: boolean }

/** Client credentials from HTTP Basic when present, else from the form body. */
export function clientCredentials (req: IncomingMessage, params: URLSearchParams): ClientCredentials {
  const auth = req.headers.authorization
  const basic = auth ? /^Basic\s+(\S*)\s*$/i.exec(auth) : null
  if (basic) {
    const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon === -1) return { viaBasic: true }
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)), viaBasic: true }
  }
  return { id: params.get('client_id') ?? undefined, secret: params.get('client_secret') ?? undefined, viaBasic: false }
}

export function bearerToken (req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization
  if (!auth) return undefined
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth)
  return m ? m[1] : undefined
}
