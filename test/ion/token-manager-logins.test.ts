import t from 'tap'
import { emulatorFor, fakeClock, histogram, managerFor, resourceStatus } from './helpers.ts'

t.test('after an ION 401: one login per interval; later 401s keep the token and are relayed; proactive refreshes go on', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: 20 })
  const { manager, refreshes } = managerFor(t, e, { clock, refreshBufferMs: 5000, reloginIntervalMs: 60000 })
  manager.start()
  const first = await manager.getAccessToken()

  t.equal(await manager.invalidate(first), 'retry', 'the first 401: drop the token and retry')
  const second = await manager.getAccessToken()
  t.not(second, first)
  t.equal(e.stats.tokenRequests(), 2)

  const verdicts = await Promise.all(Array.from({ length: 50 }, () => manager.invalidate(second)))
  t.same(histogram(verdicts), { relay: 50 }, `another token's 401 within the interval: ${JSON.stringify(histogram(verdicts))}`)
  t.equal(manager.state().hasValidToken, true, 'the token is kept')
  t.equal(await manager.getAccessToken(), second)
  t.equal(e.stats.tokenRequests(), 2, 'no login')

  // 20 s tokens are refreshed 5 to 6 s before expiry: the 401 interval does not hold that back.
  await clock.advance(16000)
  const third = await manager.getAccessToken()
  t.not(third, second, 'refreshed ahead of expiry within the interval')
  t.equal(refreshes.at(-1)?.trigger, 'background')
  t.equal(await manager.invalidate(third), 'relay', 'the interval still holds for 401s')
  t.equal(await resourceStatus(e, third), 200)

  await clock.advance(60000 - 16000)
  const current = await manager.getAccessToken()
  t.equal(await manager.invalidate(current), 'retry', 'a new interval: one more login after a 401')
  t.not(await manager.getAccessToken(), current)
  t.equal(refreshes.at(-1)?.trigger, 'unauthorized')
})

t.test('ION_LOGINS_PER_MIN caps every login, proactive ones included; the next comes when the minute has room', async t => {
  const clock = fakeClock()
  const startMs = clock.now()
  const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: 2 })
  const { manager, client } = managerFor(t, e, { clock, refreshBufferMs: 1000, checkIntervalMs: 100, loginsPerMinute: 3 })
  manager.start()
  await manager.getAccessToken()
  const answers: string[] = []
  for (let ms = 0; ms < 130_000; ms += 250) {
    await clock.advance(250)
    answers.push(await manager.getAccessToken().then(() => 'token', (err: { code?: string, retryAfterS?: number }) => `${err.code} ${err.retryAfterS === undefined ? '' : 'retry-after'}`))
  }
  const at = client.issued.map(x => Math.round(x.obtainedAtMs - startMs))
  const busiest = Math.max(...at.map(from => at.filter(x => x >= from && x < from + 60000).length))
  t.ok(busiest <= 3, `at most 3 logins in any minute: ${busiest} (logins at ${at.join(', ')} ms)`)
  t.ok(at.some(x => x >= 60000), `logins resume once the window has room (logins at ${at.join(', ')} ms)`)
  t.equal(e.stats.throttled().logins, 0, 'ION never refused one')
  const seen = histogram(answers)
  t.ok((seen.token ?? 0) > 0 && (seen['AUTH_003 retry-after'] ?? 0) > 0, `without a token, AUTH_003 with Retry-After: ${JSON.stringify(seen)}`)
  t.same(Object.keys(seen).sort(), ['AUTH_003 retry-after', 'token'], `nothing else: ${JSON.stringify(seen)}`)
})
