import { isM3Error, type FieldDef, type M3Data, type M3Error, type M3Result, type Row } from './m3-data.ts'

/**
 * M3 MI as ION serves it: v1 and v2 execute with their options (matrix or query parameters), v1 errors on HTTP 200
 * with padded messages, v2 errors on HTTP 400 (or 200, switchable), and bulk v2 POST.
 */

export interface M3Answer { status: number, body: unknown }

export interface M3CallSettings {
  /** HTTP status of a failed v2 single call: 400 as Infor's SDK says, or 200 as XtendM3 and H5 scripts expect. */
  v2ErrorStatus: 200 | 400
  /** Today as yyyyMMdd, for the change dates writes set. */
  today: string
  /** A v1 partial failure was armed: answer this many rows, then an `ErrorMessage`. */
  partialRows?: number
}

export type DateFormat = 'YMD8' | 'YMD6' | 'DMY8' | 'DMY6' | 'MDY8' | 'MDY6'
const DATE_FORMATS = new Set<string>(['YMD8', 'YMD6', 'DMY8', 'DMY6', 'MDY8', 'MDY6'])

/** What shapes an answer, from the call's options. */
export interface OutputOptions {
  returncols?: string[]
  excludeEmpty: boolean
  rightTrim: boolean
  dateFormat: DateFormat
}

interface CallOptions extends OutputOptions {
  maxrecs: number
  metadata: boolean
  cono?: string
  divi?: string
  m3user?: string
}

/** Lower-case query parameters that are MI options; `CONO` and `DIVI` are options too. Other lower-case ones are ignored. */
const OPTION_NAMES = new Set(['maxrecs', 'returncols', 'metadata', 'excludempty', 'righttrim', 'dateformat', 'extendedresult', 'm3user', 'cono', 'divi'])
const DEFAULT_MAXRECS = 100
/** v1 messages come padded with blanks; how wide ION pads them is not public. */
const MESSAGE_WIDTH = 60

function notFound (message: string): M3Answer {
  return { status: 404, body: { error: { code: 'NOT_FOUND', message } } }
}

function badRequest (message: string): M3Answer {
  return { status: 400, body: { error: { code: 'BAD_REQUEST', message } } }
}

function decode (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** `PGM;k=v` -> name, and the lower-cased matrix options into `options`. */
function matrix (segment: string, options: Map<string, string>): string {
  const [name, ...params] = segment.split(';')
  for (const p of params) {
    const eq = p.indexOf('=')
    if (eq > 0) options.set(decode(p.slice(0, eq)).toLowerCase(), decode(p.slice(eq + 1)))
  }
  return decode(name ?? '')
}

function flag (value: string | undefined, fallback: boolean): boolean {
  const v = value?.trim().toLowerCase()
  return v === 'true' ? true : v === 'false' ? false : fallback
}

function maxRecords (value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : DEFAULT_MAXRECS
}

function columns (value: unknown): string[] | undefined {
  const list = Array.isArray(value) ? value.filter((c): c is string => typeof c === 'string') : typeof value === 'string' ? value.split(',') : undefined
  const names = list?.map(s => s.trim()).filter(Boolean)
  return names && names.length > 0 ? names : undefined
}

function callOptions (options: Map<string, string>, v2: boolean): CallOptions {
  const dateFormat = options.get('dateformat')?.trim().toUpperCase() ?? ''
  return {
    maxrecs: maxRecords(options.get('maxrecs')),
    returncols: columns(options.get('returncols')),
    metadata: flag(options.get('metadata'), true),
    excludeEmpty: flag(options.get('excludempty'), false),
    // v1 pads values to the field length; v2 answers trimmed values.
    rightTrim: flag(options.get('righttrim'), v2),
    dateFormat: DATE_FORMATS.has(dateFormat) ? dateFormat as DateFormat : 'YMD8',
    cono: options.get('cono'),
    divi: options.get('divi'),
    m3user: options.get('m3user'),
  }
}

/** yyyyMMdd in the requested format; values that are not a full date are left alone. */
export function formatDate (value: string, format: DateFormat): string {
  const m = /^(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(value)
  if (!m) return value
  const [, c, y, mm, dd] = m as unknown as [string, string, string, string, string]
  const year = format.endsWith('8') ? c + y : y
  if (format.startsWith('YMD')) return year + mm + dd
  if (format.startsWith('DMY')) return dd + mm + year
  return mm + dd + year
}

function shown (result: M3Result, returncols: string[] | undefined): FieldDef[] {
  return returncols ? result.fields.filter(f => returncols.includes(f.name)) : result.fields
}

/** One record as name/value pairs, shaped by the options; empty values left out with `excludeEmpty`. */
function shape (row: Row, fields: FieldDef[], o: OutputOptions): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const f of fields) {
    let value = row[f.name] ?? ''
    if (f.type === 'D') value = formatDate(value, o.dateFormat)
    if (o.excludeEmpty && value.trim() === '') continue
    out.push([f.name, o.rightTrim ? value.trimEnd() : value.padEnd(f.length, ' ')])
  }
  return out
}

