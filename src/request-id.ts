import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Keeps a caller's x-request-id when it is short and plain (it is logged and forwarded), else makes one. */
export function requestIdFor (req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  if (typeof given === 'string' && SAFE_REQUEST_ID.test(given)) return given
  return randomUUID()
}
