import t from 'tap'
import { memoize } from '../../src/proxy/memo.ts'

t.test('computes once per input, answers the same frozen value after', async t => {
  let calls = 0
  const length = memoize(input => { calls++; return { length: input.length } })
  const first = length('/m3/a')
  t.same(first, { length: 5 })
  t.equal(length('/m3/a'), first)
  t.equal(calls, 1)
  t.same(length('/m3/bb'), { length: 6 })
  t.equal(calls, 2)
  t.ok(Object.isFrozen(first))
})

t.test('a failure is thrown every time, never remembered', async t => {
  let calls = 0
  const guard = memoize((input): { ok: true } => { calls++; throw new Error(`refused ${input}`) })
  t.throws(() => guard('/..'), /refused/)
  t.throws(() => guard('/..'), /refused/)
  t.equal(calls, 2)
})

t.test('bounded: the least recently used input is forgotten; long inputs are never held', async t => {
  let calls = 0
  const memo = memoize(input => { calls++; return { input } }, { max: 2, maxKeyLength: 10 })
  memo('a'); memo('b'); memo('a'); memo('c') // b is the least recently used
  t.equal(calls, 3)
  memo('a')
  t.equal(calls, 3, 'a still remembered')
  memo('b')
  t.equal(calls, 4, 'b was forgotten')
  const long = 'x'.repeat(11)
  memo(long); memo(long)
  t.equal(calls, 6, 'computed each time')
})
