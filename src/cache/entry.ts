/** A stored answer. Headers are the client-facing ones (already filtered by the header policy). */
export interface CacheEntry {
  statusCode: number
  headers: Record<string, string | string[]>
  body: Buffer
  /** Epoch ms when ION's answer was stored. */
  storedAtMs: number
  /** Epoch ms until which the entry is fresh. */
  freshUntilMs: number
  /** Epoch ms until which it may still be served when ION fails (stale-if-error). */
  staleUntilMs: number
}

/** Bytes an entry holds (body plus an estimate of its headers), for the memory driver's bound. */
export function entrySizeBytes (entry: CacheEntry): number {
  let size = entry.body.length + 64
  for (const name in entry.headers) {
    const v = entry.headers[name]
    size += name.length + (Array.isArray(v) ? v.reduce((n, s) => n + s.length, 0) : (v ?? '').length)
  }
  return size
}

/** Binary-safe encoding for drivers that store bytes: 4-byte meta length, JSON meta, raw body. */
export function encodeEntry (entry: CacheEntry): Buffer {
  const meta = Buffer.from(JSON.stringify({
    s: entry.statusCode, h: entry.headers, t: entry.storedAtMs, f: entry.freshUntilMs, x: entry.staleUntilMs,
  }))
  const head = Buffer.allocUnsafe(4)
  head.writeUInt32BE(meta.length, 0)
  return Buffer.concat([head, meta, entry.body])
}

export function decodeEntry (data: Buffer): CacheEntry | undefined {
  if (data.length < 4) return undefined
  const metaLength = data.readUInt32BE(0)
  if (4 + metaLength > data.length) return undefined
  try {
    const meta = JSON.parse(data.subarray(4, 4 + metaLength).toString('utf8')) as { s: number, h: Record<string, string | string[]>, t: number, f: number, x: number }
    return { statusCode: meta.s, headers: meta.h, storedAtMs: meta.t, freshUntilMs: meta.f, staleUntilMs: meta.x, body: data.subarray(4 + metaLength) }
  } catch {
    return undefined
  }
}
