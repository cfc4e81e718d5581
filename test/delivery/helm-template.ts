import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { goFloat, goQuote, toJson, toYaml } from './helm-yaml.ts'

/**
 * A small Go text/template + Helm renderer, enough for this chart, so the delivery tests need no Helm binary;
 * helm-real.test.ts checks it against real Helm when one is at hand. It follows Helm where charts usually go wrong:
 *  - `{{-` / `-}}` trim whitespace and newlines, like Go;
 *  - numbers read from values are float64 and print like Go's %v (67108864 -> 6.7108864e+07), integer literals and
 *    int/int64/add/div results are integers; comparing the two kinds is an error, as in Go;
 *  - a missing map key is an error. Helm prints it as "" (even `helm lint --strict` lets it pass) but fails on a
 *    field of it (`.Values.missing.key`); refusing both catches a misspelt value name;
 *  - `and`/`or` return an operand and short-circuit; empty maps, lists and strings are false;
 *  - toYaml, toJson and quote write what Helm writes (helm-yaml.ts): YAML 1.1 quoting, go-yaml's key order, no
 *    indentation of lists under their key, Go's escapes.
 * Unsupported syntax throws instead of rendering something Helm would not.
 */

export class TemplateError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'TemplateError'
  }
}

/** The error `fail` and `required` raise: Helm prints it and renders nothing. */
export class FailError extends TemplateError {
  constructor (message: string) {
    super(message)
    this.name = 'FailError'
  }
}

type Value = unknown
type Dict = Record<string, Value>

// ---------------------------------------------------------------------------------------------------------------
// Parsing

type Operand =
  | { t: 'lit', value: Value }
  | { t: 'field', base: '.' | string, path: string[] }
  | { t: 'ident', name: string }
  | { t: 'sub', pipe: Pipeline, path: string[] }

interface Pipeline {
  decl?: { vars: string[], op: ':=' | '=' }
  cmds: Operand[][]
}

type Node =
  | { kind: 'text', text: string }
  | { kind: 'print', pipe: Pipeline }
  | { kind: 'if', branches: Array<{ cond: Pipeline, body: Node[] }>, otherwise: Node[] }
  | { kind: 'range', pipe: Pipeline, body: Node[], otherwise: Node[] }
  | { kind: 'with', pipe: Pipeline, body: Node[], otherwise: Node[] }
  | { kind: 'template', name: string, pipe?: Pipeline }

interface Token {
  t: 'str' | 'num' | 'field' | 'var' | 'ident' | 'lp' | 'rp' | 'pipe' | 'decl' | 'assign' | 'comma'
  value?: Value
  name?: string
  path?: string[]
  /** No space between this token and the one before (a field chain after `)`). */
  adjacent: boolean
}

const SPACE = /[ \t\r\n]/

