/**
 * The M3 behind the emulator's MI API: companies, users, and the programs it knows, with data that writes (sent as GET,
 * like real M3) really change. Each company has its own rows.
 *
 * MMS200MI (items, key ITNO): GetItmBasic, LstItmByItm (from ITNO on), AddItmBasic, UpdItmBasic, DltItmBasic.
 * CRS610MI (customers, key CUNO): GetBasicData, LstByNumber (from CUNO on), LstByName (from CUNM on), Add,
 * ChgBasicData, Delete.
 * MNS150MI GetUserData: the calling user's defaults (what Infor's m3-odin reads for the user context).
 * MRS001MI LstAdtFieldInf: the input or output fields of a transaction (what m3-odin reads for typed v2 output).
 */

/** M3 field types: alphanumeric, numeric, date (stored as yyyyMMdd). */
export type FieldType = 'A' | 'N' | 'D'
export interface FieldDef { name: string, type: FieldType, length: number, description: string }
export type Row = Record<string, string>

export type M3ErrorType = 'ServerReturnedNOK' | 'TransactionNotFound' | 'MandatoryInputFieldNotFound' | 'InputFieldTooLong'
export interface M3Error { type: M3ErrorType, code?: string, field?: string, message: string }
export interface M3Result { records: Row[], fields: FieldDef[] }

export interface M3User { usid: string, name: string, cono: string, divi: string, lanc: string, dtfm: string, companies: string[] }

/** Who the call runs as and where: from `m3user`, `cono` and `divi`, else the user's defaults. */
export interface M3Context { user: M3User, cono: string, divi: string }

/** The M3 user ION maps the service account to: the one a call without `m3user` runs as. */
export const DEFAULT_M3_USER = 'IONSVC'

export const M3_USERS: readonly M3User[] = [
  { usid: DEFAULT_M3_USER, name: 'ION service account', cono: '100', divi: 'AAA', lanc: 'GB', dtfm: 'YMD', companies: ['100', '200'] },
  { usid: 'JDOE', name: 'Jane Doe', cono: '100', divi: 'BBB', lanc: 'SE', dtfm: 'DMY', companies: ['100'] },
  { usid: 'MVXSECOFR', name: 'Security officer', cono: '200', divi: 'CCC', lanc: 'GB', dtfm: 'YMD', companies: ['100', '200'] },
]

export const COMPANY_DIVISIONS: Readonly<Record<string, readonly string[]>> = { 100: ['AAA', 'BBB'], 200: ['CCC'] }

