import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { isGatewayError } from '../../src/errors.ts'
import { createTokenManager } from '../../src/ion/token-manager.ts'
import { clientFor, emulatorFor, eventually, fakeClock, histogram, managerFor, resourceStatus } from './helpers.ts'

function code (r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return 'token'
  return isGatewayError(r.reason) ? r.reason.code : String(r.reason)
}

function gaps (times: number[]): number[] {
  return times.slice(1).map((at, i) => at - (times[i] as number))
}

t.test('200 concurrent callers on a cold start cause exactly one token request', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now })
  const { manager, refreshes } = managerFor(t, e, { clock })
  const tokens = await Promise.all(Array.from({ length: 200 }, () => manager.getAccessToken()))
  t.equal(new Set(tokens).size, 1, 'everyone got the same token')
  t.equal(e.stats.tokenRequests(), 1)
  t.same(refreshes.map(r => r.trigger), ['initial'])
  t.equal(await resourceStatus(e, tokens[0] as string), 200)
  const state = manager.state()
  t.equal(state.hasValidToken, true)
  t.equal(state.store, 'memory')
  t.equal(state.expiresAtMs, clock.now() + 7200_000, 'ION\'s 2 h lifetime, on the manager\'s clock')
  t.equal(state.lastRefreshAtMs, clock.now())
})

t.test('refresh time: the buffer before expiry, clamped to half the lifetime, up to 20% earlier at random', async t => {
  const cases = [
    { lifetimeS: 100, bufferMs: 10_000, random: 0, refreshAtS: 90 },
    { lifetimeS: 100, bufferMs: 10_000, random: 0.5, refreshAtS: 89 },
    { lifetimeS: 100, bufferMs: 300_000, random: 0, refreshAtS: 50 },
    { lifetimeS: 100, bufferMs: 300_000, random: 0.5, refreshAtS: 45 },
    // Never later than twice the margin (a tenth of the lifetime, at most 5 s) before expiry.
    { lifetimeS: 20, bufferMs: 0, random: 0, refreshAtS: 16 },
    { lifetimeS: 200, bufferMs: 0, random: 0, refreshAtS: 190 },
  ]
  for (const c of cases) {
    const clock = fakeClock()
    const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: c.lifetimeS })
    const { manager, refreshes } = managerFor(t, e, { clock, refreshBufferMs: c.bufferMs, random: () => c.random })
    const startMs = clock.now()
    await manager.getAccessToken()
    await clock.advance(c.refreshAtS * 1000 - 1000)
    const early = refreshes.length
    await clock.advance(1000)
    const label = `${c.lifetimeS} s token, buffer ${c.bufferMs} ms, random ${c.random}`
    t.equal(early, 1, `${label}: no refresh 1 s before ${c.refreshAtS} s (saw ${early - 1})`)
    t.same(refreshes.slice(1).map(r => [r.trigger, Math.round((r.atMs - startMs) / 1000)]), [['background', c.refreshAtS]], `${label}: refreshed at ${c.refreshAtS} s`)
  }
})

t.test('a short-lived token is refreshed ahead of expiry: always a token at hand, none expired', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: 2 })
  const { manager, refreshes } = managerFor(t, e, { clock, refreshBufferMs: 300000 }) // clamped to the 2 s lifetime
  await manager.getAccessToken()
  const statuses: number[] = []
  const seen = new Set<string>()
  let withoutToken = 0
  for (let step = 0; step < 112; step++) { // 4.5 s in 40 ms steps
    await clock.advance(40)
    // peekAccessToken() answering is what getAccessToken() returns without waiting for anything.
    const token = manager.peekAccessToken()
    if (token === undefined) { withoutToken++; continue }
    seen.add(token)
    statuses.push(await resourceStatus(e, token))
  }
  t.equal(withoutToken, 0, `a usable token was held at every step (missing at ${withoutToken})`)
  t.same(histogram(statuses), { 200: 112 }, 'no call met an expired token')
  t.ok(seen.size >= 3, `the token was replaced ${seen.size - 1} times`)
  t.ok(e.stats.tokenRequests('refresh_token') >= 2, 'refreshes use the refresh token')
  t.equal(e.stats.tokenRequests('password'), 1, 'no password grant after the first')
  t.same(histogram(refreshes.slice(1).map(r => `${r.trigger} ${r.success}`)), { 'background true': refreshes.length - 1 })
})

