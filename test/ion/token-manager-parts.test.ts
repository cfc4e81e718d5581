import t from 'tap'
import { GatewayError } from '../../src/errors.ts'
import { HeldToken, bufferMs, refreshAtMs } from '../../src/ion/held-token.ts'
import { OwnTokens } from '../../src/ion/own-tokens.ts'
import { RefreshBackoff } from '../../src/ion/refresh-backoff.ts'
import type { TokenClient } from '../../src/ion/token-client.ts'

const T0 = 1_000_000

function token (accessToken: string, lifetimeS: number, refreshToken?: string) {
  const t = { accessToken, obtainedAtMs: T0, expiresAtMs: T0 + lifetimeS * 1000 }
  return refreshToken ? { ...t, refreshToken } : t
}

t.test('HeldToken: empty, held, refused; the refresh token survives a 401; stale refusals change nothing', async t => {
  let now = T0
  const held = new HeldToken({ refreshBufferMs: 300_000, now: () => now, random: () => 0 })
  t.equal(held.phase.kind, 'empty')
  t.equal(held.trigger(), 'initial')
  const first = token('a1', 100, 'r1')
  t.equal(held.adopt(first), T0 + 50_000, 'the buffer is clamped to half the lifetime')
  t.equal(held.usableToken(), first)
  t.equal(held.refreshDue(), false)
  now = T0 + 50_000
  t.equal(held.refreshDue(), true)
  t.equal(held.trigger(), 'proactive')
  t.equal(held.refuse('someone-else'), false, 'not the held token: nothing happens')
  t.equal(held.phase.kind, 'held')
  t.equal(held.refuse('a1'), true)
  t.same(held.phase, { kind: 'refused' })
  t.equal(held.trigger(), 'unauthorized')
  t.equal(held.refreshToken, 'r1', 'kept across the 401')
  t.equal(held.usable(first), false, 'a refused token is never usable again')
  t.equal(held.acceptable(first, undefined), false, 'nor taken from the store')
  held.adopt(token('a2', 100))
  t.equal(held.refreshToken, 'r1', 'a token without a refresh token keeps the last one')
  t.equal(held.trigger(), 'proactive')
  now = T0 + 95_001
  t.equal(held.usableToken(), undefined, 'not handed out within its last 5 s')
  held.clear()
  t.equal(held.phase.kind, 'empty')
  t.equal(held.refreshToken, undefined)
})

t.test('refresh time: buffer clamped to [2 x margin, lifetime / 2], then up to 20% earlier', async t => {
  t.equal(bufferMs(token('x', 7200), 300_000), 300_000)
  t.equal(bufferMs(token('x', 100), 300_000), 50_000)
  t.equal(bufferMs(token('x', 100), 0), 10_000, 'margin 5 s at most')
  t.equal(bufferMs(token('x', 20), 0), 4000, 'margin a tenth of the lifetime')
  t.equal(refreshAtMs(token('x', 100), 10_000, 0.5), T0 + 89_000)
})

t.test('RefreshBackoff: doubling from the initial wait to the cap, AUTH_001 up to its own cap, the last error while it lasts', async t => {
  let now = T0
  const backoff = new RefreshBackoff({ initialMs: 1000, maxMs: 5000, refusedMaxMs: 300_000, now: () => now })
  t.equal(backoff.blocking(), undefined)
  const down = new GatewayError('AUTH_003', 'ION token endpoint failing (HTTP 503)', { retryAfterS: 5 })
  t.same([1, 2, 3, 4, 5].map(() => backoff.failed(down)), [1000, 2000, 4000, 5000, 5000])
  now += 2500
  t.match(backoff.blocking(), { code: 'AUTH_003', retryAfterS: 3 }, 'Retry-After is the time left, rounded up')
  t.same(backoff.lastError, { error: down, atMs: T0 })
  now += 2500
  t.equal(backoff.blocking(), undefined, 'over once the wait has passed')
  backoff.succeeded()
  t.equal(backoff.failures, 0)
  t.equal(backoff.lastError, undefined)
  const refused = new GatewayError('AUTH_001', 'ION rejected the gateway credentials (HTTP 400, invalid_grant)')
  const waits = Array.from({ length: 11 }, () => backoff.failed(refused))
  t.same(waits, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000])
})

t.test('OwnTokens: revokes unexpired access tokens and unspent refresh tokens, never shared ones', async t => {
  let now = T0
  const revoked: string[] = []
  const client: TokenClient = {
    fetchToken: async () => { throw new Error('not used') },
    revoke: async (token, hint) => { revoked.push(`${hint} ${token}`) },
    close: async () => {},
  }
  const own = new OwnTokens(() => now)
  own.remember(token('a1', 10, 'r1'))
  own.remember(token('a2', 100, 'r2'))
  own.remember(token('a3', 100, 'r3'))
  own.spent('r1') // handed to ION for a2
  own.forget('a3') // shared through the store since
  now = T0 + 20_000 // a1 has expired
  t.equal(await own.revokeAll(client), 2)
  t.same(revoked.sort(), ['access_token a2', 'refresh_token r2'])
  t.equal(await own.revokeAll(client), 0, 'once')
})
