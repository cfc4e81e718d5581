import t from 'tap'
import { SharedStoreCalls } from '../src/shared-store-calls.ts'
import { fakeClock } from './ion/helpers.ts'

t.test('a store call answers, or undefined when it throws or is late; the switch is logged once each way', async t => {
  const clock = fakeClock()
  const lines: string[] = []
  const log = { warn: (_o: object, msg: string) => { lines.push(`warn ${msg}`) }, info: (_o: object, msg: string) => { lines.push(`info ${msg}`) } }
  const calls = new SharedStoreCalls({ timeoutMs: 100, clock, log, name: 'test budget', fallback: 'deciding alone' })

  t.equal(await calls.call(async () => 7), 7)
  t.equal(await calls.call(async () => { throw new Error('ECONNREFUSED') }), undefined, 'a failing store: undefined')
  const late = calls.call(() => new Promise<number>(() => {}))
  await clock.advance(100)
  t.equal(await late, undefined, 'a store that never answers: undefined after the timeout')
  t.equal(await calls.call(async () => 8), 8)
  t.same(lines, ['warn test budget store unreachable: deciding alone', 'info test budget shared through Redis again'], `logged once each way: ${JSON.stringify(lines)}`)
})