t.test('a refresh in flight: callers are served the still-valid token without waiting for it', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: 100 })
  const { manager, client } = managerFor(t, e, { clock, random: () => 0 })
  const first = await manager.getAccessToken()
  e.faults.tokenLatency(300)
  // The refresh timer fires at 50 s and its refresh is under way until the emulator answers.
  const moving = clock.advance(50_000)
  await eventually('the refresh reached ION', () => e.stats.tokenRequests() === 2 || `${e.stats.tokenRequests()} token requests`)
  const during = await Promise.all(Array.from({ length: 20 }, () => manager.getAccessToken()))
  t.equal(client.issued.length, 1, 'the refresh had not answered yet')
  t.same(histogram(during.map(x => x === first ? 'old token' : 'other')), { 'old token': 20 })
  await moving
  const after = await manager.getAccessToken()
  t.not(after, first, 'then the new token')
  t.equal(e.stats.tokenRequests(), 2)
})

t.test('invalidate() after expiry on ION: one refresh, the new token works', async t => {
  const e = await emulatorFor(t)
  const { manager, refreshes } = managerFor(t, e)
  const old = await manager.getAccessToken()
  e.faults.expireAll()
  t.equal(await resourceStatus(e, old), 401)
  await manager.invalidate(old)
  t.equal(manager.state().hasValidToken, false, 'the refused token is dropped')
  const fresh = await manager.getAccessToken()
  t.not(fresh, old)
  t.equal(await resourceStatus(e, fresh), 200)
  t.equal(e.stats.tokenRequests(), 2)
  t.equal(e.stats.tokenRequests('refresh_token'), 1, 'the refresh token survived the 401')
  t.same(refreshes.at(-1)?.trigger, 'unauthorized')
})

t.test('50 concurrent invalidate()+getAccessToken() of the same token: one token request', async t => {
  const e = await emulatorFor(t)
  const { manager } = managerFor(t, e)
  const old = await manager.getAccessToken()
  e.faults.expireAll()
  const fresh = await Promise.all(Array.from({ length: 50 }, async () => {
    await manager.invalidate(old)
    return manager.getAccessToken()
  }))
  t.equal(new Set(fresh).size, 1)
  t.not(fresh[0], old)
  t.equal(e.stats.tokenRequests(), 2, 'the first token, then exactly one refresh')
  t.equal(await resourceStatus(e, fresh[0] as string), 200)
  await manager.invalidate(old)
  t.equal(await manager.getAccessToken(), fresh[0], 'a late invalidation of the old token does not drop the new one')
  t.equal(e.stats.tokenRequests(), 2)
})

t.test('after revokeAll() the refused refresh token falls back to the password grant, once', async t => {
  const e = await emulatorFor(t)
  const { manager } = managerFor(t, e)
  const old = await manager.getAccessToken()
  e.faults.revokeAll()
  t.equal(await resourceStatus(e, old), 401)
  const fresh = await Promise.all(Array.from({ length: 50 }, async () => {
    await manager.invalidate(old)
    return manager.getAccessToken()
  }))
  t.equal(new Set(fresh).size, 1)
  t.equal(e.stats.tokenRequests('refresh_token'), 1, 'one refresh attempt (refused: its refresh token was revoked too)')
  t.equal(e.stats.tokenRequests('password'), 2, 'the first token, then one fallback')
  t.equal(await resourceStatus(e, fresh[0] as string), 200)
})

