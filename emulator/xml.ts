/**
 * JSON answers as XML, element for element: an object's keys become child elements, an array repeats its key's
 * element, other values become text. Enough for clients that send `Accept: application/xml`.
 */

export function escapeXml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
}

function element (name: string, value: unknown, out: string[]): void {
  if (Array.isArray(value)) {
    for (const v of value) element(name, v, out)
    return
  }
  if (value === null || value === undefined) {
    out.push(`<${name}/>`)
    return
  }
  if (typeof value === 'object') {
    out.push(`<${name}>`)
    for (const [k, v] of Object.entries(value)) element(k, v, out)
    out.push(`</${name}>`)
    return
  }
  out.push(`<${name}>${escapeXml(String(value))}</${name}>`)
}

/** `{ root: {...} }` -> an XML document whose root element is `root`. */
export function toXml (document: Record<string, unknown>): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>']
  for (const [name, value] of Object.entries(document)) element(name, value, out)
  return out.join('') + '\n'
}

/** True when the Accept header asks for XML rather than JSON. */
export function wantsXml (accept: string | undefined): boolean {
  if (!accept) return false
  const xml = accept.search(/\b(application|text)\/xml\b/i)
  if (xml === -1) return false
  const json = accept.search(/\bapplication\/json\b/i)
  return json === -1 || xml < json
}
