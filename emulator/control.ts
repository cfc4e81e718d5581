import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Emulator } from './index.ts'
import { readBody, sendJson } from './http.ts'

/**
 * The emulator's own controls over HTTP, for the demo and benchmarks running in another process:
 *
 * - `GET  /__emulator/stats[?prefix=/ACME_TST/M3]` counters (`calls` limited to the prefix when given)
 * - `GET  /__emulator/requests[?prefix=…]` the recorded resource requests, oldest first
 * - `GET  /__emulator/ionapi` the `.ionapi` file of this emulator
 * - `POST /__emulator/reset` zero the counters; `{"faults":true}` also clears the faults
 * - `POST /__emulator/faults` with any of the keys of {@link FaultsBody}, applied in this order: `clear` first, then the rest
 *   (quotas, limits and the switches for LN error format, M3 v2 error status and refresh tokens included)
 */
export interface FaultsBody {
  clear?: boolean
  latencyMs?: number
  latencyPath?: string
  respondNext?: { count: number, status: number, headers?: Record<string, string | string[]>, body?: string | object, path?: string }
  failNext?: { count: number, status: number, path?: string }
  resetNext?: { count: number, path?: string }
  badFramingNext?: { count: number, path?: string }
  truncateNext?: { count: number, path?: string }
  rateLimitNext?: { count: number, retryAfterS: number, path?: string }
  tokenLatencyMs?: number
  tokenDown?: number | 'reset' | false
  revokeAll?: boolean
  expireAll?: boolean
  tokenLifetimeS?: number
  /** 0 = no limit, as for the other limits. */
  callQuotaPerMinute?: number
  loginQuotaPerMinute?: number
  liveTokensPerClient?: number
  lnUnauthorizedEvery?: number
  m3PartialFailureNext?: { count: number, rows: number, path?: string }
  issueRefreshTokens?: boolean
  lnErrorFormat?: 'odata' | 'infor'
  m3V2ErrorStatus?: 200 | 400
}

const KEYS = new Set(['clear', 'latencyMs', 'latencyPath', 'respondNext', 'failNext', 'resetNext', 'badFramingNext', 'truncateNext',
  'rateLimitNext', 'tokenLatencyMs', 'tokenDown', 'revokeAll', 'expireAll', 'tokenLifetimeS', 'callQuotaPerMinute',
  'loginQuotaPerMinute', 'liveTokensPerClient', 'lnUnauthorizedEvery', 'm3PartialFailureNext', 'issueRefreshTokens', 'lnErrorFormat',
  'm3V2ErrorStatus'])

class BadRequest extends Error {}

function count (v: unknown, key: string): number {
  if (!Number.isInteger(v) || (v as number) < 0) throw new BadRequest(`${key}.count must be a non-negative integer`)
  return v as number
}

function status (v: unknown, key: string): number {
  if (!Number.isInteger(v) || (v as number) < 100 || (v as number) > 599) throw new BadRequest(`${key} must be an HTTP status (100-599)`)
  return v as number
}

function ms (v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new BadRequest(`${key} must be a non-negative number`)
  return v
}

function limit (v: unknown, key: string): number {
  if (!Number.isInteger(v) || (v as number) < 0) throw new BadRequest(`${key} must be a non-negative integer (0 = no limit)`)
  return v as number
}

function path (v: unknown, key: string): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new BadRequest(`${key}.path must be a string`)
  return v
}

function object (v: unknown, key: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest(`${key} must be an object`)
  return v as Record<string, unknown>
}

