/**
 * Helm's `toYaml`, `toJson` and `quote` as Helm writes them, for helm-template.ts. `toYaml` goes through
 * sigs.k8s.io/yaml, which writes YAML with go-yaml v2 (a port of libyaml). Where that differs from a YAML 1.2
 * writer, Kubernetes (which reads YAML the same way) would see other values:
 *  - a string YAML 1.1 reads as something else (yes, on, n, 0123, 12:30, 2001-12-14, 1_000…) is double-quoted;
 *  - a string that cannot be plain (' lead', '#x', 'a: b') is single-quoted, one with control characters double-quoted;
 *  - a string with a line break is a literal block (|, |-, |+, with an indentation hint when it starts with a space);
 *  - map keys come in go-yaml's order (digits by value, non-letters before letters: "9" < "10" < "A" < "a");
 *  - numbers are integers when whole, else Go's %g (1.2345675e+06, 1e-07);
 *  - plain and quoted strings fold at spaces past column 80.
 * Sequences are not indented under their key, and indentation is 2. Not imitated: on its way through JSON and back,
 * Helm turns a NEL (U+0085) into a space.
 */

type Value = unknown

const WIDTH = 80
const INDENT = 2

function isDict (v: Value): v is Record<string, Value> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Go's strconv.FormatFloat(f, 'g', -1, 64): shortest digits, exponent form below 1e-4 and from 1e6 up. */
export function goFloat (n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN'
  if (n === 0) return Object.is(n, -0) ? '-0' : '0'
  const [mantissa, exponent] = n.toExponential().split('e') as [string, string]
  const exp = Number(exponent)
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  return String(n)
}

// ---------------------------------------------------------------------------------------------------------------
// go-yaml v2's resolver: what a plain scalar would be read as.

const RESOLVED = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO',
  'false', 'False', 'FALSE', 'off', 'Off', 'OFF', '', '~', 'null', 'Null', 'NULL', '.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF',
  '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF'])
const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/
const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/
const TIMESTAMP = /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})| [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?)?$/
// strconv.ParseInt(s, 0, 64) and ParseUint: an optional sign, then 0x, 0o, 0b, a leading 0 (octal) or decimal.
const GO_INT = /^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO]?[0-7]*|0[bB][01]+|[1-9][0-9]*)$/
// strconv.ParseFloat also takes inf, infinity and nan in any case, and hexadecimal floats.
const GO_FLOAT = /^[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity|nan|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][-+]?[0-9]+)$/i

/** True when go-yaml v2 would read `s`, written plain, as something other than this string. */
function resolvesToOther (s: string): boolean {
  if (RESOLVED.has(s)) return true
  if (BASE60_FLOAT.test(s)) return true
  const first = s[0] ?? ''
  if (first === '.') return GO_FLOAT.test(s)
  if (!/[-+0-9]/.test(first)) return false
  if (TIMESTAMP.test(s)) return true
  const plain = s.replace(/_/g, '')
  if (GO_INT.test(plain)) return true
  if (YAML_FLOAT.test(plain)) return true
  return /^-?0b[01]+$/.test(plain)
}

// ---------------------------------------------------------------------------------------------------------------
// libyaml's scalar analysis and writers.

const isBreak = (c: string | undefined) => c === '\n' || c === '\r' || c === '\u0085' || c === '\u2028' || c === '\u2029'
const isBlankZ = (c: string | undefined) => c === undefined || c === ' ' || c === '\t' || isBreak(c)

function isPrintable (c: string): boolean {
  const cp = c.codePointAt(0)!
  return cp === 0x0A || (cp >= 0x20 && cp <= 0x7E) || (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD && cp !== 0xFEFF)
}

interface Analysis { plain: boolean, single: boolean, block: boolean }