const ITEM_FIELDS: FieldDef[] = [
  { name: 'ITNO', type: 'A', length: 15, description: 'Item number' },
  { name: 'ITDS', type: 'A', length: 30, description: 'Name' },
  { name: 'STAT', type: 'A', length: 2, description: 'Status' },
  { name: 'ITTY', type: 'A', length: 3, description: 'Item type' },
  { name: 'UNMS', type: 'A', length: 3, description: 'Basic unit of measure' },
  { name: 'NEWE', type: 'N', length: 11, description: 'Net weight' },
  { name: 'RGDT', type: 'D', length: 8, description: 'Entry date' },
  { name: 'LMDT', type: 'D', length: 8, description: 'Change date' },
]
const CUSTOMER_FIELDS: FieldDef[] = [
  { name: 'CUNO', type: 'A', length: 10, description: 'Customer number' },
  { name: 'CUNM', type: 'A', length: 36, description: 'Customer name' },
  { name: 'CSCD', type: 'A', length: 3, description: 'Country' },
  { name: 'STAT', type: 'A', length: 2, description: 'Status' },
  { name: 'CRL2', type: 'N', length: 15, description: 'Credit limit 2' },
  { name: 'RGDT', type: 'D', length: 8, description: 'Entry date' },
  { name: 'LMDT', type: 'D', length: 8, description: 'Change date' },
]
const USER_FIELDS: FieldDef[] = [
  { name: 'USID', type: 'A', length: 10, description: 'User' },
  { name: 'TX40', type: 'A', length: 40, description: 'Description' },
  { name: 'CONO', type: 'N', length: 3, description: 'Company' },
  { name: 'DIVI', type: 'A', length: 3, description: 'Division' },
  { name: 'LANC', type: 'A', length: 2, description: 'Language' },
  { name: 'DTFM', type: 'A', length: 3, description: 'Date format' },
  { name: 'DCFM', type: 'A', length: 1, description: 'Decimal format' },
]
const FIELD_INFO_INPUT: FieldDef[] = [
  { name: 'MINM', type: 'A', length: 10, description: 'Program' },
  { name: 'TRNM', type: 'A', length: 15, description: 'Transaction' },
  { name: 'TRTP', type: 'A', length: 1, description: 'Input (I) or output (O)' },
]
const FIELD_INFO_OUTPUT: FieldDef[] = [
  { name: 'FLNM', type: 'A', length: 10, description: 'Field name' },
  { name: 'TYPE', type: 'A', length: 1, description: 'Field type' },
  { name: 'LENG', type: 'N', length: 3, description: 'Field length' },
  { name: 'FLDS', type: 'A', length: 40, description: 'Field description' },
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
const COMPANY_200_ITEMS = ['Pallet EUR', 'Stretch film 500 mm', 'Carton 40x30x20']
const COMPANY_200_CUSTOMERS: Array<[string, string, string]> = [['30001', 'Sydney Wholesale Pty', 'AU'], ['30002', 'Auckland Retail Ltd', 'NZ']]

/** Company 100's items and customers (company 200 has its own, fewer). */
export const ITEM_NUMBERS = ITEM_NAMES.map((_n, i) => `A${100 + i}`)
export const CUSTOMER_NUMBERS = CUSTOMERS.map(c => c[0])
export const COMPANY_200_ITEM_NUMBERS = COMPANY_200_ITEMS.map((_n, i) => `B${100 + i}`)

function seedItems (cono: string): Map<string, Row> {
  const names = cono === '100' ? ITEM_NAMES : COMPANY_200_ITEMS
  const prefix = cono === '100' ? 'A' : 'B'
  const rows = new Map<string, Row>()
  names.forEach((name, i) => {
    const itno = `${prefix}${100 + i}`
    rows.set(itno, {
      ITNO: itno,
      ITDS: name,
      STAT: '20',
      ITTY: i % 2 === 0 ? 'FIN' : 'RAW',
      UNMS: 'PCS',
      NEWE: ((i + 1) * 0.125).toFixed(3),
      RGDT: `2024${String(1 + (i % 12)).padStart(2, '0')}${String(1 + (i % 28)).padStart(2, '0')}`,
      LMDT: '20250601',
    })
  })
  return rows
}

function seedCustomers (cono: string): Map<string, Row> {
  const rows = new Map<string, Row>()
  const customers = cono === '100' ? CUSTOMERS : COMPANY_200_CUSTOMERS
  customers.forEach(([cuno, cunm, cscd], i) => {
    rows.set(cuno, { CUNO: cuno, CUNM: cunm, CSCD: cscd, STAT: '20', CRL2: String((i + 1) * 10000), RGDT: '20230301', LMDT: '20250115' })
  })
  return rows
}

interface RunContext { input: Row, ctx: M3Context, today: string }

interface TransactionDef {
  input: FieldDef[]
  mandatory: string[]
  output: FieldDef[]
  run: (c: RunContext) => Row[] | M3Error
}

interface TableSpec {
  key: string
  fields: FieldDef[]
  seed: (cono: string) => Map<string, Row>
  notFound: (key: string) => M3Error
  exists: (key: string) => M3Error
}

const ITEMS: TableSpec = {
  key: 'ITNO',
  fields: ITEM_FIELDS,
  seed: seedItems,
  notFound: k => ({ type: 'ServerReturnedNOK', code: 'WITNO03', field: 'ITNO', message: `Item number ${k} does not exist` }),
  exists: k => ({ type: 'ServerReturnedNOK', code: 'WITNO02', field: 'ITNO', message: `Item number ${k} already exists` }),
}
const CUSTOMERS_TABLE: TableSpec = {
  key: 'CUNO',
  fields: CUSTOMER_FIELDS,
  seed: seedCustomers,
  notFound: k => ({ type: 'ServerReturnedNOK', code: 'WCU0203', field: 'CUNO', message: `Customer number ${k} does not exist` }),
  exists: k => ({ type: 'ServerReturnedNOK', code: 'WCU0202', field: 'CUNO', message: `Customer number ${k} already exists` }),
}
/** Fields M3 sets itself: not transaction input. */
const SYSTEM_FIELDS = new Set(['RGDT', 'LMDT'])

export function isM3Error (r: unknown): r is M3Error {
  return typeof r === 'object' && r !== null && 'type' in r && 'message' in r
}

export class M3Data {
  /** company -> program -> key -> row */
  private readonly tables = new Map<string, Map<string, Map<string, Row>>>()
  private readonly programs: Record<string, Record<string, TransactionDef>>

  constructor () {
    for (const cono of Object.keys(COMPANY_DIVISIONS)) {
      this.tables.set(cono, new Map([['MMS200MI', ITEMS.seed(cono)], ['CRS610MI', CUSTOMERS_TABLE.seed(cono)]]))
    }
    this.programs = {
      MMS200MI: {
        GetItmBasic: this.get('MMS200MI', ITEMS),
        LstItmByItm: this.list('MMS200MI', ITEMS, 'ITNO'),
        AddItmBasic: this.add('MMS200MI', ITEMS),
        UpdItmBasic: this.update('MMS200MI', ITEMS),
        DltItmBasic: this.delete('MMS200MI', ITEMS),
      },
      CRS610MI: {
        GetBasicData: this.get('CRS610MI', CUSTOMERS_TABLE),
        LstByNumber: this.list('CRS610MI', CUSTOMERS_TABLE, 'CUNO'),
        LstByName: this.list('CRS610MI', CUSTOMERS_TABLE, 'CUNM'),
        Add: this.add('CRS610MI', CUSTOMERS_TABLE),
        ChgBasicData: this.update('CRS610MI', CUSTOMERS_TABLE),
        Delete: this.delete('CRS610MI', CUSTOMERS_TABLE),
      },
      MNS150MI: {
        GetUserData: {
          input: [USER_FIELDS[0] as FieldDef],
          mandatory: [],
          output: USER_FIELDS,
          run: ({ input, ctx }) => {
            const usid = (input.USID ?? '').trim() || ctx.user.usid
            const user = M3_USERS.find(u => u.usid === usid)
            if (!user) return { type: 'ServerReturnedNOK', code: 'WUS0103', field: 'USID', message: `User ${usid} does not exist` }
            return [{ USID: user.usid, TX40: user.name, CONO: user.cono, DIVI: user.divi, LANC: user.lanc, DTFM: user.dtfm, DCFM: '.' }]
          },
        },
      },
      MRS001MI: {
        LstAdtFieldInf: {
          input: FIELD_INFO_INPUT,
          mandatory: ['MINM', 'TRNM'],
          output: FIELD_INFO_OUTPUT,
          run: ({ input }) => {
            const def = this.programs[input.MINM?.trim() ?? '']?.[input.TRNM?.trim() ?? '']
            if (!def) return { type: 'ServerReturnedNOK', code: 'WTRNM03', field: 'TRNM', message: `Transaction ${input.TRNM} does not exist in ${input.MINM}` }
            const fields = (input.TRTP ?? 'O').trim().toUpperCase() === 'I' ? def.input : def.output
            return fields.map(f => ({ FLNM: f.name, TYPE: f.type, LENG: String(f.length), FLDS: f.description }))
          },
        },
      },
    }
  }

  /** The call's user, company and division; an error when the user is unknown or may not use that company. */
  context (m3user: string | undefined, cono: string | undefined, divi: string | undefined): M3Context | M3Error {
    const usid = m3user?.trim() || DEFAULT_M3_USER
    const user = M3_USERS.find(u => u.usid === usid.toUpperCase())
    if (!user) return { type: 'ServerReturnedNOK', code: 'XAU0001', message: `User ${usid} is not authorized` }
    const company = cono?.trim() || user.cono
    if (!user.companies.includes(String(Number(company))) || !COMPANY_DIVISIONS[String(Number(company))]) {
      return { type: 'ServerReturnedNOK', code: 'XAU0008', field: 'CONO', message: `Not authorized for company ${company}` }
    }
    const c = String(Number(company))
    const division = divi === undefined ? (c === user.cono ? user.divi : '') : divi.trim()
    if (division !== '' && !COMPANY_DIVISIONS[c]?.includes(division)) {
      return { type: 'ServerReturnedNOK', code: 'XDI0003', field: 'DIVI', message: `Division ${division} does not exist in company ${c}` }
    }
    return { user, cono: c, divi: division }
  }

  /** Runs one transaction: unknown programs and transactions, missing and too long input are M3's own error types. */
  execute (program: string, transaction: string, input: Row, ctx: M3Context, today: string): M3Result | M3Error {
    const transactions = this.programs[program]
    if (!transactions) return { type: 'TransactionNotFound', message: `Program ${program} does not exist` }
    const def = transactions[transaction]
    if (!def) return { type: 'TransactionNotFound', message: `Transaction ${transaction} does not exist in program ${program}` }
    for (const name of def.mandatory) {
      if (!(name in input)) return { type: 'MandatoryInputFieldNotFound', field: name, message: `Mandatory input field ${name} is missing` }
    }
    for (const f of def.input) {
      const value = input[f.name]
      if (value !== undefined && value.length > f.length) {
        return { type: 'InputFieldTooLong', field: f.name, message: `Input field ${f.name} is longer than ${f.length}` }
      }
    }
    const rows = def.run({ input, ctx, today })
    return isM3Error(rows) ? rows : { records: rows, fields: def.output }
  }

  private rows (cono: string, program: string): Map<string, Row> {
    return this.tables.get(cono)?.get(program) as Map<string, Row>
  }

  private keyOf (spec: TableSpec, input: Row): string | M3Error {
    const key = (input[spec.key] ?? '').trim()
    if (key) return key
    const description = spec.fields.find(f => f.name === spec.key)?.description ?? spec.key
    return { type: 'ServerReturnedNOK', code: 'XRE0103', field: spec.key, message: `${description} must be entered` }
  }

  private keyField (spec: TableSpec): FieldDef {
    return spec.fields.find(f => f.name === spec.key) as FieldDef
  }

  private get (program: string, spec: TableSpec): TransactionDef {
    return {
      input: [this.keyField(spec)],
      mandatory: [spec.key],
      output: spec.fields,
      run: ({ input, ctx }) => {
        const key = this.keyOf(spec, input)
        if (typeof key !== 'string') return key
        const row = this.rows(ctx.cono, program).get(key)
        return row ? [row] : spec.notFound(key)
      },
    }
  }

  private list (program: string, spec: TableSpec, from: string): TransactionDef {
    return {
      input: [spec.fields.find(f => f.name === from) as FieldDef],
      mandatory: [],
      output: spec.fields,
      run: ({ input, ctx }) => {
        const start = (input[from] ?? '').trim().toLowerCase()
        return [...this.rows(ctx.cono, program).values()]
          .filter(r => (r[from] as string).toLowerCase() >= start)
          .sort((a, b) => (a[from] as string).localeCompare(b[from] as string))
      },
    }
  }

  private add (program: string, spec: TableSpec): TransactionDef {
    return {
      input: spec.fields.filter(f => !SYSTEM_FIELDS.has(f.name)),
      mandatory: [spec.key],
      output: [],
      run: ({ input, ctx, today }) => {
        const key = this.keyOf(spec, input)
        if (typeof key !== 'string') return key
        const rows = this.rows(ctx.cono, program)
        if (rows.has(key)) return spec.exists(key)
        const row: Row = {}
        for (const f of spec.fields) row[f.name] = (input[f.name] ?? (f.name === 'STAT' ? '10' : f.type === 'N' ? '0' : '')).trimEnd()
        row[spec.key] = key
        row.RGDT = row.LMDT = today
        rows.set(key, row)
        return []
      },
    }
  }

  private update (program: string, spec: TableSpec): TransactionDef {
    return {
      input: spec.fields.filter(f => !SYSTEM_FIELDS.has(f.name)),
      mandatory: [spec.key],
      output: [],
      run: ({ input, ctx, today }) => {
        const key = this.keyOf(spec, input)
        if (typeof key !== 'string') return key
        const row = this.rows(ctx.cono, program).get(key)
        if (!row) return spec.notFound(key)
        for (const f of spec.fields) {
          const value = input[f.name]
          if (value !== undefined && f.name !== spec.key && !SYSTEM_FIELDS.has(f.name)) row[f.name] = value.trimEnd()
        }
        row.LMDT = today
        return []
      },
    }
  }

  private delete (program: string, spec: TableSpec): TransactionDef {
    return {
      input: [this.keyField(spec)],
      mandatory: [spec.key],
      output: [],
      run: ({ input, ctx }) => {
        const key = this.keyOf(spec, input)
        if (typeof key !== 'string') return key
        return this.rows(ctx.cono, program).delete(key) ? [] : spec.notFound(key)
      },
    }
  }
}
