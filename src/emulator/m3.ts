/**
 * M3 MI as ION serves it: v1 and v2 execute, matrix options, padded v1 values, v2 errors as HTTP 400, bulk v2,
 * and a small data set that writes (sent as GET, like real M3) really change.
 *
 * MMS200MI (items, key ITNO): GetItmBasic, LstItmByItm (from ITNO on), AddItmBasic, UpdItmBasic, DltItmBasic.
 * CRS610MI (customers, key CUNO): GetBasicData, LstByNumber (from CUNO on), LstByName (from CUNM on), Add,
 * ChgBasicData, Delete.
 */

export interface FieldDef { name: string, type: 'A' | 'N', length: number, description: string }
type Row = Record<string, string>

interface Table {
  key: string
  fields: FieldDef[]
  rows: Map<string, Row>
  notFound: (key: string) => M3Error
  exists: (key: string) => M3Error
}

export interface M3Error { code: string, field?: string, message: string }
export interface M3Result { records: Row[], fields: FieldDef[] }

const ITEM_FIELDS: FieldDef[] = [
  { name: 'ITNO', type: 'A', length: 15, description: 'Item number' },
  { name: 'ITDS', type: 'A', length: 30, description: 'Name' },
  { name: 'STAT', type: 'A', length: 2, description: 'Status' },
  { name: 'ITTY', type: 'A', length: 3, description: 'Item type' },
  { name: 'UNMS', type: 'A', length: 3, description: 'Basic unit of measure' },
]
const CUSTOMER_FIELDS: FieldDef[] = [
  { name: 'CUNO', type: 'A', length: 10, description: 'Customer number' },
  { name: 'CUNM', type: 'A', length: 36, description: 'Customer name' },
  { name: 'CSCD', type: 'A', length: 3, description: 'Country' },
  { name: 'STAT', type: 'A', length: 2, description: 'Status' },
]

const ITEM_NAMES = ['Bolt M8', 'Nut M8', 'Washer 8 mm', 'Bolt M10', 'Nut M10', 'Washer 10 mm', 'Hex key 5 mm', 'Bearing 6204',
  'Bearing 6205', 'V-belt A32', 'Hydraulic hose 1 m', 'O-ring 20x2', 'Gasket DN50', 'Valve DN25', 'Pump seal kit',
  'Motor 0.75 kW', 'Gearbox 1:10', 'Coupling 24 mm', 'Sprocket 3/4"', 'Chain 3/4" 5 m']
const CUSTOMERS: Array<[string, string, string]> = [
  ['10001', 'Acme Manufacturing', 'US'], ['10002', 'Nordic Timber AB', 'SE'], ['10003', 'Rhein Maschinenbau GmbH', 'DE'],
  ['10004', 'Lyon Industrie SA', 'FR'], ['10005', 'Milano Meccanica Srl', 'IT'], ['10006', 'Baltic Foods OY', 'FI'],
  ['10007', 'Dublin Pharma Ltd', 'IE'], ['10008', 'Oslo Marine AS', 'NO'], ['10009', 'Utrecht Logistics BV', 'NL'],
  ['10010', 'Porto Textiles Lda', 'PT'],
]

export const ITEM_NUMBERS = ITEM_NAMES.map((_n, i) => `A${100 + i}`)
export const CUSTOMER_NUMBERS = CUSTOMERS.map(c => c[0])

export class M3Data {
  private readonly tables: Record<string, Table>

  constructor () {
    const items = new Map<string, Row>()
    ITEM_NAMES.forEach((name, i) => {
      const itno = `A${100 + i}`
      items.set(itno, { ITNO: itno, ITDS: name, STAT: '20', ITTY: i % 2 === 0 ? 'FIN' : 'RAW', UNMS: 'PCS' })
    })
    const customers = new Map<string, Row>()
    for (const [cuno, cunm, cscd] of CUSTOMERS) customers.set(cuno, { CUNO: cuno, CUNM: cunm, CSCD: cscd, STAT: '20' })
    this.tables = {
      MMS200MI: {
        key: 'ITNO',
        fields: ITEM_FIELDS,
        rows: items,
        notFound: k => ({ code: 'WITNO03', field: 'ITNO', message: `Item number ${k} does not exist` }),
        exists: k => ({ code: 'WITNO02', field: 'ITNO', message: `Item number ${k} already exists` }),
      },
      CRS610MI: {
        key: 'CUNO',
        fields: CUSTOMER_FIELDS,
        rows: customers,
        notFound: k => ({ code: 'WCU0203', field: 'CUNO', message: `Customer number ${k} does not exist` }),
        exists: k => ({ code: 'WCU0202', field: 'CUNO', message: `Customer number ${k} already exists` }),
      },
    }
  }

