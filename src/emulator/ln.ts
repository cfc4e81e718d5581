import { randomBytes } from 'node:crypto'

/**
 * LN through ION: the OData v4 service `tdapi.slsSalesOrder` with one entity set, Orders (35 rows, SO000001…SO000035):
 * paging with @odata.nextLink, $top/$skip/$count/$select, a one-field `eq` $filter, ETags, PATCH and DELETE with If-Match.
 */

export interface LnOrder {
  SalesOrder: string
  SoldToBP: string
  Status: string
  OrderDate: string
  Amount: number
  Currency: string
  version: number
}

export interface LnAnswer { status: number, body?: unknown, headers?: Record<string, string> }

type Headers = Record<string, string | string[] | undefined>

const STATUSES = ['Free', 'Released', 'Closed']
const PAGE_SIZE = 10
const SERVICE = 'lnapi/odata/tdapi.slsSalesOrder'
const ENTITY_SET = 'Orders'
const PROPERTIES = ['SalesOrder', 'SoldToBP', 'Status', 'OrderDate', 'Amount', 'Currency']
const WRITABLE = new Set(['SoldToBP', 'Status', 'OrderDate', 'Amount', 'Currency'])
const DEFAULT_COMPANY = 1971

export const LN_ORDER_IDS: readonly string[] = Array.from({ length: 35 }, (_v, i) => `SO${String(i + 1).padStart(6, '0')}`)

