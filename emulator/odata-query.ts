import { navigationTarget, type EntityTypeDef, type NavigationDef } from './ln-schema.ts'

/**
 * OData v4 system query options on the emulator's entity types: `$filter` (comparisons eq ne gt ge lt le, `and`,
 * `or`, `not`, parentheses, contains/startswith/endswith/tolower/toupper), `$orderby`, `$select` (`*` too),
 * `$expand` (with nested `$select;$filter;$orderby;$top;$skip`), `$top` and `$skip`. Anything else is an error,
 * as in a real OData service.
 */

export type Entity = Record<string, unknown>

export class ODataQueryError extends Error {}

export interface ExpandItem { nav: NavigationDef, type: EntityTypeDef, options: CollectionOptions }

export interface CollectionOptions {
  filter?: (e: Entity) => boolean
  orderby: Array<{ property: string, descending: boolean }>
  /** Undefined: every property. */
  select?: string[]
  expand: ExpandItem[]
  top?: number
  skip: number
}

type Kind = 'string' | 'number' | 'date' | 'boolean' | 'null'
interface Expr { kind: Kind, evaluate: (e: Entity) => unknown }
type Token = { t: 'str' | 'num' | 'date' | 'id' | 'punct', v: string }

const COMPARISONS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le'])

function kindOf (type: string): Kind {
  if (type === 'Edm.String') return 'string'
  if (type === 'Edm.Date') return 'date'
  return 'number'
}

const TOKEN = /\s+|'((?:[^']|'')*)'|(\d{4}-\d\d-\d\d)(?![\d:T])|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|([(),])/y

function tokenize (text: string): Token[] {
  const tokens: Token[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex
    const m = TOKEN.exec(text)
    if (!m) throw new ODataQueryError(`Syntax error at position ${at} in $filter: ${JSON.stringify(text.slice(at, at + 20))}`)
    if (m[1] !== undefined) tokens.push({ t: 'str', v: m[1].replace(/''/g, "'") })
    else if (m[2] !== undefined) tokens.push({ t: 'date', v: m[2] })
    else if (m[3] !== undefined) tokens.push({ t: 'num', v: m[3] })
    else if (m[4] !== undefined) tokens.push({ t: 'id', v: m[4] })
    else if (m[5] !== undefined) tokens.push({ t: 'punct', v: m[5] })
  }
  return tokens
}

type StringFn = (a: string, b: string) => unknown
const FUNCTIONS: Record<string, { args: Kind[], result: Kind, apply: StringFn }> = {
  contains: { args: ['string', 'string'], result: 'boolean', apply: (a, b) => a.includes(b) },
  startswith: { args: ['string', 'string'], result: 'boolean', apply: (a, b) => a.startsWith(b) },
  endswith: { args: ['string', 'string'], result: 'boolean', apply: (a, b) => a.endsWith(b) },
  tolower: { args: ['string'], result: 'string', apply: a => a.toLowerCase() },
  toupper: { args: ['string'], result: 'string', apply: a => a.toUpperCase() },
}

class FilterParser {
  private readonly tokens: Token[]
  private i = 0
  private readonly type: EntityTypeDef

  constructor (text: string, type: EntityTypeDef) {
    this.tokens = tokenize(text)
    this.type = type
  }

  parse (): (e: Entity) => boolean {
    if (this.tokens.length === 0) throw new ODataQueryError('$filter is empty')
    const expr = this.or()
    const rest = this.tokens[this.i]
    if (rest) throw new ODataQueryError(`Unexpected ${JSON.stringify(rest.v)} in $filter`)
    if (expr.kind !== 'boolean') throw new ODataQueryError('$filter must be a boolean expression')
    return e => expr.evaluate(e) === true
  }

  private peekKeyword (word: string): boolean {
    const t = this.tokens[this.i]
    return t?.t === 'id' && t.v === word
  }

  private expect (punct: string): void {
    const t = this.tokens[this.i++]
    if (t?.t !== 'punct' || t.v !== punct) throw new ODataQueryError(`Expected "${punct}" in $filter${t ? `, found ${JSON.stringify(t.v)}` : ''}`)
  }