function lexAction (src: string, where: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  let spaced = true
  const readPath = (): string[] => {
    const path: string[] = []
    while (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) {
      i++
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))
      path.push(m![0])
      i += m![0].length
    }
    return path
  }
  while (i < src.length) {
    const c = src[i]!
    if (SPACE.test(c)) { i++; spaced = true; continue }
    const adjacent = !spaced
    spaced = false
    if (c === '"') {
      let j = i + 1
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1
      if (j >= src.length) throw new TemplateError(`${where}: unterminated string`)
      tokens.push({ t: 'str', value: JSON.parse(src.slice(i, j + 1)), adjacent })
      i = j + 1
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1)
      if (j < 0) throw new TemplateError(`${where}: unterminated raw string`)
      tokens.push({ t: 'str', value: src.slice(i + 1, j), adjacent })
      i = j + 1
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!
      tokens.push({ t: 'num', value: m[1] ? Number(m[0]) : BigInt(m[0]), adjacent })
      i += m[0].length
    } else if (c === '$') {
      i++
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))
      const name = m ? m[0] : ''
      i += name.length
      tokens.push({ t: 'var', name: '$' + name, path: readPath(), adjacent })
    } else if (c === '.') {
      const path = readPath()
      if (path.length === 0) i++
      tokens.push({ t: 'field', path, adjacent })
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!
      i += m[0].length
      if (m[0] === 'true' || m[0] === 'false') tokens.push({ t: 'str', value: m[0] === 'true', adjacent })
      else if (m[0] === 'nil') tokens.push({ t: 'str', value: null, adjacent })
      else tokens.push({ t: 'ident', name: m[0], adjacent })
    } else if (c === '(') { tokens.push({ t: 'lp', adjacent }); i++ } else if (c === ')') { tokens.push({ t: 'rp', adjacent }); i++ } else if (c === '|') { tokens.push({ t: 'pipe', adjacent }); i++ } else if (c === ',') { tokens.push({ t: 'comma', adjacent }); i++ } else if (src.startsWith(':=', i)) { tokens.push({ t: 'decl', adjacent }); i += 2 } else if (c === '=') { tokens.push({ t: 'assign', adjacent }); i++ } else {
      throw new TemplateError(`${where}: unexpected character ${JSON.stringify(c)} in action`)
    }
  }
  return tokens
}

class TokenStream {
  pos = 0
  constructor (readonly tokens: Token[], readonly where: string) {}
  peek (offset = 0): Token | undefined { return this.tokens[this.pos + offset] }
  next (): Token {
    const tok = this.tokens[this.pos++]
    if (!tok) throw new TemplateError(`${this.where}: unexpected end of action`)
    return tok
  }

  done (): boolean { return this.pos >= this.tokens.length }
}

function parsePipeline (ts: TokenStream, allowDecl: boolean): Pipeline {
  const pipe: Pipeline = { cmds: [] }
  if (allowDecl) {
    const vars: string[] = []
    let k = 0
    while (ts.peek(k)?.t === 'var' && ts.peek(k)?.path?.length === 0) {
      vars.push(ts.peek(k)!.name!)
      k++
      if (ts.peek(k)?.t === 'comma') { k++; continue }
      break
    }
    const op = ts.peek(k)
    if (vars.length > 0 && (op?.t === 'decl' || op?.t === 'assign')) {
      pipe.decl = { vars, op: op.t === 'decl' ? ':=' : '=' }
      ts.pos += k + 1
    }
  }
  let cmd: Operand[] = []
  while (!ts.done() && ts.peek()!.t !== 'rp') {
    const tok = ts.peek()!
    if (tok.t === 'pipe') {
      ts.next()
      if (cmd.length === 0) throw new TemplateError(`${ts.where}: empty command in pipeline`)
      pipe.cmds.push(cmd)
      cmd = []
      continue
    }
    cmd.push(parseOperand(ts))
  }
  if (cmd.length === 0) throw new TemplateError(`${ts.where}: missing value in pipeline`)
  pipe.cmds.push(cmd)
  return pipe
}

function parseOperand (ts: TokenStream): Operand {
  const tok = ts.next()
  switch (tok.t) {
    case 'str':
    case 'num':
      return { t: 'lit', value: tok.value }
    case 'field':
      return { t: 'field', base: '.', path: tok.path! }
    case 'var':
      return { t: 'field', base: tok.name!, path: tok.path! }
    case 'ident':
      return { t: 'ident', name: tok.name! }
    case 'lp': {
      const pipe = parsePipeline(ts, false)
      if (ts.next().t !== 'rp') throw new TemplateError(`${ts.where}: missing )`)
      const after = ts.peek()
      if (after?.t === 'field' && after.adjacent) {
        ts.next()
        return { t: 'sub', pipe, path: after.path! }
      }
      return { t: 'sub', pipe, path: [] }
    }
    default:
      throw new TemplateError(`${ts.where}: unexpected ${tok.t}`)
  }
}

interface RawAction { kind: 'text', text: string }
interface Action { kind: 'action', body: string, line: number }

