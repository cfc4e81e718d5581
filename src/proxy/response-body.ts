import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'

/**
 * ION answers up to this size (by their Content-Length) are read whole before the gateway replies: one write to the
 * client instead of a stream relay (cheaper: bench/README.md), and an answer cut short becomes a clean 502 instead
 * of a truncated 200. Larger or unsized answers (IDM downloads, chunked bodies) are streamed as they arrive.
 */
export const BUFFERED_BODY_BYTES = 65536

export type UpstreamBody = Dispatcher.ResponseData['body']

/** The body as a Buffer when ION announced a small one, else the stream itself. Rejects if the body breaks. */
export async function bufferSmallBody (headers: IncomingHttpHeaders, body: UpstreamBody, limit = BUFFERED_BODY_BYTES): Promise<Buffer | UpstreamBody> {
  const declared = headers['content-length']
  if (declared === undefined || !(Number(declared) <= limit)) return body
  return Buffer.from(await body.arrayBuffer())
}