  /** Runs one transaction. Writes (Add/Upd/Chg/Dlt/Delete) change the data. */
  execute (program: string, transaction: string, input: Record<string, string>, maxrecs: number): M3Result | M3Error {
    const table = this.tables[program]
    if (!table) return { code: 'XPG0001', message: `Program ${program} does not exist` }
    const op = OPERATIONS[program]?.[transaction]
    if (!op) return { code: 'XTR0001', message: `Transaction ${transaction} does not exist in ${program}` }
    const key = (input[table.key] ?? '').trim()
    const fields = table.fields
    const required = (): M3Error | undefined => key ? undefined : { code: 'XRE0103', field: table.key, message: `${table.key} must be entered` }

    switch (op) {
      case 'get': {
        const missing = required()
        if (missing) return missing
        const row = table.rows.get(key)
        return row ? { records: [row], fields } : table.notFound(key)
      }
      case 'list': {
        const nameFilter = program === 'CRS610MI' && transaction === 'LstByName' ? (input.CUNM ?? '').trim().toLowerCase() : undefined
        const rows = [...table.rows.values()]
          .filter(r => nameFilter === undefined ? (r[table.key] as string) >= key : (r.CUNM as string).toLowerCase() >= nameFilter)
          .sort((a, b) => nameFilter === undefined
            ? (a[table.key] as string).localeCompare(b[table.key] as string)
            : (a.CUNM as string).localeCompare(b.CUNM as string))
        return { records: maxrecs > 0 ? rows.slice(0, maxrecs) : rows, fields }
      }
      case 'add': {
        const missing = required()
        if (missing) return missing
        if (table.rows.has(key)) return table.exists(key)
        const row: Row = {}
        for (const f of fields) row[f.name] = (input[f.name] ?? (f.name === 'STAT' ? '10' : '')).slice(0, f.length)
        row[table.key] = key
        table.rows.set(key, row)
        return { records: [], fields }
      }
      case 'update': {
        const missing = required()
        if (missing) return missing
        const row = table.rows.get(key)
        if (!row) return table.notFound(key)
        for (const f of fields) {
          const value = input[f.name]
          if (value !== undefined && f.name !== table.key) row[f.name] = value.slice(0, f.length)
        }
        return { records: [], fields }
      }
      case 'delete': {
        const missing = required()
        if (missing) return missing
        if (!table.rows.delete(key)) return table.notFound(key)
        return { records: [], fields }
      }
    }
  }
}

type Operation = 'get' | 'list' | 'add' | 'update' | 'delete'
const OPERATIONS: Record<string, Record<string, Operation>> = {
  MMS200MI: { GetItmBasic: 'get', LstItmByItm: 'list', AddItmBasic: 'add', UpdItmBasic: 'update', DltItmBasic: 'delete' },
  CRS610MI: { GetBasicData: 'get', LstByNumber: 'list', LstByName: 'list', Add: 'add', ChgBasicData: 'update', Delete: 'delete' },
}

export function isM3Error (r: M3Result | M3Error): r is M3Error {
  return 'code' in r
}

/** Applies `returncols` and builds the v1 answer (values padded to field length, Metadata). */
export function v1Answer (program: string, transaction: string, result: M3Result, returncols: string[] | undefined) {
  const fields = returncols ? result.fields.filter(f => returncols.includes(f.name)) : result.fields
  return {
    Program: program,
    Transaction: transaction,
    Metadata: { Field: fields.map(f => ({ '@name': f.name, '@type': f.type, '@length': f.length, '@description': f.description })) },
    MIRecord: result.records.map((row, i) => ({
      RowIndex: i,
      NameValue: fields.map(f => ({ Name: f.name, Value: (row[f.name] ?? '').padEnd(f.length, ' ') })),
    })),
  }
}

export function v1Error (error: M3Error) {
  return { '@type': 'ServerReturnedNOK', '@code': error.code, '@field': error.field ?? null, '@cfg': null, Message: error.message }
}

export function v2Result (transaction: string, outcome: M3Result | M3Error, returncols: string[] | undefined) {
  if (isM3Error(outcome)) {
    return { transaction, errorMessage: outcome.message, errorCode: outcome.code, errorField: outcome.field ?? '', errorType: 'ServerReturnedNOK', records: [] }
  }
  const fields = returncols ? outcome.fields.filter(f => returncols.includes(f.name)) : outcome.fields
  return {
    transaction,
    records: outcome.records.map(row => Object.fromEntries(fields.map(f => [f.name, row[f.name] ?? '']))),
  }
}