function analyze (chars: string[]): Analysis {
  // Only the block context matters here (toYaml writes no flow collections but {} and []).
  let blockIndicators = false
  let special = false
  let lineBreaks = false
  let leadingSpace = false
  let leadingBreak = false
  let trailingSpace = false
  let trailingBreak = false
  let breakSpace = false
  let spaceBreak = false
  let previousSpace = false
  let previousBreak = false
  const s = chars.join('')
  if (s.startsWith('---') || s.startsWith('...')) blockIndicators = true
  let precededByWhitespace = true
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!
    const followedByWhitespace = isBlankZ(chars[i + 1])
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(c)) blockIndicators = true
      if ((c === '?' || c === ':' || c === '-') && followedByWhitespace) blockIndicators = true
    } else {
      if (c === ':' && followedByWhitespace) blockIndicators = true
      if (c === '#' && precededByWhitespace) blockIndicators = true
    }
    if (!isPrintable(c)) special = true
    if (isBreak(c)) lineBreaks = true
    if (c === ' ') {
      if (i === 0) leadingSpace = true
      if (i === chars.length - 1) trailingSpace = true
      if (previousBreak) breakSpace = true
      previousSpace = true
      previousBreak = false
    } else if (isBreak(c)) {
      if (i === 0) leadingBreak = true
      if (i === chars.length - 1) trailingBreak = true
      if (previousSpace) spaceBreak = true
      previousSpace = false
      previousBreak = true
    } else {
      previousSpace = false
      previousBreak = false
    }
    precededByWhitespace = isBlankZ(c)
  }
  let plain = !(leadingSpace || leadingBreak || trailingSpace || trailingBreak || breakSpace || lineBreaks || blockIndicators)
  let single = !breakSpace
  let block = !trailingSpace
  if (spaceBreak || special) plain = single = block = false
  return { plain, single, block }
}

const ESCAPES = new Map([
  ['\0', '0'], ['\x07', 'a'], ['\b', 'b'], ['\t', 't'], ['\n', 'n'], ['\v', 'v'], ['\f', 'f'], ['\r', 'r'], ['\x1b', 'e'],
  ['"', '"'], ['\\', '\\'], ['\u0085', 'N'], ['\u00a0', '_'], ['\u2028', 'L'], ['\u2029', 'P'],
])

/** The writer's position: the column of the next character and the indentation of continuation lines. */
interface Pen { column: number, indent: number, breaks: boolean }

function writePlain (chars: string[], pen: Pen): string {
  let out = ''
  let column = pen.column
  let spaces = false
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!
    if (c === ' ') {
      if (pen.breaks && !spaces && column > WIDTH && chars[i + 1] !== ' ') {
        out += '\n' + ' '.repeat(pen.indent)
        column = pen.indent
      } else {
        out += c
        column++
      }
      spaces = true
    } else {
      out += c
      column++
      spaces = false
    }
  }
  return out
}

function writeSingle (chars: string[], pen: Pen): string {
  let out = "'"
  let column = pen.column + 1
  let spaces = false
  let breaks = false
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!
    if (breaks && !isBreak(c)) {
      out += ' '.repeat(pen.indent)
      column = pen.indent
      breaks = false
    }
    if (isBreak(c)) {
      out += c
      column = 0
      breaks = true
    } else if (c === ' ') {
      if (pen.breaks && !spaces && column > WIDTH && i !== 0 && i !== chars.length - 1 && chars[i + 1] !== ' ') {
        out += '\n' + ' '.repeat(pen.indent)
        column = pen.indent
      } else {
        out += c
        column++
      }
      spaces = true
    } else {
      if (c === "'") {
        out += "'"
        column++
      }
      out += c
      column++
      spaces = false
    }
  }
  return out + "'"
}