/** Validates the whole body before applying anything, so a bad request changes nothing. */
function plan (body: unknown, emulator: Emulator): Array<() => void> {
  const f = object(body, 'body')
  const unknown = Object.keys(f).filter(k => !KEYS.has(k))
  if (unknown.length > 0) throw new BadRequest(`unknown keys: ${unknown.join(', ')}`)
  const { faults } = emulator
  const steps: Array<() => void> = []
  if (f.clear === true) steps.push(() => faults.clear())
  if (f.latencyMs !== undefined) {
    const latency = ms(f.latencyMs, 'latencyMs')
    if (f.latencyPath !== undefined && typeof f.latencyPath !== 'string') throw new BadRequest('latencyPath must be a string')
    const prefix = f.latencyPath as string | undefined
    steps.push(() => faults.latency(latency, prefix))
  }
  if (f.respondNext !== undefined) {
    const r = object(f.respondNext, 'respondNext')
    const n = count(r.count, 'respondNext')
    const answer = { status: status(r.status, 'respondNext.status'), headers: r.headers as Record<string, string>, body: r.body as string | object }
    if (answer.headers !== undefined) object(answer.headers, 'respondNext.headers')
    const p = path(r.path, 'respondNext')
    steps.push(() => faults.respondNext(n, answer, p))
  }
  if (f.failNext !== undefined) {
    const r = object(f.failNext, 'failNext')
    const n = count(r.count, 'failNext')
    const s = status(r.status, 'failNext.status')
    const p = path(r.path, 'failNext')
    steps.push(() => faults.failNext(n, s, p))
  }
  for (const key of ['resetNext', 'badFramingNext', 'truncateNext'] as const) {
    if (f[key] === undefined) continue
    const r = object(f[key], key)
    const n = count(r.count, key)
    const p = path(r.path, key)
    steps.push(() => faults[key](n, p))
  }
  if (f.rateLimitNext !== undefined) {
    const r = object(f.rateLimitNext, 'rateLimitNext')
    const n = count(r.count, 'rateLimitNext')
    const retryAfterS = ms(r.retryAfterS, 'rateLimitNext.retryAfterS')
    const p = path(r.path, 'rateLimitNext')
    steps.push(() => faults.rateLimitNext(n, retryAfterS, p))
  }
  if (f.tokenLatencyMs !== undefined) {
    const latency = ms(f.tokenLatencyMs, 'tokenLatencyMs')
    steps.push(() => faults.tokenLatency(latency))
  }
  if (f.tokenDown !== undefined) {
    const mode = f.tokenDown
    if (mode !== false && mode !== 'reset') status(mode, 'tokenDown')
    steps.push(() => faults.tokenDown(mode as number | 'reset' | false))
  }
  if (f.revokeAll === true) steps.push(() => faults.revokeAll())
  if (f.expireAll === true) steps.push(() => faults.expireAll())
  if (f.tokenLifetimeS !== undefined) {
    const seconds = ms(f.tokenLifetimeS, 'tokenLifetimeS')
    steps.push(() => emulator.setTokenLifetime(seconds))
  }
  const limits = [
    ['callQuotaPerMinute', faults.callQuota],
    ['loginQuotaPerMinute', faults.loginQuota],
    ['liveTokensPerClient', faults.liveTokenLimit],
    ['lnUnauthorizedEvery', faults.lnUnauthorizedEvery],
  ] as const
  for (const [key, set] of limits) {
    if (f[key] === undefined) continue
    const n = limit(f[key], key)
    steps.push(() => set(n))
  }
  if (f.m3PartialFailureNext !== undefined) {
    const r = object(f.m3PartialFailureNext, 'm3PartialFailureNext')
    const n = count(r.count, 'm3PartialFailureNext')
    const rows = limit(r.rows, 'm3PartialFailureNext.rows')
    const p = path(r.path, 'm3PartialFailureNext')
    steps.push(() => faults.m3PartialFailureNext(n, rows, p))
  }
  if (f.issueRefreshTokens !== undefined) {
    if (typeof f.issueRefreshTokens !== 'boolean') throw new BadRequest('issueRefreshTokens must be true or false')
    const issue = f.issueRefreshTokens
    steps.push(() => emulator.setIssueRefreshTokens(issue))
  }
  if (f.lnErrorFormat !== undefined) {
    if (f.lnErrorFormat !== 'odata' && f.lnErrorFormat !== 'infor') throw new BadRequest("lnErrorFormat must be 'odata' or 'infor'")
    const format = f.lnErrorFormat
    steps.push(() => emulator.setLnErrorFormat(format))
  }
  if (f.m3V2ErrorStatus !== undefined) {
    if (f.m3V2ErrorStatus !== 200 && f.m3V2ErrorStatus !== 400) throw new BadRequest('m3V2ErrorStatus must be 200 or 400')
    const status = f.m3V2ErrorStatus
    steps.push(() => emulator.setM3V2ErrorStatus(status))
  }
  return steps
}

async function jsonBody (req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req)
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch {
    throw new BadRequest('the body must be JSON')
  }
}

export async function handleControl (req: IncomingMessage, res: ServerResponse, rawPath: string, query: URLSearchParams, emulator: Emulator): Promise<void> {
  const { stats } = emulator
  const prefix = query.get('prefix') ?? undefined
  try {
    switch (`${req.method} ${rawPath}`) {
      case 'GET /__emulator/stats':
        return sendJson(res, 200, {
          tokenRequests: {
            total: stats.tokenRequests(),
            password: stats.tokenRequests('password'),
            refresh_token: stats.tokenRequests('refresh_token'),
            client_credentials: stats.tokenRequests('client_credentials'),
          },
          revocations: stats.revocations(),
          calls: stats.calls(prefix),
          inFlight: stats.inFlight(),
          peakInFlight: stats.peakInFlight(),
          throttled: stats.throttled(),
          liveTokens: stats.liveTokens(),
        })
      case 'GET /__emulator/requests':
        return sendJson(res, 200, stats.requests(prefix))
      case 'GET /__emulator/ionapi':
        return sendJson(res, 200, emulator.ionapi)
      case 'POST /__emulator/reset': {
        const body = object(await jsonBody(req), 'body')
        stats.reset()
        if (body.faults === true) emulator.faults.clear()
        return sendJson(res, 200, { ok: true })
      }
      case 'POST /__emulator/faults': {
        const steps = plan(await jsonBody(req), emulator)
        for (const step of steps) step()
        return sendJson(res, 200, { ok: true })
      }
      default:
        return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `No emulator control at ${req.method} ${rawPath}` } })
    }
  } catch (err) {
    if (err instanceof BadRequest || err instanceof RangeError) return sendJson(res, 400, { error: { code: 'BAD_REQUEST', message: err.message } })
    throw err
  }
}