t.test('the token endpoint failing during refresh: the valid token is still served, then it recovers by itself', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: 4 })
  const { manager, refreshes } = managerFor(t, e, { clock })
  const first = await manager.getAccessToken()
  const firstExpiry = manager.state().expiresAtMs as number
  e.faults.tokenDown(503)
  // 4 s token: the buffer is clamped to 2 s (+ up to 20% jitter), so refreshes start and fail from 1.6 s on.
  await clock.advance(2200)
  const during = await manager.getAccessToken()
  t.equal(during, first, 'the still-valid token is served')
  t.equal(await resourceStatus(e, during), 200)
  t.equal(manager.state().lastError?.code, 'AUTH_003')
  t.equal(manager.state().hasValidToken, true)
  t.ok(refreshes.some(r => !r.success), `the failure was counted (${JSON.stringify(histogram(refreshes.map(r => `${r.trigger} ${r.success}`)))})`)
  e.faults.tokenDown(false)
  // No traffic: the manager retries when its backoff (here at most 1 s) ends.
  await clock.advance(1000)
  t.ok((manager.state().expiresAtMs ?? 0) > firstExpiry, 'a new token')
  t.equal(manager.state().lastError, undefined)
  const after = await manager.getAccessToken()
  t.not(after, first)
  t.equal(await resourceStatus(e, after), 200)
})

t.test('token endpoint down at start: start() does not crash, 20 callers get AUTH_003 at once from one request, then recovery', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now })
  e.faults.tokenDown(503)
  const { manager, refreshes } = managerFor(t, e, { clock, failureBackoffMs: { initial: 400, max: 400 } })
  manager.start() // its first fetch fails in the background: no unhandled rejection
  const first = await Promise.allSettled(Array.from({ length: 20 }, () => manager.getAccessToken()))
  t.same(histogram(first.map(code)), { AUTH_003: 20 }, 'AUTH_003 without any time passing')
  t.equal(e.stats.tokenRequests(), 1, '20 callers, one token request')
  const again = await Promise.allSettled(Array.from({ length: 20 }, () => manager.getAccessToken()))
  t.same(histogram(again.map(r => `${code(r)} retryAfterS=${r.status === 'rejected' ? String(r.reason.retryAfterS) : '-'}`)), { 'AUTH_003 retryAfterS=1': 20 }, 'within the backoff: the last error at once, with Retry-After')
  t.equal(e.stats.tokenRequests(), 1)
  t.equal(manager.state().hasValidToken, false)
  t.equal(manager.state().lastError?.code, 'AUTH_003')
  t.same(refreshes.map(r => [r.trigger, r.success]), [['initial', false]])
  e.faults.tokenDown(false)
  await clock.advance(399)
  t.equal(manager.state().hasValidToken, false, 'not before the backoff ends')
  await clock.advance(2)
  t.equal(manager.state().hasValidToken, true, 'recovered without traffic when the backoff ended')
  t.equal(await resourceStatus(e, await manager.getAccessToken()), 200)
})

t.test('failure backoff: retries 1 s, 2 s, 4 s, then every 5 s apart; callers in between get the last error', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now })
  e.faults.tokenDown(503)
  const { manager, refreshes } = managerFor(t, e, { clock, failureBackoffMs: undefined })
  manager.start()
  await eventually('the first attempt failed', () => refreshes.length === 1)
  await clock.advance(500)
  const waiting = await manager.getAccessToken().then(() => undefined, (err: unknown) => err)
  t.match(waiting, { code: 'AUTH_003', retryAfterS: 1 }, 'a caller within the first backoff fails fast')
  await clock.advance(22_000)
  t.same(gaps(refreshes.map(r => r.atMs)), [1000, 2000, 4000, 5000, 5000, 5000], 'attempt gaps')
  t.ok(refreshes.every(r => !r.success), 'all failed')
  t.equal(e.stats.tokenRequests(), refreshes.length, 'no attempt besides these')
})

