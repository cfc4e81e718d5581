/** M3 MI facts the gateway needs: which calls are reads, and how to read M3's answers (v1 and v2). */

import { GatewayError } from '../errors.ts'

export interface M3Call {
  version: 1 | 2
  program: string
  transaction: string
}

export interface M3Failure {
  code: string | undefined
  field: string | undefined
  message: string
}

export type M3Record = Record<string, string>

/** An M3 MI program name as the typed route accepts it (`MMS200MI`, `EXT001MI`). */
export const M3_PROGRAM_PATTERN = '^[A-Z0-9]{3,10}$'
/** An M3 MI transaction name as the typed route accepts it (`GetItmBasic`). */
export const M3_TRANSACTION_PATTERN = '^[A-Za-z0-9]{1,15}$'
const PROGRAM = new RegExp(M3_PROGRAM_PATTERN)
const TRANSACTION = new RegExp(M3_TRANSACTION_PATTERN)

/**
 * The MI call a path below the system prefix names, the path taken exactly as it is sent to ION (not decoded).
 * M3 ignores matrix parameters when it matches a path, so they are set aside on every segment first
 * (`/m3api-rest/v2/execute;v=1/CRS610MI/LstByNumber;maxrecs=3` is CRS610MI/LstByNumber). Only exactly
 * `/m3api-rest/execute/PROGRAM/TRANSACTION` or `/m3api-rest/v2/execute/PROGRAM/TRANSACTION` with plain names (no
 * percent-encoding, no case variants of the fixed segments) is an MI call; anything else is `undefined`.
 */
export function parseM3Call (path: string): M3Call | undefined {
  const parts = path.split('/')
  if (parts.length < 5 || parts.length > 6 || parts[0] !== '') return undefined
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] as string
    const semicolon = part.indexOf(';')
    if (semicolon !== -1) parts[i] = part.slice(0, semicolon)
  }
  const version = parts.length === 6 ? 2 : 1
  if (parts[1] !== 'm3api-rest' || (version === 2 && parts[2] !== 'v2') || parts[version + 1] !== 'execute') return undefined
  const program = parts[version + 2] as string
  const transaction = parts[version + 3] as string
  if (!PROGRAM.test(program) || !TRANSACTION.test(transaction)) return undefined
  return { version, program, transaction }
}

/**
 * M3 runs writes over GET (`ChgBasicData`, `AddItmBasic`, `DltItm`…), so a request is a read — cacheable and safe
 * to retry — only when it is positively known to be one: GET or HEAD of an MI call (`parseM3Call`) whose transaction
 * matches `readTransactions`. Every other M3 request (other paths, bulk, unparsable or unusual spellings) is a write.
 */
export function isM3Read (method: string, path: string, readTransactions: RegExp): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false
  const call = parseM3Call(path)
  return call !== undefined && readTransactions.test(call.transaction)
}

/** A non-empty string with M3's blank padding trimmed and inner runs of blanks collapsed, else undefined. */
function text (value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const cleaned = value.trim().replace(/\s+/g, ' ')
  return cleaned.length > 0 ? cleaned : undefined
}

/** The `@type`s M3 MI v1 answers errors with (on HTTP 200). */
const V1_ERROR_TYPES = new Set(['ServerReturnedNOK', 'TransactionNotFound', 'MandatoryInputFieldNotFound', 'InputFieldTooLong'])

function v1Failure (error: Record<string, unknown>): M3Failure {
  return { code: text(error['@code']), field: text(error['@field']), message: text(error.Message) ?? 'M3 returned an error' }
}

/**
 * The error an M3 answer reports, if any, its texts trimmed and blanks collapsed (M3 pads them): v1 errors
 * (`@type` ServerReturnedNOK, TransactionNotFound, MandatoryInputFieldNotFound, InputFieldTooLong, on HTTP 200), a
 * v1 partial failure (rows, then `ErrorMessage`, an error object or a text), or v2 `results[].errorMessage`.
 */
