import t, { type Test } from 'tap'
import { createEmulator, type Emulator } from '../../emulator/index.ts'
import { isGatewayError, type GatewayError } from '../../src/errors.ts'
import { parseIonApi, type IonGrant } from '../../src/ion/ionapi.ts'
import { createTokenClient, parseRetryAfter } from '../../src/ion/token-client.ts'

async function setup (t: Test, grant: IonGrant = 'password', ionapiOverrides: Record<string, string> = {}, timeoutMs = 1000) {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const client = createTokenClient({ ion: parseIonApi({ ...emulator.ionapi, ...ionapiOverrides }, grant), timeoutMs })
  t.teardown(() => client.close())
  return { emulator, client }
}

async function rejection (p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p
  } catch (err) {
    if (isGatewayError(err)) return err
    throw err
  }
  throw new Error('expected a rejection')
}

/** Everything an error could leak through: messages, stacks and own properties, down the cause chain. */
function flatten (err: unknown): string {
  const parts: string[] = []
  let e: unknown = err
  for (let i = 0; e && i < 8; i++) {
    parts.push(String((e as Error).message), String((e as Error).stack), JSON.stringify(e), String(e))
    e = (e as { cause?: unknown }).cause
  }
  return parts.join('\n')
}

async function resourceStatus (e: Emulator, token: string): Promise<number> {
  const res = await fetch(`${e.url}/${e.tenant}/M3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100`, { headers: { authorization: `Bearer ${token}` } })
  await res.arrayBuffer()
  return res.status
}

t.test('password grant: a working token with its refresh token and expiry', async t => {
  const { emulator, client } = await setup(t)
  const token = await client.fetchToken()
  t.equal(token.grant, 'password')
  t.type(token.refreshToken, 'string')
  t.ok(Math.abs(token.expiresAtMs - Date.now() - 7200_000) < 5000, 'expires_in honoured')
  t.equal(emulator.stats.tokenRequests('password'), 1)
  t.equal(await resourceStatus(emulator, token.accessToken), 200)
})

t.test('client_credentials grant', async t => {
  const { emulator, client } = await setup(t, 'client_credentials')
  const token = await client.fetchToken()
  t.equal(token.grant, 'client_credentials')
  t.equal(emulator.stats.tokenRequests('client_credentials'), 1)
  t.equal(emulator.stats.tokenRequests('password'), 0)
  t.equal(await resourceStatus(emulator, token.accessToken), 200)
})

t.test('the refresh grant is used when a refresh token is held, and rotates it', async t => {
  const { emulator, client } = await setup(t)
  const first = await client.fetchToken()
  const second = await client.fetchToken(first.refreshToken)
  t.equal(second.grant, 'refresh_token')
  t.not(second.accessToken, first.accessToken)
  t.not(second.refreshToken, first.refreshToken)
  t.equal(emulator.stats.tokenRequests('refresh_token'), 1)
  t.equal(emulator.stats.tokenRequests('password'), 1, 'no password grant for the refresh')
  t.equal(await resourceStatus(emulator, second.accessToken), 200)
})

t.test('a refused refresh token falls back to the configured grant', async t => {
  const { emulator, client } = await setup(t)
  const first = await client.fetchToken()
  await client.fetchToken(first.refreshToken) // rotation: first.refreshToken is now spent
  const third = await client.fetchToken(first.refreshToken)
  t.equal(third.grant, 'password')
  t.equal(emulator.stats.tokenRequests('refresh_token'), 2)
  t.equal(emulator.stats.tokenRequests('password'), 2)
  t.equal(await resourceStatus(emulator, third.accessToken), 200)
})

t.test('a refused refresh token falls back to client_credentials when that is the grant', async t => {
  const { emulator, client } = await setup(t, 'client_credentials')
  const token = await client.fetchToken('not-a-refresh-token')
  t.equal(token.grant, 'client_credentials')
  t.equal(emulator.stats.tokenRequests('refresh_token'), 1)
  t.equal(emulator.stats.tokenRequests('client_credentials'), 1)
})

t.test('an endpoint outage during refresh is AUTH_003 and costs no password grant', async t => {
  const { emulator, client } = await setup(t)
  const first = await client.fetchToken()
  emulator.faults.tokenDown(500)
  t.equal((await rejection(client.fetchToken(first.refreshToken))).code, 'AUTH_003')
  t.equal(emulator.stats.tokenRequests('password'), 1)
})

t.test('a wrong client secret is AUTH_001 (invalid_client)', async t => {
  const { client } = await setup(t, 'password', { cs: 'wrong-client-secret-value' })
  const err = await rejection(client.fetchToken())
  t.equal(err.code, 'AUTH_001')
  t.equal(err.statusCode, 502)
  t.match(err.message, /HTTP 401, invalid_client/)
})

t.test('a wrong service-account secret is AUTH_001 (invalid_grant)', async t => {
  const { client } = await setup(t, 'password', { sask: 'wrong-sask-value' })
  const err = await rejection(client.fetchToken())
  t.equal(err.code, 'AUTH_001')
  t.match(err.message, /HTTP 400, invalid_grant/)
})

