import { connect, type Socket } from 'node:net'

export interface RawAnswer {
  /** 0 when no status line arrived. */
  status: number
  /** Lower-cased names; the last value wins. */
  headers: Record<string, string>
  body: string
  /** Everything the server sent, latin1. */
  raw: string
  /** The server closed the connection (or reset it). */
  closed: boolean
  /** No answer and no close within the guard: the server kept the connection open. */
  guardExpired: boolean
}

export interface RawConnection {
  socket: Socket
  /** Writes bytes exactly as given; resolves once they are handed to the kernel. */
  send (data: string | Buffer): Promise<void>
  /** The first complete answer (headers and, with Content-Length, the body), or what came before the close. */
  answer: Promise<RawAnswer>
  /** What the server sent until it closed the connection. */
  closed: Promise<RawAnswer>
}

/**
 * A raw TCP connection to the gateway, for requests no HTTP client would send (stalled bodies, odd request lines).
 * The guard only keeps a broken server from hanging the test: past it the connection is dropped and the answer
 * says `guardExpired`, which the test reports as a failure.
 */
export async function openRaw (baseUrl: string, guardMs = 10000): Promise<RawConnection> {
  const { hostname, port } = new URL(baseUrl)
  const socket = connect(Number(port), hostname)
  socket.setEncoding('latin1')
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  let raw = ''
  let guardExpired = false
  let settleAnswer: (a: RawAnswer) => void = () => {}
  let settleClosed: (a: RawAnswer) => void = () => {}
  const answer = new Promise<RawAnswer>(resolve => { settleAnswer = resolve })
  const closed = new Promise<RawAnswer>(resolve => { settleClosed = resolve })
  const guard = setTimeout(() => {
    guardExpired = true
    socket.destroy()
  }, guardMs)
  socket.on('data', (chunk: string) => {
    raw += chunk
    const parsed = parseAnswer(raw, false, false)
    if (parsed && isComplete(raw)) settleAnswer(parsed)
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    clearTimeout(guard)
    const final = parseAnswer(raw, true, guardExpired) ?? emptyAnswer(raw, guardExpired)
    settleAnswer(final)
    settleClosed(final)
  })
  return {
    socket,
    answer,
    closed,
    send: data => new Promise<void>((resolve, reject) => {
      socket.write(data, err => err ? reject(err) : resolve())
    }),
  }
}

/** Sends one request and waits until the server closes the connection. */
export async function rawExchange (baseUrl: string, data: string | Buffer): Promise<RawAnswer> {
  const conn = await openRaw(baseUrl)
  await conn.send(data).catch(() => {})
  return conn.closed
}

function isComplete (raw: string): boolean {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) return false
  const length = /\r\ncontent-length: *(\d+)/i.exec(raw.slice(0, end + 2))
  return length !== null && raw.length >= end + 4 + Number(length[1])
}

function emptyAnswer (raw: string, guardExpired: boolean): RawAnswer {
  return { status: 0, headers: {}, body: '', raw, closed: true, guardExpired }
}

function parseAnswer (raw: string, closed: boolean, guardExpired: boolean): RawAnswer | undefined {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const lines = raw.slice(0, end).split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length'])
  const rest = raw.slice(end + 4)
  const body = length === undefined ? rest : rest.slice(0, length)
  return { status, headers, body, raw, closed, guardExpired }
}