  private logical (word: 'and' | 'or', next: () => Expr): Expr {
    let left = next()
    while (this.peekKeyword(word)) {
      this.i++
      const right = next()
      if (left.kind !== 'boolean' || right.kind !== 'boolean') throw new ODataQueryError(`"${word}" needs boolean operands`)
      const [l, r] = [left, right]
      left = { kind: 'boolean', evaluate: word === 'and' ? e => l.evaluate(e) === true && r.evaluate(e) === true : e => l.evaluate(e) === true || r.evaluate(e) === true }
    }
    return left
  }

  private or (): Expr {
    return this.logical('or', () => this.and())
  }

  private and (): Expr {
    return this.logical('and', () => this.not())
  }

  private not (): Expr {
    if (!this.peekKeyword('not')) return this.comparison()
    this.i++
    const operand = this.not()
    if (operand.kind !== 'boolean') throw new ODataQueryError('"not" needs a boolean operand')
    return { kind: 'boolean', evaluate: e => operand.evaluate(e) !== true }
  }

  private comparison (): Expr {
    const left = this.primary()
    const t = this.tokens[this.i]
    if (t?.t !== 'id' || !COMPARISONS.has(t.v)) return left
    this.i++
    const right = this.primary()
    const op = t.v
    const ordering = op !== 'eq' && op !== 'ne'
    if (left.kind === 'boolean' || right.kind === 'boolean') throw new ODataQueryError(`"${op}" cannot compare boolean expressions`)
    if (ordering ? left.kind !== right.kind : left.kind !== right.kind && left.kind !== 'null' && right.kind !== 'null') {
      throw new ODataQueryError(`"${op}" cannot compare ${left.kind} with ${right.kind}`)
    }
    return {
      kind: 'boolean',
      evaluate: e => {
        const a = left.evaluate(e)
        const b = right.evaluate(e)
        if (op === 'eq') return a === b
        if (op === 'ne') return a !== b
        if (a === null || b === null || a === undefined || b === undefined) return false
        const x = a as string | number
        const y = b as string | number
        return op === 'gt' ? x > y : op === 'ge' ? x >= y : op === 'lt' ? x < y : x <= y
      },
    }
  }

  private primary (): Expr {
    const t = this.tokens[this.i++]
    if (!t) throw new ODataQueryError('$filter ends too early')
    if (t.t === 'punct' && t.v === '(') {
      const inner = this.or()
      this.expect(')')
      return inner
    }
    if (t.t === 'str') return { kind: 'string', evaluate: () => t.v }
    if (t.t === 'date') return { kind: 'date', evaluate: () => t.v }
    if (t.t === 'num') {
      const n = Number(t.v)
      return { kind: 'number', evaluate: () => n }
    }
    if (t.t !== 'id') throw new ODataQueryError(`Unexpected ${JSON.stringify(t.v)} in $filter`)
    if (t.v === 'true' || t.v === 'false') {
      const b = t.v === 'true'
      return { kind: 'boolean', evaluate: () => b }
    }
    if (t.v === 'null') return { kind: 'null', evaluate: () => null }
    const next = this.tokens[this.i]
    if (next?.t === 'punct' && next.v === '(') return this.call(t.v)
    const property = this.type.properties.find(p => p.name === t.v)
    if (!property) throw new ODataQueryError(`Unknown property ${t.v} in $filter`)
    return { kind: kindOf(property.type), evaluate: e => e[property.name] ?? null }
  }

  private call (name: string): Expr {
    const fn = FUNCTIONS[name]
    if (!fn) throw new ODataQueryError(`The function ${name} is not supported in $filter`)
    this.expect('(')
    const args: Expr[] = []
    for (let n = 0; n < fn.args.length; n++) {
      if (n > 0) this.expect(',')
      const arg = this.or()
      if (arg.kind !== fn.args[n]) throw new ODataQueryError(`${name} takes ${fn.args.join(', ')} arguments`)
      args.push(arg)
    }
    this.expect(')')
    const [a, b] = args as [Expr, Expr | undefined]
    return {
      kind: fn.result,
      evaluate: e => {
        const x = a.evaluate(e)
        const y = b?.evaluate(e) ?? ''
        return typeof x === 'string' && typeof y === 'string' ? fn.apply(x, y) : null
      },
    }
  }
}

