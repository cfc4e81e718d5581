import type { Test } from 'tap'
import { once } from 'node:events'
import type { Redis } from 'ioredis'
import type { Clock, Timer } from '../../src/ion/clock.ts'
import { createEmulator, type Emulator, type EmulatorOptions } from '../../emulator/index.ts'
import { parseIonApi } from '../../src/ion/ionapi.ts'
import { createTokenClient, type IssuedToken, type TokenClient } from '../../src/ion/token-client.ts'
import { createTokenManager, type RefreshTrigger, type TokenManager, type TokenManagerDeps } from '../../src/ion/token-manager.ts'
import { RedisTokenStore } from '../../src/ion/token-store.ts'
import { createRedisClient } from '../../src/redis.ts'
import { redisNamespace } from '../../src/redis-namespace.ts'

export async function emulatorFor (t: Test, options: EmulatorOptions = {}): Promise<Emulator> {
  const e = await createEmulator({ port: 0, ...options })
  t.teardown(() => e.close())
  return e
}

/** A real token client that also remembers every token ION issued to it (to look for them in logs). */
export interface RecordingClient extends TokenClient {
  issued: IssuedToken[]
}

export function clientFor (t: Test, e: Emulator, overrides: Record<string, string> = {}, timeoutMs = 1000, now?: () => number): RecordingClient {
  const real = createTokenClient({ ion: parseIonApi({ ...e.ionapi, ...overrides }, 'password'), timeoutMs, now })
  const issued: IssuedToken[] = []
  t.teardown(() => real.close())
  return {
    issued,
    async fetchToken (refreshToken) {
      const token = await real.fetchToken(refreshToken)
      issued.push(token)
      return token
    },
    revoke: (token, hint) => real.revoke(token, hint),
    close: () => real.close(),
  }
}

export interface RefreshEvent {
  success: boolean
  trigger: RefreshTrigger
  /** The manager's clock when the token endpoint answered. */
  atMs: number
}

export interface ManagerUnderTest {
  manager: TokenManager
  client: RecordingClient
  refreshes: RefreshEvent[]
}

/** A manager on a real token client; with `extra.clock`, the client reads that clock too (the emulator should as well). */
export function managerFor (t: Test, e: Emulator, extra: Partial<TokenManagerDeps> = {}): ManagerUnderTest {
  const client = clientFor(t, e, {}, 1000, extra.clock?.now)
  const refreshes: RefreshEvent[] = []
  const now = extra.clock?.now ?? Date.now
  const manager = createTokenManager({
    client,
    refreshBufferMs: 300000,
    checkIntervalMs: 60000,
    failureBackoffMs: { initial: 200, max: 1000 },
    onRefresh: ({ success, trigger }) => refreshes.push({ success, trigger, atMs: now() }),
    ...extra,
  })
  // LIFO: the manager closes (and revokes) before its client.
  t.teardown(() => manager.close())
  return { manager, client, refreshes }
}

/** A resource call with the token, as the gateway would make: 401 means expired, revoked or unknown. */
export async function resourceStatus (e: Emulator, token: string): Promise<number> {
  const res = await fetch(`${e.url}/${e.tenant}/M3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`, { headers: { authorization: `Bearer ${token}` } })
  await res.arrayBuffer()
  return res.status
}

/** A Redis client as the gateway creates it (fails fast while Redis is down, reconnects by itself). */
export function redisClient (t: Test, url: string): Redis {
  const client = createRedisClient(url)
  client.on('error', () => {})
  client.connect().catch(() => {})
  t.teardown(() => client.disconnect())
  return client
}

/** Resolves when the client is connected (at once if it is), on its 'ready' event; fails after `timeoutMs`. */
export async function ready (redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return
  await once(redis, 'ready', { signal: AbortSignal.timeout(timeoutMs) }).catch(() => {
    if (redis.status !== 'ready') throw new Error(`redis client not ready within ${timeoutMs} ms (${redis.status})`)
  })
}

export function redisStore (redis: Redis, e: Emulator): RedisTokenStore {
  return new RedisTokenStore(redis, { keyPrefix: redisNamespace('ion-gateway:', parseIonApi(e.ionapi, 'password')).token, clientId: e.ionapi.ci })
}

export interface FakeClock extends Clock {
  /**
   * Moves time forward by `ms`, firing the timers that fall due in order, each at its own time; waits for the work a
   * timer callback returns before the next one (a refresh it started, a background check) and before resolving.
   * Time stands still while that work runs on real I/O, so no store deadline trips; work that itself waits on this
   * clock (a replica polling for another one's lock) would wait forever: such tests take the real clock.
   */
  advance (ms: number): Promise<void>
  /** Timers set and neither fired nor cancelled. */
  pending (): number
}

/**
 * A clock that moves only when told, for the token manager, its token client and the emulator alike. It starts at
 * the real time, so that expiries written to a real Redis (PX = time to expiry) stay sensible.
 */
export function fakeClock (startMs = Date.now()): FakeClock {
  let nowMs = startMs
  let seq = 0
  const timers = new Map<number, { atMs: number, fn: () => void | Promise<void> }>()
  function nextDue (untilMs: number): [number, { atMs: number, fn: () => void | Promise<void> }] | undefined {
    let next: [number, { atMs: number, fn: () => void | Promise<void> }] | undefined
    for (const entry of timers) {
      if (entry[1].atMs <= untilMs && (next === undefined || entry[1].atMs < next[1].atMs)) next = entry
    }
    return next
  }
  return {
    now: () => nowMs,
    setTimer (fn, ms): Timer {
      const id = ++seq
      timers.set(id, { atMs: nowMs + Math.max(0, ms), fn })
      return { cancel: () => { timers.delete(id) } }
    },
    async advance (ms) {
      const untilMs = nowMs + ms
      for (let due = nextDue(untilMs); due; due = nextDue(untilMs)) {
        const [id, timer] = due
        timers.delete(id)
        nowMs = Math.max(nowMs, timer.atMs)
        await timer.fn()
      }
      nowMs = untilMs
    },
    pending: () => timers.size,
  }
}

/** Statuses seen, counted: `{ '200': 198, '503 AUTH_003': 2 }`, for assertions that say what came back. */
export function histogram (entries: Iterable<string | number>): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const entry of entries) counts[String(entry)] = (counts[String(entry)] ?? 0) + 1
  return counts
}

export { eventually } from '../helpers/wait.ts'