t.test('refused credentials are AUTH_001 and back off up to 5 min: no tight loop of service-account logins', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now })
  const client = clientFor(t, e, { sask: 'wrong-sask' }, 1000, clock.now)
  const attempts: number[] = []
  const manager = createTokenManager({ client, clock, refreshBufferMs: 300000, checkIntervalMs: 100, onRefresh: () => attempts.push(clock.now()) })
  t.teardown(() => manager.close())
  manager.start()
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => manager.getAccessToken()))
  t.same(histogram(results.map(code)), { AUTH_001: 10 })
  await clock.advance(500)
  await manager.getAccessToken().catch(() => {})
  t.equal(e.stats.tokenRequests(), 1, 'one service-account login, despite the check timer and more callers')
  await clock.advance(20 * 60_000)
  t.same(gaps(attempts), [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000], 'attempt gaps over 20 minutes')
  t.equal(e.stats.tokenRequests(), attempts.length)
})

t.test('close() revokes the local tokens, stops every timer and is idempotent', async t => {
  const clock = fakeClock()
  const e = await emulatorFor(t, { now: clock.now, tokenLifetimeS: 2 })
  const { manager } = managerFor(t, e, { clock, checkIntervalMs: 100 })
  manager.start()
  const token = await manager.getAccessToken()
  t.equal(clock.pending(), 2, 'the refresh timer and the check timer')
  await Promise.all([manager.close(), manager.close()])
  t.equal(e.stats.revocations(), 2, 'access and refresh token revoked, once')
  t.equal(await resourceStatus(e, token), 401)
  await manager.close()
  t.equal(e.stats.revocations(), 2)
  t.equal(clock.pending(), 0, 'no timer left')
  const before = e.stats.tokenRequests()
  await clock.advance(1500) // past the refresh time of a 2 s token, many check intervals
  t.equal(e.stats.tokenRequests(), before, 'no refresh after close')
  t.equal(manager.state().hasValidToken, false)
  await t.rejects(manager.getAccessToken(), { code: 'SYS_004' })
})

t.test('close() waits for a refresh in flight, then revokes what it brought', async t => {
  const e = await emulatorFor(t)
  e.faults.tokenLatency(300)
  const { manager } = managerFor(t, e)
  const pending = manager.getAccessToken()
  await eventually('the token request reached ION', () => e.stats.tokenRequests() === 1)
  await manager.close()
  t.equal(e.stats.revocations(), 2, 'it was revoked at close')
  t.equal(await resourceStatus(e, await pending), 401, 'the caller got the token (revoked since)')
  e.faults.tokenLatency(0)
})

t.test('the process exits by itself: timers are unref\'d, close() leaves nothing behind', async t => {
  const e = await emulatorFor(t)
  const fixture = fileURLToPath(new URL('./fixtures/manager-process.ts', import.meta.url))
  // Both runs at once: each child compiles TypeScript at start, which takes seconds on a loaded machine.
  await Promise.all(['manager', 'client-only'].map(async mode => {
    const child = spawn(process.execPath, ['--import=tsx', fixture], {
      env: { ...process.env, TEST_IONAPI: JSON.stringify(e.ionapi), TEST_CLOSE: mode },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    // A process kept alive by a timer never exits: tap's test timeout reports it, and the teardown kills it.
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    const exit = await new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
    t.equal(exit, 0, `${mode}: exited by itself`)
    t.equal(out.trim(), 'done', mode)
  }))
  t.equal(e.stats.revocations(), 2, 'only the run that closed the manager revoked its tokens')
})

t.test('peekAccessToken(): the held usable token without a wait, undefined when none or after a 401', async t => {
  const e = await emulatorFor(t)
  const { manager } = managerFor(t, e)
  t.equal(manager.peekAccessToken(), undefined, 'nothing held before the first fetch')
  t.equal(e.stats.tokenRequests(), 0, 'peeking never calls ION')
  const token = await manager.getAccessToken()
  t.equal(manager.peekAccessToken(), token)
  await manager.invalidate(token)
  t.equal(manager.peekAccessToken(), undefined, 'a refused token is never handed out')
  const fresh = await manager.getAccessToken()
  t.not(fresh, token)
  t.equal(manager.peekAccessToken(), fresh)
})