export function v2Envelope (results: Array<ReturnType<typeof v2Result>>) {
  const failed = results.filter(r => 'errorMessage' in r).length
  return { results, wasTerminated: false, nrOfSuccessfullTransactions: results.length - failed, nrOfFailedTransactions: failed }
}

export interface M3Answer { status: number, body: unknown }

/** Query parameters that are MI options, not transaction input (unknown lower-case ones are ignored too). */
const QUERY_OPTIONS = new Set(['maxrecs', 'returncols', 'cono', 'divi', 'CONO', 'DIVI'])
const DEFAULT_MAXRECS = 100

function notFound (message: string): M3Answer {
  return { status: 404, body: { error: { code: 'NOT_FOUND', message } } }
}

function decode (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** `PGM;k=v` -> name and lower-cased matrix options. */
function matrix (segment: string, options: Map<string, string>): string {
  const [name, ...params] = segment.split(';')
  for (const p of params) {
    const eq = p.indexOf('=')
    if (eq > 0) options.set(decode(p.slice(0, eq)).toLowerCase(), decode(p.slice(eq + 1)))
  }
  return decode(name ?? '')
}

function parseMaxrecs (value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAXRECS
  const n = Number(value)
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_MAXRECS
}

/** Handles everything below `/{ti}/M3/`; `below` is the raw path (no leading slash, no query). */
export function handleM3 (data: M3Data, method: string, below: string, query: URLSearchParams, body: string): M3Answer {
  const segments = below.split('/')
  if (segments[0] !== 'm3api-rest') return notFound(`No M3 API at /${below}`)
  const v2 = segments[1] === 'v2'
  const exec = segments.slice(v2 ? 2 : 1)
  if (exec[0] !== 'execute') return notFound(`No M3 API at /${below}`) // includes m3api-rest/csrf, on-premises only
  if (v2 && exec.length === 1) {
    if (method !== 'POST') return { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'Bulk execute takes POST' } } }
    return bulk(data, body)
  }
  if (exec.length !== 3 || !exec[1] || !exec[2]) return notFound(`No M3 API at /${below}`)
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'MI transactions take GET' } } }
  }
  const options = new Map<string, string>()
  const program = matrix(exec[1], options)
  const transaction = matrix(exec[2], options)
  const input: Record<string, string> = {}
  for (const [k, v] of query) {
    if (QUERY_OPTIONS.has(k)) options.set(k.toLowerCase(), v)
    else if (k === k.toUpperCase() && !k.startsWith('_')) input[k] = v // M3 fields are upper case; _rid, dateformat… are options
  }
  const returncols = options.get('returncols')?.split(',').map(s => s.trim()).filter(Boolean)
  const outcome = data.execute(program, transaction, input, parseMaxrecs(options.get('maxrecs')))
  if (v2) return { status: isM3Error(outcome) ? 400 : 200, body: v2Envelope([v2Result(transaction, outcome, returncols)]) }
  // v1 reports business errors with HTTP 200 and the error in the body.
  return { status: 200, body: isM3Error(outcome) ? v1Error(outcome) : v1Answer(program, transaction, outcome, returncols) }
}

function bulk (data: M3Data, body: string): M3Answer {
  let request: unknown
  try {
    request = JSON.parse(body)
  } catch {
    return { status: 400, body: { error: { code: 'BAD_REQUEST', message: 'The body is not valid JSON' } } }
  }
  const { program, transactions } = (request ?? {}) as { program?: unknown, transactions?: unknown }
  if (typeof program !== 'string' || !Array.isArray(transactions)) {
    return { status: 400, body: { error: { code: 'BAD_REQUEST', message: 'program (string) and transactions (array) are required' } } }
  }
  const results = transactions.map((t: unknown) => {
    const { transaction, record } = (t ?? {}) as { transaction?: unknown, record?: unknown }
    const name = typeof transaction === 'string' ? transaction : ''
    const input: Record<string, string> = {}
    if (record && typeof record === 'object') {
      for (const [k, v] of Object.entries(record)) input[k] = String(v)
    }
    return v2Result(name, data.execute(program, name, input, DEFAULT_MAXRECS), undefined)
  })
  return { status: 200, body: v2Envelope(results) }
}
