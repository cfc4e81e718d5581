import { Readable } from 'node:stream'

/**
 * IDM through ION: document search, items (MDS_File-1-3-LATEST … MDS_File-5-7-LATEST, MDS_File-3-20-LATEST among
 * them) and each item's binary resource, `binarySize` bytes generated while the reader pulls them.
 */

export type IdmAnswer =
  | { status: number, body: unknown }
  | { status: 200, binary: number }

const ITEMS = [
  { id: '1', version: '3', filename: 'Quick Start Guide.pdf', name: 'Quick start guide' },
  { id: '2', version: '1', filename: 'Safety Data Sheet.pdf', name: 'Safety data sheet' },
  { id: '3', version: '20', filename: 'Drawing A100.dwg', name: 'Drawing A100' },
  { id: '4', version: '2', filename: 'Invoice 2026-0042.pdf', name: 'Invoice 2026-0042' },
  { id: '5', version: '7', filename: 'Certificate ISO 9001.pdf', name: 'ISO 9001 certificate' },
].map(i => ({ ...i, pid: `MDS_File-${i.id}-${i.version}-LATEST` }))

export const IDM_PIDS: readonly string[] = ITEMS.map(i => i.pid)

function item (i: typeof ITEMS[number], size: number) {
  return {
    pid: i.pid,
    id: i.id,
    version: i.version,
    entityName: 'MDS_File',
    filename: i.filename,
    size: String(size),
    createdTS: '2026-02-09T17:04:29Z',
    attrs: { attr: [{ name: 'MDS_Name', type: '1', qual: 'MDS_Name', value: i.name }] },
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

/** Handles everything below `/{ti}/IDM/`; `below` is the raw path (no leading slash, no query). */
export function handleIdm (method: string, below: string, query: URLSearchParams, binarySize: number): IdmAnswer {
  if (method !== 'GET' && method !== 'HEAD') return idmError(405, 'IDM_METHOD_NOT_ALLOWED', `Method ${method} is not allowed`)
  const parts = below.split('/')
  if (parts[0] !== 'api' || parts[1] !== 'items' || parts.length < 3) return idmError(404, 'IDM_NOT_FOUND', `No IDM API at /${below}`)
  if (parts.length === 3 && parts[2] === 'search') return search(query, binarySize)
  const pid = decode(parts[2] as string)
  const found = ITEMS.find(i => i.pid === pid)
  if (parts.length > 4 || (parts.length === 4 && parts[3] !== 'resource')) return idmError(404, 'IDM_NOT_FOUND', `No IDM API at /${below}`)
  if (!found) return idmError(404, 'IDM_ITEM_NOT_FOUND', `Item ${pid} was not found`, `No item has the PID ${pid}`)
  if (parts.length === 4) return { status: 200, binary: binarySize }
  return { status: 200, body: { item: item(found, binarySize) } }
}

function search (query: URLSearchParams, binarySize: number): IdmAnswer {
  const xquery = query.get('$query')
  if (!xquery) return idmError(400, 'IDM_INVALID_QUERY', 'The $query parameter is required')
  const entity = /^\/(\w+)/.exec(xquery)?.[1]
  if (!entity) return idmError(400, 'IDM_INVALID_QUERY', `The query ${xquery} is not valid`, 'A query starts with /EntityName')
  const matches = entity === 'MDS_File' ? ITEMS : []
  const offset = Number(query.get('$offset') ?? 0)
  const limit = Number(query.get('$limit') ?? 20)
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 0) {
    return idmError(400, 'IDM_INVALID_PAGING', '$offset and $limit must be non-negative integers')
  }
  const items: Record<string, unknown> = { searchXQuery: xquery }
  if (query.get('$includeCount') === 'true') items.searchCount = matches.length
  items.item = matches.slice(offset, offset + limit).map(i => item(i, binarySize))
  return { status: 200, body: { items } }
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