function padMessage (message: string): string {
  return message.padEnd(MESSAGE_WIDTH, ' ')
}

export function v1Error (error: M3Error): Record<string, unknown> {
  return {
    '@type': error.type,
    ...(error.code === undefined ? {} : { '@code': error.code }),
    ...(error.field === undefined ? {} : { '@field': error.field }),
    '@cfg': null,
    Message: padMessage(error.message),
  }
}

function v1Answer (program: string, transaction: string, result: M3Result, o: CallOptions, partialRows: number | undefined) {
  const fields = shown(result, o.returncols)
  const rows = partialRows === undefined ? result.records : result.records.slice(0, partialRows)
  const body: Record<string, unknown> = { Program: program, Transaction: transaction }
  if (o.metadata) body.Metadata = { Field: fields.map(f => ({ '@name': f.name, '@type': f.type, '@length': f.length, '@description': f.description })) }
  body.MIRecord = rows.map((row, i) => ({ RowIndex: i, NameValue: shape(row, fields, o).map(([Name, Value]) => ({ Name, Value })) }))
  if (partialRows !== undefined) {
    body.ErrorMessage = { '@type': 'ServerReturnedNOK', '@code': 'XRE0104', '@cfg': '97', '@field': 'RCNT'.padEnd(10, ' '), Message: padMessage('Record could not be read') }
  }
  return body
}

type V2Result = Record<string, unknown>

export function v2Result (transaction: string, outcome: M3Result | M3Error, o: OutputOptions): V2Result {
  if (isM3Error(outcome)) {
    return {
      transaction,
      errorMessage: outcome.message,
      ...(outcome.code === undefined ? {} : { errorCode: outcome.code }),
      ...(outcome.field === undefined ? {} : { errorField: outcome.field }),
      errorType: outcome.type,
      records: [],
    }
  }
  const fields = shown(outcome, o.returncols)
  return { transaction, records: outcome.records.map(row => Object.fromEntries(shape(row, fields, o))) }
}

export function v2Envelope (results: V2Result[]) {
  const failed = results.filter(r => 'errorMessage' in r).length
  return { results, wasTerminated: false, nrOfSuccessfullTransactions: results.length - failed, nrOfFailedTransactions: failed }
}

function limited (outcome: M3Result | M3Error, maxrecs: number): M3Result | M3Error {
  return isM3Error(outcome) || maxrecs === 0 ? outcome : { ...outcome, records: outcome.records.slice(0, maxrecs) }
}