function header (headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function etag (order: LnOrder): string {
  return `W/"${order.SalesOrder}-${order.version}"`
}

function view (order: LnOrder, select?: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { '@odata.etag': etag(order) }
  for (const p of select ?? PROPERTIES) out[p] = order[p as keyof LnOrder]
  return out
}

export class LnData {
  private readonly orders = new Map<string, LnOrder>()
  private readonly tenant: string

  constructor (tenant: string) {
    this.tenant = tenant
    LN_ORDER_IDS.forEach((id, index) => {
      const i = index + 1
      this.orders.set(id, {
        SalesOrder: id,
        SoldToBP: `BP${String(1000 + (i % 7)).padStart(6, '0')}`,
        Status: STATUSES[i % 3] as string,
        OrderDate: `2026-0${1 + (i % 9)}-${String(1 + (i % 27)).padStart(2, '0')}`,
        Amount: i * 125.5,
        Currency: i % 4 === 0 ? 'USD' : 'EUR',
        version: 1,
      })
    })
  }

  error (status: number, code: string, message: string, headers: Headers, details?: string): LnAnswer {
    const company = Number(header(headers, 'x-infor-lncompany'))
    return {
      status,
      body: {
        Code: code,
        Message: message,
        Details: [{ Code: 'ERROR:', Message: details ?? message }],
        InnerError: {
          StatusCode: status,
          RequestId: randomBytes(16).toString('hex'),
          TenantId: this.tenant,
          Company: Number.isInteger(company) && company > 0 ? company : DEFAULT_COMPANY,
        },
      },
    }
  }

  /** `rest` is the raw path below `/{ti}/LN/`; `selfBase` is `{iu}/{ti}/LN`, for @odata.context and nextLink. */
  handle (method: string, rest: string, query: URLSearchParams, headers: Headers, body: string, selfBase: string): LnAnswer {
    if (!rest.startsWith(SERVICE + '/')) return this.error(404, 'ERROR:404', `No resource at /${rest}`, headers)
    const resource = decodeURIComponentSafe(rest.slice(SERVICE.length + 1))
    if (resource === ENTITY_SET) {
      if (method !== 'GET' && method !== 'HEAD') return this.error(405, 'ERROR:405', `Method ${method} is not allowed on ${ENTITY_SET}`, headers)
      return this.collection(query, headers, selfBase)
    }
    const key = /^Orders\((?:SalesOrder=)?'([^']*)'\)$/.exec(resource)?.[1]
    if (key === undefined) return this.error(404, 'ERROR:404', `No resource at /${rest}`, headers)
    const order = this.orders.get(key)
    if (!order) return this.error(404, 'ERROR:tdsls4100.0001', `Sales order ${key} does not exist`, headers)
    if (method === 'GET' || method === 'HEAD') {
      const select = this.select(query)
      if (select instanceof Error) return this.error(400, 'ERROR:400', select.message, headers)
      return { status: 200, body: { '@odata.context': `${selfBase}/${SERVICE}/$metadata#Orders/$entity`, ...view(order, select) }, headers: { etag: etag(order) } }
    }
    if (method !== 'PATCH' && method !== 'DELETE') return this.error(405, 'ERROR:405', `Method ${method} is not allowed`, headers)
    const ifMatch = header(headers, 'if-match')
    if (ifMatch === undefined) return this.error(428, 'ERROR:428', 'Precondition required', headers, 'The If-Match header is required')
    if (ifMatch !== '*' && !ifMatch.split(',').map(s => s.trim()).includes(etag(order))) {
      return this.error(412, 'ERROR:ttstps0110', 'Record modified by other user', headers, 'Server etag differs from client etag')
    }
    if (method === 'DELETE') {
      this.orders.delete(key)
      return { status: 204 }
    }
    return this.patch(order, headers, body, selfBase)
  }

  private select (query: URLSearchParams): string[] | undefined | Error {
    const select = query.get('$select')
    if (!select) return undefined
    const fields = select.split(',').map(s => s.trim())
    const unknown = fields.find(f => !PROPERTIES.includes(f))
    return unknown ? new Error(`Unknown property ${unknown} in $select`) : fields
  }

  private collection (query: URLSearchParams, headers: Headers, selfBase: string): LnAnswer {
    let rows = [...this.orders.values()]
    const filter = query.get('$filter')
    if (filter) {
      const m = /^(\w+) eq (?:'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?))$/.exec(filter.trim())
      if (!m) return this.error(400, 'ERROR:400', `The $filter ${filter} is not supported`, headers, "Use one condition: Property eq 'text' or Property eq 123")
      const [, field, text, num] = m as unknown as [string, string, string | undefined, string | undefined]
      if (!PROPERTIES.includes(field)) return this.error(400, 'ERROR:400', `Unknown property ${field} in $filter`, headers)
      const wanted: unknown = text !== undefined ? text.replace(/''/g, "'") : Number(num)
      rows = rows.filter(r => r[field as keyof LnOrder] === wanted)
    }
    const select = this.select(query)
    if (select instanceof Error) return this.error(400, 'ERROR:400', select.message, headers)
    const skip = Number(query.get('$skip') ?? 0)
    const top = query.has('$top') ? Number(query.get('$top')) : undefined
    if (!Number.isInteger(skip) || skip < 0 || (top !== undefined && (!Number.isInteger(top) || top < 0))) {
      return this.error(400, 'ERROR:400', '$top and $skip must be non-negative integers', headers)
    }
    const count = query.get('$count')
    if (count !== null && count !== 'true' && count !== 'false') return this.error(400, 'ERROR:400', '$count must be true or false', headers)
    const pageSize = top === undefined ? PAGE_SIZE : Math.min(top, PAGE_SIZE)
    const page = rows.slice(skip, skip + pageSize)
    const body: Record<string, unknown> = { '@odata.context': `${selfBase}/${SERVICE}/$metadata#${ENTITY_SET}` }
    if (count === 'true') body['@odata.count'] = rows.length
    body.value = page.map(o => view(o, select))
    const stillWanted = top === undefined ? Number.POSITIVE_INFINITY : top - page.length
    if (skip + page.length < rows.length && stillWanted > 0) {
      const next = new URLSearchParams(query)
      next.set('$skip', String(skip + page.length))
      if (top !== undefined) next.set('$top', String(stillWanted))
      body['@odata.nextLink'] = `${selfBase}/${SERVICE}/${ENTITY_SET}?${next.toString().replace(/%24/g, '$')}`
    }
    return { status: 200, body }
  }

  private patch (order: LnOrder, headers: Headers, body: string, selfBase: string): LnAnswer {
    let changes: unknown
    try {
      changes = JSON.parse(body || '{}')
    } catch {
      return this.error(400, 'ERROR:400', 'The body is not valid JSON', headers)
    }
    if (!changes || typeof changes !== 'object' || Array.isArray(changes)) return this.error(400, 'ERROR:400', 'The body must be a JSON object', headers)
    const entries = Object.entries(changes).filter(([k]) => !k.startsWith('@odata.'))
    for (const [k, v] of entries) {
      if (!WRITABLE.has(k)) return this.error(400, 'ERROR:400', `Property ${k} cannot be changed`, headers)
      if ((k === 'Amount') !== (typeof v === 'number') || (k !== 'Amount' && typeof v !== 'string')) {
        return this.error(400, 'ERROR:400', `Property ${k} has the wrong type`, headers)
      }
    }
    for (const [k, v] of entries) (order as unknown as Record<string, unknown>)[k] = v
    order.version++
    const tag = etag(order)
    if (/return=minimal/i.test(header(headers, 'prefer') ?? '')) return { status: 204, headers: { etag: tag } }
    return { status: 200, body: { '@odata.context': `${selfBase}/${SERVICE}/$metadata#Orders/$entity`, ...view(order) }, headers: { etag: tag } }
  }
}

function decodeURIComponentSafe (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
