import t from 'tap'
import { decideLimit, describeWindow, refusalMessage, type CallerCounters, type LimitState } from '../../src/edge/client-limits.ts'

const MAX = 3

/** Counters with the store's semantics (count, then compare with MAX), and a record of the steps taken. */
function counters (initial: { address?: number, client?: number } = {}) {
  const counts = { address: initial.address ?? 0, client: initial.client ?? 0 }
  const steps: string[] = []
  const state = (n: number): LimitState => ({ remaining: Math.max(0, MAX - n), exceeded: n > MAX, ttlMs: 1000 })
  const api: CallerCounters = {
    countAddress: async () => { steps.push('count address'); return state(++counts.address) },
    peekAddress: async () => { steps.push('peek address'); return state(counts.address) },
    countClient: async () => { steps.push('count client'); return state(++counts.client) },
  }
  return { api, counts, steps }
}

t.test('open mode: only the client\'s own budget', async t => {
  const c = counters({ address: 99 })
  const results = []
  for (let i = 0; i < 4; i++) results.push((await decideLimit(false, false, c.api)).refused)
  t.same(results, [false, false, false, true])
  t.same(new Set(c.steps), new Set(['count client']), 'the address is not consulted')
})

t.test('with keys: wrong keys spend the address budget; past it, valid keys are refused too, without counting', async t => {
  const c = counters()
  const wrong = []
  for (let i = 0; i < 3; i++) wrong.push(await decideLimit(true, false, c.api))
  t.same(wrong.map(v => [v.refused, v.by]), [[false, 'address'], [false, 'address'], [false, 'address']])
  const valid = await decideLimit(true, true, c.api)
  t.same([valid.refused, valid.by, valid.state.remaining], [true, 'address', 0], 'a valid key from a throttled address')
  t.equal(c.counts.address, 3, 'a valid key does not spend the address budget')
  const wrongAgain = await decideLimit(true, false, c.api)
  t.same([wrongAgain.refused, wrongAgain.by, wrongAgain.state.remaining], [true, 'address', 0], 'the same verdict for a wrong key')
})

t.test('with keys: a valid key from an address with budget left spends its own budget only', async t => {
  const c = counters({ address: 2 })
  const verdicts = []
  for (let i = 0; i < 4; i++) verdicts.push(await decideLimit(true, true, c.api))
  t.same(verdicts.map(v => [v.refused, v.by]), [[false, 'client'], [false, 'client'], [false, 'client'], [true, 'client']])
  t.equal(c.counts.address, 2, 'valid keys never spend the address budget')
  t.same(new Set(c.steps.slice(0, 2)), new Set(['peek address', 'count client']))
})

t.test('concurrent guesses: each takes one step on the address counter, so no more than MAX are answered by their key', async t => {
  const c = counters()
  // 10 wrong guesses and one valid key, started together.
  const verdicts = await Promise.all([...Array(10).fill(false), true, ...Array(10).fill(false)].map(valid => decideLimit(true, valid, c.api)))
  const answeredByKey = verdicts.filter(v => !v.refused).length
  t.ok(answeredByKey <= MAX + 1, `at most the budget of wrong guesses and the valid key are answered (saw ${answeredByKey})`)
  t.equal(c.counts.address, 20, 'every wrong guess was counted')
})

t.test('the message states the configured window, never the time left', async t => {
  t.equal(refusalMessage('client', 1000, 900000), 'Rate limit exceeded: 1000 requests per 15 minutes')
  t.equal(refusalMessage('client', 1, 60000), 'Rate limit exceeded: 1 request per minute')
  t.match(refusalMessage('address', 3, 60000), /^Rate limit exceeded: this address sent too many requests without a valid x-api-key \(3 requests per minute\)/)
  t.same([900000, 60000, 3600000, 7200000, 86400000, 90000, 1000, 1500].map(describeWindow),
    ['15 minutes', 'minute', 'hour', '2 hours', 'day', '90 seconds', 'second', '1500 ms'])
})

t.test('counters that answer at once get a verdict at once; any promise makes the verdict a promise', async t => {
  const state = (remaining: number): LimitState => ({ remaining, exceeded: false, ttlMs: 1000 })
  const now: CallerCounters = { countAddress: () => state(0), peekAddress: () => state(1), countClient: () => state(2) }
  for (const [keys, valid] of [[false, false], [true, false], [true, true]] as const) {
    const verdict = decideLimit(keys, valid, now)
    t.notOk(verdict instanceof Promise, `keys ${keys}, valid key ${valid}: no promise`)
  }
  t.same(decideLimit(true, true, now), { refused: false, by: 'client', state: state(2) })
  const slowPeek: CallerCounters = { ...now, peekAddress: async () => state(0) }
  const verdict = decideLimit(true, true, slowPeek)
  t.ok(verdict instanceof Promise)
  t.same(await verdict, { refused: true, by: 'address', state: state(0) }, 'the address budget, read by promise, still decides')
})
