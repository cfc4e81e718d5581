import { randomBytes } from 'node:crypto'
import { ENTITY_SETS, metadataJson, metadataXml, SERVICE_PATH, type EntitySetDef, type NavigationDef } from './ln-schema.ts'
import { filterAndSort, ODataQueryError, parseCollectionOptions, type CollectionOptions, type Entity } from './odata-query.ts'

/**
 * LN through ION: the OData v4 service `tdapi.slsSalesOrder` with Orders (35 rows, SO000001…SO000035) and their
 * OrderLines (navigation property `Lines`): the system query options of odata-query.ts, paging with
 * @odata.nextLink (10 rows a page, or `Prefer: odata.maxpagesize`), `$count`, `$metadata`, ETags, PATCH and DELETE
 * with If-Match. Errors in the OData v4 form by default, or in the form Infor's documentation shows.
 */

export type LnErrorFormat = 'odata' | 'infor'

export interface LnAnswer { status: number, body?: unknown, text?: string, headers?: Record<string, string> }

type Headers = Record<string, string | string[] | undefined>

const STATUSES = ['Free', 'Released', 'Closed']
const PAGE_SIZE = 10
const WRITABLE = new Set(['SoldToBP', 'Status', 'OrderDate', 'Amount', 'Currency'])
const DEFAULT_COMPANY = 1971
const JSON_TYPE = 'application/json; charset=utf-8'
const ODATA_VERSION = { 'odata-version': '4.0' }
const COLLECTION_OPTIONS = new Set(['$filter', '$orderby', '$select', '$expand', '$top', '$skip', '$count', '$format'])
const ENTITY_OPTIONS = new Set(['$select', '$expand', '$format'])

export const LN_ORDER_IDS: readonly string[] = Array.from({ length: 35 }, (_v, i) => `SO${String(i + 1).padStart(6, '0')}`)

