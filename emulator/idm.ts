import { Readable } from 'node:stream'
import { parseXQuery, XQueryError, type Attribute } from './xquery.ts'

/**
 * IDM through ION: search (`items/search`, `items/search/item`, `items/count`), items by PID
 * (MDS_File-1-3-LATEST … MDS_File-5-7-LATEST, MDS_File-3-20-LATEST among them) and their binary resource
 * (`/resource`, `/resource/stream`, also for the first search hit), `binarySize` bytes generated while the reader
 * pulls them. XQuery attribute predicates really filter; `$state` and `$language` are accepted.
 */

export type IdmAnswer =
  | { status: number, body: Record<string, unknown> }
  | { status: 200, binary: number }

const ENTITY = 'MDS_File'

const ITEMS = [
  { id: '1', version: '3', filename: 'Quick Start Guide.pdf', name: 'Quick start guide', category: 'Manual', pages: 12 },
  { id: '2', version: '1', filename: 'Safety Data Sheet.pdf', name: 'Safety data sheet', category: 'Safety', pages: 4 },
  { id: '3', version: '20', filename: 'Drawing A100.dwg', name: 'Drawing A100', category: 'Drawing', pages: 1 },
  { id: '4', version: '2', filename: 'Invoice 2026-0042.pdf', name: 'Invoice 2026-0042', category: 'Invoice', pages: 2 },
  { id: '5', version: '7', filename: 'Certificate ISO 9001.pdf', name: 'ISO 9001 certificate', category: 'Certificate', pages: 3 },
].map(i => ({
  ...i,
  pid: `${ENTITY}-${i.id}-${i.version}-LATEST`,
  // Attribute type '1' is text, '3' a whole number.
  attrs: [
    { name: 'MDS_Name', type: '1', value: i.name },
    { name: 'MDS_Category', type: '1', value: i.category },
    { name: 'MDS_Pages', type: '3', value: String(i.pages) },
  ] satisfies Attribute[],
}))
type Item = typeof ITEMS[number]

const ATTRIBUTE_NAMES: ReadonlySet<string> = new Set(ITEMS[0]?.attrs.map(a => a.name))

export const IDM_PIDS: readonly string[] = ITEMS.map(i => i.pid)

function item (i: Item, size: number) {
  return {
    pid: i.pid,
    id: i.id,
    version: i.version,
    entityName: ENTITY,
    filename: i.filename,
    size: String(size),
    createdTS: '2026-02-09T17:04:29Z',
    attrs: { attr: i.attrs.map(a => ({ name: a.name, type: a.type, qual: a.name, value: a.value })) },
    resrs: { res: [] },
    acl: { name: 'Public' },
  }
}

export function idmError (status: number, code: string, message: string, detail = message): IdmAnswer {
  return { status, body: { error: { code, message, detail } } }
}

function decode (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function notFound (below: string): IdmAnswer {
  return idmError(404, 'IDM_NOT_FOUND', `No IDM API at /${below}`)
}

interface Search { hits: Item[], offset: number, limit: number, xquery: string }

function search (query: URLSearchParams): Search | IdmAnswer {
  const xquery = query.get('$query')
  if (!xquery) return idmError(400, 'IDM_INVALID_QUERY', 'The $query parameter is required')
  let parsed
  try {
    parsed = parseXQuery(xquery, ATTRIBUTE_NAMES)
  } catch (err) {
    if (err instanceof XQueryError) return idmError(400, 'IDM_INVALID_QUERY', `The query ${xquery} is not valid`, err.message)
    throw err
  }
  const hits = parsed.entity === ENTITY ? ITEMS.filter(i => parsed.matches(i.attrs)) : []
  const offset = Number(query.get('$offset') ?? 0)
  const limit = Number(query.get('$limit') ?? 20)
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 0) {
    return idmError(400, 'IDM_INVALID_PAGING', '$offset and $limit must be non-negative integers')
  }
  return { hits, offset, limit, xquery }
}

/** Handles everything below `/{ti}/IDM/`; `below` is the raw path (no leading slash, no query). */
export function handleIdm (method: string, below: string, query: URLSearchParams, binarySize: number): IdmAnswer {
  if (method !== 'GET' && method !== 'HEAD') return idmError(405, 'IDM_METHOD_NOT_ALLOWED', `Method ${method} is not allowed`)
  const parts = below.split('/')
  if (parts[0] !== 'api' || parts[1] !== 'items' || parts.length < 3) return notFound(below)
  const rest = parts.slice(2)
  if (rest[rest.length - 1] === '' && rest.length > 1) rest.pop() // search/ answers like search
  const route = rest.join('/')
  if (route === '') return notFound(below)

  if (route === 'search' || route === 'count' || route.startsWith('search/item')) {
    const found = search(query)
    if ('status' in found) return found
    if (route === 'count') return { status: 200, body: { count: found.hits.length } }
    if (route === 'search') {
      const items: Record<string, unknown> = { searchXQuery: found.xquery }
      if (query.get('$includeCount') === 'true') items.searchCount = found.hits.length
      items.item = found.hits.slice(found.offset, found.offset + found.limit).map(i => item(i, binarySize))
      return { status: 200, body: { items } }
    }
    const first = found.hits[found.offset]
    const sub = route.slice('search/item'.length)
    if (sub !== '' && sub !== '/resource' && sub !== '/resource/stream') return notFound(below)
    if (!first) return idmError(404, 'IDM_ITEM_NOT_FOUND', `No item matches ${found.xquery}`, `The search found ${found.hits.length} items; $offset is ${found.offset}`)
    return sub === '' ? { status: 200, body: { item: item(first, binarySize) } } : { status: 200, binary: binarySize }
  }

  const pid = decode(rest[0] as string)
  const sub = rest.slice(1).join('/')
  if (sub !== '' && sub !== 'resource' && sub !== 'resource/stream') return notFound(below)
  const found = ITEMS.find(i => i.pid === pid)
  if (!found) return idmError(404, 'IDM_ITEM_NOT_FOUND', `Item ${pid} was not found`, `No item has the PID ${pid}`)
  if (sub !== '') return { status: 200, binary: binarySize }
  return { status: 200, body: { item: item(found, binarySize) } }
}

const CHUNK = Buffer.alloc(64 * 1024, 'ION-emulator-binary-resource-')

/** `size` bytes produced chunk by chunk as the reader pulls them (backpressure): never one large buffer. */
export function binaryStream (size: number): Readable {
  let left = size
  return new Readable({
    highWaterMark: CHUNK.length,
    read () {
      if (left <= 0) {
        this.push(null)
        return
      }
      const n = Math.min(left, CHUNK.length)
      left -= n
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))
    },
  })
}
