/**
 * The part of IDM's XQuery subset that clients send: `/Entity` or `/Entity[predicate]`, where the predicate compares
 * attributes (`@Attr = "x"`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE` with `%` and `_`) joined by AND / OR, with
 * parentheses. Values compare as numbers when the attribute is numeric.
 */

export interface Attribute { name: string, type: string, value: string }

export class XQueryError extends Error {}

export interface XQuery { entity: string, matches: (attrs: readonly Attribute[]) => boolean }

type Token = { t: 'attr' | 'str' | 'num' | 'op' | 'word' | 'punct', v: string }

const TOKEN = /\s+|@([A-Za-z_][\w.]*)|"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)|(!=|<=|>=|=|<|>)|([A-Za-z]+)|([()])/y
const NUMERIC_TYPES = new Set(['3', '4', '8'])

function tokenize (text: string): Token[] {
  const tokens: Token[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex
    const m = TOKEN.exec(text)
    if (!m) throw new XQueryError(`Syntax error at position ${at}: ${JSON.stringify(text.slice(at, at + 20))}`)
    if (m[1] !== undefined) tokens.push({ t: 'attr', v: m[1] })
    else if (m[2] !== undefined) tokens.push({ t: 'str', v: m[2].replace(/\\(.)/g, '$1') })
    else if (m[3] !== undefined) tokens.push({ t: 'str', v: m[3].replace(/''/g, "'") })
    else if (m[4] !== undefined) tokens.push({ t: 'num', v: m[4] })
    else if (m[5] !== undefined) tokens.push({ t: 'op', v: m[5] })
    else if (m[6] !== undefined) tokens.push({ t: 'word', v: m[6].toUpperCase() })
    else if (m[7] !== undefined) tokens.push({ t: 'punct', v: m[7] })
  }
  return tokens
}

type Predicate = (attrs: readonly Attribute[]) => boolean

function likePattern (pattern: string): RegExp {
  const body = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.')
  return new RegExp(`^${body}$`, 'is')
}

function compare (attr: Attribute, op: string, value: string): boolean {
  if (op === 'LIKE') return likePattern(value).test(attr.value)
  const asNumbers = NUMERIC_TYPES.has(attr.type) && value.trim() !== '' && Number.isFinite(Number(value))
  const a: string | number = asNumbers ? Number(attr.value) : attr.value
  const b: string | number = asNumbers ? Number(value) : value
  switch (op) {
    case '=': return a === b
    case '!=': return a !== b
    case '<': return a < b
    case '<=': return a <= b
    case '>': return a > b
    default: return a >= b
  }
}

class PredicateParser {
  private readonly tokens: Token[]
  private i = 0
  private readonly known: ReadonlySet<string>

  constructor (text: string, known: ReadonlySet<string>) {
    this.tokens = tokenize(text)
    this.known = known
  }

  parse (): Predicate {
    const p = this.or()
    const rest = this.tokens[this.i]
    if (rest) throw new XQueryError(`Unexpected ${JSON.stringify(rest.v)} in the predicate`)
    return p
  }

  private or (): Predicate {
    const parts = [this.and()]
    while (this.tokens[this.i]?.t === 'word' && this.tokens[this.i]?.v === 'OR') {
      this.i++
      parts.push(this.and())
    }
    return parts.length === 1 ? parts[0] as Predicate : attrs => parts.some(p => p(attrs))
  }

  private and (): Predicate {
    const parts = [this.term()]
    while (this.tokens[this.i]?.t === 'word' && this.tokens[this.i]?.v === 'AND') {
      this.i++
      parts.push(this.term())
    }
    return parts.length === 1 ? parts[0] as Predicate : attrs => parts.every(p => p(attrs))
  }

  private term (): Predicate {
    const t = this.tokens[this.i++]
    if (t?.t === 'punct' && t.v === '(') {
      const inner = this.or()
      const close = this.tokens[this.i++]
      if (close?.t !== 'punct' || close.v !== ')') throw new XQueryError('A "(" is not closed')
      return inner
    }
    if (t?.t !== 'attr') throw new XQueryError(`Expected @Attribute${t ? `, found ${JSON.stringify(t.v)}` : ''}`)
    if (!this.known.has(t.v)) throw new XQueryError(`The attribute ${t.v} does not exist`)
    const op = this.tokens[this.i++]
    const isOp = op?.t === 'op' || (op?.t === 'word' && op.v === 'LIKE')
    if (!op || !isOp) throw new XQueryError(`Expected a comparison after @${t.v}`)
    const value = this.tokens[this.i++]
    if (value?.t !== 'str' && value?.t !== 'num') throw new XQueryError(`Expected a quoted value or a number after @${t.v} ${op.v}`)
    const name = t.v
    return attrs => {
      const attr = attrs.find(a => a.name === name)
      return attr !== undefined && compare(attr, op.v, value.v)
    }
  }
}

/** Parses `/Entity` or `/Entity[predicate]`; `known` are the attribute names the predicate may use. */
export function parseXQuery (text: string, known: ReadonlySet<string>): XQuery {
  const m = /^\s*\/([A-Za-z_]\w*)\s*(?:\[(.*)\])?\s*$/s.exec(text)
  if (!m) throw new XQueryError(`The query ${text} is not valid: it must be /EntityName or /EntityName[predicate]`)
  const predicate = m[2] === undefined || m[2].trim() === '' ? () => true : new PredicateParser(m[2], known).parse()
  return { entity: m[1] as string, matches: predicate }
}