/** Splits a template into text and actions, applying the trim markers. Comments vanish. */
function scan (src: string, name: string): Array<RawAction | Action> {
  const out: Array<RawAction | Action> = []
  let i = 0
  let trimNext = false
  while (i < src.length) {
    const open = src.indexOf('{{', i)
    let text = open < 0 ? src.slice(i) : src.slice(i, open)
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '')
    trimNext = false
    if (open < 0) {
      out.push({ kind: 'text', text })
      break
    }
    let j = open + 2
    const trimLeft = src[j] === '-' && SPACE.test(src[j + 1] ?? '')
    if (trimLeft) {
      text = text.replace(/[ \t\r\n]+$/, '')
      j += 1
    }
    out.push({ kind: 'text', text })
    const line = src.slice(0, open).split('\n').length
    // Find the closing braces outside string literals.
    let k = j
    let quote = ''
    while (k < src.length) {
      const c = src[k]
      if (quote) {
        if (c === '\\' && quote === '"') k++
        else if (c === quote) quote = ''
      } else if (c === '"' || c === '`') {
        quote = c
      } else if (src.startsWith('}}', k)) {
        break
      } else if (src.startsWith('/*', k)) {
        const end = src.indexOf('*/', k + 2)
        if (end < 0) throw new TemplateError(`${name}:${line}: unclosed comment`)
        k = end + 1
      }
      k++
    }
    if (k >= src.length) throw new TemplateError(`${name}:${line}: unclosed action`)
    let body = src.slice(j, k)
    const trimRight = /[ \t\r\n]-$/.test(body)
    if (trimRight) body = body.slice(0, -1)
    trimNext = trimRight
    i = k + 2
    const trimmed = body.trim()
    if (trimmed.startsWith('/*')) {
      if (!trimmed.endsWith('*/')) throw new TemplateError(`${name}:${line}: a comment must fill its action`)
      continue
    }
    out.push({ kind: 'action', body: trimmed, line })
  }
  return out
}

export interface ParsedTemplates {
  /** Every named template: each file by its path, and every `define`. */
  templates: Map<string, Node[]>
}

