import { ErrorCodes, envelope, type ErrorCode } from '../errors.ts'
import type { JsonObject, OpenApiResponse } from './types.ts'

/** Statuses a code is answered with besides its registry status (API_003 for unknown routes, long URLs, Expect). */
const ALSO_ANSWERED_WITH: Partial<Record<ErrorCode, readonly number[]>> = {
  API_003: [404, 405, 414, 417],
}

/** Every code the gateway can answer with `status`, in registry order. */
export function codesForStatus (status: number): ErrorCode[] {
  return (Object.keys(ErrorCodes) as ErrorCode[]).filter(code =>
    ErrorCodes[code].status === status || (ALSO_ANSWERED_WITH[code] ?? []).includes(status))
}

/** Statuses every operation can be refused with at the door, or when the gateway fails or shuts down. */
export const DOOR_STATUSES = [400, 408, 413, 414, 417, 431, 500, 503] as const
/** Statuses of operations that need an API key and spend a rate-limit budget. */
export const KEYED_STATUSES = [401, 403, 429] as const
/** Statuses of operations that call ION (429: API_005, ION's call budget is spent). */
export const UPSTREAM_STATUSES = [429, 502, 503, 504] as const

export const HEADERS: Record<string, JsonObject> = {
  XRequestId: { description: 'The request id (yours when you sent a valid one); quote it when reporting a problem', schema: { type: 'string' } },
  XCache: { description: 'Whether the answer came from the cache: HIT, MISS or STALE (ION failing, a stored answer served)', schema: { type: 'string', enum: ['HIT', 'MISS', 'STALE'] } },
  Age: { description: 'Seconds the cached answer has been stored', schema: { type: 'integer', minimum: 0 } },
  RateLimitLimit: { description: 'Requests allowed per window', schema: { type: 'integer' } },
  RateLimitRemaining: { description: 'Requests left in the current window', schema: { type: 'integer' } },
  RateLimitReset: { description: 'Seconds until the window resets', schema: { type: 'integer' } },
  RetryAfter: { description: 'Seconds to wait before trying again', schema: { type: 'integer' } },
}

export function headerRef (name: keyof typeof HEADERS & string): JsonObject {
  return { $ref: `#/components/headers/${name}` }
}

export const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': headerRef('RateLimitLimit'),
  'RateLimit-Remaining': headerRef('RateLimitRemaining'),
  'RateLimit-Reset': headerRef('RateLimitReset'),
}

const EXAMPLE_DETAILS: Partial<Record<ErrorCode, Record<string, unknown>>> = {
  API_004: { m3: { code: 'WIT0203', field: 'ITNO', message: 'Item number A999 does not exist' } },
}

export function errorResponseName (status: number): string {
  return `Error${status}`
}

/**
 * The envelope for one status: the codes it can carry (an enum on `error.code`, one example each) and the headers
 * the gateway sets with it.
 */
export function errorResponse (status: number): OpenApiResponse {
  const codes = codesForStatus(status)
  const headers: Record<string, JsonObject> = { 'x-request-id': headerRef('XRequestId') }
  if (status === 429 || status === 503) headers['Retry-After'] = headerRef('RetryAfter')
  if (status === 429) Object.assign(headers, RATE_LIMIT_HEADERS)
  const examples = Object.fromEntries(codes.map(code => [code, {
    summary: `${code}: ${ErrorCodes[code].message}`,
    value: envelope(code, ErrorCodes[code].message, '5f0c2a7e9b1d4c3a', EXAMPLE_DETAILS[code]),
  }]))
  return {
    description: `${codes.map(code => `${code} (${ErrorCodes[code].message})`).join('; ')}. The gateway's own answer; on ` +
      'pass-through routes ION\'s own answers with this status are relayed as ION sent them.',
    headers,
    content: {
      'application/json': {
        schema: {
          allOf: [
            { $ref: '#/components/schemas/ErrorEnvelope' },
            { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string', enum: codes } } } } },
          ],
        },
        examples,
      },
    },
  }
}