function writeDouble (chars: string[], pen: Pen): string {
  let out = '"'
  let column = pen.column + 1
  let spaces = false
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!
    if (!isPrintable(c) || c === '\ufeff' || isBreak(c) || c === '"' || c === '\\') {
      const cp = c.codePointAt(0)!
      const esc = ESCAPES.get(c) ??
        (cp <= 0xFF ? `x${hex(cp, 2)}` : cp <= 0xFFFF ? `u${hex(cp, 4)}` : `U${hex(cp, 8)}`)
      out += '\\' + esc
      column += 1 + esc.length
      spaces = false
    } else if (c === ' ') {
      if (pen.breaks && !spaces && column > WIDTH && i !== 0 && i !== chars.length - 1) {
        out += '\n' + ' '.repeat(pen.indent)
        column = pen.indent
        if (chars[i + 1] === ' ') {
          out += '\\'
          column++
        }
      } else {
        out += c
        column++
      }
      spaces = true
    } else {
      out += c
      column++
      spaces = false
    }
  }
  return out + '"'
}

function hex (n: number, width: number): string {
  return n.toString(16).toUpperCase().padStart(width, '0')
}

function writeLiteral (chars: string[], pen: Pen): string {
  // Chomping: "-" without a final line break, "+" when the breaks at the end are more than one (or all there is).
  const last = chars.length - 1
  const chomp = !isBreak(chars[last]) ? '-' : last === 0 || isBreak(chars[last - 1]) ? '+' : ''
  const hint = chars[0] === ' ' || isBreak(chars[0]) ? String(INDENT) : ''
  let out = `|${hint}${chomp}\n`
  let breaks = true
  for (const c of chars) {
    if (isBreak(c)) {
      out += c
      breaks = true
    } else {
      if (breaks) out += ' '.repeat(pen.indent)
      out += c
      breaks = false
    }
  }
  return out.replace(/\n$/, '')
}

/** A string scalar as go-yaml v2 writes it, starting at pen.column. */
function writeString (s: string, pen: Pen): string {
  const chars = [...s]
  const analysis = analyze(chars)
  if (s.includes('\n')) return analysis.block ? writeLiteral(chars, pen) : writeDouble(chars, pen)
  if (resolvesToOther(s) || (!analysis.plain && !analysis.single)) return writeDouble(chars, pen)
  if (!analysis.plain) return writeSingle(chars, pen)
  return writePlain(chars, pen)
}

function writeScalar (v: Value, pen: Pen): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean') return String(v)
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') {
    // sigs.k8s.io/yaml passes values through JSON: whole numbers in int64/uint64 range come back as integers.
    if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 64) return BigInt(v).toString()
    const s = goFloat(v)
    return s === '+Inf' ? '.inf' : s === '-Inf' ? '-.inf' : s === 'NaN' ? '.nan' : s
  }
  if (typeof v === 'string') return writeString(v, pen)
  throw new Error(`toYaml: cannot write a ${typeof v}`)
}

// ---------------------------------------------------------------------------------------------------------------
// Blocks

/** go-yaml v2's key order: runs of digits compare by value, and any other character sorts before a letter. */
export function goYamlKeyLess (a: string, b: string): number {
  const ar = [...a]
  const br = [...b]
  const isLetter = (c: string) => /\p{L}/u.test(c)
  const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9'
  for (let i = 0; i < ar.length && i < br.length; i++) {
    if (ar[i] === br[i]) continue
    const al = isLetter(ar[i]!)
    const bl = isLetter(br[i]!)
    if (al && bl) return ar[i]! < br[i]! ? -1 : 1
    if (al || bl) return bl ? -1 : 1
    let an = 0
    let bn = 0
    if (ar[i] === '0' || br[i] === '0') {
      for (let j = i - 1; j >= 0 && isDigit(ar[j]); j--) {
        if (ar[j] !== '0') {
          an = 1
          bn = 1
          break
        }
      }
    }
    let ai = i
    let bi = i
    for (; ai < ar.length && isDigit(ar[ai]); ai++) an = an * 10 + Number(ar[ai])
    for (; bi < br.length && isDigit(br[bi]); bi++) bn = bn * 10 + Number(br[bi])
    if (an !== bn) return an < bn ? -1 : 1
    if (ai !== bi) return ai < bi ? -1 : 1
    return ar[i]! < br[i]! ? -1 : 1
  }
  return ar.length - br.length
}