/** Parses one file; its `define`s are added to `into`. */
export function parseTemplate (src: string, name: string, into: Map<string, Node[]> = new Map()): Map<string, Node[]> {
  const items = scan(src, name)
  let pos = 0
  type Stop = { word: 'end' | 'else', rest: string, line: number }

  const parseList = (): { nodes: Node[], stop: Stop | undefined } => {
    const nodes: Node[] = []
    while (pos < items.length) {
      const item = items[pos++]!
      if (item.kind === 'text') {
        if (item.text) nodes.push({ kind: 'text', text: item.text })
        continue
      }
      const where = `${name}:${item.line}`
      const m = /^([A-Za-z_]+)\b\s*([\s\S]*)$/.exec(item.body)
      const word = m?.[1]
      const rest = m?.[2] ?? ''
      if (word === 'end' || word === 'else') return { nodes, stop: { word, rest, line: item.line } }
      if (word === 'if') {
        const branches = [{ cond: pipelineOf(rest, where), body: [] as Node[] }]
        let otherwise: Node[] = []
        for (;;) {
          const { nodes: body, stop } = parseList()
          branches[branches.length - 1]!.body = body
          if (!stop) throw new TemplateError(`${where}: if without end`)
          if (stop.word === 'end') break
          const elif = /^if\b\s*([\s\S]*)$/.exec(stop.rest)
          if (elif) {
            branches.push({ cond: pipelineOf(elif[1]!, `${name}:${stop.line}`), body: [] })
            continue
          }
          if (stop.rest) throw new TemplateError(`${name}:${stop.line}: unsupported else ${stop.rest}`)
          const tail = parseList()
          if (tail.stop?.word !== 'end') throw new TemplateError(`${where}: if/else without end`)
          otherwise = tail.nodes
          break
        }
        nodes.push({ kind: 'if', branches, otherwise })
      } else if (word === 'range' || word === 'with') {
        const pipe = pipelineOf(rest, where, word === 'range')
        const { nodes: body, stop } = parseList()
        if (!stop) throw new TemplateError(`${where}: ${word} without end`)
        let otherwise: Node[] = []
        if (stop.word === 'else') {
          if (stop.rest) throw new TemplateError(`${name}:${stop.line}: unsupported else ${stop.rest}`)
          const tail = parseList()
          if (tail.stop?.word !== 'end') throw new TemplateError(`${where}: ${word}/else without end`)
          otherwise = tail.nodes
        }
        nodes.push({ kind: word, pipe, body, otherwise })
      } else if (word === 'define') {
        const defName = JSON.parse(rest.trim()) as string
        const { nodes: body, stop } = parseList()
        if (stop?.word !== 'end') throw new TemplateError(`${where}: define without end`)
        into.set(defName, body)
      } else if (word === 'template') {
        const tm = /^("(?:[^"\\]|\\.)*")\s*([\s\S]*)$/.exec(rest)
        if (!tm) throw new TemplateError(`${where}: template needs a name`)
        nodes.push({ kind: 'template', name: JSON.parse(tm[1]!) as string, ...(tm[2] ? { pipe: pipelineOf(tm[2], where) } : {}) })
      } else if (word === 'block' || word === 'break' || word === 'continue') {
        throw new TemplateError(`${where}: ${word} is not supported by this renderer`)
      } else {
        nodes.push({ kind: 'print', pipe: pipelineOf(item.body, where, true) })
      }
    }
    return { nodes, stop: undefined }
  }

  const { nodes, stop } = parseList()
  if (stop) throw new TemplateError(`${name}:${stop.line}: unexpected {{ ${stop.word} }}`)
  into.set(name, nodes)
  return into
}

function pipelineOf (src: string, where: string, allowDecl = true): Pipeline {
  const ts = new TokenStream(lexAction(src, where), where)
  const pipe = parsePipeline(ts, allowDecl)
  if (!ts.done()) throw new TemplateError(`${where}: unexpected ) in action`)
  return pipe
}

// ---------------------------------------------------------------------------------------------------------------
// Values and functions

function isDict (v: Value): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function truthy (v: Value): boolean {
  if (v === null || v === undefined) return false
  if (typeof v === 'boolean') return v
  if (typeof v === 'number') return v !== 0
  if (typeof v === 'bigint') return v !== 0n
  if (typeof v === 'string') return v.length > 0
  if (Array.isArray(v)) return v.length > 0
  if (isDict(v)) return Object.keys(v).length > 0
  return true
}

