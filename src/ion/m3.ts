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

/**
 * Finds PROGRAM/TRANSACTION in a decoded M3 path below the system prefix, e.g.
 * `/m3api-rest/v2/execute/CRS610MI/LstByNumber;maxrecs=3`. Matrix parameters are dropped from the names.
 * Bulk `…/v2/execute` (no program) and unparsable execute paths return `null`; non-execute paths `undefined`.
 */
export function parseM3Call (decodedSuffix: string): M3Call | null | undefined {
  const parts = decodedSuffix.split('/')
  const at = parts.indexOf('execute')
  if (at === -1 || parts[at - 1] === undefined) return undefined
  const version = parts[at - 1] === 'v2' ? 2 : 1
  const program = parts[at + 1]?.split(';', 1)[0]
  const transaction = parts[at + 2]?.split(';', 1)[0]
  if (!program || !transaction || parts.length > at + 3) return null
  return { version, program, transaction }
}

/**
 * M3 runs writes over GET (`ChgBasicData`, `AddItmBasic`, `DltItm`…). A request is a read — cacheable and safe to
 * retry — only when its method is safe and, for an MI call, its transaction name matches `readTransactions`.
 * Anything unrecognisable under `execute` counts as a write.
 */
export function isM3Read (method: string, decodedSuffix: string, readTransactions: RegExp): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false
  const call = parseM3Call(decodedSuffix)
  if (call === undefined) return true
  if (call === null) return false
  return readTransactions.test(call.transaction)
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