export function compileFilter (text: string, type: EntityTypeDef): (e: Entity) => boolean {
  return new FilterParser(text, type).parse()
}

/** Splits at `separator` outside parentheses and quotes. */
function splitTopLevel (text: string, separator: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === "'") quoted = !quoted
    else if (!quoted && c === '(') depth++
    else if (!quoted && c === ')') depth--
    else if (!quoted && depth === 0 && c === separator) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  parts.push(text.slice(start))
  return parts.map(p => p.trim())
}

function property (type: EntityTypeDef, name: string, option: string): string {
  if (!type.properties.some(p => p.name === name)) throw new ODataQueryError(`Unknown property ${name} in ${option}`)
  return name
}

function parseSelect (text: string, type: EntityTypeDef): string[] | undefined {
  const names = splitTopLevel(text, ',')
  if (names.includes('*')) return undefined
  if (names.some(n => n === '')) throw new ODataQueryError('$select has an empty item')
  return names.map(n => property(type, n, '$select'))
}

function parseOrderby (text: string, type: EntityTypeDef): CollectionOptions['orderby'] {
  return splitTopLevel(text, ',').map(item => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?$/.exec(item)
    if (!m) throw new ODataQueryError(`$orderby item ${JSON.stringify(item)} is not "Property [asc|desc]"`)
    return { property: property(type, m[1] as string, '$orderby'), descending: m[2] === 'desc' }
  })
}

function parseCount (text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (text.trim() === '' || !Number.isInteger(n) || n < 0) throw new ODataQueryError(`${option} must be a non-negative integer`)
  return n
}

const NESTED_OPTIONS = new Set(['$select', '$filter', '$orderby', '$top', '$skip', '$expand'])

function parseExpand (text: string, type: EntityTypeDef): ExpandItem[] {
  const items: ExpandItem[] = []
  for (const item of splitTopLevel(text, ',')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*|\*)(?:\((.*)\))?$/s.exec(item)
    if (!m) throw new ODataQueryError(`$expand item ${JSON.stringify(item)} is not "Navigation" or "Navigation(options)"`)
    const navs = m[1] === '*' ? type.navigation : type.navigation.filter(n => n.name === m[1])
    if (navs.length === 0 && m[1] !== '*') throw new ODataQueryError(`Unknown navigation property ${m[1]} in $expand`)
    const nested = new Map<string, string>()
    for (const part of m[2] ? splitTopLevel(m[2], ';') : []) {
      const eq = part.indexOf('=')
      const name = eq === -1 ? part : part.slice(0, eq).trim()
      if (!NESTED_OPTIONS.has(name)) throw new ODataQueryError(`${name} is not supported inside $expand`)
      nested.set(name, part.slice(eq + 1))
    }
    for (const nav of navs) {
      const target = navigationTarget(nav)
      items.push({ nav, type: target, options: parseCollectionOptions(k => nested.get(k), target) })
    }
  }
  return items
}

/** The options that shape a collection (or, without $top/$skip/$filter/$orderby, a single entity). */
export function parseCollectionOptions (get: (name: string) => string | undefined, type: EntityTypeDef): CollectionOptions {
  const filter = get('$filter')
  const orderby = get('$orderby')
  const select = get('$select')
  const expand = get('$expand')
  return {
    filter: filter === undefined ? undefined : compileFilter(filter, type),
    orderby: orderby === undefined ? [] : parseOrderby(orderby, type),
    select: select === undefined ? undefined : parseSelect(select, type),
    expand: expand === undefined ? [] : parseExpand(expand, type),
    top: parseCount(get('$top'), '$top'),
    skip: parseCount(get('$skip'), '$skip') ?? 0,
  }
}

/** Filters and sorts (stable, key order first); paging is left to the caller. */
export function filterAndSort<T extends Entity> (rows: T[], o: CollectionOptions): T[] {
  const kept = o.filter ? rows.filter(o.filter) : [...rows]
  if (o.orderby.length === 0) return kept
  return kept.sort((a, b) => {
    for (const { property, descending } of o.orderby) {
      const x = a[property] as string | number | null
      const y = b[property] as string | number | null
      if (x === y) continue
      const order = x === null ? -1 : y === null ? 1 : x < y ? -1 : 1
      return descending ? -order : order
    }
    return 0
  })
}
