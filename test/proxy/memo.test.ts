import t from 'tap'
import { createMemo } from '../../src/proxy/memo.ts'

t.test('computes once per input, answers the same frozen value after', async t => {
  let calls = 0
  const memo = createMemo<{ length: number }>()
  const length = (input: string) => memo(input, () => { calls++; return { length: input.length } })
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
  const memo = createMemo<{ ok: true }>()
  const guard = (input: string) => memo(input, () => { calls++; throw new Error(`refused ${input}`) })
  t.throws(() => guard('/..'), /refused/)
  t.throws(() => guard('/..'), /refused/)
  t.equal(calls, 2)
})

t.test('bounded: the least recently used input is forgotten; long inputs are never held', async t => {
  let calls = 0
  const memo = createMemo<{ input: string }>({ max: 2, maxKeyLength: 10 })
  const get = (input: string) => memo(input, () => { calls++; return { input } })
  get('a'); get('b'); get('a'); get('c') // b is the least recently used
  t.equal(calls, 3)
  get('a')
  t.equal(calls, 3, 'a still remembered')
  get('b')
  t.equal(calls, 4, 'b was forgotten')
  const long = 'x'.repeat(11)
  get(long); get(long)
  t.equal(calls, 6, 'computed each time')
})
