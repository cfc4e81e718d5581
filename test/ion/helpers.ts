import type { Test } from 'tap'
import type { Redis } from 'ioredis'
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

export function clientFor (t: Test, e: Emulator, overrides: Record<string, string> = {}, timeoutMs = 1000): RecordingClient {
  const real = createTokenClient({ ion: parseIonApi({ ...e.ionapi, ...overrides }, 'password'), timeoutMs })
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

export interface ManagerUnderTest {
  manager: TokenManager
  client: RecordingClient
  refreshes: Array<{ success: boolean, trigger: RefreshTrigger }>
}

export function managerFor (t: Test, e: Emulator, extra: Partial<TokenManagerDeps> = {}): ManagerUnderTest {
  const client = clientFor(t, e)
  const refreshes: Array<{ success: boolean, trigger: RefreshTrigger }> = []
  const manager = createTokenManager({
    client,
    refreshBufferMs: 300000,
    checkIntervalMs: 60000,
    failureBackoffMs: { initial: 200, max: 1000 },
    onRefresh: event => refreshes.push(event),
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

export async function ready (redis: Redis, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (redis.status !== 'ready') {
    if (Date.now() > deadline) throw new Error(`redis client not ready (${redis.status})`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export function redisStore (redis: Redis, e: Emulator): RedisTokenStore {
  return new RedisTokenStore(redis, { keyPrefix: redisNamespace('ion-gateway:', parseIonApi(e.ionapi, 'password')).token, clientId: e.ionapi.ci })
}

export { eventually } from '../helpers/wait.ts'
