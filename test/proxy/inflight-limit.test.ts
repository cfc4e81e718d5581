import t from 'tap'
import { InflightLimit, type CancelWiring } from '../../src/proxy/inflight-limit.ts'

/** A cancellation the test fires by hand. */
function manualCancel (): { wiring: CancelWiring, fire: (reason: Error) => void, listening: () => boolean } {
  let abort: ((reason: Error) => void) | undefined
  let listening = false
  return {
    wiring: a => {
      abort = a
      listening = true
      return () => { listening = false }
    },
    fire: reason => abort?.(reason),
    listening: () => listening,
  }
}

const never: CancelWiring = () => () => {}

t.test('places up to max at once, then FIFO; a release hands the place to the longest waiter', async t => {
  const limit = new InflightLimit(2)
  t.ok(limit.tryAcquire())
  t.ok(limit.tryAcquire())
  t.notOk(limit.tryAcquire(), 'the third is refused a place at once')
  const order: number[] = []
  const waits = [1, 2, 3].map(n => limit.acquire(never).then(() => { order.push(n) }))
  t.equal(limit.queued, 3)
  limit.release()
  await waits[0]
  t.same(order, [1], `first in, first served (saw ${order.join(',')})`)
  t.equal(limit.active, 2, 'the place passed on without being freed')
  t.notOk(limit.tryAcquire(), 'a newcomer does not jump the line')
  limit.release()
  limit.release()
  await Promise.all(waits)
  t.same(order, [1, 2, 3], `in arrival order (saw ${order.join(',')})`)
  t.equal(limit.queued, 0)
  limit.release()
  limit.release()
  t.equal(limit.active, 0)
  limit.release()
  t.equal(limit.active, 0, 'an extra release never goes below zero')
})

t.test('a cancelled waiter leaves the line with its reason and stops listening; the others keep their order', async t => {
  const limit = new InflightLimit(1)
  t.ok(limit.tryAcquire())
  const first = manualCancel()
  const second = manualCancel()
  const gone = limit.acquire(first.wiring)
  const stays = limit.acquire(second.wiring)
  t.equal(limit.queued, 2)
  first.fire(new Error('client went away'))
  await t.rejects(gone, { message: 'client went away' })
  t.equal(limit.queued, 1, 'it left the line')
  t.notOk(first.listening(), 'its cancellation is unsubscribed')
  limit.release()
  await stays
  t.notOk(second.listening(), 'a granted waiter stops listening too')
  second.fire(new Error('too late'))
  t.equal(limit.active, 1, 'a cancellation after the grant changes nothing: the place is the caller\'s')
})

t.test('a cancellation that fires while it is wired (a deadline already passed) rejects at once', async t => {
  const limit = new InflightLimit(1)
  t.ok(limit.tryAcquire())
  let unsubscribed = false
  await t.rejects(limit.acquire(abort => {
    abort(new Error('deadline'))
    return () => { unsubscribed = true }
  }), { message: 'deadline' })
  t.equal(limit.queued, 0)
  t.ok(unsubscribed, 'and is unsubscribed')
})

t.test('max must be a positive integer', async t => {
  t.throws(() => new InflightLimit(0), RangeError)
  t.throws(() => new InflightLimit(1.5), RangeError)
})
