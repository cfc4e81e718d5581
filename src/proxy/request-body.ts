import type { IncomingMessage } from 'node:http'
import { finished, Transform, type Readable } from 'node:stream'
import { GatewayError } from '../errors.ts'

/** Bodies up to this size are buffered so a request can be replayed once after an ION 401; larger ones stream. */
export const REPLAYABLE_BODY_BYTES = 1048576

export interface BodyLimits {
  /** Past this many bytes the body is refused with API_006 (MAX_UPLOAD_BYTES). */
  maxBytes: number
  replayableBytes?: number
}

/**
 * The body to forward: none, a Buffer (replayable), or a stream of the client's body (large or chunked uploads)
 * that fails with API_006 once it passes `maxBytes`, so the upstream request is aborted and ION never gets a
 * complete request. A body the client stops sending midway fails with API_007, buffered or streamed.
 */
export async function forwardableBody (raw: IncomingMessage, limits: BodyLimits): Promise<Buffer | Readable | undefined> {
  const { maxBytes, replayableBytes = REPLAYABLE_BODY_BYTES } = limits
  if (!hasRequestBody(raw)) return undefined
  const contentLength = raw.headers['content-length']
  const length = contentLength === undefined ? Number.POSITIVE_INFINITY : Number(contentLength)
  if (length !== Number.POSITIVE_INFINITY && length > maxBytes) throw tooLarge(maxBytes)
  if (length > replayableBytes) return limitedStream(raw, maxBytes)
  const chunks: Buffer[] = []
  try {
    for await (const chunk of raw) chunks.push(chunk as Buffer)
  } catch (err) {
    throw incomplete(err)
  }
  return Buffer.concat(chunks)
}

/** A request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3): callers skip forwardableBody. */
export function hasRequestBody (raw: IncomingMessage): boolean {
  return raw.headers['content-length'] !== undefined || raw.headers['transfer-encoding'] !== undefined
}

/**
 * The client's body, counted. The client's request is never destroyed here (that would close its socket before
 * the gateway could answer): past the limit it is only unpiped, and the answer closes the connection.
 */
function limitedStream (raw: IncomingMessage, maxBytes: number): Readable {
  let seen = 0
  const limited = new Transform({
    transform (chunk: Buffer, _encoding, done) {
      seen += chunk.length
      if (seen > maxBytes) done(tooLarge(maxBytes))
      else done(null, chunk)
    },
  })
  const stopWatching = finished(raw, { writable: false }, err => {
    if (err) limited.destroy(incomplete(err))
  })
  limited.once('close', () => {
    stopWatching()
    raw.unpipe(limited)
  })
  raw.pipe(limited)
  return limited
}

function tooLarge (maxBytes: number): GatewayError {
  return new GatewayError('API_006', `The request body is larger than ${maxBytes} bytes`)
}

function incomplete (cause: unknown): GatewayError {
  return new GatewayError('API_007', 'The request body did not arrive completely', { cause })
}
