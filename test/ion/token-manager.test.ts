import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { isGatewayError } from '../../src/errors.ts'
import { createTokenManager } from '../../src/ion/token-manager.ts'
import { clientFor, emulatorFor, eventually, managerFor, resourceStatus } from './helpers.ts'

function code (r: PromiseSettledResult<unknown>): string | undefined {
  return r.status === 'rejected' && isGatewayError(r.reason) ? r.reason.code : undefined
}

t.test('200 concurrent callers on a cold start cause exactly one token request', async t => {
  const e = await emulatorFor(t)
  const { manager, refreshes } = managerFor(t, e)
  const tokens = await Promise.all(Array.from({ length: 200 }, () => manager.getAccessToken()))
  t.equal(new Set(tokens).size, 1, 'everyone got the same token')
  t.equal(e.stats.tokenRequests(), 1)
  t.same(refreshes, [{ success: true, trigger: 'initial' }])
  t.equal(await resourceStatus(e, tokens[0] as string), 200)
  const state = manager.state()
  t.equal(state.hasValidToken, true)
  t.equal(state.store, 'memory')
  t.ok((state.expiresAtMs ?? 0) > Date.now() + 7000_000)
  t.ok((state.lastRefreshAtMs ?? 0) <= Date.now())
})

t.test('a short-lived token is refreshed ahead of expiry: no call waits, none gets an expired token', async t => {
  const e = await emulatorFor(t, { tokenLifetimeS: 2 })
  const { manager, refreshes } = managerFor(t, e, { refreshBufferMs: 300000 }) // clamped to the 2 s lifetime
  await manager.getAccessToken()
  // Every refresh now takes 300 ms: a caller that waited for one would see it.
  e.faults.tokenLatency(300)
  const statuses: number[] = []
  const waits: number[] = []
  const seen = new Set<string>()
  const until = Date.now() + 4500
  while (Date.now() < until) {
    const started = Date.now()
    const token = await manager.getAccessToken()
    waits.push(Date.now() - started)
    seen.add(token)
    statuses.push(await resourceStatus(e, token))
    await sleep(40)
  }
  t.ok(statuses.length > 40, `${statuses.length} calls`)
  t.ok(statuses.every(s => s === 200), 'no call met an expired token')
  t.ok(Math.max(...waits) < 150, `no call waited for a refresh (longest ${Math.max(...waits)} ms)`)
  t.ok(seen.size >= 3, `the token was replaced ${seen.size - 1} times`)
  t.ok(e.stats.tokenRequests('refresh_token') >= 2, 'refreshes use the refresh token')
  t.equal(e.stats.tokenRequests('password'), 1, 'no password grant after the first')
  t.ok(refreshes.slice(1).every(r => r.success && (r.trigger === 'background' || r.trigger === 'proactive')))
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
  t.same(refreshes.at(-1), { success: true, trigger: 'unauthorized' })
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
  const e = await emulatorFor(t, { tokenLifetimeS: 4 })
  const { manager, refreshes } = managerFor(t, e)
  const first = await manager.getAccessToken()
  const firstExpiry = manager.state().expiresAtMs as number
  e.faults.tokenDown(503)
  // 4 s token: the buffer is clamped to 2 s (+ up to 20% jitter), so refreshes start and fail from about 1.6 s on.
  await sleep(2200)
  const during = await manager.getAccessToken()
  t.equal(during, first, 'the still-valid token is served')
  t.equal(await resourceStatus(e, during), 200)
  t.equal(manager.state().lastError?.code, 'AUTH_003')
  t.equal(manager.state().hasValidToken, true)
  t.ok(refreshes.some(r => !r.success), 'the failure was counted')
  e.faults.tokenDown(false)
  // No traffic: the manager retries when its backoff (here at most 1 s) ends.
  await eventually('a new token', () => (manager.state().expiresAtMs ?? 0) > firstExpiry, 1500)
  t.equal(manager.state().lastError, undefined)
  const after = await manager.getAccessToken()
  t.not(after, first)
  t.equal(await resourceStatus(e, after), 200)
})