export function m3Failure (body: unknown): M3Failure | undefined {
  if (!body || typeof body !== 'object') return undefined
  const b = body as Record<string, unknown>
  if ((typeof b['@type'] === 'string' && V1_ERROR_TYPES.has(b['@type'])) || (text(b.Message) && !('MIRecord' in b) && text(b['@code']))) {
    return v1Failure(b)
  }
  if (b.ErrorMessage && typeof b.ErrorMessage === 'object') return v1Failure(b.ErrorMessage as Record<string, unknown>)
  const partial = text(b.ErrorMessage)
  if (partial) return { code: text(b['@code']), field: text(b['@field']), message: partial }
  if (Array.isArray(b.results)) {
    for (const r of b.results as Array<Record<string, unknown>>) {
      const message = text(r?.errorMessage)
      if (message) return { code: text(r.errorCode), field: text(r.errorField), message }
    }
    if (typeof b.nrOfFailedTransactions === 'number' && b.nrOfFailedTransactions > 0) {
      return { code: undefined, field: undefined, message: 'M3 reported failed transactions' }
    }
  }
  return undefined
}

/** Records of an M3 answer as flat `{ FIELD: value }` objects with trailing blanks trimmed (v1 and v2). */
export function m3Records (body: unknown): M3Record[] {
  if (!body || typeof body !== 'object') return []
  const b = body as Record<string, unknown>
  const out: M3Record[] = []
  if (Array.isArray(b.MIRecord)) {
    for (const row of b.MIRecord as Array<{ NameValue?: Array<{ Name?: unknown, Value?: unknown }> }>) {
      const record: M3Record = {}
      for (const nv of row?.NameValue ?? []) {
        if (typeof nv?.Name === 'string') record[nv.Name] = typeof nv.Value === 'string' ? nv.Value.trimEnd() : String(nv.Value ?? '')
      }
      out.push(record)
    }
    return out
  }
  if (Array.isArray(b.results)) {
    for (const r of b.results as Array<{ records?: Array<Record<string, unknown>> }>) {
      for (const rec of r?.records ?? []) {
        const record: M3Record = {}
        for (const [k, v] of Object.entries(rec ?? {})) record[k] = typeof v === 'string' ? v.trimEnd() : String(v ?? '')
        out.push(record)
      }
    }
  }
  return out
}

/** The metric label of an MI call (`m3:PROGRAM/TRANSACTION`), undefined for any other M3 path. */
export function m3EndpointLabel (path: string): string | undefined {
  const call = parseM3Call(path)
  return call ? `m3:${call.program}/${call.transaction}` : undefined
}

/** The ION path (below the M3 system prefix) of an MI v2 call: what the typed route sends. */
export function m3ExecutePath (program: string, transaction: string): string {
  return `/m3api-rest/v2/execute/${program}/${transaction}`
}

/** An M3 answer body read once: its JSON (undefined when it is not JSON) and the failure it reports, if any. */
export interface M3Answer {
  json: unknown
  failure: M3Failure | undefined
}

export function readM3Answer (body: Buffer): M3Answer {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    return { json: undefined, failure: undefined }
  }
  return { json, failure: m3Failure(json) }
}

/** Whether an M3 answer may be stored: JSON that reports no failed transaction (M3 answers errors with 200). */
export function isStorableM3Answer (answer: M3Answer): boolean {
  return answer.json !== undefined && answer.failure === undefined
}

/**
 * The records of an MI call's answer as the typed route gives them, or the coded error it becomes: M3's business
 * error (HTTP 200 or 400) is API_004 with M3's code, field and message; ION throttling is API_001 429; any other
 * status or a body that is not JSON is API_001.
 */
export function m3TypedRecords (statusCode: number, retryAfter: string | string[] | undefined, answer: M3Answer): M3Record[] {
  const { failure } = answer
  if (failure && (statusCode === 200 || statusCode === 400)) {
    throw new GatewayError('API_004', failure.message, {
      details: { m3: { code: failure.code, field: failure.field, message: failure.message } },
    })
  }
  if (statusCode === 429) {
    const seconds = Number(retryAfter)
    throw new GatewayError('API_001', 'ION is throttling requests', { statusCode: 429, retryAfterS: Number.isFinite(seconds) ? seconds : 1 })
  }
  if (statusCode !== 200 || answer.json === undefined) {
    throw new GatewayError('API_001', `ION answered ${statusCode}${answer.json === undefined ? ' with a body that is not JSON' : ''}`)
  }
  return m3Records(answer.json)
}
