import { Type, type Static } from './typebox.ts'

/**
 * The coded error registry. Codes and statuses are a public contract (README "Errors").
 */
export const ErrorCodes = {
  AUTH_001: { status: 502, message: 'ION rejected the gateway credentials' },
  AUTH_002: { status: 502, message: 'ION refused the request after a token refresh and one retry' },
  AUTH_003: { status: 503, message: 'No valid ION token is available and the token endpoint is failing' },
  AUTH_004: { status: 401, message: 'A valid x-api-key is required' },
  AUTH_005: { status: 403, message: 'This client may not use this route' },
  API_001: { status: 502, message: 'ION is unreachable or sent a malformed answer' },
  API_002: { status: 504, message: 'ION did not answer in time' },
  API_003: { status: 400, message: 'The request is invalid' },
  API_004: { status: 422, message: 'ION refused the request' },
  API_005: { status: 429, message: 'ION\'s call budget is spent: the gateway holds calls to ION back until Retry-After' },
  API_006: { status: 413, message: 'The request body is too large' },
  API_007: { status: 408, message: 'The request did not arrive in time' },
  API_008: { status: 431, message: 'The request headers are too many or too large' },
  SYS_001: { status: 500, message: 'Cache failure' },
  SYS_002: { status: 429, message: 'Rate limit exceeded' },
  SYS_003: { status: 500, message: 'Internal error' },
  SYS_004: { status: 503, message: 'The gateway is shutting down or overloaded (too many calls to ION waiting)' },
} as const

export type ErrorCode = keyof typeof ErrorCodes

export interface GatewayErrorOptions {
  cause?: unknown
  /** Seconds, sent as Retry-After. */
  retryAfterS?: number
  /** Extra public fields placed in the envelope (e.g. M3's code and field). Never secrets. */
  details?: Record<string, unknown>
  /** Overrides the registry status (rare: e.g. 404 for unknown routes uses API_003's shape with 404). */
  statusCode?: number
}

/** An error the gateway raises on purpose: its message is safe to show to clients. */
export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly retryAfterS: number | undefined
  readonly details: Record<string, unknown> | undefined

  constructor (code: ErrorCode, message?: string, options: GatewayErrorOptions = {}) {
    super(message ?? ErrorCodes[code].message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.statusCode = options.statusCode ?? ErrorCodes[code].status
    this.retryAfterS = options.retryAfterS
    this.details = options.details
  }
}

/** The code of a client error (4xx) the gateway did not raise itself: Fastify's, Node's HTTP parser's. */
export function clientErrorCode (status: number): ErrorCode {
  switch (status) {
    case 408: return 'API_007'
    case 413: return 'API_006'
    case 429: return 'SYS_002'
    case 431: return 'API_008'
    default: return 'API_003'
  }
}

export function isGatewayError (err: unknown): err is GatewayError {
  return err instanceof GatewayError
}

export const ErrorEnvelope = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'Stable error code, e.g. API_002', examples: ['API_002'] }),
    message: Type.String({ description: 'Human-readable, never contains secrets' }),
    requestId: Type.String({ description: 'Echoes x-request-id; quote it when reporting a problem' }),
    m3: Type.Optional(Type.Object({
      code: Type.Optional(Type.String()),
      field: Type.Optional(Type.String()),
      message: Type.Optional(Type.String()),
    }, { description: 'M3 business error details (API_004 on typed routes)' })),
  }, { additionalProperties: true }),
}, { $id: 'ErrorEnvelope', title: 'Error envelope', description: 'Every error the gateway itself decides' })

export type ErrorEnvelopeBody = Static<typeof ErrorEnvelope>

export function envelope (code: string, message: string, requestId: string, details?: Record<string, unknown>): ErrorEnvelopeBody {
  return { error: { code, message, requestId, ...details } }
}