t.test('token endpoint down at start: start() does not crash, 20 callers get AUTH_003 at once from one request, then recovery', async t => {
  const e = await emulatorFor(t)
  e.faults.tokenDown(503)
  const { manager, refreshes } = managerFor(t, e, { failureBackoffMs: { initial: 400, max: 400 } })
  manager.start() // its first fetch fails in the background: no unhandled rejection
  const started = Date.now()
  const first = await Promise.allSettled(Array.from({ length: 20 }, () => manager.getAccessToken()))
  t.ok(first.every(r => code(r) === 'AUTH_003'), 'AUTH_003')
  t.ok(Date.now() - started < 300, 'quickly')
  t.equal(e.stats.tokenRequests(), 1, '20 callers, one token request')
  const again = await Promise.allSettled(Array.from({ length: 20 }, () => manager.getAccessToken()))
  t.ok(again.every(r => code(r) === 'AUTH_003' && (r as PromiseRejectedResult).reason.retryAfterS >= 1), 'within the backoff: the last error at once, with Retry-After')
  t.equal(e.stats.tokenRequests(), 1)
  t.equal(manager.state().hasValidToken, false)
  t.equal(manager.state().lastError?.code, 'AUTH_003')
  t.same(refreshes, [{ success: false, trigger: 'initial' }])
  e.faults.tokenDown(false)
  await eventually('recovered without traffic', () => manager.state().hasValidToken, 2000)
  t.equal(await resourceStatus(e, await manager.getAccessToken()), 200)
})

t.test('refused credentials are AUTH_001 and are not retried in a tight loop', async t => {
  const e = await emulatorFor(t)
  const client = clientFor(t, e, { sask: 'wrong-sask' })
  const manager = createTokenManager({ client, refreshBufferMs: 300000, checkIntervalMs: 100 })
  t.teardown(() => manager.close())
  manager.start()
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => manager.getAccessToken()))
  t.ok(results.every(r => code(r) === 'AUTH_001'))
  await sleep(500)
  await manager.getAccessToken().catch(() => {})
  t.equal(e.stats.tokenRequests(), 1, 'one service-account login, despite the check timer and more callers')
})

t.test('close() revokes the local tokens, stops every timer and is idempotent', async t => {
  const e = await emulatorFor(t, { tokenLifetimeS: 2 })
  const { manager } = managerFor(t, e, { checkIntervalMs: 100 })
  manager.start()
  const token = await manager.getAccessToken()
  await Promise.all([manager.close(), manager.close()])
  t.equal(e.stats.revocations(), 2, 'access and refresh token revoked, once')
  t.equal(await resourceStatus(e, token), 401)
  await manager.close()
  t.equal(e.stats.revocations(), 2)
  const before = e.stats.tokenRequests()
  await sleep(1500) // past the refresh time of a 2 s token, many check intervals
  t.equal(e.stats.tokenRequests(), before, 'no refresh after close')
  t.equal(manager.state().hasValidToken, false)
  await t.rejects(manager.getAccessToken(), { code: 'SYS_004' })
})

t.test('close() waits for a refresh in flight, then revokes what it brought', async t => {
  const e = await emulatorFor(t)
  e.faults.tokenLatency(300)
  const { manager } = managerFor(t, e)
  const pending = manager.getAccessToken()
  await sleep(50)
  await manager.close()
  t.equal(await pending, (await pending), 'the caller got its token')
  e.faults.tokenLatency(0)
  t.equal(e.stats.revocations(), 2, 'and it was revoked at close')
})

t.test('the process exits by itself: timers are unref\'d, close() leaves nothing behind', async t => {
  const e = await emulatorFor(t)
  const fixture = fileURLToPath(new URL('./fixtures/manager-process.ts', import.meta.url))
  for (const mode of ['manager', 'client-only']) {
    const started = Date.now()
    const child = spawn(process.execPath, ['--import=tsx', fixture], {
      env: { ...process.env, TEST_IONAPI: JSON.stringify(e.ionapi), TEST_CLOSE: mode },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    const exit = await Promise.race([
      new Promise<number | null>(resolve => child.once('exit', code => resolve(code))),
      sleep(8000, 'hung' as const, { ref: false }),
    ])
    if (exit === 'hung') child.kill('SIGKILL')
    t.equal(exit, 0, `${mode}: exited by itself after ${Date.now() - started} ms`)
    t.equal(out.trim(), 'done')
  }
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
