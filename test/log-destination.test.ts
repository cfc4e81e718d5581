import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { buildApp } from '../src/app.ts'
import { bufferedLogDestination } from '../src/log-destination.ts'
import { testConfig } from './helpers/config.ts'
import { eventually } from './helpers/wait.ts'

function linesIn (file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(line => line.length > 0)
  } catch {
    return []
  }
}

t.test('a few buffered lines wait in memory, then reach the file within the flush interval', async t => {
  const file = join(t.testdir(), 'access.log')
  const destination = bufferedLogDestination({ dest: file, minLength: 4096, flushIntervalMs: 50 })
  t.teardown(() => destination.flushSync())
  t.ok(readFileExists(file), 'the file is opened at once')
  destination.stream.write('{"msg":"one"}\n')
  destination.stream.write('{"msg":"two"}\n')
  // Far below minLength: only the interval writes them.
  await eventually('both lines in the file', () => {
    const lines = linesIn(file)
    return lines.length === 2 || `${lines.length} lines`
  })
  t.same(linesIn(file).map(line => JSON.parse(line).msg), ['one', 'two'])
})

t.test('past minLength the buffer is written at once, in the call that filled it, without waiting for the interval', async t => {
  const file = join(t.testdir(), 'access.log')
  const destination = bufferedLogDestination({ dest: file, minLength: 256, flushIntervalMs: 3_600_000 })
  t.teardown(() => destination.flushSync())
  const seen: number[] = []
  const expected: number[] = []
  let pending = 0
  for (let i = 0; i < 40; i++) {
    const line = `{"n":${i},"pad":"${'x'.repeat(20)}"}\n`
    destination.stream.write(line)
    seen.push(linesIn(file).length)
    // The line that brings the waiting bytes to 256 is written with those before it, before write returns.
    pending += line.length
    if (pending >= 256) pending = 0
    expected.push(pending === 0 ? i + 1 : expected.at(-1) ?? 0)
  }
  t.same(seen, expected, `lines in the file after each write: ${seen.join(',')}`)
  destination.flushSync()
  t.equal(linesIn(file).length, 40)
})

t.test('the app writes every line still buffered when it closes', async t => {
  const file = join(t.testdir(), 'gateway.log')
  const app = await buildApp(testConfig({ LOG_LEVEL: 'info' }), { logDestination: file })
  await app.ready()
  await eventually('the log file is open', () => readFileExists(file))
  for (let i = 0; i < 5; i++) await app.inject({ method: 'GET', url: `/nope-${i}` })
  app.log.info({ marker: 'last' }, 'last line before close')
  await app.close()
  const lines = linesIn(file).map(line => JSON.parse(line) as { msg?: string, marker?: string, url?: string })
  const completed = lines.filter(line => line.msg === 'request completed')
  t.equal(completed.length, 5, `request lines: ${completed.map(l => l.url).join(', ')}`)
  t.ok(lines.some(line => line.marker === 'last'), 'the line logged just before close')
})

function readFileExists (file: string): boolean {
  try {
    readFileSync(file)
    return true
  } catch {
    return false
  }
}

t.test('lines still buffered when the process exits are written, and lines logged after close', async t => {
  const file = join(t.testdir(), 'exit.log')
  const script = [
    "import { openSync } from 'node:fs'",
    "import { bufferedLogDestination } from './src/log-destination.ts'",
    // A descriptor, as stdout is in production.
    `const destination = bufferedLogDestination({ dest: openSync(${JSON.stringify(file)}, 'a'), minLength: 4096, flushIntervalMs: 3_600_000 })`,
    "for (let i = 0; i < 3; i++) destination.stream.write(JSON.stringify({ n: i, text: 'Müller €' }) + '\\n')",
    // The app closes its destination, then still logs (Fastify's own 'closed' line, for one).
    'destination.close()',
    "destination.stream.write(JSON.stringify({ n: 3, text: 'after close' }) + '\\n')",
    'process.exit(0)',
  ].join('\n')
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'inherit', 'inherit'] })
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
  t.same(linesIn(file).map(line => JSON.parse(line)), [...[0, 1, 2].map(n => ({ n, text: 'Müller €' })), { n: 3, text: 'after close' }], 'every line, whole, in order, the one after close too')
})
