/**
 * Query parameters whose name says they hold a secret (API keys, tokens, passwords…) have their value replaced
 * before a URL is logged. Names are compared decoded (percent-encoding, up to three times), case-insensitively and
 * without separators, so `X-Api-Key`, `api_key`, `%61pi%4Bey` and `filter[access_token]` all count. `;` also starts
 * a parameter here (some servers split on it): a secret name after one hides the rest of the value, never less.
 */
export const REDACTED = '[redacted]'

/** A name holding one of these (once normalised) is a secret. */
const SECRET_PARTS = ['apikey', 'token', 'passw', 'secret', 'authoriz', 'credential', 'signature', 'sessionid', 'jwt', 'privatekey']
/** And these names on their own. */
const SECRET_NAMES = new Set(['key', 'auth', 'pwd', 'pass', 'sig', 'session'])

// Names repeat (ITNO, CONO, $filter…): their verdicts are remembered, a bounded number of them.
const verdicts = new Map<string, boolean>()
const VERDICTS_MAX = 1024

export function isSecretParamName (raw: string): boolean {
  let verdict = verdicts.get(raw)
  if (verdict === undefined) {
    verdict = judgeName(raw)
    if (verdicts.size >= VERDICTS_MAX) verdicts.clear()
    verdicts.set(raw, verdict)
  }
  return verdict
}

function judgeName (raw: string): boolean {
  let name = raw
  for (let i = 0; i < 3 && name.includes('%'); i++) {
    name = name.replace(/%([0-9a-f]{2})/gi, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  }
  name = name.toLowerCase().replace(/[^a-z0-9]/g, '')
  return SECRET_NAMES.has(name) || SECRET_PARTS.some(part => name.includes(part))
}

/** The URL with the values of its secret query parameters replaced; anything else is kept. */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  return redact(url, q, isUrlNameChar, urlValueEnd)
}

/**
 * One serialized JSON log line with the values of secret parameters of any URL in it replaced (messages, error
 * messages and stacks included). A value ends at `&`, whitespace or the end of the JSON string.
 */
export function redactLogLine (line: string): string {
  return redact(line, 0, isLineNameChar, lineValueEnd)
}

/**
 * Replaces the value of every `name=value` of `text` (from `from` on) whose name follows `?`, `&` or `;` and is a
 * secret. Found from each `=` back to its separator: a few native searches on a line without secrets.
 */
function redact (text: string, from: number, isNameChar: (c: number) => boolean, valueEnd: (text: string, from: number) => number): string {
  let out = ''
  let kept = 0
  let eq = text.indexOf('=', from)
  while (eq !== -1) {
    let start = eq
    while (start > from && isNameChar(text.charCodeAt(start - 1))) start--
    const separator = text.charCodeAt(start - 1)
    let next = eq + 1
    if (start < eq && (separator === 0x3f || separator === 0x26 || separator === 0x3b) && isSecretParamName(text.slice(start, eq))) {
      const end = valueEnd(text, eq + 1)
      if (end > eq + 1) {
        out += text.slice(kept, eq + 1) + REDACTED
        kept = end
        next = end
      }
    }
    eq = text.indexOf('=', next)
  }
  return kept === 0 ? text : out + text.slice(kept)
}

// Not `=`, `&`, `;`, `?`.
function isUrlNameChar (c: number): boolean {
  return c !== 0x3d && c !== 0x26 && c !== 0x3b && c !== 0x3f
}

// Nor `#`, `"`, `\` or whitespace (the end of a JSON string or of a word in a message).
function isLineNameChar (c: number): boolean {
  return isUrlNameChar(c) && c !== 0x23 && c !== 0x22 && c !== 0x5c && c > 0x20
}

function urlValueEnd (text: string, from: number): number {
  const amp = text.indexOf('&', from)
  return amp === -1 ? text.length : amp
}

function lineValueEnd (text: string, from: number): number {
  let i = from
  while (i < text.length) {
    const c = text.charCodeAt(i)
    // `&`, `"` (end of the JSON string), whitespace
    if (c === 0x26 || c === 0x22 || c <= 0x20) break
    // a JSON escape (`\"`, `\\`, `\u…`) is part of the value
    i += c === 0x5c ? 2 : 1
  }
  return Math.min(i, text.length)
}
