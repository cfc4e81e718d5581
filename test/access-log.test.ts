import t from 'tap'
import { pino } from 'pino'
import { accessLineWriter, type AccessLineFields } from '../src/access-log.ts'
import { redactLogLine } from '../src/edge/redact-url.ts'

const base: AccessLineFields = {
  requestId: 'b4440666-dfee-444b-8135-cb391bba6d74',
  method: 'GET',
  url: '/m3/m3api-rest/v2/execute/MMS200MI/LstItmByItm?ITNO=A100&maxrecs=9',
  route: '/m3/*',
  statusCode: 200,
  durationMs: 0.42,
  clientId: 'client:portal',
  system: 'm3',
  upstreamStatus: 200,
  upstreamAttempts: 1,
  cache: 'MISS',
}

const cases: Array<[string, Partial<AccessLineFields>]> = [
  ['every field', {}],
  ['a fresh hit: no upstream fields', { upstreamStatus: undefined, upstreamAttempts: undefined, cache: 'HIT' }],
  ['an unmatched request: no route, system or cache', { route: undefined, system: undefined, upstreamStatus: undefined, upstreamAttempts: undefined, cache: undefined }],
  ['the error line: no request id field', { requestId: undefined }],
  ['quotes, backslashes, control characters and non-ASCII in the URL', { url: '/ln/x?q="a\\b"&t=\u0001\u001f\u007f&n=Müller €\u2028\ud83d\ude00' }],
  ['a client id from a keys file with spaces', { clientId: 'ACME Portal (prod)' }],
  ['integer and fractional durations', { durationMs: 12 }],
  ['NaN and infinite numbers', { durationMs: Number.NaN, upstreamStatus: Number.POSITIVE_INFINITY }],
  ['a secret parameter the URL still carries (the streamWrite hook redacts it)', { url: '/m3/x?ITNO=A&access_token=abc&x=1' }],
]

function capture () {
  const lines: string[] = []
  return { lines, stream: { write: (line: string) => { lines.push(line) } } }
}

t.test('the access line is byte for byte what pino writes for logger.info(fields, msg)', async t => {
  for (const [name, change] of cases) {
    const fields = { ...base, ...change }
    const ours = capture()
    const theirs = capture()
    const hooks = { streamWrite: redactLogLine }
    const write = accessLineWriter(pino({ level: 'info', hooks }, ours.stream))
    const reference = pino({ level: 'info', hooks }, theirs.stream)
    t.ok(write, 'a plain pino logger can be written to directly')
    write?.(fields)
    reference.info(fields, 'request completed')
    // pino reads the clock itself: the times may differ by a millisecond between the two calls.
    const [a, b] = [ours.lines[0] ?? '', theirs.lines[0] ?? ''].map(line => line.replace(/"time":\d+/, '"time":0'))
    t.equal(a, b, name)
    t.doesNotThrow(() => JSON.parse(ours.lines[0] ?? ''), `${name}: one JSON line`)
    t.ok(ours.lines[0]?.endsWith('}\n'), `${name}: ends the line`)
  }
})

t.test('a lone surrogate is escaped (pino writes it raw, which UTF-8 cannot carry): the same value once parsed', async t => {
  const ours = capture()
  const theirs = capture()
  const fields = { ...base, url: '/idm/x?q=\ud800' }
  accessLineWriter(pino({}, ours.stream))?.(fields)
  pino({}, theirs.stream).info(fields, 'request completed')
  t.match(ours.lines[0], /"url":"\/idm\/x\?q=\\ud800"/)
  t.same({ ...JSON.parse(ours.lines[0] ?? '{}'), time: 0 }, { ...JSON.parse(theirs.lines[0] ?? '{}'), time: 0 })
})

t.test('the logger\'s bindings are written, and nothing is written above info', async t => {
  const out = capture()
  const logger = pino({ level: 'info', base: { pid: 7, hostname: 'gw-0', region: 'eu' } }, out.stream)
  const write = accessLineWriter(logger)
  write?.(base)
  t.match(JSON.parse(out.lines[0] ?? '{}'), { level: 30, pid: 7, hostname: 'gw-0', region: 'eu', msg: 'request completed', requestId: base.requestId })
  logger.level = 'warn'
  write?.(base)
  t.equal(out.lines.length, 1, 'the logger at warn writes no access line')
})

t.test('loggers it cannot serialize for are left to pino', async t => {
  const out = capture()
  t.equal(accessLineWriter(pino({ messageKey: 'message' }, out.stream)), undefined, 'another message key')
  t.equal(accessLineWriter(pino({ mixin: () => ({ tenant: 'x' }) }, out.stream)), undefined, 'a mixin')
  t.equal(accessLineWriter(pino({ timestamp: pino.stdTimeFunctions.isoTime }, out.stream)), undefined, 'another time format')
  t.equal(accessLineWriter(pino({}, pino.multistream([{ stream: out.stream }]))), undefined, 'a stream that wants pino\'s metadata')
})