const isEmptyCollection = (v: Value) => (Array.isArray(v) && v.length === 0) || (isDict(v) && Object.keys(v).length === 0)
const isCollection = (v: Value) => Array.isArray(v) || isDict(v)

/** Lines of a block collection whose entries start at column `indent`. */
function writeBlock (v: Value, indent: number): string[] {
  const pad = ' '.repeat(indent)
  const lines: string[] = []
  if (Array.isArray(v)) {
    for (const item of v) {
      if (isCollection(item) && !isEmptyCollection(item)) {
        const inner = writeBlock(item, indent + INDENT)
        lines.push(pad + '- ' + inner[0]!.slice(indent + INDENT), ...inner.slice(1))
      } else {
        lines.push(...(pad + '- ' + writeValue(item, { column: indent + 2, indent: indent + INDENT, breaks: true })).split('\n'))
      }
    }
    return lines
  }
  const dict = v as Record<string, Value>
  for (const key of Object.keys(dict).sort(goYamlKeyLess)) {
    if (/[\r\n\u0085\u2028\u2029]/.test(key)) throw new Error('toYaml: a key with a line break is not supported')
    const keyText = writeString(key, { column: indent, indent: indent + INDENT, breaks: false })
    const value = dict[key]
    if (isCollection(value) && !isEmptyCollection(value)) {
      lines.push(`${pad}${keyText}:`, ...writeBlock(value, Array.isArray(value) ? indent : indent + INDENT))
    } else {
      const column = indent + [...keyText].length + 2
      lines.push(...`${pad}${keyText}: ${writeValue(value, { column, indent: indent + INDENT, breaks: true })}`.split('\n'))
    }
  }
  return lines
}

function writeValue (v: Value, pen: Pen): string {
  if (Array.isArray(v) && v.length === 0) return '[]'
  if (isDict(v) && Object.keys(v).length === 0) return '{}'
  return writeScalar(v, pen)
}

/** Helm's toYaml: the document without its final line break. */
export function toYaml (v: Value): string {
  if (isCollection(v) && !isEmptyCollection(v)) return writeBlock(v, 0).join('\n')
  return writeValue(v, { column: 0, indent: INDENT, breaks: true })
}

// ---------------------------------------------------------------------------------------------------------------
// JSON and quoting

function sortedForJson (v: Value): Value {
  if (typeof v === 'bigint') return Number(v)
  if (Array.isArray(v)) return v.map(sortedForJson)
  if (isDict(v)) return Object.fromEntries(Object.keys(v).sort().map(k => [k, sortedForJson(v[k])]))
  return v
}

/** Go's encoding/json: map keys sorted, and <, >, &, U+2028 and U+2029 escaped (HTML-safe). */
export function toJson (v: Value): string {
  return JSON.stringify(sortedForJson(v) ?? null).replace(/[<>&\u2028\u2029]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

const GO_SHORT_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '"': '\\"', '\\': '\\\\' }

/** Go's %q (sprig's quote): printable characters as they are, the others escaped. */
export function goQuote (s: string): string {
  let out = '"'
  for (const c of s) {
    const cp = c.codePointAt(0)!
    if (GO_SHORT_ESCAPES[c]) out += GO_SHORT_ESCAPES[c]
    else if (c === ' ' || (cp >= 0x21 && cp < 0x7F) || (cp >= 0x80 && /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(c))) out += c
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`
    else if (cp <= 0xFFFF) out += `\\u${cp.toString(16).padStart(4, '0')}`
    else out += `\\U${cp.toString(16).padStart(8, '0')}`
  }
  return out + '"'
}
