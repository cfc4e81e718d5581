import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'

/** Bodies up to this size are buffered so a request can be replayed once after an ION 401; larger ones stream. */
export const REPLAYABLE_BODY_BYTES = 1048576

/** The body to forward: none, a Buffer (replayable), or the client's stream (large or chunked uploads). */
export async function forwardableBody (raw: IncomingMessage, replayableBytes = REPLAYABLE_BODY_BYTES): Promise<Buffer | Readable | undefined> {
  const contentLength = raw.headers['content-length']
  if (contentLength === undefined && raw.headers['transfer-encoding'] === undefined) return undefined
  const length = contentLength === undefined ? Number.POSITIVE_INFINITY : Number(contentLength)
  if (length > replayableBytes) return raw
  const chunks: Buffer[] = []
  for await (const chunk of raw) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
