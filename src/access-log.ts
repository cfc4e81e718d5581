import { symbols, type Logger } from 'pino'

/** The fields of a request's line, in the order they are written; undefined ones are left out, as pino does. */
export interface AccessLineFields {
  requestId: string | undefined
  method: string
  url: string
  route: string | undefined
  statusCode: number
  durationMs: number
  clientId: string | undefined
  system: string | undefined
  upstreamStatus: number | undefined
  upstreamAttempts: number | undefined
  cache: string | undefined
}

const INFO = 30
const MESSAGE = ',"msg":"request completed"}\n'
// pino's own marker of a stream that wants each line's level and object as well (pino.multistream).
const NEEDS_METADATA = Symbol.for('pino.metadata')

type LoggerInternals = Logger & Record<symbol, unknown>
type LineStream = { write (line: string): unknown } & Record<symbol, unknown>

/**
 * Writes the access line of a request straight to the logger's destination, serialized here: the same bytes
 * `logger.info(fields, 'request completed')` writes (level, time, the logger's bindings, the fields, the message),
 * without pino building and walking an object for every request (bench/README.md, "Where the rest goes"). The
 * logger's streamWrite hook (the URL redaction of every line) still runs on it.
 *
 * Undefined when the logger cannot be written to this way (a stream that wants pino's metadata, a custom time or
 * message key): the caller then logs through pino.
 */
export function accessLineWriter (logger: Logger): ((fields: AccessLineFields) => void) | undefined {
  const internals = logger as LoggerInternals
  const stream = internals[symbols.streamSym] as LineStream | undefined
  const chindings = internals[symbols.chindingsSym]
  const hooks = internals[Symbol.for('pino.hooks')] as { streamWrite?: (line: string) => string } | undefined
  if (!stream || typeof stream.write !== 'function' || stream[NEEDS_METADATA] === true) return undefined
  if (typeof chindings !== 'string' || internals[symbols.messageKeySym] !== 'msg' || internals[symbols.mixinSym]) return undefined
  // pino's time function: epoch milliseconds unless the logger was configured otherwise.
  if (!/^,"time":\d+$/.test((internals[symbols.timeSym] as () => string)())) return undefined
  const streamWrite = hooks?.streamWrite
  const head = `{"level":${INFO},"time":`
  return fields => {
    // The logger's own level may be above info (a route's level only decides for its child loggers).
    if (logger.levelVal > INFO) return
    const line = head + Date.now() + chindings + serializeFields(fields) + MESSAGE
    stream.write(streamWrite ? streamWrite(line) : line)
  }
}

/** `,"requestId":"…",…` for the fields present. */
export function serializeFields (f: AccessLineFields): string {
  let out = ''
  if (f.requestId !== undefined) out += ',"requestId":' + jsonString(f.requestId)
  out += ',"method":' + jsonString(f.method) + ',"url":' + jsonString(f.url)
  if (f.route !== undefined) out += ',"route":' + jsonString(f.route)
  out += ',"statusCode":' + jsonNumber(f.statusCode) + ',"durationMs":' + jsonNumber(f.durationMs)
  if (f.clientId !== undefined) out += ',"clientId":' + jsonString(f.clientId)
  if (f.system !== undefined) out += ',"system":' + jsonString(f.system)
  if (f.upstreamStatus !== undefined) out += ',"upstreamStatus":' + jsonNumber(f.upstreamStatus)
  if (f.upstreamAttempts !== undefined) out += ',"upstreamAttempts":' + jsonNumber(f.upstreamAttempts)
  if (f.cache !== undefined) out += ',"cache":' + jsonString(f.cache)
  return out
}

// Printable ASCII without `"` and `\`: written as is. Anything else goes through JSON.stringify.
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

function jsonString (value: string): string {
  return PLAIN.test(value) ? '"' + value + '"' : JSON.stringify(value)
}

function jsonNumber (value: number): string {
  // JSON has no NaN or Infinity: pino writes null for them, so does this.
  return Number.isFinite(value) ? String(value) : 'null'
}