/** fmt's %v, as text/template prints values (Helm prints a missing value as ""). */
export function goString (v: Value): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') return goFloat(v)
  if (typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`
  if (isDict(v)) return `map[${Object.keys(v).sort().map(k => `${k}:${goString(v[k])}`).join(' ')}]`
  if (typeof v === 'function') throw new TemplateError('cannot print a function')
  return String(v)
}

function kindOf (v: Value): string {
  if (v === null || v === undefined) return 'invalid'
  if (typeof v === 'string') return 'string'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'number') return 'float64'
  if (typeof v === 'bigint') return 'int64'
  if (Array.isArray(v)) return 'slice'
  if (typeof v === 'function') return 'func'
  return 'map'
}

function toInt (v: Value): bigint {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number') return BigInt(Math.trunc(v))
  if (typeof v === 'boolean') return v ? 1n : 0n
  if (typeof v === 'string') {
    const n = Number(v)
    return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n
  }
  return 0n
}

function compare (a: Value, b: Value, op: string): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'boolean' && typeof b === 'boolean' && (op === 'eq' || op === 'ne')) return a === b ? 0 : 1
  throw new TemplateError(`error calling ${op}: incompatible types for comparison (${kindOf(a)} and ${kindOf(b)})`)
}

function indent (n: Value, s: Value): string {
  const pad = ' '.repeat(Number(toInt(n)))
  return pad + goString(s).replace(/\n/g, '\n' + pad)
}

function sprintf (format: string, args: Value[]): string {
  let i = 0
  return format.replace(/%([sdvqt%])/g, (_m, verb: string) => {
    if (verb === '%') return '%'
    const arg = args[i++]
    if (verb === 'q') return JSON.stringify(goString(arg))
    if (verb === 'd') return toInt(arg).toString()
    return goString(arg)
  })
}

interface Context {
  dot: Value
  vars: Array<Map<string, Value>>
}

export interface RenderOptions {
  releaseName?: string
  namespace?: string
  /** Merged over values.yaml (maps merged, everything else replaced), like `-f` / `--set`. */
  values?: Dict
}

export interface RenderedChart {
  /** Output of every template file except helpers, by path (e.g. `ion-gateway/templates/deployment.yaml`). */
  files: Map<string, string>
  values: Dict
}

export function deepMerge (base: Dict, over: Dict): Dict {
  const out: Dict = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const current = out[k]
    out[k] = isDict(current) && isDict(v) ? deepMerge(current, v) : v
  }
  return out
}

export class Renderer {
  readonly templates = new Map<string, Node[]>()
  private depth = 0

  constructor (private readonly files: { get: (path: string) => string } = { get: () => '' }) {}

  add (name: string, src: string): void {
    parseTemplate(src, name, this.templates)
  }

  render (name: string, data: Value): string {
    const nodes = this.templates.get(name)
    if (!nodes) throw new TemplateError(`no template named ${JSON.stringify(name)}`)
    if (++this.depth > 100) throw new TemplateError('template recursion too deep')
    try {
      const ctx: Context = { dot: data, vars: [new Map([['$', data]])] }
      return this.exec(nodes, ctx, name)
    } finally {
      this.depth--
    }
  }

  private exec (nodes: Node[], ctx: Context, name: string): string {
    let out = ''
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out += node.text
          break
        case 'print': {
          const v = this.pipeline(node.pipe, ctx, name)
          if (!node.pipe.decl) out += goString(v)
          break
        }
        case 'if': {
          let done = false
          for (const branch of node.branches) {
            const scope = this.push(ctx)
            if (truthy(this.pipeline(branch.cond, scope, name))) {
              out += this.exec(branch.body, scope, name)
              done = true
              break
            }
          }
          if (!done) out += this.exec(node.otherwise, this.push(ctx), name)
          break
        }
        case 'with': {
          const scope = this.push(ctx)
          const v = this.pipeline(node.pipe, scope, name)
          if (truthy(v)) out += this.exec(node.body, { ...scope, dot: v }, name)
          else out += this.exec(node.otherwise, scope, name)
          break
        }
        case 'range': {
          const decl = node.pipe.decl
          const bare = { ...node.pipe, decl: undefined }
          const scope = this.push(ctx)
          const v = this.pipeline(bare, scope, name)
          const entries: Array<[Value, Value]> = Array.isArray(v)
            ? v.map((item, i) => [BigInt(i), item])
            : isDict(v)
              ? Object.keys(v).sort().map(k => [k, v[k]])
              : v === null || v === undefined
                ? []
                : (() => { throw new TemplateError(`${name}: range can't iterate over ${goString(v)}`) })()
          if (entries.length === 0) {
            out += this.exec(node.otherwise, scope, name)
            break
          }
          for (const [key, item] of entries) {
            const inner = this.push(scope)
            if (decl) {
              if (decl.vars.length === 1) inner.vars[inner.vars.length - 1]!.set(decl.vars[0]!, item)
              else {
                inner.vars[inner.vars.length - 1]!.set(decl.vars[0]!, key)
                inner.vars[inner.vars.length - 1]!.set(decl.vars[1]!, item)
              }
            }
            out += this.exec(node.body, { ...inner, dot: item }, name)
          }
          break
        }
        case 'template':
          out += this.render(node.name, node.pipe ? this.pipeline(node.pipe, ctx, name) : undefined)
          break
      }
    }
    return out
  }

  private push (ctx: Context): Context {
    return { dot: ctx.dot, vars: [...ctx.vars, new Map()] }
  }

  private lookupVar (ctx: Context, varName: string): Value {
    for (let i = ctx.vars.length - 1; i >= 0; i--) {
      if (ctx.vars[i]!.has(varName)) return ctx.vars[i]!.get(varName)
    }
    throw new TemplateError(`undefined variable ${varName}`)
  }

  private pipeline (pipe: Pipeline, ctx: Context, name: string): Value {
    let value: Value
    let hasValue = false
    for (const cmd of pipe.cmds) {
      value = this.command(cmd, ctx, name, hasValue ? { value } : undefined)
      hasValue = true
    }
    if (pipe.decl) {
      const varName = pipe.decl.vars[0]!
      if (pipe.decl.op === ':=') ctx.vars[ctx.vars.length - 1]!.set(varName, value)
      else {
        const scope = [...ctx.vars].reverse().find(s => s.has(varName))
        if (!scope) throw new TemplateError(`${name}: undefined variable ${varName}`)
        scope.set(varName, value)
      }
    }
    return value
  }

  private field (base: Value, path: string[], label: string): Value {
    let v = base
    let at = label
    for (const key of path) {
      if (!isDict(v)) throw new TemplateError(`nil pointer evaluating ${at}.${key}`)
      if (!(key in v)) throw new TemplateError(`map has no entry for key "${key}" (${at}.${key})`)
      v = v[key]
      at = `${at}.${key}`
    }
    return v
  }

  private operand (op: Operand, ctx: Context, name: string): Value {
    switch (op.t) {
      case 'lit':
        return op.value
      case 'field':
        return this.field(op.base === '.' ? ctx.dot : this.lookupVar(ctx, op.base), op.path, op.base === '.' ? '' : op.base)
      case 'sub':
        return this.field(this.pipeline(op.pipe, ctx, name), op.path, '(…)')
      case 'ident':
        return this.call(op.name, [], ctx, name)
    }
  }

  private command (cmd: Operand[], ctx: Context, name: string, piped: { value: Value } | undefined): Value {
    const [first, ...rest] = cmd
    if (!first) throw new TemplateError(`${name}: empty command`)
    if (first.t === 'ident') {
      const args = rest.map(op => () => this.operand(op, ctx, name))
      if (piped) args.push(() => piped.value)
      return this.callLazy(first.name, args, ctx, name)
    }
    const head = this.operand(first, ctx, name)
    if (typeof head === 'function') {
      const args = rest.map(op => this.operand(op, ctx, name))
      if (piped) args.push(piped.value)
      return (head as (...a: Value[]) => Value)(...args)
    }
    if (rest.length > 0 || piped) throw new TemplateError(`${name}: can't give argument to non-function`)
    return head
  }

  private call (fn: string, args: Value[], ctx: Context, name: string): Value {
    return this.callLazy(fn, args.map(a => () => a), ctx, name)
  }

  private callLazy (fn: string, thunks: Array<() => Value>, _ctx: Context, name: string): Value {
    if (fn === 'and' || fn === 'or') {
      if (thunks.length === 0) throw new TemplateError(`${name}: ${fn} needs arguments`)
      let v: Value = null
      for (const thunk of thunks) {
        v = thunk()
        if (fn === 'and' ? !truthy(v) : truthy(v)) return v
      }
      return v
    }
    const a = thunks.map(t => t())
    const arity = (n: number) => {
      if (a.length !== n) throw new TemplateError(`${name}: wrong number of args for ${fn}: want ${n} got ${a.length}`)
    }
    switch (fn) {
      case 'not': arity(1); return !truthy(a[0])
      case 'eq': return a.slice(1).some(b => compare(a[0], b, 'eq') === 0)
      case 'ne': arity(2); return compare(a[0], a[1], 'ne') !== 0
      case 'lt': arity(2); return compare(a[0], a[1], 'lt') < 0
      case 'le': arity(2); return compare(a[0], a[1], 'le') <= 0
      case 'gt': arity(2); return compare(a[0], a[1], 'gt') > 0
      case 'ge': arity(2); return compare(a[0], a[1], 'ge') >= 0
      case 'len': arity(1); return BigInt(Array.isArray(a[0]) || typeof a[0] === 'string' ? a[0].length : isDict(a[0]) ? Object.keys(a[0]).length : 0)
      case 'print': return a.map(goString).join('')
      case 'printf': return sprintf(goString(a[0]), a.slice(1))
      case 'include': {
        arity(2)
        return this.render(goString(a[0]), a[1])
      }
      case 'required': arity(2); if (a[1] === null || a[1] === undefined || a[1] === '') throw new FailError(goString(a[0])); return a[1]
      case 'fail': arity(1); throw new FailError(goString(a[0]))
      case 'default': return a.length < 2 || !truthy(a[1]) ? a[0] : a[1]
      case 'empty': arity(1); return !truthy(a[0])
      case 'ternary': {
        arity(3)
        if (typeof a[2] !== 'boolean') throw new TemplateError(`${name}: ternary wants a bool, got ${kindOf(a[2])}`)
        return a[2] ? a[0] : a[1]
      }
      case 'coalesce': return a.find(truthy) ?? null
      case 'quote': return a.filter(v => v !== null && v !== undefined).map(v => goQuote(goString(v))).join(' ')
      case 'squote': return a.filter(v => v !== null && v !== undefined).map(v => `'${goString(v)}'`).join(' ')
      case 'toString': arity(1); return goString(a[0])
      case 'int': case 'int64': arity(1); return toInt(a[0])
      case 'float64': arity(1); return Number(typeof a[0] === 'bigint' ? a[0] : Number(a[0]))
      case 'add': return a.reduce<bigint>((sum, v) => sum + toInt(v), 0n)
      case 'sub': arity(2); return toInt(a[0]) - toInt(a[1])
      case 'mul': return a.reduce<bigint>((p, v) => p * toInt(v), 1n)
      case 'div': arity(2); return toInt(a[0]) / toInt(a[1])
      case 'kindIs': arity(2); return kindOf(a[1]) === goString(a[0])
      case 'typeOf': arity(1); return kindOf(a[0])
      case 'hasKey': arity(2); return isDict(a[0]) && goString(a[1]) in a[0]
      case 'list': return a
      case 'dict': {
        const d: Dict = {}
        for (let i = 0; i + 1 < a.length; i += 2) d[goString(a[i])] = a[i + 1]
        return d
      }
      case 'trunc': {
        arity(2)
        const n = Number(toInt(a[0]))
        const s = goString(a[1])
        return n >= 0 ? s.slice(0, n) : s.slice(Math.max(0, s.length + n))
      }
      case 'trimSuffix': arity(2); return goString(a[1]).endsWith(goString(a[0])) ? goString(a[1]).slice(0, goString(a[1]).length - goString(a[0]).length) : goString(a[1])
      case 'trimPrefix': arity(2); return goString(a[1]).startsWith(goString(a[0])) ? goString(a[1]).slice(goString(a[0]).length) : goString(a[1])
      case 'trim': arity(1); return goString(a[0]).trim()
      case 'replace': arity(3); return goString(a[2]).split(goString(a[0])).join(goString(a[1]))
      case 'contains': arity(2); return goString(a[1]).includes(goString(a[0]))
      case 'hasPrefix': arity(2); return goString(a[1]).startsWith(goString(a[0]))
      case 'hasSuffix': arity(2); return goString(a[1]).endsWith(goString(a[0]))
      case 'join': {
        // sprig: a list's items (nil ones dropped) joined; any other value is a list of one
        arity(2)
        const items = Array.isArray(a[1]) ? a[1] : [a[1]]
        return items.filter(v => v !== null && v !== undefined).map(goString).join(goString(a[0]))
      }
      case 'upper': arity(1); return goString(a[0]).toUpperCase()
      case 'lower': arity(1); return goString(a[0]).toLowerCase()
      case 'sha256sum': arity(1); return createHash('sha256').update(goString(a[0])).digest('hex')
      case 'b64enc': arity(1); return Buffer.from(goString(a[0])).toString('base64')
      case 'toJson': arity(1); return toJson(a[0])
      case 'toYaml': arity(1); return toYaml(a[0])
      case 'indent': arity(2); return indent(a[0], a[1])
      case 'nindent': arity(2); return '\n' + indent(a[0], a[1])
      default:
        throw new TemplateError(`${name}: function "${fn}" not defined`)
    }
  }
}