function header (headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function decode (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

class LnError extends Error {
  readonly status: number
  readonly code: string
  readonly details: string | undefined
  constructor (status: number, code: string, message: string, details?: string) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

const ORDERS = ENTITY_SETS.find(s => s.name === 'Orders') as EntitySetDef

/** `'X'`, `SalesOrder='X'` or `SalesOrder='X',Position=10` -> key values, checked against the set's key. */
function parseKey (predicate: string, set: EntitySetDef): Record<string, string | number> {
  const parts = predicate.match(/(?:[^,']|'(?:[^']|'')*')+/g) ?? []
  const key: Record<string, string | number> = {}
  for (const part of parts) {
    const m = /^\s*(?:([A-Za-z_]\w*)\s*=\s*)?('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*$/.exec(part)
    const name = m?.[1] ?? (set.type.key.length === 1 && parts.length === 1 ? set.type.key[0] : undefined)
    const raw = m?.[2]
    if (!name || raw === undefined || !set.type.key.includes(name)) throw new LnError(400, 'ERROR:400', `The key (${predicate}) is not valid for ${set.name}`)
    key[name] = raw.startsWith("'") ? raw.slice(1, -1).replace(/''/g, "'") : Number(raw)
  }
  if (set.type.key.some(k => !(k in key))) throw new LnError(400, 'ERROR:400', `The key of ${set.name} is ${set.type.key.join(', ')}`)
  return key
}

function maxPageSize (headers: Headers): number | undefined {
  const m = /odata\.maxpagesize\s*=\s*(\d+)/i.exec(header(headers, 'prefer') ?? '')
  const n = m ? Number(m[1]) : 0
  return n > 0 ? n : undefined
}

export class LnData {
  private readonly orders = new Map<string, Entity>()
  private readonly versions = new Map<string, number>()
  private readonly lines = new Map<string, Entity[]>()
  private readonly tenant: string
  errorFormat: LnErrorFormat

  constructor (tenant: string, errorFormat: LnErrorFormat) {
    this.tenant = tenant
    this.errorFormat = errorFormat
    LN_ORDER_IDS.forEach((id, index) => {
      const i = index + 1
      this.orders.set(id, {
        SalesOrder: id,
        SoldToBP: `BP${String(1000 + (i % 7)).padStart(6, '0')}`,
        Status: STATUSES[i % 3] as string,
        OrderDate: `2026-0${1 + (i % 9)}-${String(1 + (i % 27)).padStart(2, '0')}`,
        Amount: i * 125.5,
        Currency: i % 4 === 0 ? 'USD' : 'EUR',
      })
      this.versions.set(id, 1)
      this.lines.set(id, Array.from({ length: 1 + (i % 3) }, (_l, n) => ({
        SalesOrder: id,
        Position: (n + 1) * 10,
        Item: `ITM-${String(100 + ((i + n) % 20))}`,
        OrderedQuantity: (n + 1) * 5,
        Price: 12.5 * (1 + ((i + n) % 4)),
      })))
    })
  }

  /** The error in the configured form: OData v4 `{ error: { code, message, details } }`, or Infor's documented one. */
  private error (err: LnError, headers: Headers): LnAnswer {
    const details = [{ code: 'ERROR:', message: err.details ?? err.message }]
    if (this.errorFormat === 'odata') {
      return { status: err.status, body: { error: { code: err.code, message: err.message, details } }, headers: ODATA_VERSION }
    }
    const company = Number(header(headers, 'x-infor-lncompany'))
    return {
      status: err.status,
      body: {
        Code: err.code,
        Message: err.message,
        Details: details.map(d => ({ Code: d.code, Message: d.message })),
        InnerError: {
          StatusCode: err.status,
          RequestId: randomBytes(16).toString('hex'),
          TenantId: this.tenant,
          Company: Number.isInteger(company) && company > 0 ? company : DEFAULT_COMPANY,
        },
      },
    }
  }

  /** `rest` is the raw path below `/{ti}/LN/`; `selfBase` is `{iu}/{ti}/LN`, for @odata.context and nextLink. */
  handle (method: string, rest: string, query: URLSearchParams, headers: Headers, body: string, selfBase: string): LnAnswer {
    try {
      return this.route(method, rest, query, headers, body, `${selfBase}/${SERVICE_PATH}`)
    } catch (err) {
      if (err instanceof LnError) return this.error(err, headers)
      if (err instanceof ODataQueryError) return this.error(new LnError(400, 'ERROR:400', err.message), headers)
      throw err
    }
  }

  private route (method: string, rest: string, query: URLSearchParams, headers: Headers, body: string, base: string): LnAnswer {
    if (rest !== SERVICE_PATH && !rest.startsWith(SERVICE_PATH + '/')) throw new LnError(404, 'ERROR:404', `No resource at /${rest}`)
    const resource = decode(rest.slice(SERVICE_PATH.length + 1))
    const read = method === 'GET' || method === 'HEAD'
    if (resource === '' || resource === '$metadata') {
      if (!read) throw new LnError(405, 'ERROR:405', `Method ${method} is not allowed on /${rest}`)
      if (resource === '$metadata') return this.metadata(query, headers)
      this.checkFormat(query)
      return this.serviceDocument(base)
    }
    const m = /^([A-Za-z_]\w*)(?:\((.*)\))?(\/\$count)?$/s.exec(resource)
    const set = ENTITY_SETS.find(s => s.name === m?.[1])
    if (!m || !set || (m[2] !== undefined && m[3] !== undefined)) throw new LnError(404, 'ERROR:404', `No resource at /${rest}`)
    if (m[2] === undefined) {
      if (!read) throw new LnError(405, 'ERROR:405', `Method ${method} is not allowed on ${set.name}`)
      return m[3] ? this.count(set, query) : this.collection(set, query, headers, base)
    }
    const key = parseKey(m[2], set)
    const entity = this.rows(set).find(e => set.type.key.every(k => e[k] === key[k]))
    if (!entity) {
      if (set === ORDERS) throw new LnError(404, 'ERROR:tdsls4100.0001', `Sales order ${key.SalesOrder} does not exist`)
      throw new LnError(404, 'ERROR:404', `No ${set.type.name} with the key (${m[2]})`)
    }
    if (read) return this.single(set, entity, query, base)
    if (set !== ORDERS) throw new LnError(405, 'ERROR:405', `${set.name} is read-only`)
    if (method !== 'PATCH' && method !== 'DELETE') throw new LnError(405, 'ERROR:405', `Method ${method} is not allowed`)
    const ifMatch = header(headers, 'if-match')
    if (ifMatch === undefined) throw new LnError(428, 'ERROR:428', 'Precondition required', 'The If-Match header is required')
    if (ifMatch !== '*' && !ifMatch.split(',').map(s => s.trim()).includes(this.etag(set, entity))) {
      throw new LnError(412, 'ERROR:ttstps0110', 'Record modified by other user', 'Server etag differs from client etag')
    }
    const id = entity.SalesOrder as string
    if (method === 'DELETE') {
      this.orders.delete(id)
      this.lines.delete(id)
      return { status: 204 }
    }
    return this.patch(entity, headers, body, base)
  }

  private rows (set: EntitySetDef): Entity[] {
    return set === ORDERS ? [...this.orders.values()] : [...this.lines.values()].flat()
  }

  private related (entity: Entity, nav: NavigationDef): Entity[] {
    return nav.name === 'Lines' ? this.lines.get(entity.SalesOrder as string) ?? [] : []
  }

  private etag (set: EntitySetDef, entity: Entity): string {
    const id = entity.SalesOrder as string
    return set === ORDERS ? `W/"${id}-${this.versions.get(id) ?? 1}"` : `W/"${id}-${String(entity.Position)}-1"`
  }

  private view (set: EntitySetDef, entity: Entity, o: CollectionOptions): Entity {
    const out: Entity = { '@odata.etag': this.etag(set, entity) }
    for (const p of o.select ?? set.type.properties.map(p => p.name)) out[p] = entity[p]
    for (const x of o.expand) {
      const target = ENTITY_SETS.find(s => s.name === x.nav.target) as EntitySetDef
      const rows = filterAndSort(this.related(entity, x.nav), x.options)
      const page = rows.slice(x.options.skip, x.options.top === undefined ? undefined : x.options.skip + x.options.top)
      out[x.nav.name] = page.map(r => this.view(target, r, x.options))
    }
    return out
  }

  private options (query: URLSearchParams, allowed: Set<string>, set: EntitySetDef): CollectionOptions {
    for (const name of query.keys()) {
      if (name.startsWith('$') && !allowed.has(name)) throw new LnError(400, 'ERROR:400', `The query option ${name} is not supported here`)
    }
    this.checkFormat(query)
    return parseCollectionOptions(name => query.get(name) ?? undefined, set.type)
  }

  private checkFormat (query: URLSearchParams): void {
    const format = query.get('$format')
    if (format !== null && format !== 'json' && !format.startsWith('application/json')) {
      throw new LnError(406, 'ERROR:406', `The $format ${format} is not supported`, 'This service answers JSON')
    }
  }

  private context (base: string, set: EntitySetDef, o: CollectionOptions, suffix = ''): string {
    const select = o.select ? `(${o.select.join(',')})` : ''
    return `${base}/$metadata#${set.name}${select}${suffix}`
  }

  private collection (set: EntitySetDef, query: URLSearchParams, headers: Headers, base: string): LnAnswer {
    const o = this.options(query, COLLECTION_OPTIONS, set)
    const count = query.get('$count')
    if (count !== null && count !== 'true' && count !== 'false') throw new LnError(400, 'ERROR:400', '$count must be true or false')
    const rows = filterAndSort(this.rows(set), o)
    const preferred = maxPageSize(headers)
    const pageSize = Math.min(o.top ?? Number.POSITIVE_INFINITY, preferred ?? PAGE_SIZE)
    const page = rows.slice(o.skip, o.skip + pageSize)
    const body: Record<string, unknown> = { '@odata.context': this.context(base, set, o) }
    if (count === 'true') body['@odata.count'] = rows.length
    body.value = page.map(e => this.view(set, e, o))
    const stillWanted = o.top === undefined ? Number.POSITIVE_INFINITY : o.top - page.length
    if (o.skip + page.length < rows.length && stillWanted > 0) {
      const next = new URLSearchParams(query)
      next.set('$skip', String(o.skip + page.length))
      if (o.top !== undefined) next.set('$top', String(stillWanted))
      body['@odata.nextLink'] = `${base}/${set.name}?${next.toString().replace(/%24/g, '$')}`
    }
    const headersOut: Record<string, string> = { ...ODATA_VERSION }
    if (preferred !== undefined) headersOut['preference-applied'] = `odata.maxpagesize=${preferred}`
    return { status: 200, body, headers: headersOut }
  }

  private count (set: EntitySetDef, query: URLSearchParams): LnAnswer {
    const o = this.options(query, new Set(['$filter']), set)
    const n = filterAndSort(this.rows(set), o).length
    return { status: 200, text: String(n), headers: { 'content-type': 'text/plain; charset=utf-8', ...ODATA_VERSION } }
  }

  private single (set: EntitySetDef, entity: Entity, query: URLSearchParams, base: string): LnAnswer {
    const o = this.options(query, ENTITY_OPTIONS, set)
    return {
      status: 200,
      body: { '@odata.context': this.context(base, set, o, '/$entity'), ...this.view(set, entity, o) },
      headers: { etag: this.etag(set, entity), ...ODATA_VERSION },
    }
  }

  private serviceDocument (base: string): LnAnswer {
    return {
      status: 200,
      body: { '@odata.context': `${base}/$metadata`, value: ENTITY_SETS.map(s => ({ name: s.name, kind: 'EntitySet', url: s.name })) },
      headers: ODATA_VERSION,
    }
  }

  /** CSDL XML by default; JSON CSDL when `$format=json` or the Accept header asks for JSON. */
  private metadata (query: URLSearchParams, headers: Headers): LnAnswer {
    const format = query.get('$format')
    if (format !== null && !/^(json|xml|application\/(json|xml))/.test(format)) {
      throw new LnError(406, 'ERROR:406', `The $format ${format} is not supported`, '$metadata is served as XML or JSON')
    }
    const json = format === null ? /application\/json/i.test(header(headers, 'accept') ?? '') : format.includes('json')
    if (json) {
      return { status: 200, text: JSON.stringify(metadataJson()), headers: { 'content-type': JSON_TYPE, ...ODATA_VERSION } }
    }
    return { status: 200, text: metadataXml(), headers: { 'content-type': 'application/xml; charset=utf-8', ...ODATA_VERSION } }
  }

  private patch (order: Entity, headers: Headers, body: string, base: string): LnAnswer {
    let changes: unknown
    try {
      changes = JSON.parse(body || '{}')
    } catch {
      throw new LnError(400, 'ERROR:400', 'The body is not valid JSON')
    }
    if (!changes || typeof changes !== 'object' || Array.isArray(changes)) throw new LnError(400, 'ERROR:400', 'The body must be a JSON object')
    const entries = Object.entries(changes).filter(([k]) => !k.startsWith('@odata.'))
    for (const [k, v] of entries) {
      if (!WRITABLE.has(k)) throw new LnError(400, 'ERROR:400', `Property ${k} cannot be changed`)
      if ((k === 'Amount') !== (typeof v === 'number') || (k !== 'Amount' && typeof v !== 'string')) {
        throw new LnError(400, 'ERROR:400', `Property ${k} has the wrong type`)
      }
    }
    for (const [k, v] of entries) order[k] = v
    const id = order.SalesOrder as string
    this.versions.set(id, (this.versions.get(id) ?? 1) + 1)
    const tag = this.etag(ORDERS, order)
    if (/return=minimal/i.test(header(headers, 'prefer') ?? '')) return { status: 204, headers: { etag: tag, ...ODATA_VERSION } }
    const all: CollectionOptions = { orderby: [], expand: [], skip: 0 }
    return {
      status: 200,
      body: { '@odata.context': `${base}/$metadata#Orders/$entity`, ...this.view(ORDERS, order, all) },
      headers: { etag: tag, ...ODATA_VERSION },
    }
  }
}
