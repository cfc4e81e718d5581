import t from 'tap'
import { SlidingWindowQuota } from '../../emulator/limits.ts'

t.test('a sliding window: the limit within any window, then the seconds until a slot frees', async t => {
  let now = 1_000_000
  const quota = new SlidingWindowQuota(3, 60_000, () => now)
  t.equal(quota.take(), undefined)
  now += 10_000
  t.equal(quota.take(), undefined)
  t.equal(quota.take(), undefined)
  t.equal(quota.take(), 50, 'the first event leaves the window 50 s from now')
  now += 49_999
  t.equal(quota.take(), 1, 'never less than 1 s')
  now += 1
  t.equal(quota.take(), undefined, 'the first event left the window')
  t.equal(quota.take(), 10, 'refused events do not count')
})

t.test('0 is no limit; lowering the limit counts the events already in the window', async t => {
  let now = 0
  const quota = new SlidingWindowQuota(0, 60_000, () => now)
  for (let i = 0; i < 1000; i++) t.equal(quota.take(), undefined)
  quota.limit = 5
  for (let i = 0; i < 5; i++) quota.take()
  now = 30_000
  t.equal(quota.take(), 30)
  quota.limit = 2
  t.equal(quota.take(), 30, 'four of five must leave; they all leave together')
  quota.reset()
  t.equal(quota.take(), undefined)
})
