/** M3 MI facts the gateway needs: which calls are reads, and how to read M3's answers (v1 and v2). */

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

function str (value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

/** The error an M3 answer reports, if any: v1 (`ServerReturnedNOK` on HTTP 200) or v2 (`results[].errorMessage`). */
export function m3Failure (body: unknown): M3Failure | undefined {
  if (!body || typeof body !== 'object') return undefined
  const b = body as Record<string, unknown>
  if (b['@type'] === 'ServerReturnedNOK' || (str(b.Message) && !('MIRecord' in b) && str(b['@code']))) {
    return { code: str(b['@code']), field: str(b['@field']), message: str(b.Message) ?? 'M3 returned an error' }
  }
  if (str(b.ErrorMessage)) {
    return { code: str(b['@code']), field: str(b['@field']), message: str(b.ErrorMessage) as string }
  }
  if (Array.isArray(b.results)) {
    for (const r of b.results as Array<Record<string, unknown>>) {
      const message = str(r?.errorMessage)
      if (message) return { code: str(r.errorCode), field: str(r.errorField), message }
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