/** Handles everything below `/{ti}/M3/`; `below` is the raw path (no leading slash, no query). */
export function handleM3 (data: M3Data, method: string, below: string, query: URLSearchParams, body: string, settings: M3CallSettings): M3Answer {
  const segments = below.split('/')
  if (segments[0] !== 'm3api-rest') return notFound(`No M3 API at /${below}`)
  const v2 = segments[1] === 'v2'
  const exec = segments.slice(v2 ? 2 : 1)
  if (exec[0] !== 'execute') return notFound(`No M3 API at /${below}`) // includes m3api-rest/csrf, on-premises only
  // Bulk: POST …/v2/execute with the program in the body, or POST …/v2/execute/{PROGRAM}.
  if (v2 && (exec.length === 1 || (exec.length === 2 && !exec[1]?.includes(';')))) {
    if (method !== 'POST') return { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'Bulk execute takes POST' } } }
    return bulk(data, body, exec[1] ? decode(exec[1]) : undefined, settings.today)
  }
  if (exec.length !== 3 || !exec[1] || !exec[2]) return notFound(`No M3 API at /${below}`)
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'MI transactions take GET' } } }
  }
  const raw = new Map<string, string>()
  const program = matrix(exec[1], raw)
  const transaction = matrix(exec[2], raw)
  const input: Row = {}
  for (const [k, v] of query) {
    if (OPTION_NAMES.has(k) || k === 'CONO' || k === 'DIVI') raw.set(k.toLowerCase(), v)
    else if (k === k.toUpperCase() && !k.startsWith('_')) input[k] = v // M3 fields are upper case; _rid is a cache-buster
  }
  const o = callOptions(raw, v2)
  const ctx = data.context(o.m3user, o.cono, o.divi)
  const outcome = isM3Error(ctx) ? ctx : limited(data.execute(program, transaction, input, ctx, settings.today), o.maxrecs)
  if (v2) return { status: isM3Error(outcome) ? settings.v2ErrorStatus : 200, body: v2Envelope([v2Result(transaction, outcome, o)]) }
  // v1 reports business errors with HTTP 200 and the error in the body.
  return { status: 200, body: isM3Error(outcome) ? v1Error(outcome) : v1Answer(program, transaction, outcome, o, settings.partialRows) }
}

interface BulkTransaction { transaction?: unknown, record?: unknown, selectedColumns?: unknown, maxReturnedRecords?: unknown }

/** A bulk record value as M3 input: JSON null is an empty value, numbers and booleans their text. */
function inputValue (value: unknown): string | undefined {
  if (value === null || value === undefined) return ''
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return undefined
}

function bulk (data: M3Data, text: string, pathProgram: string | undefined, today: string): M3Answer {
  let request: unknown
  try {
    request = JSON.parse(text)
  } catch {
    return badRequest('The body is not valid JSON')
  }
  if (!request || typeof request !== 'object' || Array.isArray(request)) return badRequest('The body must be a JSON object')
  const r = request as Record<string, unknown>
  const program = pathProgram ?? r.program
  if (typeof program !== 'string' || !program || !Array.isArray(r.transactions)) {
    return badRequest('program (string, in the body or the path) and transactions (array) are required')
  }
  if (r.cono !== undefined && typeof r.cono !== 'number' && typeof r.cono !== 'string') return badRequest('cono must be a number or a string')
  if (r.divi !== undefined && typeof r.divi !== 'string') return badRequest('divi must be a string')
  const inputs: Row[] = []
  for (const [i, t] of (r.transactions as unknown[]).entries()) {
    const record = (t as BulkTransaction | null)?.record ?? {}
    if (typeof record !== 'object' || Array.isArray(record)) return badRequest(`transactions[${i}].record must be an object`)
    const input: Row = {}
    for (const [k, v] of Object.entries(record)) {
      const value = inputValue(v)
      if (value === undefined) return badRequest(`transactions[${i}].record.${k} must be a string, number, boolean or null`)
      input[k] = value
    }
    inputs.push(input)
  }
  const ctx = data.context(undefined, r.cono === undefined ? undefined : String(r.cono), r.divi as string | undefined)
  const defaults = {
    excludeEmpty: r.excludeEmptyValues === true,
    rightTrim: r.rightTrim !== false,
    dateFormat: 'YMD8' as const,
  }
  const results = (r.transactions as Array<BulkTransaction | null>).map((t, i) => {
    const name = typeof t?.transaction === 'string' ? t.transaction : ''
    const o: OutputOptions = { ...defaults, returncols: columns(t?.selectedColumns ?? r.selectedColumns) }
    const maxrecs = maxRecords(t?.maxReturnedRecords ?? r.maxReturnedRecords)
    const outcome = isM3Error(ctx) ? ctx : limited(data.execute(program, name, inputs[i] as Row, ctx, today), maxrecs)
    return v2Result(name, outcome, o)
  })
  return { status: 200, body: v2Envelope(results) }
}