/** Renders the chart at `chartDir` like `helm template RELEASE CHART --namespace NS --strict [-f values]`. */
export function renderChart (chartDir: string, options: RenderOptions = {}): RenderedChart {
  const chart = YAML.parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Dict
  const defaults = parseManifestYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8'))[0]?.toJS() as Dict
  const values = deepMerge(defaults, options.values ?? {})
  const chartName = String(chart.name)
  const renderer = new Renderer()
  const templateDir = join(chartDir, 'templates')
  const names = readdirSync(templateDir).sort()
  for (const file of names) renderer.add(`${chartName}/templates/${file}`, readFileSync(join(templateDir, file), 'utf8'))
  const filesObject = {
    Get: (path: string) => {
      const full = join(chartDir, path)
      return existsSync(full) ? readFileSync(full, 'utf8') : ''
    },
  }
  const files = new Map<string, string>()
  for (const file of names) {
    if (file.startsWith('_')) continue
    const templateName = `${chartName}/templates/${file}`
    const data: Dict = {
      Values: values,
      Chart: {
        Name: chart.name,
        Version: chart.version,
        AppVersion: chart.appVersion,
        Description: chart.description,
        Type: chart.type,
      },
      Release: {
        Name: options.releaseName ?? 'gw',
        Namespace: options.namespace ?? 'ion',
        Service: 'Helm',
        IsInstall: true,
        IsUpgrade: false,
        Revision: 1n,
      },
      Template: { Name: templateName, BasePath: `${chartName}/templates` },
      Files: filesObject,
      Capabilities: { KubeVersion: { Version: 'v1.30.0', Major: '1', Minor: '30' } },
    }
    files.set(templateName, renderer.render(templateName, data))
  }
  return { files, values }
}

export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [key: string]: unknown
}

/**
 * YAML documents read as Helm and Kubernetes read them (go-yaml v2, YAML 1.1): yes, on, y and n are booleans, 0123 is
 * octal; timestamps stay strings.
 */
export function parseManifestYaml (text: string) {
  return YAML.parseAllDocuments(text, {
    version: '1.1',
    customTags: tags => tags.filter(tag => typeof tag !== 'object' || tag.tag !== 'tag:yaml.org,2002:timestamp'),
  })
}

/** The YAML documents of the rendered files (NOTES.txt excluded), parsed; empty documents dropped. */
export function manifests (rendered: RenderedChart): Manifest[] {
  const out: Manifest[] = []
  for (const [name, text] of rendered.files) {
    if (!name.endsWith('.yaml')) continue
    for (const doc of parseManifestYaml(text)) {
      if (doc.errors.length > 0) throw new TemplateError(`${name}: ${doc.errors[0]!.message}\n${text}`)
      const value = doc.toJS() as Manifest | null
      if (value) out.push(value)
    }
  }
  return out
}