t.test('token endpoint answering 503 is AUTH_003 with a Retry-After', async t => {
  const { emulator, client } = await setup(t)
  emulator.faults.tokenDown(503)
  const err = await rejection(client.fetchToken())
  t.equal(err.code, 'AUTH_003')
  t.equal(err.statusCode, 503)
  t.ok((err.retryAfterS ?? 0) >= 1 && (err.retryAfterS ?? 0) <= 10, 'a small Retry-After')
  t.match(err.message, /HTTP 503/)
})

t.test('token endpoint resetting the connection is AUTH_003, the transport error kept as cause', async t => {
  const { emulator, client } = await setup(t)
  emulator.faults.tokenDown('reset')
  const err = await rejection(client.fetchToken())
  t.equal(err.code, 'AUTH_003')
  t.ok((err.retryAfterS ?? 0) >= 1)
  t.ok(err.cause instanceof Error, 'cause kept')
})

t.test('a token endpoint slower than timeoutMs is AUTH_003 after timeoutMs', async t => {
  const { emulator, client } = await setup(t, 'password', {}, 300)
  emulator.faults.tokenLatency(2000)
  const started = Date.now()
  const err = await rejection(client.fetchToken())
  const elapsed = Date.now() - started
  t.equal(err.code, 'AUTH_003')
  t.match(err.message, /within 300 ms/)
  t.ok(elapsed >= 250 && elapsed < 1000, `gave up after ${elapsed} ms`)
})

t.test('no error message, stack or cause carries the client secret, the sask or a token', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const secrets = [emulator.ionapi.cs, emulator.ionapi.sask, 'wrong-client-secret-value', 'wrong-sask-value']
  const clientFor = (overrides: Record<string, string>) => {
    const c = createTokenClient({ ion: parseIonApi({ ...emulator.ionapi, ...overrides }, 'password'), timeoutMs: 300 })
    t.teardown(() => c.close())
    return c
  }
  const good = clientFor({})
  const spent = await good.fetchToken()
  const token = await good.fetchToken(spent.refreshToken)
  secrets.push(spent.accessToken, spent.refreshToken as string, token.accessToken, token.refreshToken as string)
  const errors: GatewayError[] = []
  errors.push(await rejection(clientFor({ cs: 'wrong-client-secret-value' }).fetchToken()))
  errors.push(await rejection(clientFor({ sask: 'wrong-sask-value' }).fetchToken()))
  errors.push(await rejection(clientFor({ sask: 'wrong-sask-value' }).fetchToken(spent.refreshToken)))
  emulator.faults.tokenDown(503)
  errors.push(await rejection(good.fetchToken(token.refreshToken)))
  emulator.faults.tokenDown('reset')
  errors.push(await rejection(good.fetchToken()))
  emulator.faults.tokenDown(false)
  emulator.faults.tokenLatency(1000)
  errors.push(await rejection(good.fetchToken(token.refreshToken)))
  t.equal(errors.length, 6)
  const text = errors.map(flatten).join('\n')
  for (const s of secrets) t.notOk(text.includes(s), 'no secret or token in any error')
})

t.test('revoke uses HTTP Basic client credentials: ION counts it and the token stops working', async t => {
  const { emulator, client } = await setup(t)
  const token = await client.fetchToken()
  await client.revoke(token.accessToken, 'access_token')
  await client.revoke(token.refreshToken as string, 'refresh_token')
  t.equal(emulator.stats.revocations(), 2)
  t.equal(await resourceStatus(emulator, token.accessToken), 401, 'access token revoked')
  const after = await client.fetchToken(token.refreshToken)
  t.equal(after.grant, 'password', 'refresh token revoked: the fallback grant was needed')
})

t.test('revoke never throws: endpoint down, endpoint gone, no revoke URL, client closed', async t => {
  const { emulator, client } = await setup(t)
  const token = await client.fetchToken()
  emulator.faults.tokenDown(503)
  await t.resolves(client.revoke(token.accessToken, 'access_token'))
  emulator.faults.tokenDown('reset')
  await t.resolves(client.revoke(token.accessToken, 'access_token'))
  await emulator.close()
  await t.resolves(client.revoke(token.accessToken, 'access_token'))
  const { or: _or, ...withoutRevoke } = emulator.ionapi
  const noRevoke = createTokenClient({ ion: parseIonApi(withoutRevoke, 'password') })
  await t.resolves(noRevoke.revoke(token.accessToken, 'access_token'))
  await noRevoke.close()
  await client.close()
  await t.resolves(client.revoke(token.accessToken, 'access_token'))
  await t.resolves(client.close(), 'close is idempotent')
})

t.test('Retry-After: delta seconds, HTTP date, absent or nonsense', async t => {
  const now = Date.parse('2025-01-01T00:00:00Z')
  t.equal(parseRetryAfter('7', now), 7)
  t.equal(parseRetryAfter(['12'], now), 12)
  t.equal(parseRetryAfter(new Date(now + 30_000).toUTCString(), now), 30)
  t.equal(parseRetryAfter(new Date(now - 30_000).toUTCString(), now), 1, 'a date in the past: retry soon')
  t.equal(parseRetryAfter('999999', now), 300, 'bounded')
  t.equal(parseRetryAfter(undefined, now), 5)
  t.equal(parseRetryAfter('soon', now), 5)
  t.equal(parseRetryAfter('0', now), 1)
})
