import { GatewayError } from '../errors.ts'

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'])

/** Failures that happened before any response byte, where a read may safely be sent again. */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED',
])

function codeOf (err: unknown): string | undefined {
  const e = err as { code?: unknown, cause?: { code?: unknown } }
  if (typeof e?.code === 'string') return e.code
  if (typeof e?.cause?.code === 'string') return e.cause.code
  return undefined
}

export function isRetryableTransportError (err: unknown): boolean {
  const code = codeOf(err)
  return code !== undefined && RETRYABLE_CODES.has(code)
}

/** The one place transport failures become coded errors: 504 for time, 502 for everything else; `cause` kept. */
export function mapTransportError (err: unknown, timeoutMs: number, deadlineHit: boolean): GatewayError {
  if (err instanceof GatewayError) return err
  const code = codeOf(err)
  if (deadlineHit || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return new GatewayError('API_002', `ION did not answer within ${timeoutMs} ms`, { cause: err })
  }
  const why = code === 'ECONNREFUSED'
    ? 'ION refused the connection'
    : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
      ? 'ION closed the connection'
      : code?.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO'
        ? 'ION sent a malformed answer'
        : 'ION is unreachable'
  return new GatewayError('API_001', why, { cause: err })
}
