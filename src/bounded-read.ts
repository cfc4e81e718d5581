import { Readable } from 'node:stream'

export type BoundedRead = { complete: Buffer } | { partial: Readable }

/**
 * Reads a body whole when it is at most `limit` bytes; past that, hands back a stream of what was read and the rest.
 * Errors of the body are thrown as they come: the caller, who knows the transport, maps them.
 */
export async function readUpTo (body: AsyncIterable<Buffer>, limit: number): Promise<BoundedRead> {
  const chunks: Buffer[] = []
  let size = 0
  const iterator = body[Symbol.asyncIterator]()
  for (;;) {
    const { value, done } = await iterator.next()
    if (done) return { complete: Buffer.concat(chunks, size) }
    chunks.push(value)
    size += value.length
    if (size > limit) {
      async function * rest (): AsyncGenerator<Buffer> {
        yield * chunks
        for (;;) {
          const next = await iterator.next()
          if (next.done) return
          yield next.value
        }
      }
      return { partial: Readable.from(rest(), { objectMode: false }) }
    }
  }
}
